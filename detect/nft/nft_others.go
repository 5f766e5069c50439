//go:build !linux

package nft

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
)

// Blocker blocks addresses in the Linux kernel's nftables. It exists
// only on Linux; elsewhere New returns an error wrapping
// errors.ErrUnsupported.
type Blocker struct{}

// New returns an error wrapping errors.ErrUnsupported.
func New(cfg *Config) (*Blocker, error) {
	return nil, fmt.Errorf("nft: blocker: %w", errors.ErrUnsupported)
}

// Block returns an error wrapping errors.ErrUnsupported.
func (n *Blocker) Block(addr netip.Addr, ttl time.Duration) error {
	return fmt.Errorf("nft: blocker: %w", errors.ErrUnsupported)
}

// Respond returns an error wrapping errors.ErrUnsupported.
func (n *Blocker) Respond(ctx context.Context, e detect.Event) error {
	return fmt.Errorf("nft: blocker: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (n *Blocker) Close() error { return nil }

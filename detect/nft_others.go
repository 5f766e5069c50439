//go:build !linux

package detect

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"
)

// NFTBlocker blocks addresses in the Linux kernel's nftables. It exists
// only on Linux; elsewhere NewNFTBlocker returns an error wrapping
// errors.ErrUnsupported.
type NFTBlocker struct{}

// NewNFTBlocker returns an error wrapping errors.ErrUnsupported.
func NewNFTBlocker(cfg *NFTConfig) (*NFTBlocker, error) {
	return nil, fmt.Errorf("detect: nftables blocker: %w", errors.ErrUnsupported)
}

// Block returns an error wrapping errors.ErrUnsupported.
func (n *NFTBlocker) Block(addr netip.Addr, ttl time.Duration) error {
	return fmt.Errorf("detect: nftables blocker: %w", errors.ErrUnsupported)
}

// Respond returns an error wrapping errors.ErrUnsupported.
func (n *NFTBlocker) Respond(ctx context.Context, e Event) error {
	return fmt.Errorf("detect: nftables blocker: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (n *NFTBlocker) Close() error { return nil }

//go:build !linux

package probe

import (
	"context"
	"errors"
	"fmt"
)

// NewSYN returns an error wrapping errors.ErrUnsupported: SYN probes need
// Linux AF_PACKET sockets. Use the connect prober here.
func NewSYN(cfg *SYNConfig) (*SYN, error) {
	return nil, fmt.Errorf("probe: SYN scan needs Linux raw sockets: %w", errors.ErrUnsupported)
}

// Open returns an error wrapping errors.ErrUnsupported.
func (s *SYN) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	return nil, fmt.Errorf("probe: SYN scan needs Linux raw sockets: %w", errors.ErrUnsupported)
}

//go:build !linux

package detect

import (
	"context"
	"errors"
	"fmt"
)

// AFPacketSource captures live traffic through AF_PACKET. It exists only on
// Linux; elsewhere NewAFPacketSource returns an error wrapping
// errors.ErrUnsupported.
type AFPacketSource struct{}

// NewAFPacketSource returns an error wrapping errors.ErrUnsupported: live
// capture needs Linux AF_PACKET.
func NewAFPacketSource(ctx context.Context, ifname string, cfg *AFPacketConfig) (*AFPacketSource, error) {
	return nil, fmt.Errorf("detect: live capture on %q: %w", ifname, errors.ErrUnsupported)
}

// ReadObservation returns an error wrapping errors.ErrUnsupported.
func (s *AFPacketSource) ReadObservation(o *Observation) error {
	return fmt.Errorf("detect: live capture: %w", errors.ErrUnsupported)
}

// Live reports true.
func (s *AFPacketSource) Live() bool { return true }

// SourceStats returns an error wrapping errors.ErrUnsupported.
func (s *AFPacketSource) SourceStats() (SourceStats, error) {
	return SourceStats{}, fmt.Errorf("detect: live capture: %w", errors.ErrUnsupported)
}

// Close does nothing.
func (s *AFPacketSource) Close() error { return nil }

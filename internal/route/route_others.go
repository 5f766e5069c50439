//go:build !linux

package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

var errUnsupported = fmt.Errorf("route: kernel route lookup needs Linux: %w", errors.ErrUnsupported)

// Get returns an error wrapping errors.ErrUnsupported.
func Get(dst netip.Addr, ifindex int) (Route, error) { return Route{}, errUnsupported }

// Neighbor returns an error wrapping errors.ErrUnsupported.
func Neighbor(ifindex int, ip netip.Addr) (net.HardwareAddr, bool, error) {
	return nil, false, errUnsupported
}

// Resolve returns an error wrapping errors.ErrUnsupported.
func Resolve(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	return nil, errUnsupported
}

// Prefixes returns an error wrapping errors.ErrUnsupported.
func Prefixes(a netip.Addr) ([]netip.Prefix, error) { return nil, errUnsupported }

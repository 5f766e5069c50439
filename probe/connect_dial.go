//go:build !linux

package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"syscall"
	"time"

	"github.com/portsense/portsense/result"
)

// connectOnce dials dst once through the net package. ok is false when
// the attempt timed out or was cancelled: silence, not a verdict.
func connectOnce(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (result.State, result.Reason, netip.Addr, bool) {
	d := net.Dialer{Timeout: timeout}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", dst.String())
	if err == nil {
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
		return result.Open, result.SynAck, netip.Addr{}, true
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return result.Closed, result.ConnRefused, netip.Addr{}, true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return result.Filtered, result.HostUnreach, netip.Addr{}, true
	case errors.Is(err, syscall.ENETUNREACH):
		return result.Filtered, result.NetUnreach, netip.Addr{}, true
	}
	return 0, 0, netip.Addr{}, false
}

func fdBudget() int { return 512 }

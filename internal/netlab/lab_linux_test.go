package netlab_test

import (
	"errors"
	"net"
	"net/netip"
	"syscall"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// dialTimeout is short: every port in these tests either answers at once or
// never answers.
const dialTimeout = 300 * time.Millisecond

func dial(addr netip.Addr, port uint16) error {
	return dialWait(addr, port, dialTimeout)
}

func dialWait(addr netip.Addr, port uint16, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", netip.AddrPortFrom(addr, port).String())
	if err == nil {
		c.Close()
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func bothFamilies(t *testing.T, h *netlab.Host, fn func(t *testing.T, a netip.Addr)) {
	t.Run("v4", func(t *testing.T) { fn(t, h.Addr4) })
	t.Run("v6", func(t *testing.T) { fn(t, h.Addr6) })
}

func TestTCPStates(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80, 81, 82, 83)
	h.Drop(t, target.TCP, 81)
	h.RejectICMP(t, target.TCP, 82)
	h.RejectReset(t, 83)

	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		if err := dial(a, 80); err != nil {
			t.Errorf("open port 80: %v", err)
		}
		if err := dial(a, 79); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("closed port 79: got %v, want ECONNREFUSED", err)
		}
		if err := dial(a, 81); !isTimeout(err) {
			t.Errorf("dropped port 81: got %v, want a timeout", err)
		}
		// The SYN's ICMP error can arrive while connect(2) still holds the
		// socket lock (the whole exchange runs in that syscall); Linux then
		// drops it and reports the next one, for the retransmitted SYN
		// about a second later. Hence the long timeout here.
		err := dialWait(a, 82, 5*time.Second)
		if err == nil || isTimeout(err) ||
			!(errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENETUNREACH)) {
			t.Errorf("icmp-rejected port 82: got %v, want a prompt unreachable/prohibited error", err)
		}
		if err := dial(a, 83); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("reset port 83: got %v, want ECONNREFUSED", err)
		}
	})
}

package probe_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// TestConnectSelfConnectIsClosed forces TCP simultaneous open on loopback:
// with the namespace's ephemeral range narrowed to one port P, a connect to
// 127.0.0.1:P gets source port P and the kernel connects the socket to
// itself. Nothing listens on P, so the port is closed, not open.
func TestConnectSelfConnectIsClosed(t *testing.T) {
	netlab.New(t) // the test's own namespace: changing its sysctl is safe
	const sysctl = "/proc/sys/net/ipv4/ip_local_port_range"
	old, err := os.ReadFile(sysctl)
	require.NoError(t, err)
	t.Cleanup(func() { os.WriteFile(sysctl, old, 0o644) })
	lo := netip.MustParseAddr("127.0.0.1")
	for i := range 3 {
		port := uint16(41000 + rand.IntN(8000)*2) // even, as the kernel prefers for connect
		require.NoError(t, os.WriteFile(sysctl, fmt.Appendf(nil, "%d %d", port, port), 0o644))
		got := make(chan probe.Reply, 4)
		sess, err := probe.NewConnect(nil).Open(context.Background(), func(r probe.Reply) { got <- r })
		require.NoError(t, err)
		tg := target.Target{Addr: lo, Port: target.Port{Proto: target.TCP, Num: port}}
		require.NoError(t, sess.Send(probe.Probe{Target: tg, Try: i, Timeout: time.Second}))
		if f, ok := sess.(probe.Flusher); ok {
			require.NoError(t, f.Flush())
		}
		select {
		case r := <-got:
			require.Equal(t, result.Closed, r.State, "port %d: %v %v (self-connect taken for an open port)", port, r.State, r.Reason)
		case <-time.After(5 * time.Second):
			t.Fatalf("port %d: no verdict", port)
		}
		require.NoError(t, sess.Close())
	}
}

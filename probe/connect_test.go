package probe_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// loopbackPorts opens n listeners on 127.0.0.1 and finds one closed port.
func loopbackPorts(t *testing.T, n int) (open []uint16, closed uint16) {
	t.Helper()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		open = append(open, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed = uint16(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	return open, closed
}

func TestConnectSessionLoopback(t *testing.T) {
	open, closed := loopbackPorts(t, 2)
	var mu sync.Mutex
	got := map[uint16]probe.Reply{}
	sess, err := probe.NewConnect(nil).Open(context.Background(), func(r probe.Reply) {
		mu.Lock()
		got[r.Target.Port.Num] = r
		mu.Unlock()
	})
	require.NoError(t, err)
	lo := netip.MustParseAddr("127.0.0.1")
	for i, p := range append(open, closed) {
		require.NoError(t, sess.Send(probe.Probe{Target: target.Target{Addr: lo, Port: target.Port{Proto: target.TCP, Num: p}}, Try: i, Timeout: time.Second}))
	}
	if f, ok := sess.(probe.Flusher); ok {
		require.NoError(t, f.Flush()) // a batching session sends on Flush
	}
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 3 }, 5*time.Second, time.Millisecond)
	require.NoError(t, sess.Close())
	for i, p := range open {
		assert.Equal(t, result.Open, got[p].State)
		assert.Equal(t, result.SynAck, got[p].Reason)
		assert.Equal(t, i, got[p].Try, "the reply names the try it answers")
	}
	assert.Equal(t, result.Closed, got[closed].State)
	assert.Equal(t, result.ConnRefused, got[closed].Reason)

	// A UDP target is refused, not silently mis-probed.
	err = sess.Send(probe.Probe{Target: target.Target{Addr: lo, Port: target.Port{Proto: target.UDP, Num: 53}}})
	assert.Error(t, err)
}

func TestConnectProberBasics(t *testing.T) {
	c := probe.NewConnect(&probe.ConnectConfig{MaxInFlight: 10})
	assert.Equal(t, target.TCP, c.Protocol())
	st, r := c.Silence()
	assert.Equal(t, result.Filtered, st)
	assert.Equal(t, result.NoResponse, r)
	assert.Equal(t, 5, c.MaxInFlight(), "half the attempts: an attempt may overlap its retransmission")
	assert.Positive(t, probe.NewConnect(nil).MaxInFlight())
	_, err := c.Open(context.Background(), nil)
	assert.Error(t, err)
}

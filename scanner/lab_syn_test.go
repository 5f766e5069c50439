//go:build linux

package scanner

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// The SYN layout: like the connect layout, but a firewall reset reads as
// closed/reset (we see the RST itself, not ECONNREFUSED).
type synLayout struct{ labLayout }

func (l synLayout) want(port uint16) (result.State, result.Reason) {
	st, r := l.labLayout.want(port)
	if r == result.ConnRefused {
		r = result.Reset
	}
	return st, r
}

func synScan(t *testing.T, hosts *target.Hosts, ports string, opts ...Option) (map[target.Target]result.Result, Stats) {
	t.Helper()
	syn, err := probe.NewSYN(nil)
	require.NoError(t, err)
	return scanPorts(t, syn, hosts, ports, opts...)
}

func checkSYNLayout(t *testing.T, addr netip.Addr, got map[target.Target]result.Result) {
	t.Helper()
	checkLayout(t, addr, synLayout{connectLayout}.want, got)
}

func TestLabSYNAllPorts(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	connectLayout.build(t, h)
	for _, addr := range []netip.Addr{h.Addr4, h.Addr6} {
		t.Run(addr.String(), func(t *testing.T) {
			got, st := synScan(t, target.NewHosts(addr), "1-65535", WithTiming(T4))
			checkSYNLayout(t, addr, got)
			t.Logf("%s: %d probes, %d retransmits, %v", addr, st.Sent, st.Retransmits, st.Elapsed)
		})
	}
}

func TestLabSYNLossy(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Loss: 0.05, Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond})
	connectLayout.build(t, h)
	got, st := synScan(t, target.NewHosts(h.Addr4), "1-65535", WithTiming(T4), WithMinRetries(5))
	checkSYNLayout(t, h.Addr4, got)
	assert.Positive(t, st.Retransmits)
	t.Logf("lossy SYN: %d probes, %d retransmits, %v", st.Sent, st.Retransmits, st.Elapsed)
}

// A horizontal scan of one port over 65,536 AnyIP hosts finds every one.
func TestLabSYNHorizontal16(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	pfx := netip.MustParsePrefix("198.19.0.0/16")
	h.AnyIP(t, pfx)
	hosts, err := target.ParseHosts(pfx.String())
	require.NoError(t, err)
	hs, err := hosts.Resolve(context.Background(), nil)
	require.NoError(t, err)
	got, st := synScan(t, hs, "80", WithTiming(T5))
	require.Len(t, got, 65536)
	open := 0
	for _, r := range got {
		if r.State == result.Open {
			open++
		}
	}
	assert.Equal(t, 65536, open, "every AnyIP host answers on port 80")
	t.Logf("horizontal /16: %d probes, %d retransmits, %v", st.Sent, st.Retransmits, st.Elapsed)
}

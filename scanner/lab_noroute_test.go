//go:build linux

package scanner

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// An address the scanning namespace has no route to is reported with
// reason no-route, by the SYN and the connect prober alike, while a
// routed host in the same scan keeps its real verdicts.
func TestLabNoRoute(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	// No lab link uses 198.18.251.0/24 and the namespace has no default
	// route: nothing may be sent there, and nothing is.
	dark := netip.MustParseAddr("198.18.251.7")
	hosts := target.NewHosts(h.Addr4, dark)
	syn, err := probe.NewSYN(nil)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		prober probe.Prober
		closed result.Reason
	}{
		{"syn", syn, result.Reset},
		{"connect", connectProber(), result.ConnRefused},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _ := scanPorts(t, tc.prober, hosts, "80,81", WithTiming(T4))
			require.Len(t, got, 4)
			for _, port := range []uint16{80, 81} {
				r := got[target.Target{Addr: dark, Port: target.Port{Proto: target.TCP, Num: port}}]
				assert.Equal(t, result.Filtered, r.State, "%v:%d", dark, port)
				assert.Equal(t, result.NoRoute, r.Reason, "%v:%d: %v", dark, port, r.Reason)
			}
			open := got[target.Target{Addr: h.Addr4, Port: target.Port{Proto: target.TCP, Num: 80}}]
			assert.Equal(t, result.Open, open.State)
			closed := got[target.Target{Addr: h.Addr4, Port: target.Port{Proto: target.TCP, Num: 81}}]
			assert.Equal(t, result.Closed, closed.State)
			assert.Equal(t, tc.closed, closed.Reason)
		})
	}
}

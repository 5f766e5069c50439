//go:build linux

package scanner

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/result"
)

// A UDP scan of 300 closed ports of a host that keeps Linux's ICMP rate
// limit (per destination address: a burst of 6, then 1 a second) from a
// pool of 16 claimed addresses: every port closed, every pool address
// heard from. One source would need about 300 s for the same answers.
func TestLabUDPSourcePool(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{ICMPRateLimit: true})
	pool := claimPool(t, srcpool.Config{Interface: h.Ifname, Count: 16})
	pr, err := probe.NewUDP(&probe.UDPConfig{SourcePool: pool, Rotation: srcpool.PerTarget})
	require.NoError(t, err)
	// Per-target rotation: each port's tries share a source, and the
	// engine paces each (host, source) ICMP budget on its own.
	// Min retries 3 (four clean silences before open|filtered), as before
	// session 3 raised it to 4: the 1-4 ports that came back
	// open|filtered in about one idle run of four were a pool source's
	// last silent port, whose retries alone never made its budget
	// suspect (TestICMPLoneSilentPort).
	got, st := udpScan(t, pr, h.Addr4, "1000-1299", WithMinRetries(3))
	require.Len(t, got, 300)
	used := map[any]int{}
	for _, r := range got {
		if assert.Equal(t, result.Closed, r.State, "%v: %v", r.AddrPort, r.Reason) {
			assert.True(t, pool.Contains(r.Source), "%v answered to %v", r.AddrPort, r.Source)
			used[r.Source]++
		}
	}
	assert.Len(t, used, 16)
	t.Logf("UDP pool of 16: %d probes (%d paced), %d retransmits, rate-limited hosts %d, interval %v, %v",
		st.Sent, st.Paced, st.Retransmits, st.RateLimited, st.ICMPInterval, st.Elapsed)
}

package scanner

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// labLayout is the port layout of the connect lab host: a handful of open
// ports, ranges dropped, rejected with ICMP admin-prohibited and reset by
// the firewall, the rest closed.
type labLayout struct {
	open               []uint16
	dropLo, dropHi     uint16
	rejectLo, rejectHi uint16
	resetLo, resetHi   uint16
	dropSingle         []uint16
}

var connectLayout = labLayout{
	open:   []uint16{1, 22, 80, 443, 8080, 31337, 65535},
	dropLo: 5000, dropHi: 5199,
	rejectLo: 6000, rejectHi: 6099,
	resetLo: 7000, resetHi: 7009,
	dropSingle: []uint16{25, 65534},
}

func (l labLayout) want(port uint16) (result.State, result.Reason) {
	for _, p := range l.open {
		if p == port {
			return result.Open, result.SynAck
		}
	}
	for _, p := range l.dropSingle {
		if p == port {
			return result.Filtered, result.NoResponse
		}
	}
	switch {
	case port >= l.dropLo && port <= l.dropHi:
		return result.Filtered, result.NoResponse
	case port >= l.rejectLo && port <= l.rejectHi:
		return result.Filtered, result.AdminProhibited
	case port >= l.resetLo && port <= l.resetHi:
		return result.Closed, result.ConnRefused
	}
	return result.Closed, result.ConnRefused
}

func (l labLayout) build(t *testing.T, h *netlab.Host) { l.buildTB(t, h) }

func (l labLayout) buildTB(t testing.TB, h *netlab.Host) {
	h.ListenTCP(t, l.open...)
	h.Drop(t, target.TCP, l.dropSingle...)
	h.DropRange(t, target.TCP, l.dropLo, l.dropHi)
	h.RejectICMPRange(t, target.TCP, l.rejectLo, l.rejectHi)
	h.RejectResetRange(t, l.resetLo, l.resetHi)
	// The kernel rate-limits ICMP errors per destination; a scan would see
	// most rejects as silence. Real firewalls do this too, but this lab wants
	// exact reasons.
	h.Run(t, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0", "net.ipv4.icmp_msgs_per_sec=100000")
}

// scanPorts scans ports of hosts with prober and returns every result by
// target, failing on a duplicate.
func scanPorts(t *testing.T, prober probe.Prober, hosts *target.Hosts, ports string, opts ...Option) (map[target.Target]result.Result, Stats) {
	t.Helper()
	p, err := target.ParsePorts(ports, target.TCP)
	require.NoError(t, err)
	sp, err := target.NewSpace(hosts, p)
	require.NoError(t, err)
	s, err := New(prober, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	sc, err := s.Start(ctx, sp)
	require.NoError(t, err)
	got := map[target.Target]result.Result{}
	for r := range sc.Results() {
		k := target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}
		_, dup := got[k]
		require.False(t, dup, "%v reported twice", k)
		got[k] = r
	}
	require.NoError(t, sc.Wait())
	return got, sc.Stats()
}

func scanLab(t *testing.T, addr netip.Addr, opts ...Option) (map[target.Target]result.Result, Stats) {
	return scanPorts(t, connectProber(), target.NewHosts(addr), "1-65535", opts...)
}

// checkLayout checks every port 1-65535 of addr against want.
func checkLayout(t *testing.T, addr netip.Addr, want func(uint16) (result.State, result.Reason), got map[target.Target]result.Result) {
	t.Helper()
	require.Len(t, got, 65535)
	wrong := 0
	for p := 1; p <= 65535; p++ {
		st, reason := want(uint16(p))
		r := got[target.Target{Addr: addr, Port: target.Port{Proto: target.TCP, Num: uint16(p)}}]
		if r.State != st || r.Reason != reason {
			wrong++
			if wrong <= 10 {
				t.Errorf("port %d: got %v/%v want %v/%v (tries %d)", p, r.State, r.Reason, st, reason, r.Tries)
			}
		}
	}
	require.Zero(t, wrong, "ports with the wrong state or reason")
}

func TestLabConnectAllPorts(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	connectLayout.build(t, h)
	for _, addr := range []netip.Addr{h.Addr4, h.Addr6} {
		t.Run(addr.String(), func(t *testing.T) {
			got, st := scanLab(t, addr, WithTiming(labTiming))
			checkLayout(t, addr, connectLayout.want, got)
			t.Logf("%s: %d probes, %d retransmits, %v", addr, st.Sent, st.Retransmits, st.Elapsed)
		})
	}
}

func TestLabConnectLossy(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Loss: 0.05, Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond})
	connectLayout.build(t, h)
	got, st := scanLab(t, h.Addr4, WithTiming(T4), WithMinRetries(5))
	checkLayout(t, h.Addr4, connectLayout.want, got)
	assert.Positive(t, st.Retransmits, "5%% loss must show as retransmissions")
	t.Logf("lossy: %d probes, %d retransmits, %v", st.Sent, st.Retransmits, st.Elapsed)
}

func TestLabTwoScannersAtOnce(t *testing.T) {
	lab := netlab.New(t)
	h1 := lab.AddHost(netlab.HostConfig{})
	h2 := lab.AddHost(netlab.HostConfig{})
	connectLayout.build(t, h1)
	connectLayout.build(t, h2)
	t.Run("together", func(t *testing.T) {
		for _, a := range []netip.Addr{h1.Addr4, h2.Addr6} {
			t.Run(a.String(), func(t *testing.T) {
				t.Parallel()
				got, st := scanLab(t, a, WithTiming(T4))
				t.Logf("%s: %d probes, %d retransmits, %d late, srtt %v, timeout %v, %v", a, st.Sent, st.Retransmits, st.Late, st.SRTT, st.Timeout, st.Elapsed)
				checkLayout(t, a, connectLayout.want, got)
			})
		}
	})
}

func connectProber() probe.Prober { return probe.NewConnect(nil) }

// Cancelling a real connect scan closes the stream within a second and
// leaves no goroutine behind (connect attempts in flight are cancelled).
func TestLabConnectCancel(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.DropRange(t, target.TCP, 1, 65535) // every probe waits: the worst case for cancel
	before := runtime.NumGoroutine()
	ports, err := target.ParsePorts("1-65535", target.TCP)
	require.NoError(t, err)
	sp, err := target.NewSpace(target.NewHosts(h.Addr4), ports)
	require.NoError(t, err)
	s, err := New(connectProber(), WithTiming(T4))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return sc.Stats().InFlight >= 10 }, 10*time.Second, time.Millisecond)
	cancel()
	requireClosesWithin(t, sc, time.Second)
	assert.ErrorIs(t, sc.Wait(), context.Canceled)
	requireGoroutinesBack(t, before)
}

// labTiming is the template of the clean-link lab scans that demand
// exact verdicts. T5 trades accuracy for speed (a 300 ms RTO cap and two
// retries): on a busy machine the target's resets can be handled later
// than that (softirq work deferred to ksoftirqd), and T5 then rightly calls
// closed ports filtered. T4 promises exact verdicts, also under load.
var labTiming = T4

package scanner

import (
	"context"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// bucketNet simulates a UDP host that rate-limits its ICMP errors the way
// Linux does (a token bucket per destination: one token per interval, at
// most burst, the remainder kept): closed ports answer port-unreachable
// only while a token is left, dropped ports never answer, open ports
// always do.
type bucketNet struct {
	interval time.Duration
	burst    int
	state    func(port uint16) result.State // Closed, OpenFiltered (dropped), Open

	mu     sync.Mutex
	tokens time.Duration
	last   time.Time
	errs   int
}

func (b *bucketNet) Protocol() target.Protocol { return target.UDP }
func (b *bucketNet) Silence() (result.State, result.Reason) {
	return result.OpenFiltered, result.NoResponse
}
func (b *bucketNet) Open(context.Context, func(probe.Reply)) (probe.Session, error) { panic("unused") }

func (b *bucketNet) session(deliver func(probe.Reply)) probe.Session {
	return &bucketSession{b: b, deliver: deliver}
}

// allow is the kernel's inet_peer_xrlim_allow.
func (b *bucketNet) allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.last.IsZero() {
		b.tokens = time.Duration(b.burst) * b.interval
	} else {
		b.tokens += now.Sub(b.last)
	}
	b.last = now
	b.tokens = min(b.tokens, time.Duration(b.burst)*b.interval)
	if b.tokens >= b.interval {
		b.tokens -= b.interval
		b.errs++
		return true
	}
	return false
}

type bucketSession struct {
	b       *bucketNet
	deliver func(probe.Reply)
	wg      sync.WaitGroup
}

func (s *bucketSession) Send(p probe.Probe) error {
	r := probe.Reply{Target: p.Target, Try: p.Try}
	switch s.b.state(p.Target.Port.Num) {
	case result.Open:
		r.State, r.Reason = result.Open, result.UDPResponse
	case result.Closed:
		if !s.b.allow(time.Now()) {
			return nil
		}
		r.State, r.Reason = result.Closed, result.PortUnreach
	default:
		return nil
	}
	s.wg.Go(func() {
		time.Sleep(200 * time.Microsecond)
		r.Time = time.Now()
		s.deliver(r)
	})
	return nil
}

func (s *bucketSession) Close() error { s.wg.Wait(); return nil }

// bucketProber wraps bucketNet as a probe.Prober.
type bucketProber struct{ *bucketNet }

func (p bucketProber) Open(_ context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return p.session(deliver), nil
}

// A host that answers closed ports only at its ICMP budget gets exact
// states: the engine finds the limit, measures it, and paces
// retransmissions to it; without that (a naive retry schedule) most
// closed ports would read open|filtered.
func TestICMPRateLimitExact(t *testing.T) {
	b := &bucketNet{interval: 40 * time.Millisecond, burst: 6, state: func(p uint16) result.State {
		switch {
		case p == 53 || p == 161:
			return result.Open
		case p%10 == 0:
			return result.OpenFiltered
		}
		return result.Closed
	}}
	ps, err := target.ParsePorts("1-60,161", target.UDP)
	require.NoError(t, err)
	addr := netip.MustParseAddr("198.18.0.2")
	sp, err := target.NewSpace(target.NewHosts(addr), ps)
	require.NoError(t, err)
	s, err := New(bucketProber{b}, WithRTTTimeouts(20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	sc, err := s.Start(t.Context(), sp)
	require.NoError(t, err)
	n := 0
	for r := range sc.Results() {
		n++
		want := b.state(r.AddrPort.Port())
		wantReason := map[result.State]result.Reason{result.Open: result.UDPResponse, result.Closed: result.PortUnreach,
			result.OpenFiltered: result.NoResponse}[want]
		if r.State != want || r.Reason != wantReason {
			t.Errorf("udp/%d: %v/%v, want %v/%v (tries %d)", r.AddrPort.Port(), r.State, r.Reason, want, wantReason, r.Tries)
		}
	}
	require.NoError(t, sc.Wait())
	require.Equal(t, 61, n)
	st := sc.Stats()
	require.Equal(t, 1, st.RateLimited)
	require.InDelta(t, 40*time.Millisecond, st.ICMPInterval, float64(15*time.Millisecond))
	t.Logf("%d probes (%d paced), %d errors answered, interval %v, %v", st.Sent, st.Paced, b.errs, st.ICMPInterval, st.Elapsed)
}

// A host whose errors are not limited is not paced.
func TestICMPNoLimitNotPaced(t *testing.T) {
	b := &bucketNet{interval: time.Nanosecond, burst: 1 << 20, state: func(p uint16) result.State {
		if p%10 == 0 {
			return result.OpenFiltered
		}
		return result.Closed
	}}
	ps, err := target.ParsePorts("1-300", target.UDP)
	require.NoError(t, err)
	sp, err := target.NewSpace(target.NewHosts(netip.MustParseAddr("198.18.0.2")), ps)
	require.NoError(t, err)
	s, err := New(bucketProber{b}, WithRTTTimeouts(20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond))
	require.NoError(t, err)
	sc, err := s.Start(t.Context(), sp)
	require.NoError(t, err)
	for r := range sc.Results() {
		if want := b.state(r.AddrPort.Port()); r.State != want {
			t.Errorf("udp/%d: %v, want %v", r.AddrPort.Port(), r.State, want)
		}
	}
	require.NoError(t, sc.Wait())
	require.Zero(t, sc.Stats().RateLimited)
}

// A host's last silent port must not be called open|filtered before the
// host's budget is measured. Seven closed ports, a burst of six: the
// seventh port's tries are the only probes the host gets after its last
// error, too few to make the host suspect (suspectAfter) before the
// port's retries ran out, so it came out open|filtered/no-response (the
// lab's TestLabUDPSourcePool lost 1-4 ports that way: a source of its pool
// with one silent port left; seen with debug output, watch phase,
// sentSince 3).
func TestICMPLoneSilentPort(t *testing.T) {
	for _, minRetries := range []int{1, 3} {
		b := &bucketNet{interval: 300 * time.Millisecond, burst: 6, state: func(uint16) result.State { return result.Closed }}
		ps, err := target.ParsePorts("1-7", target.UDP)
		require.NoError(t, err)
		sp, err := target.NewSpace(target.NewHosts(netip.MustParseAddr("198.18.0.2")), ps)
		require.NoError(t, err)
		s, err := New(bucketProber{b}, WithMinRetries(minRetries),
			WithRTTTimeouts(20*time.Millisecond, 20*time.Millisecond, 100*time.Millisecond))
		require.NoError(t, err)
		sc, err := s.Start(t.Context(), sp)
		require.NoError(t, err)
		n := 0
		for r := range sc.Results() {
			n++
			if r.State != result.Closed {
				t.Errorf("min retries %d: udp/%d: %v/%v after %d tries, want closed", minRetries, r.AddrPort.Port(), r.State, r.Reason, r.Tries)
			}
		}
		require.NoError(t, sc.Wait())
		require.Equal(t, 7, n)
		st := sc.Stats()
		t.Logf("min retries %d: %d probes (%d paced), %d errors, rate-limited %d, %v", minRetries, st.Sent, st.Paced, b.errs, st.RateLimited, st.Elapsed)
	}
}

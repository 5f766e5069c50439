package scanner

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// fakePing is a simulated discovery prober: up(addr) hosts answer after
// delay (losing loss of the replies), the rest are dark.
type fakePing struct {
	up    func(netip.Addr) bool
	loss  float64
	delay time.Duration
}

func (f *fakePing) Protocol() target.Protocol { return probe.HostProtocol }
func (f *fakePing) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse
}
func (f *fakePing) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return &fakePingSession{f: f, deliver: deliver, rng: rand.New(rand.NewPCG(7, 7))}, nil
}

type fakePingSession struct {
	f       *fakePing
	deliver func(probe.Reply)
	mu      sync.Mutex
	rng     *rand.Rand
	wg      sync.WaitGroup
	closed  bool
}

func (s *fakePingSession) Send(p probe.Probe) error {
	if p.Target.Port != (target.Port{}) {
		return probe.ErrTargetSkipped
	}
	if !s.f.up(p.Target.Addr) {
		return nil
	}
	s.mu.Lock()
	lost := s.rng.Float64() < s.f.loss
	s.mu.Unlock()
	if lost {
		return nil
	}
	a := p.Target.Addr.As4()
	r := probe.Reply{Target: p.Target, Try: p.Try, State: result.Open, Reason: result.EchoReply, ReplyTTL: 64,
		MAC: net.HardwareAddr{2, 0, a[0], a[1], a[2], a[3]}}
	s.wg.Add(1)
	time.AfterFunc(s.f.delay, func() {
		defer s.wg.Done()
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if !closed {
			r.Time = time.Now()
			s.deliver(r)
		}
	})
	return nil
}

func (s *fakePingSession) Close() error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	return nil
}

// evenUp says hosts whose last octet is even are up.
func evenUp(a netip.Addr) bool { return a.As4()[3]%2 == 0 }

func TestDiscoverExact(t *testing.T) {
	hosts := target.MustParseHosts("198.18.0.0/21")
	ping := &fakePing{up: evenUp, loss: 0.05, delay: time.Millisecond}
	s, err := New(ping, WithTiming(T5), WithMaxRetries(5), WithMinRetries(5), WithRTTTimeouts(0, 20*time.Millisecond, 0))
	require.NoError(t, err)
	seen := map[netip.Addr]bool{}
	for h, err := range s.Discover(context.Background(), hosts) {
		require.NoError(t, err)
		require.False(t, seen[h.Addr], "duplicate %v", h.Addr)
		seen[h.Addr] = true
		if evenUp(h.Addr) {
			if assert.Equal(t, result.HostUp, h.State, "%v", h.Addr) {
				assert.Equal(t, result.EchoReply, h.Reason)
				assert.EqualValues(t, 64, h.ReplyTTL)
				a := h.Addr.As4()
				assert.Equal(t, net.HardwareAddr{2, 0, a[0], a[1], a[2], a[3]}, h.MAC)
			}
		} else {
			assert.Equal(t, result.HostDown, h.State, "%v", h.Addr)
			assert.Equal(t, result.NoResponse, h.Reason)
			assert.Nil(t, h.MAC)
		}
	}
	assert.Equal(t, int(hosts.Len()), len(seen), "verdicts")
}

func TestDiscoverErrors(t *testing.T) {
	s, err := New(&fakeNet{})
	require.NoError(t, err)
	for _, err := range s.Discover(context.Background(), target.MustParseHosts("198.18.0.1")) {
		require.ErrorContains(t, err, "no discovery prober")
	}
	sp := space(t, "198.18.0.1", "80")
	for _, err := range s.Sweep(context.Background(), sp) {
		require.ErrorContains(t, err, "no discovery prober")
	}
	s, err = New(&fakePing{up: evenUp})
	require.NoError(t, err)
	for _, err := range s.Sweep(context.Background(), sp) {
		require.ErrorContains(t, err, "needs a port prober")
	}
	s, err = New(&fakeNet{}, WithProber(&fakePing{up: evenUp}), WithOrder(target.IterConfig{Start: 3}))
	require.NoError(t, err)
	for _, err := range s.Sweep(context.Background(), sp) {
		require.ErrorContains(t, err, "cannot resume")
	}
}

func TestSweepStreams(t *testing.T) {
	sp := space(t, "198.18.0.0/20", "22,80,443,1000-1009")
	ping := &fakePing{up: evenUp, loss: 0.02, delay: time.Millisecond}
	ports := &fakeNet{state: labState, delay: time.Millisecond}
	s, err := New(ports, WithProber(ping), WithTiming(T5), WithMinRetries(4), WithMaxRetries(4),
		WithRTTTimeouts(0, 20*time.Millisecond, 0), WithRate(200000))
	require.NoError(t, err)
	hostAt := map[netip.Addr]int{}
	portsOf := map[netip.Addr]int{}
	firstPort, lastHost, n := -1, -1, 0
	for rec, err := range s.Sweep(context.Background(), sp) {
		require.NoError(t, err)
		switch {
		case rec.Host != nil:
			h := rec.Host
			_, dup := hostAt[h.Addr]
			require.False(t, dup, "two verdicts on %v", h.Addr)
			hostAt[h.Addr] = n
			assert.Equal(t, evenUp(h.Addr), h.State == result.HostUp, "%v: %v", h.Addr, h.State)
			lastHost = n
		case rec.Result != nil:
			r := rec.Result
			a := r.AddrPort.Addr()
			at, ok := hostAt[a]
			require.True(t, ok && at < n, "port %v before its host", r)
			require.True(t, evenUp(a), "port of a down host: %v", r)
			assert.Equal(t, labState(target.Target{Addr: a, Port: r.Port()}), r.State, "%v", r)
			portsOf[a]++
			if firstPort < 0 {
				firstPort = n
			}
		}
		n++
	}
	assert.Equal(t, int(sp.Hosts().Len()), len(hostAt), "host verdicts")
	assert.Equal(t, int(sp.Hosts().Len()/2), len(portsOf), "hosts with ports")
	for a, c := range portsOf {
		require.EqualValues(t, sp.Ports().Len(), c, "ports of %v", a)
	}
	assert.Less(t, firstPort, lastHost, "port scanning starts while discovery goes on")
}

func TestSweepCancel(t *testing.T) {
	sp := space(t, "198.18.0.0/16", "80")
	s, err := New(&fakeNet{state: labState}, WithProber(&fakePing{up: evenUp, delay: time.Millisecond}), WithTiming(T5))
	require.NoError(t, err)
	n := 0
	for _, err := range s.Sweep(context.Background(), sp) {
		require.NoError(t, err)
		if n++; n == 500 {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var last error
	for _, err := range s.Sweep(ctx, sp) {
		last = err
	}
	require.ErrorIs(t, last, context.DeadlineExceeded)
}

// instantPing answers at once, from Send, for hosts up(addr) says are up.
type instantPing struct{ up func(netip.Addr) bool }

func (p instantPing) Protocol() target.Protocol { return probe.HostProtocol }
func (p instantPing) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse
}
func (p instantPing) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return instantSession{p, deliver}, nil
}

type instantSession struct {
	p       instantPing
	deliver func(probe.Reply)
}

func (s instantSession) Send(pr probe.Probe) error {
	if s.p.up(pr.Target.Addr) {
		s.deliver(probe.Reply{Target: pr.Target, Try: pr.Try, State: result.Open, Reason: result.EchoReply})
	}
	return nil
}
func (s instantSession) Close() error { return nil }

// TestDiscoverMemoryBounded sweeps a /15 (131,072 hosts, half dark) and
// checks that the heap does not grow with the number of hosts: the
// engine keeps O(window) state and Discover streams its verdicts.
func TestDiscoverMemoryBounded(t *testing.T) {
	hosts := target.MustParseHosts("198.18.0.0/15")
	s, err := New(instantPing{up: evenUp}, WithTiming(T5), WithParallelism(10, 2000),
		WithRTTTimeouts(0, 5*time.Millisecond, 10*time.Millisecond), WithMaxRetries(0))
	require.NoError(t, err)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base, peak := ms.HeapAlloc, ms.HeapAlloc
	n, up := 0, 0
	for h, err := range s.Discover(context.Background(), hosts) {
		require.NoError(t, err)
		n++
		if h.State == result.HostUp {
			up++
		}
		if n%16384 == 0 {
			runtime.GC() // live heap only: garbage would measure the GC's pacing
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapAlloc)
		}
	}
	require.Equal(t, 1<<17, n)
	require.Equal(t, 1<<16, up)
	growth := int64(peak) - int64(base)
	t.Logf("live heap: %d KiB at the start, peak growth %d KiB for %d hosts", base>>10, growth>>10, n)
	// A materialised target list alone would be 131,072 × 24 bytes = 3 MiB.
	assert.Less(t, growth, int64(2<<20), "heap grows with the number of hosts")
}

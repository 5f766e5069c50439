package scanner

import (
	"context"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func space(t *testing.T, hosts, ports string) *target.Space {
	t.Helper()
	hs, err := target.ParseHosts(hosts)
	require.NoError(t, err)
	h, err := hs.Resolve(context.Background(), nil)
	require.NoError(t, err)
	p, err := target.ParsePorts(ports, target.TCP)
	require.NoError(t, err)
	sp, err := target.NewSpace(h, p)
	require.NoError(t, err)
	return sp
}

func collect(t *testing.T, sc *Scan) map[target.Target]result.Result {
	t.Helper()
	got := map[target.Target]result.Result{}
	for r := range sc.Results() {
		k := target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}
		_, dup := got[k]
		require.False(t, dup, "duplicate result for %v", k)
		got[k] = r
	}
	return got
}

func checkExact(t *testing.T, sp *target.Space, got map[target.Target]result.Result) {
	t.Helper()
	require.Equal(t, int(sp.Len()), len(got), "one result per target")
	wrong := 0
	for tg := range sp.All(target.IterConfig{Sequential: true}) {
		r, ok := got[tg]
		if !assert.True(t, ok, "missing %v", tg) {
			continue
		}
		if r.State != labState(tg) {
			wrong++
			if wrong < 10 {
				t.Errorf("%v: got %v want %v (tries %d)", tg, r.State, labState(tg), r.Tries)
			}
		}
	}
	require.Zero(t, wrong, "wrong states")
}

func TestScanExactStates(t *testing.T) {
	sp := space(t, "198.18.0.1-4", "1-2000")
	net := &fakeNet{state: labState, delay: time.Millisecond}
	s, err := New(net, WithTiming(T4), WithRTTTimeouts(0, 20*time.Millisecond, 0))
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	got := collect(t, sc)
	require.NoError(t, sc.Wait())
	checkExact(t, sp, got)
	st := sc.Stats()
	assert.True(t, st.Finished)
	assert.Equal(t, sp.Len(), st.Done)
	assert.Equal(t, sp.Len(), st.Total)
	assert.Equal(t, 1.0, st.Progress())
	assert.Zero(t, st.InFlight)
	assert.Equal(t, sp.Len(), st.Position)
	for tg, r := range got {
		if r.State == result.Open {
			assert.Equal(t, result.SynAck, r.Reason, "%v", tg)
			assert.Equal(t, uint8(64), r.ReplyTTL)
			assert.Positive(t, r.RTT)
		}
		if r.State == result.Filtered {
			assert.Equal(t, result.NoResponse, r.Reason)
			// 1 + min-retries tries while nothing needed more; a loaded
			// machine may make a late reply look like a needed retry.
			assert.GreaterOrEqual(t, r.Tries, 2)
			assert.LessOrEqual(t, r.Tries, 1+6, "T4 allows 6 retries")
		}
	}
}

func TestScanExactUnderLoss(t *testing.T) {
	sp := space(t, "198.18.0.1", "1-3000")
	net := &fakeNet{state: labState, loss: 0.05, delay: 5 * time.Millisecond, jitter: 2 * time.Millisecond, seed: 7}
	s, err := New(net, WithTiming(T4), WithMinRetries(4), WithRTTTimeouts(0, 20*time.Millisecond, 0))
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	got := collect(t, sc)
	require.NoError(t, sc.Wait())
	checkExact(t, sp, got)
	st := sc.Stats()
	assert.Positive(t, st.Retransmits, "loss must cause retransmissions")
	assert.Equal(t, uint64(net.sent.Load()), st.Sent)
}

func TestScanRetriesBounded(t *testing.T) {
	sp := space(t, "198.18.0.1", "7,14,21") // all filtered
	net := &fakeNet{state: labState}
	s, err := New(net, WithMaxRetries(3), WithMinRetries(3), WithRTTTimeouts(5*time.Millisecond, time.Millisecond, 10*time.Millisecond))
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	got := collect(t, sc)
	require.NoError(t, sc.Wait())
	require.Len(t, got, 3)
	for _, r := range got {
		assert.Equal(t, result.Filtered, r.State)
		assert.Equal(t, 4, r.Tries)
	}
	assert.Equal(t, int64(12), net.sent.Load())
	assert.Equal(t, uint64(9), sc.Stats().Retransmits)
}

func TestScanCancelClosesPromptly(t *testing.T) {
	before := runtime.NumGoroutine()
	sp := space(t, "198.18.0.0/16", "1-1000")
	net := &fakeNet{state: labState, delay: 2 * time.Millisecond}
	s, err := New(net, WithTiming(T4))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	require.NoError(t, err)
	n := 0
	for range sc.Results() {
		n++
		if n == 500 {
			cancel()
			break
		}
	}
	requireClosesWithin(t, sc, time.Second)
	assert.ErrorIs(t, sc.Wait(), context.Canceled)
	requireGoroutinesBack(t, before)
}

func TestTwoScannersAtOnce(t *testing.T) {
	sp1 := space(t, "198.18.0.1", "1-3000")
	sp2 := space(t, "198.18.0.2-3", "1-1500")
	var wg sync.WaitGroup
	for _, sp := range []*target.Space{sp1, sp2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(&fakeNet{state: labState, delay: time.Millisecond}, WithTiming(T4), WithRTTTimeouts(0, 20*time.Millisecond, 0))
			if !assert.NoError(t, err) {
				return
			}
			sc, err := s.Start(context.Background(), sp)
			if !assert.NoError(t, err) {
				return
			}
			got := collect(t, sc)
			assert.NoError(t, sc.Wait())
			checkExact(t, sp, got)
		}()
	}
	wg.Wait()
}

func TestShardsPartitionAndResume(t *testing.T) {
	sp := space(t, "198.18.0.1-2", "1-500")
	all := map[target.Target]result.Result{}
	for k := uint64(0); k < 3; k++ {
		s, err := New(&fakeNet{state: labState}, WithOrder(target.IterConfig{Seed: 42, Shard: k, Shards: 3}),
			WithRTTTimeouts(0, 5*time.Millisecond, 0))
		require.NoError(t, err)
		sc, err := s.Start(context.Background(), sp)
		require.NoError(t, err)
		for tg, r := range collect(t, sc) {
			_, dup := all[tg]
			require.False(t, dup, "%v in two shards", tg)
			all[tg] = r
		}
		require.NoError(t, sc.Wait())
	}
	checkExact(t, sp, all)

	// Stop a scan part-way, then resume from its position: together the
	// two runs cover every target.
	s, err := New(&fakeNet{state: labState, delay: time.Millisecond}, WithOrder(target.IterConfig{Seed: 9}),
		WithRTTTimeouts(0, 5*time.Millisecond, 0))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	require.NoError(t, err)
	first := map[target.Target]result.Result{}
	for r := range sc.Results() {
		first[target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}] = r
		if len(first) == 300 {
			cancel()
		}
	}
	require.ErrorIs(t, sc.Wait(), context.Canceled)
	pos := sc.Stats().Position
	require.Positive(t, pos)
	require.Less(t, pos, sp.Len())
	s2, err := New(&fakeNet{state: labState}, WithOrder(target.IterConfig{Seed: 9, Start: pos}),
		WithRTTTimeouts(0, 5*time.Millisecond, 0))
	require.NoError(t, err)
	sc2, err := s2.Start(context.Background(), sp)
	require.NoError(t, err)
	for r := range sc2.Results() {
		first[target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}] = r
	}
	require.NoError(t, sc2.Wait())
	checkExact(t, sp, first)
	assert.Equal(t, pos, sc2.Stats().Resumed)
}

func TestRateCeiling(t *testing.T) {
	sp := space(t, "198.18.0.1", "1-300")
	net := &fakeNet{state: labState}
	s, err := New(net, WithRate(1000), WithRTTTimeouts(0, 5*time.Millisecond, 0), WithMinRetries(0), WithMaxRetries(0))
	require.NoError(t, err)
	start := time.Now()
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	collect(t, sc)
	require.NoError(t, sc.Wait())
	// An upper bound on the rate: a slow machine only lowers it.
	elapsed := time.Since(start).Seconds()
	sent := float64(net.sent.Load())
	assert.LessOrEqual(t, sent, 1000*elapsed+5+1, "sent %v probes in %.3fs", sent, elapsed)
}

func TestAllIterator(t *testing.T) {
	sp := space(t, "198.18.0.1", "20-30")
	s, err := New(&fakeNet{state: labState}, WithRTTTimeouts(0, 5*time.Millisecond, 0))
	require.NoError(t, err)
	n := 0
	for r, err := range s.All(context.Background(), sp) {
		require.NoError(t, err)
		assert.NotEqual(t, result.Unknown, r.State)
		n++
	}
	assert.Equal(t, 11, n)
	// Breaking early stops the scan without leaking it.
	n = 0
	for _, err := range s.All(context.Background(), sp) {
		require.NoError(t, err)
		n++
		if n == 3 {
			break
		}
	}
	assert.Equal(t, 3, n)
}

func TestProgressSnapshots(t *testing.T) {
	sp := space(t, "198.18.0.1", "1-2000")
	var mu sync.Mutex
	var snaps []Stats
	s, err := New(&fakeNet{state: labState, delay: time.Millisecond}, WithRTTTimeouts(0, 5*time.Millisecond, 0),
		WithProgress(5*time.Millisecond, func(st Stats) { mu.Lock(); snaps = append(snaps, st); mu.Unlock() }))
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	collect(t, sc)
	require.NoError(t, sc.Wait())
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(snaps) > 0 && snaps[len(snaps)-1].Finished
	}, time.Second, time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	for i := 1; i < len(snaps); i++ {
		assert.GreaterOrEqual(t, snaps[i].Done, snaps[i-1].Done, "progress never goes back")
	}
	assert.Equal(t, sp.Len(), snaps[len(snaps)-1].Done)
}

func TestBadOptions(t *testing.T) {
	p := &fakeNet{state: labState}
	for name, o := range map[string]Option{
		"rate":        WithRate(-1),
		"minrate":     WithMinRate(-5),
		"retries":     WithMaxRetries(-1),
		"minretries":  WithMinRetries(99),
		"hosttimeout": WithHostTimeout(-time.Second),
		"rtt":         WithRTTTimeouts(0, time.Second, time.Millisecond),
		"par":         WithParallelism(10, 5),
		"delay":       WithScanDelay(-1),
		"timing":      WithTiming(9),
		"progress":    WithProgress(0, nil),
		"prober":      WithProber(nil),
	} {
		_, err := New(p, o)
		assert.Error(t, err, name)
	}
	_, err := New(nil)
	assert.Error(t, err)
	_, err = New(p, WithProber(&fakeNet{state: labState}))
	assert.ErrorContains(t, err, "two probers for tcp")

	s, err := New(p)
	require.NoError(t, err)
	_, err = s.Start(context.Background(), nil)
	assert.Error(t, err)
	// A UDP target with only a TCP prober is an error, not a hang.
	h := target.MustParseHosts("198.18.0.1")
	ports, err := target.ParsePorts("U:53", target.TCP)
	require.NoError(t, err)
	sp, err := target.NewSpace(h, ports)
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	for range sc.Results() {
	}
	assert.ErrorContains(t, sc.Wait(), "no prober for udp")
}

func TestParseTiming(t *testing.T) {
	for in, want := range map[string]Timing{"T0": T0, "5": T5, "aggressive": T4, "normal": T3} {
		got, err := ParseTiming(in)
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	_, err := ParseTiming("T9")
	assert.ErrorContains(t, err, `"T9"`)
}

// requireGoroutinesBack waits up to 2 s for the goroutine count to drop
// back to before (Eventually would add a goroutine of its own).
func requireGoroutinesBack(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines left: before %d now %d\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSynProxyFlagged(t *testing.T) {
	sp := space(t, "198.18.0.1-2", "1-2000")
	proxy := netip.MustParseAddr("198.18.0.2")
	net := &fakeNet{state: func(tg target.Target) result.State {
		if tg.Addr == proxy {
			return result.Open // answers every SYN
		}
		return labState(tg)
	}}
	s, err := New(net, WithRTTTimeouts(0, 5*time.Millisecond, 0))
	require.NoError(t, err)
	sc, err := s.Start(context.Background(), sp)
	require.NoError(t, err)
	collect(t, sc)
	require.NoError(t, sc.Wait())
	hosts := sc.Hosts()
	require.Len(t, hosts, 1, "only the proxy is flagged, not the host with a few open ports")
	assert.Equal(t, proxy, hosts[0].Addr)
	require.Len(t, hosts[0].Warnings, 1)
	assert.Contains(t, hosts[0].Warnings[0], "syn-proxy")
}

// requireClosesWithin reads sc's results until the stream closes, failing
// if that takes longer than d.
func requireClosesWithin(t *testing.T, sc *Scan, d time.Duration) {
	t.Helper()
	closed := make(chan struct{})
	go func() {
		for range sc.Results() {
		}
		close(closed)
	}()
	select {
	case <-closed:
	case <-time.After(d):
		t.Fatalf("results did not close within %v of cancel", d)
	}
}

package scanner

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func TestLedgerBlocks(t *testing.T) {
	var l ledger
	// 0..99 at clock 10: a block of 64 and one of 36.
	for p := uint64(0); p < 100; p++ {
		l.add(p, 10, 1000)
	}
	// A gap (101 skipped) starts a block; so does an old first send.
	l.add(100, 20, 1000)
	l.add(102, 30, 1000)
	l.add(103, 2000, 1000)
	require.Equal(t, uint64(4), l.tail-l.head, "blocks: 0-63, 64-100, 102, 103")
	require.Equal(t, 103, l.open)
	for p := uint64(0); p < 104; p++ {
		b, bit := l.find(p)
		if p == 101 {
			assert.Nil(t, b, "gap")
			continue
		}
		require.NotNil(t, b, "position %d", p)
		assert.Equal(t, uint64(1)<<(p-b.start), bit)
	}
	b, _ := l.find(99)
	assert.Equal(t, uint32(10), b.first)
	assert.Equal(t, uint32(20), b.last, "100 joined 64..99")
	b, _ = l.find(103)
	assert.Equal(t, uint64(103), b.start)
	b, _ = l.find(200)
	assert.Nil(t, b)

	lo, ok := l.low()
	require.True(t, ok)
	assert.Equal(t, uint64(0), lo)
	// Resolve 0..63 out of order, twice: the second time is a duplicate.
	for _, p := range []uint64{5, 0, 63, 1} {
		b, bit := l.find(p)
		require.True(t, l.resolve(b, bit))
		require.False(t, l.resolve(b, bit), "duplicate %d", p)
	}
	lo, _ = l.low()
	assert.Equal(t, uint64(2), lo)
	for p := uint64(2); p < 63; p++ {
		b, bit := l.find(p)
		l.resolve(b, bit)
	}
	l.trim()
	assert.Equal(t, uint64(64), l.front().start)
	lo, _ = l.low()
	assert.Equal(t, uint64(64), lo)
	assert.Equal(t, 103-64, l.open)

	// The ring grows and keeps its order.
	var g ledger
	for p := uint64(0); p < 64*1000; p += 2 { // every block holds one position
		g.add(p, uint32(p), 1000)
	}
	for p := uint64(0); p < 64*1000; p++ {
		b, _ := g.find(p)
		if p%2 == 1 {
			require.Nil(t, b, "position %d", p)
		} else {
			require.NotNil(t, b, "position %d", p)
			require.Equal(t, p, b.start)
		}
	}
}

// patternNet answers the probes of a pattern of targets: answer decides,
// per target and try, whether a reply comes (state(t) says which); dup
// sends every reply twice. Replies are delivered from Send itself,
// stamped delay after it, so that no reply is late however slow the
// machine (a timer goroutine can wait for a CPU longer than a timeout).
type patternNet struct {
	state  func(target.Target) result.State
	answer func(t target.Target, try int) bool
	dup    bool
	delay  time.Duration
	sent   atomic.Int64
}

func (f *patternNet) Protocol() target.Protocol { return target.TCP }
func (f *patternNet) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse
}
func (f *patternNet) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return &patternSession{net: f, deliver: deliver}, nil
}

type patternSession struct {
	net     *patternNet
	deliver func(probe.Reply)
}

func (s *patternSession) Send(p probe.Probe) error {
	f := s.net
	f.sent.Add(1)
	st := f.state(p.Target)
	if st == result.Filtered || !f.answer(p.Target, p.Try) {
		return nil
	}
	reason := result.SynAck
	if st == result.Closed {
		reason = result.Reset
	}
	r := probe.Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, ReplyTTL: 64, Time: time.Now().Add(f.delay)}
	s.deliver(r)
	if f.dup {
		s.deliver(r)
	}
	return nil
}

func (s *patternSession) Close() error { return nil }

// hash is a fixed pseudorandom function of a target, for patterns.
func hash(t target.Target) uint64 {
	a := t.Addr.As16()
	h := uint64(t.Port.Num) * 0x9e3779b97f4a7c15
	for _, c := range a {
		h = (h ^ uint64(c)) * 0xff51afd7ed558ccd
	}
	return h ^ h>>29
}

// TestLedgerVerdicts checks that every target gets exactly one verdict,
// the right one, with the tries it took, whether its first try, a
// retransmission or nothing answered it; with replies sent twice; with
// retransmissions on and off, in shards and when resumed.
func TestLedgerVerdicts(t *testing.T) {
	sp := space(t, "198.18.0.0/26", "1-40") // 2,560 targets, 40 blocks
	state := labState
	for _, tc := range []struct {
		retries int
		dup     bool
		shards  uint64
	}{
		{0, false, 0}, {0, true, 0}, {2, false, 0}, {2, true, 3}, {0, false, 4},
	} {
		t.Run(fmt.Sprintf("retries=%d,dup=%v,shards=%d", tc.retries, tc.dup, tc.shards), func(t *testing.T) {
			// A third of the answering targets answer only their last try:
			// with retries they are found, without them they are silent.
			lastOnly := func(tg target.Target) bool { return hash(tg)%3 == 0 }
			net := &patternNet{state: state, dup: tc.dup, delay: 200 * time.Microsecond,
				answer: func(tg target.Target, try int) bool { return !lastOnly(tg) || try == tc.retries }}
			want := func(tg target.Target) (result.State, int) {
				st := state(tg)
				switch {
				case st == result.Filtered:
					return result.Filtered, tc.retries + 1
				case lastOnly(tg):
					return st, tc.retries + 1
				}
				return st, 1
			}
			all := map[target.Target]result.Result{}
			shards := max(tc.shards, 1)
			for k := range shards {
				s, err := New(net, WithOrder(target.IterConfig{Seed: 7, Shard: k, Shards: tc.shards}),
					WithMaxRetries(tc.retries), WithMinRetries(tc.retries), WithMinRate(1e6),
					WithRTTTimeouts(50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond))
				require.NoError(t, err)
				sc, err := s.Start(context.Background(), sp)
				require.NoError(t, err)
				for tg, r := range collect(t, sc) {
					_, twice := all[tg]
					require.False(t, twice, "%v in two shards", tg)
					all[tg] = r
				}
				require.NoError(t, sc.Wait())
				st := sc.Stats()
				assert.Zero(t, st.InFlight)
				assert.Equal(t, st.Total, st.Position, "position at the end")
			}
			require.Len(t, all, int(sp.Len()))
			bad := 0
			for tg := range sp.All(target.IterConfig{Sequential: true}) {
				r := all[tg]
				ws, wt := want(tg)
				if r.State != ws || r.Tries != wt {
					if bad++; bad < 10 {
						t.Errorf("%v: got %v after %d tries, want %v after %d", tg, r.State, r.Tries, ws, wt)
					}
				}
				if r.State != result.Filtered && r.Tries == 1 && r.RTT <= 0 {
					t.Errorf("%v: answered first try without an RTT", tg)
				}
			}
			require.Zero(t, bad)
		})
	}
}

// TestLedgerResumeExact stops scans part-way and checks that the saved
// position is exactly the lowest position without a verdict, and that a
// scan resumed there completes the space.
func TestLedgerResumeExact(t *testing.T) {
	sp := space(t, "198.18.0.0/26", "1-40")
	for _, retries := range []int{0, 1} {
		// stopAt < 0: cancel while every probe in flight waits for its
		// timeout, so that the engine is idle, not delivering a result.
		for _, stopAt := range []int{-1, 1, 700, 2000} {
			t.Run(fmt.Sprintf("retries=%d,stop=%d", retries, stopAt), func(t *testing.T) {
				// Every port is closed; one in eight answers only a
				// retransmission.
				closed := func(target.Target) result.State { return result.Closed }
				net := &patternNet{state: closed, delay: time.Millisecond,
					answer: func(tg target.Target, try int) bool { return hash(tg)%8 != 0 || try > 0 }}
				opts := []Option{WithMaxRetries(retries), WithMinRetries(retries), WithParallelism(200, 200),
					WithRTTTimeouts(100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond)}
				s, err := New(net, append(opts, WithOrder(target.IterConfig{Seed: 3}))...)
				require.NoError(t, err)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				sc, err := s.Start(ctx, sp)
				require.NoError(t, err)
				if stopAt < 0 {
					time.AfterFunc(50*time.Millisecond, cancel)
				}
				first := map[target.Target]result.Result{}
				for r := range sc.Results() {
					first[target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}] = r
					if len(first) == stopAt {
						cancel()
					}
				}
				require.ErrorIs(t, sc.Wait(), context.Canceled)
				pos := sc.Stats().Position
				it, err := sp.Iter(target.IterConfig{Seed: 3})
				require.NoError(t, err)
				lowest := sp.Len()
				for p := uint64(0); p < sp.Len(); p++ {
					if _, ok := first[it.At(p)]; !ok {
						lowest = p
						break
					}
				}
				require.Equal(t, lowest, pos, "saved position")

				s2, err := New(net, append(opts, WithOrder(target.IterConfig{Seed: 3, Start: pos}))...)
				require.NoError(t, err)
				sc2, err := s2.Start(context.Background(), sp)
				require.NoError(t, err)
				for r := range sc2.Results() {
					k := target.Target{Addr: r.AddrPort.Addr(), Port: r.Port()}
					p, _ := it.PosOf(k)
					require.GreaterOrEqual(t, p, pos)
					first[k] = r
				}
				require.NoError(t, sc2.Wait())
				require.Len(t, first, int(sp.Len()))
				for tg, r := range first {
					want := result.Closed
					if retries == 0 && hash(tg)%8 == 0 {
						want = result.Filtered
					}
					require.Equal(t, want, r.State, "%v after %d tries", tg, r.Tries)
				}
			})
		}
	}
}

// TestLedgerBeyondEntryCap checks that a scan that never retransmits keeps
// more first tries in flight than entries could hold.
func TestLedgerBeyondEntryCap(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 200,000 probes")
	}
	sp := space(t, "198.18.0.0/15", "1-2") // 262,144 targets
	net := &patternNet{state: func(target.Target) result.State { return result.Filtered }}
	s, err := New(net, WithMaxRetries(0), WithMinRate(1e9), WithRTTTimeouts(time.Minute, time.Minute, time.Minute))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	require.NoError(t, err)
	go func() {
		for range sc.Results() {
		}
	}()
	require.Eventually(t, func() bool { return sc.Stats().InFlight > maxLive+1000 }, time.Minute, time.Millisecond)
	cancel()
	require.ErrorIs(t, sc.Wait(), context.Canceled)
	assert.Zero(t, sc.Stats().Position, "nothing finished")
}

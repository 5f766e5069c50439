package scanner

import (
	"context"
	"testing"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// BenchmarkEngineDark drives the engine with a prober that never answers,
// as on a dark network: every result is a timeout, so the numbers are the
// engine's own cost per probe (send bookkeeping, expiry, the result) in
// its steady state. allocs/op must be 0.
//
// Window: a congestion window of 1,000 over a 1 ms timeout, so the
// engine's pace, not its cost, sets ns/op. MinRate: the dark workload's
// options (--min-rate, --max-retries 0), so the engine sends as fast as
// it can and ns/op is its cost per probe: the ledger's first tries.
func BenchmarkEngineDark(b *testing.B) {
	b.Run("Window", func(b *testing.B) {
		benchDark(b, WithParallelism(1000, 1000))
	})
	b.Run("MinRate", func(b *testing.B) {
		benchDark(b, WithMinRate(1e9))
	})
}

func benchDark(b *testing.B, opt Option) {
	h := target.MustParseHosts("198.18.0.0/8")
	p, _ := target.ParsePorts("1-16", target.TCP)
	sp, _ := target.NewSpace(h, p)
	silent := func(target.Target) result.State { return result.Filtered }
	s, err := New(&fakeNet{state: silent}, WithMaxRetries(0), WithMinRetries(0),
		WithRTTTimeouts(time.Millisecond, time.Millisecond, time.Millisecond), opt)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	if err != nil {
		b.Fatal(err)
	}
	for range 100_000 { // past start-up: the free list and the ring have grown
		<-sc.Results()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := <-sc.Results(); !ok {
			b.Fatal("scan ended early")
		}
	}
	b.StopTimer()
	cancel()
	for range sc.Results() {
	}
}

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
func BenchmarkEngineDark(b *testing.B) {
	h := target.MustParseHosts("198.18.0.0/8")
	p, _ := target.ParsePorts("1-16", target.TCP)
	sp, _ := target.NewSpace(h, p)
	silent := func(target.Target) result.State { return result.Filtered }
	s, err := New(&fakeNet{state: silent}, WithMaxRetries(0), WithMinRetries(0),
		WithRTTTimeouts(time.Millisecond, time.Millisecond, time.Millisecond), WithParallelism(1000, 1000))
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

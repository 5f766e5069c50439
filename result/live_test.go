package result

import (
	"bytes"
	"io"
	"net/netip"
	"testing"

	"github.com/portsense/portsense/target"
)

// The live table keeps no state per target: counting a verdict allocates
// nothing, however many targets there are.
func TestLiveTableNoStatePerTarget(t *testing.T) {
	l := NewLiveTableWriter(io.Discard, 0)
	i := 0
	allocs := testing.AllocsPerRun(10_000, func() {
		i++
		a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		l.WriteResult(Result{AddrPort: netip.AddrPortFrom(a, 80), Proto: target.TCP, State: Filtered, Reason: NoResponse})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per filtered verdict, want 0", allocs)
	}
	if len(l.counts) != 1 {
		t.Errorf("%d counters, want 1", len(l.counts))
	}
}

// A buffering writer holds at most spillChunk verdicts in memory.
func TestCollectorBoundedInMemory(t *testing.T) {
	g := NewGrepWriter(&bytes.Buffer{}, RunInfo{})
	for i := range 3*spillChunk + 5 {
		a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		if err := g.WriteResult(Result{AddrPort: netip.AddrPortFrom(a, uint16(1+i>>16)), Proto: target.TCP, State: Filtered, Reason: NoResponse}); err != nil {
			t.Fatal(err)
		}
		if n := len(g.c.recs); n > spillChunk {
			t.Fatalf("%d verdicts in memory", n)
		}
	}
	if g.c.spill == nil || len(g.c.spill.runs) != 3 {
		t.Fatalf("want 3 runs on disk, got %+v", g.c.spill)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
}

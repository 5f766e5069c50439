package result

import (
	"bytes"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
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
	l.flushRun()
	if len(l.counts) != 1 {
		t.Errorf("%d counters, want 1", len(l.counts))
	}
}

// The live table counts every verdict of every kind, in runs of one kind
// and interleaved, and prints the counts on Close.
func TestLiveTableCounts(t *testing.T) {
	var out bytes.Buffer
	l := NewLiveTableWriter(&out, 0)
	kinds := []Result{
		{Proto: target.TCP, State: Filtered, Reason: NoResponse},
		{Proto: target.TCP, State: Closed, Reason: Reset},
		{Proto: target.UDP, State: Filtered, Reason: NoResponse},
		{Proto: target.TCP, State: Filtered, Reason: AdminProhibited},
		{Proto: target.TCP, State: Open, Reason: SynAck},
	}
	want := map[liveKey]int{}
	r := rand.New(rand.NewPCG(4, 4))
	for i := range 20_000 {
		k := kinds[r.IntN(len(kinds))]
		if i < 5000 {
			k = kinds[0] // a long run of one kind first
		}
		k.AddrPort = netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)}), 80)
		if err := l.WriteResult(k); err != nil {
			t.Fatal(err)
		}
		if k.State != Open {
			want[liveKey{k.State, k.Proto, k.Reason}]++
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(l.counts, want) {
		t.Errorf("counts %v, want %v", l.counts, want)
	}
	k := liveKey{Filtered, target.TCP, NoResponse}
	if line := fmt.Sprintf("Not shown: %d filtered tcp ports (no-response), ", want[k]); !strings.Contains(out.String(), line) {
		t.Errorf("output lacks %q:\n%.300s", line, out.String()[max(0, out.Len()-300):])
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

// A buffering writer holds at most hostSpillChunk host verdicts in memory,
// and nothing else per host: a ping sweep of any size stays bounded.
func TestCollectorBoundedHosts(t *testing.T) {
	var out bytes.Buffer
	x := NewXMLWriter(&out, RunInfo{})
	const n = 3*hostSpillChunk + 5
	for i := range n {
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		h := Host{Addr: a, State: HostDown, Reason: NoResponse}
		if i%2 == 0 {
			h.State, h.Reason, h.MAC = HostUp, ARPResponse, net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}
		}
		if err := x.WriteHost(h); err != nil {
			t.Fatal(err)
		}
		if m := len(x.c.hrecs); m > hostSpillChunk {
			t.Fatalf("%d host verdicts in memory", m)
		}
		if len(x.c.hosts) != 0 || len(x.c.hextra) != 0 {
			t.Fatalf("state per host: %d entries, %d extras", len(x.c.hosts), len(x.c.hextra))
		}
	}
	if x.c.hspill == nil || len(x.c.hspill.runs) != 3 {
		t.Fatalf("want 3 runs of host verdicts on disk, got %+v", x.c.hspill)
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if got := strings.Count(out.String(), "<host>"); got != n {
		t.Errorf("%d hosts in the document, want %d", got, n)
	}
	if want := fmt.Sprintf(`<hosts up="%d" down="%d" total="%d"/>`, (n+1)/2, n/2, n); !strings.Contains(out.String(), want) {
		t.Errorf("wrong host counts: %s", out.String()[max(0, out.Len()-200):])
	}
}

// BenchmarkLiveTableDark counts the verdicts of a dark scan (all filtered,
// no-response) in the live table.
func BenchmarkLiveTableDark(b *testing.B) {
	l := NewLiveTableWriter(io.Discard, 0)
	r := Result{AddrPort: netip.MustParseAddrPort("198.18.128.1:80"), Proto: target.TCP, State: Filtered, Reason: NoResponse}
	b.ReportAllocs()
	for b.Loop() {
		l.WriteResult(r)
	}
}

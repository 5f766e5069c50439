package detect_test

import (
	"math/rand/v2"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/detect/eval"
	"github.com/portsense/portsense/target"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// steadyTraffic is benign traffic plus single-source scanners (no
// campaign or decoy events, whose Sources slices are the only events
// that allocate).
func steadyTraffic() *eval.Traffic {
	s := eval.DefaultScenario()
	s.Duration = time.Hour
	s.WebClients, s.P2P, s.DNSClients, s.Crawlers, s.Monitors, s.Flaky = 500, 30, 60, 5, 2, 10
	s.SlowScanners, s.Distributed, s.Decoys, s.SpoofedFlood = false, nil, nil, 5000
	return eval.Generate(s)
}

func TestDefaultAnalyzerZeroAllocs(t *testing.T) {
	tr := steadyTraffic()
	a := detect.NewDefaultAnalyzer(nil)
	events := 0
	emit := func(detect.Event) { events++ }
	half := len(tr.Obs) / 2
	for i := range half { // warm up: slices reach their working size
		a.Observe(&tr.Obs[i], emit)
	}
	i := half
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for ; i < len(tr.Obs); i++ {
		a.Observe(&tr.Obs[i], emit)
		if i%1000 == 0 {
			a.Advance(tr.Obs[i].Time, emit)
		}
	}
	runtime.ReadMemStats(&ms1)
	if n := ms1.Mallocs - ms0.Mallocs; n > 5 { // the runtime may allocate a little on its own
		t.Errorf("%d allocations over %d observations (%d events), want 0", n, len(tr.Obs)-half, events)
	}
	j := half
	if avg := testing.AllocsPerRun(10_000, func() {
		a.Observe(&tr.Obs[j], emit)
		j++
	}); avg != 0 {
		t.Errorf("AllocsPerRun = %v, want 0", avg)
	}
	if events == 0 {
		t.Error("no events: the stream did not exercise detection")
	}
}

// TestSpoofedFlood sends one SYN from each of 10^6 spoofed sources (half
// of them reset by closed ports) with a real scanner in the middle.
func TestSpoofedFlood(t *testing.T) {
	n := 1_000_000
	if testing.Short() {
		n = 100_000
	}
	a := detect.NewDefaultAnalyzer(nil)
	capBytes := a.MemoryBytes()
	rng := rand.New(rand.NewPCG(1, 2))
	scanner := netip.MustParseAddr("198.19.200.1")
	var got []detect.Event
	emit := func(e detect.Event) { got = append(got, e) }
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	for i := range n {
		now := t0.Add(time.Duration(i) * 20 * time.Microsecond)
		var b [16]byte
		b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff
		x := rng.Uint64()
		for k := range 8 {
			b[8+k] = byte(x >> (8 * k))
		}
		src := netip.AddrFrom16(b)
		dst := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 15: byte(rng.IntN(200))})
		port := uint16(1 + rng.IntN(1024))
		o := detect.Observation{Time: now, Src: src, Dst: dst, SrcPort: 1234, DstPort: port, Proto: target.TCP, Flags: detect.SYN, TTL: 50}
		a.Observe(&o, emit)
		if i%2 == 0 {
			r := detect.Observation{Time: now.Add(time.Microsecond), Src: dst, Dst: src, SrcPort: port, DstPort: 1234,
				Proto: target.TCP, Flags: detect.RST | detect.ACK, TTL: 63}
			a.Observe(&r, emit)
		}
		if i%1000 == 500 && i/1000 < 40 { // the real scanner: 40 probes, one per 20 ms
			host := netip.AddrFrom4([4]byte{198, 18, 0, 9})
			p := uint16(2000 + i/1000)
			s := detect.Observation{Time: now, Src: scanner, Dst: host, SrcPort: 999, DstPort: p, Proto: target.TCP, Flags: detect.SYN, TTL: 50}
			r := detect.Observation{Time: now.Add(time.Millisecond), Src: host, Dst: scanner, SrcPort: p, DstPort: 999, Proto: target.TCP, Flags: detect.RST | detect.ACK, TTL: 63}
			a.Observe(&s, emit)
			a.Observe(&r, emit)
		}
		if i%10_000 == 0 {
			a.Advance(now, emit)
			if m := a.MemoryBytes(); m > capBytes {
				t.Fatalf("memory estimate grew to %d (cap %d)", m, capBytes)
			}
		}
	}
	a.Advance(t0.Add(time.Hour), emit)
	runtime.GC()
	runtime.ReadMemStats(&ms1)
	runtime.KeepAlive(a)
	if grow := int64(ms1.HeapAlloc) - int64(ms0.HeapAlloc); grow > 2<<20 {
		t.Errorf("live heap grew by %d bytes during the flood", grow)
	}
	found := false
	for _, e := range got {
		if e.Source != scanner || e.Kind != detect.KindScan && e.Kind != detect.KindScanEnd {
			t.Errorf("spoofed source reported: %+v", e)
		}
		found = true
	}
	if !found {
		t.Error("the real scanner hidden in the flood was not detected")
	}
	t.Logf("%d spoofed sources, memory %d bytes (fixed), %d events", n, capBytes, len(got))
}

// scan runs one single-source scan against the network model of eval and
// returns the first KindScan event for its source.
func TestShapesAndTypes(t *testing.T) {
	s := eval.DefaultScenario()
	s.Duration = time.Hour
	s.WebClients, s.P2P, s.DNSClients, s.Crawlers, s.Monitors, s.Flaky = 0, 0, 0, 0, 0, 0
	s.SlowScanners, s.IPv6Scanners, s.Evaders, s.Distributed, s.Decoys, s.SpoofedFlood = false, false, 0, nil, nil, 0
	tr := eval.Generate(s)
	a := detect.NewDefaultAnalyzer(nil)
	first := map[netip.Addr]detect.Event{}
	emit := func(e detect.Event) {
		if _, ok := first[e.Source]; !ok && e.Kind == detect.KindScan {
			first[e.Source] = e
		}
	}
	for i := range tr.Obs {
		a.Observe(&tr.Obs[i], emit)
	}
	a.Advance(tr.End.Add(time.Hour), emit)
	var shapeOK, typeOK, n int
	for _, ac := range tr.Actors {
		e, ok := first[ac.Sources[0]]
		if !ok {
			t.Errorf("scanner %v (%v/%v/%v) not detected", ac.Sources[0], ac.Shape, ac.Type, ac.Gap)
			continue
		}
		n++
		if e.Shape != ac.Shape || e.ScanType != ac.Type {
			t.Logf("%v/%v/%v classified %v/%v (hosts %d ports %d)", ac.Shape, ac.Type, ac.Gap, e.Shape, e.ScanType, e.Hosts, e.Ports)
		}
		if e.Shape == ac.Shape {
			shapeOK++
		}
		if e.ScanType == ac.Type {
			typeOK++
		}
	}
	t.Logf("shape right %d/%d, technique right %d/%d", shapeOK, n, typeOK, n)
	if 10*shapeOK < 9*n || 10*typeOK < 9*n {
		t.Errorf("classification below 90%%: shape %d/%d, technique %d/%d", shapeOK, n, typeOK, n)
	}
}

func BenchmarkAnalyzeDefault(b *testing.B) {
	tr := steadyTraffic()
	obs := tr.Obs
	span := obs[len(obs)-1].Time.Sub(obs[0].Time) + time.Second
	a := detect.NewDefaultAnalyzer(nil)
	emit := func(detect.Event) {}
	b.ReportAllocs()
	b.ResetTimer()
	j := 0
	for range b.N {
		if j == len(obs) { // next lap: keep packet time moving forward
			b.StopTimer()
			for k := range obs {
				obs[k].Time = obs[k].Time.Add(span)
			}
			j = 0
			b.StartTimer()
		}
		a.Observe(&obs[j], emit)
		j++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "pkts/s")
}

// TestGarbageObservations feeds random, partly nonsensical observations
// (zero addresses, mixed families, odd flags, quotes that match nothing,
// time going backwards) to every analyser: no panic, fixed memory.
func TestGarbageObservations(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	addrs := []netip.Addr{{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.19.0.1"),
		netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("::ffff:198.18.0.2"), netip.MustParseAddr("2001:db8:ffff::9")}
	protos := []target.Protocol{0, target.ICMP, target.TCP, target.UDP, target.ICMPv6, 132}
	pick := func() netip.Addr { return addrs[rng.IntN(len(addrs))] }
	for _, a := range []detect.Analyzer{detect.NewDefaultAnalyzer(nil), detect.NewTRW(nil), detect.NewSlow(nil), detect.NewThreshold(nil)} {
		mem := a.MemoryBytes()
		emit := func(detect.Event) {}
		for i := range 200_000 {
			o := detect.Observation{
				Time: t0.Add(time.Duration(rng.IntN(1_000_000)-1000*(i%3)) * time.Millisecond),
				Src:  pick(), Dst: pick(), SrcPort: uint16(rng.IntN(8)), DstPort: uint16(rng.IntN(8)),
				Proto: protos[rng.IntN(len(protos))], Flags: detect.TCPFlags(rng.IntN(256)), TTL: uint8(rng.IntN(256)),
				ICMPType: uint8(rng.IntN(4)), ICMPCode: uint8(rng.IntN(5)), Payload: uint16(rng.IntN(3)),
				HasQuote: rng.IntN(2) == 0,
				Quoted:   detect.Quote{Src: pick(), Dst: pick(), SrcPort: uint16(rng.IntN(8)), DstPort: uint16(rng.IntN(8)), Proto: protos[rng.IntN(len(protos))]},
			}
			a.Observe(&o, emit)
			if i%5000 == 0 {
				a.Advance(o.Time, emit)
			}
		}
		a.Advance(time.Time{}, emit)
		if a.MemoryBytes() != mem {
			t.Errorf("%T: memory changed from %d to %d", a, mem, a.MemoryBytes())
		}
	}
}

func TestDefaultAnalyzerReportsTrackedSources(t *testing.T) {
	a := detect.NewDefaultAnalyzer(nil)
	st, ok := detect.Analyzer(a).(detect.SourceTracker)
	if !ok {
		t.Fatal("the default analyser should report tracked sources")
	}
	if n := st.TrackedSources(); n != 0 {
		t.Fatalf("fresh analyser tracks %d sources", n)
	}
}

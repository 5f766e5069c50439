package result

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// spillResults draws n verdicts over a few hundred hosts of both families,
// with duplicates, service info on some open ports and host verdicts.
func spillResults(n int) ([]Result, []Host) {
	r := rand.New(rand.NewPCG(7, 11))
	t0 := time.Unix(1796289000, 0)
	var rs []Result
	states := []State{Open, Closed, Filtered, Filtered, Filtered, Closed, OpenFiltered}
	reasons := []Reason{SynAck, Reset, NoResponse, NoResponse, AdminProhibited, ConnRefused, NoResponse}
	for i := range n {
		var a netip.Addr
		if r.IntN(5) == 0 {
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(50))})
		} else {
			a = netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(3)), byte(r.IntN(200))})
		}
		k := r.IntN(len(states))
		proto := target.TCP
		if r.IntN(10) == 0 {
			proto = target.UDP
		}
		res := Result{
			AddrPort: netip.AddrPortFrom(a, uint16(1+r.IntN(120))), Proto: proto,
			State: states[k], Reason: reasons[k], ReplyTTL: uint8(r.IntN(3) * 32),
			RTT: time.Duration(r.IntN(5000)) * time.Microsecond, Tries: 1,
			Time: t0.Add(time.Duration(i) * time.Millisecond),
		}
		if res.State == Open && r.IntN(4) == 0 {
			res.Service = &Service{Name: "http", Product: "lab-httpd", Method: "probed", Conf: 10}
		}
		rs = append(rs, res)
	}
	hosts := []Host{
		{Addr: netip.MustParseAddr("198.18.1.7"), State: HostUp, Reason: EchoReply, ReplyTTL: 64, Time: t0},
		{Addr: netip.MustParseAddr("198.18.2.250"), State: HostDown, Reason: NoResponse, Time: t0},
		{Addr: netip.MustParseAddr("2001:db8::3"), State: HostUp, Reason: SynAck, Warnings: []string{"syn-proxy"}, Time: t0},
		{Addr: netip.MustParseAddr("fe80::1%veth1"), State: HostUp, Reason: NDResponse, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, Time: t0},
		{Addr: netip.MustParseAddr("fe80::1%eth0"), State: HostUp, Reason: NDResponse, Time: t0},
		{Addr: netip.MustParseAddr("fe80::1"), State: HostDown, Reason: NoResponse, Time: t0},
	}
	// Several verdicts on most hosts, in random order: the fold depends on
	// the order they come in.
	hreasons := []Reason{EchoReply, SynAck, Reset, ARPResponse, NoResponse, UserSet}
	for i := range n / 2 {
		h := Host{Time: t0.Add(time.Duration(r.IntN(n)) * time.Millisecond), RTT: time.Duration(r.IntN(900)) * time.Microsecond}
		if r.IntN(5) == 0 {
			h.Addr = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 14: byte(r.IntN(2)), 15: byte(r.IntN(80))})
		} else {
			h.Addr = netip.AddrFrom4([4]byte{198, 18, byte(r.IntN(4)), byte(r.IntN(250))})
		}
		switch r.IntN(3) {
		case 0:
			h.State = HostDown
		case 1:
			h.State = HostUp
		}
		h.Reason = hreasons[r.IntN(len(hreasons))]
		h.ReplyTTL = uint8(r.IntN(2) * 64)
		switch r.IntN(8) {
		case 0:
			h.MAC = net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}
		case 1:
			h.MAC = make(net.HardwareAddr, 20) // IPoIB: kept aside
			h.MAC[19] = byte(i)
		case 2:
			h.Warnings = []string{fmt.Sprintf("note %d", r.IntN(3))}
		}
		if r.IntN(3) == 0 {
			h.Time = time.Time{}
		}
		hosts = append(hosts, h)
	}
	// A zoned port: kept in memory, it must interleave with the spilled
	// host verdicts of the same and neighbouring addresses.
	rs = append(rs, Result{AddrPort: netip.MustParseAddrPort("[fe80::1%eth0]:22"), Proto: target.TCP,
		State: Open, Reason: SynAck, Time: t0})
	return rs, hosts
}

// The writers that buffer produce the same bytes whether their records
// stayed in memory or went through many runs and merge levels on disk.
func TestSpillSameOutput(t *testing.T) {
	rs, hosts := spillResults(5000)
	info := RunInfo{Scanner: "portsense", Version: "1", Args: "scan", Start: time.Unix(1796289000, 0),
		End: time.Unix(1796289010, 0), ScanType: "syn", Proto: target.TCP}
	type mk func(w *bytes.Buffer) (Writer, *collector)
	writers := map[string]mk{
		"xml": func(w *bytes.Buffer) (Writer, *collector) {
			x := NewXMLWriter(w, info)
			return x, &x.c
		},
		"grep": func(w *bytes.Buffer) (Writer, *collector) {
			g := NewGrepWriter(w, info)
			return g, &g.c
		},
		"table": func(w *bytes.Buffer) (Writer, *collector) {
			tw := NewTableWriter(w)
			return tw, &tw.c
		},
	}
	wmc := func(w Writer) *collector {
		switch w := w.(type) {
		case *XMLWriter:
			return &w.c
		case *GrepWriter:
			return &w.c
		case *TableWriter:
			return &w.c
		}
		panic("unknown writer")
	}
	for name, mkw := range writers {
		t.Run(name, func(t *testing.T) {
			var mem, disk bytes.Buffer
			wm, _ := mkw(&mem)
			wd, cd := mkw(&disk)
			cd.chunk = 7  // 5000 records: hundreds of runs, three merge levels
			cd.hchunk = 3 // 2500 host verdicts: the same
			cd.fanIn = 16
			for i, r := range rs {
				if err := wm.WriteResult(r); err != nil {
					t.Fatal(err)
				}
				if err := wd.WriteResult(r); err != nil {
					t.Fatal(err)
				}
				if i%2 == 0 && i/2 < len(hosts) {
					if err := wm.WriteHost(hosts[i/2]); err != nil {
						t.Fatal(err)
					}
					if err := wd.WriteHost(hosts[i/2]); err != nil {
						t.Fatal(err)
					}
				}
			}
			if cm := wmc(wm); cm.spill != nil || cm.hspill != nil {
				t.Fatal("the in-memory writer spilled")
			}
			if cd.spill == nil || len(cd.spill.runs) < 2 {
				t.Fatalf("no spill: %+v", cd.spill)
			}
			if cd.hspill == nil || len(cd.hspill.runs) < 2 {
				t.Fatalf("no host spill: %+v", cd.hspill)
			}
			for _, runs := range [][]spillRun{cd.spill.runs, cd.hspill.runs} {
				levels := map[int]bool{}
				for _, r := range runs {
					levels[r.level] = true
				}
				if !levels[2] {
					t.Errorf("runs %v: want merges up to level 2", runs)
				}
			}
			if err := wm.Close(); err != nil {
				t.Fatal(err)
			}
			if err := wd.Close(); err != nil {
				t.Fatal(err)
			}
			if mem.Len() == 0 || !bytes.Equal(mem.Bytes(), disk.Bytes()) {
				dir := t.TempDir()
				os.WriteFile(filepath.Join(dir, "mem"), mem.Bytes(), 0o644)
				os.WriteFile(filepath.Join(dir, "disk"), disk.Bytes(), 0o644)
				t.Fatalf("outputs differ (%d and %d bytes): diff %s/mem %s/disk", mem.Len(), disk.Len(), dir, dir)
			}
		})
	}
}

// A spilling writer leaves no file behind.
func TestSpillRemovesFile(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("TMPDIR", dir)
	rs, _ := spillResults(100)
	x := NewGrepWriter(&bytes.Buffer{}, RunInfo{})
	x.c.chunk = 10
	for _, r := range rs {
		if err := x.WriteResult(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("left behind: %v", left)
	}
}

// BenchmarkXMLWriterSpill measures a large horizontal scan through the XML
// writer: the records go to disk and come back merged.
func BenchmarkXMLWriterSpill(b *testing.B) {
	b.ReportAllocs()
	t0 := time.Unix(1796289000, 0)
	const n = 100_000
	for b.Loop() {
		x := NewXMLWriter(&bytes.Buffer{}, RunInfo{Start: t0, End: t0})
		for i := range n {
			a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
			x.WriteResult(Result{AddrPort: netip.AddrPortFrom(a, 80), Proto: target.TCP, State: Filtered, Reason: NoResponse, Time: t0})
		}
		x.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/result")
}

// BenchmarkXMLWriterHostSpill measures a large ping sweep through the XML
// writer: the host verdicts go to disk and come back merged.
func BenchmarkXMLWriterHostSpill(b *testing.B) {
	b.ReportAllocs()
	t0 := time.Unix(1796289000, 0)
	const n = 100_000
	for b.Loop() {
		x := NewXMLWriter(&bytes.Buffer{}, RunInfo{Start: t0, End: t0})
		for i := range n {
			a := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
			x.WriteHost(Host{Addr: a, State: HostUp, Reason: EchoReply, ReplyTTL: 64, Time: t0})
		}
		x.Close()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/host")
}

// BenchmarkGrepWriterDark measures the dark scan of the memory workload
// through a buffering writer: 32 ports of 8,192 hosts, every port filtered,
// in the random order a scan reports them, so that sorting the runs, the
// merges on disk and the summaries all count.
func BenchmarkGrepWriterDark(b *testing.B) {
	b.ReportAllocs()
	t0 := time.Unix(1796289000, 0)
	const hosts, ports = 8192, 32
	order := rand.New(rand.NewPCG(1, 2)).Perm(hosts * ports)
	var out bytes.Buffer
	for b.Loop() {
		out.Reset()
		g := NewGrepWriter(&out, RunInfo{Start: t0, End: t0})
		for _, k := range order {
			a := netip.AddrFrom4([4]byte{198, 18, 128 + byte(k/ports>>8), byte(k / ports)})
			g.WriteResult(Result{AddrPort: netip.AddrPortFrom(a, uint16(1+k%ports)), Proto: target.TCP,
				State: Filtered, Reason: NoResponse, Tries: 1, Time: t0.Add(time.Duration(k) * time.Microsecond)})
		}
		if err := g.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*hosts*ports), "ns/result")
}

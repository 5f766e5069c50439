package result

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// A ReportWriter writes to each destination the bytes of the writer of
// that format alone, whether the run stays in memory or goes to disk, for
// every subset of the three formats.
func TestReportWriterSameOutput(t *testing.T) {
	rs, hosts := spillResults(5000)
	info := RunInfo{Scanner: "portsense", Version: "1", Args: "scan", Start: time.Unix(1796289000, 0),
		End: time.Unix(1796289010, 0), ScanType: "syn", Proto: target.TCP}
	for _, spill := range []bool{false, true} {
		for set := 1; set < 8; set++ {
			t.Run(fmt.Sprintf("spill=%v/set=%03b", spill, set), func(t *testing.T) {
				var xml, grep, table, xmlAlone, grepAlone, tableAlone bytes.Buffer
				var dst [3]*bytes.Buffer
				var alone []Writer
				if set&1 != 0 {
					dst[0] = &xml
					alone = append(alone, NewXMLWriter(&xmlAlone, info))
				}
				if set&2 != 0 {
					dst[1] = &grep
					alone = append(alone, NewGrepWriter(&grepAlone, info))
				}
				if set&4 != 0 {
					dst[2] = &table
					alone = append(alone, NewTableWriter(&tableAlone))
				}
				w := NewReportWriter(info, orNil(dst[0]), orNil(dst[1]), orNil(dst[2]))
				if spill {
					w.c.chunk, w.c.hchunk, w.c.fanIn = 7, 3, 4
				}
				all := append([]Writer{w}, alone...)
				for i, r := range rs {
					for _, x := range all {
						if err := x.WriteResult(r); err != nil {
							t.Fatal(err)
						}
					}
					if i%2 == 0 && i/2 < len(hosts) {
						for _, x := range all {
							if err := x.WriteHost(hosts[i/2]); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if spill && (w.c.spill == nil || len(w.c.spill.runs) < 2) {
					t.Fatal("the report writer did not spill")
				}
				for _, x := range all {
					if err := x.Close(); err != nil {
						t.Fatal(err)
					}
				}
				if err := w.Close(); err != nil {
					t.Errorf("second Close: %v", err)
				}
				if err := w.WriteResult(rs[0]); !errors.Is(err, ErrClosed) {
					t.Errorf("WriteResult after Close = %v, want ErrClosed", err)
				}
				for i, pair := range [][2]*bytes.Buffer{{&xml, &xmlAlone}, {&grep, &grepAlone}, {&table, &tableAlone}} {
					if set&(1<<i) == 0 {
						if pair[0].Len() != 0 {
							t.Errorf("format %d not asked for, got %d bytes", i, pair[0].Len())
						}
						continue
					}
					if pair[1].Len() == 0 || !bytes.Equal(pair[0].Bytes(), pair[1].Bytes()) {
						dir := t.TempDir()
						os.WriteFile(dir+"/shared", pair[0].Bytes(), 0o644)
						os.WriteFile(dir+"/alone", pair[1].Bytes(), 0o644)
						t.Errorf("format %d: %d bytes shared, %d alone: differ (diff %s/shared %s/alone)", i, pair[0].Len(), pair[1].Len(), dir, dir)
					}
				}
			})
		}
	}
}

// orNil keeps a nil *bytes.Buffer from becoming a non-nil io.Writer.
func orNil(b *bytes.Buffer) interface{ Write([]byte) (int, error) } {
	if b == nil {
		return nil
	}
	return b
}

// fullDisk fails every write.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// A destination's write error comes back from Close; the others are
// still written.
func TestReportWriterWriteError(t *testing.T) {
	var grep bytes.Buffer
	w := NewReportWriter(RunInfo{}, fullDisk{}, &grep, nil)
	w.WriteResult(Result{AddrPort: netip.MustParseAddrPort("198.18.0.1:22"), Proto: target.TCP, State: Open, Reason: SynAck})
	if err := w.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("Close = %v, want the XML destination's error", err)
	}
	if !bytes.Contains(grep.Bytes(), []byte("22/open/tcp//")) {
		t.Errorf("greppable output:\n%s", grep.String())
	}
}

// darkRun is the memory workload's dark scan in small: 32 ports of 8,192
// hosts, all filtered, in a random order.
func darkRun() []Result {
	t0 := time.Unix(1796289000, 0)
	const hosts, ports = 8192, 32
	order := rand.New(rand.NewPCG(1, 2)).Perm(hosts * ports)
	rs := make([]Result, len(order))
	for i, k := range order {
		a := netip.AddrFrom4([4]byte{198, 18, 128 + byte(k/ports>>8), byte(k / ports)})
		rs[i] = Result{AddrPort: netip.AddrPortFrom(a, uint16(1+k%ports)), Proto: target.TCP,
			State: Filtered, Reason: NoResponse, Tries: 1, Time: t0.Add(time.Duration(i/64) * 250 * time.Microsecond)}
	}
	return rs
}

// BenchmarkReportWriterDark writes a dark scan as XML and greppable
// output through one ReportWriter; BenchmarkReportWriterDarkApart does the
// same with the two writers side by side (Multi), as before ReportWriter.
func BenchmarkReportWriterDark(b *testing.B) {
	rs := darkRun()
	b.ReportAllocs()
	for b.Loop() {
		var xml, grep bytes.Buffer
		w := NewReportWriter(RunInfo{}, &xml, &grep, nil)
		for _, r := range rs {
			w.WriteResult(r)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/result")
}

func BenchmarkReportWriterDarkApart(b *testing.B) {
	rs := darkRun()
	b.ReportAllocs()
	for b.Loop() {
		var xml, grep bytes.Buffer
		w := Multi(NewXMLWriter(&xml, RunInfo{}), NewGrepWriter(&grep, RunInfo{}))
		for _, r := range rs {
			w.WriteResult(r)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/result")
}

package result

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// The buffering and streaming writers write the bytes they wrote before
// the radix sort, the merge keys, the shared ReportWriter and the time
// cache: testdata/writers-07dbaf1.golden.gz holds the XML, greppable,
// table and JSON Lines output of spillResults(1500) as main 07dbaf1 wrote
// it. Each is checked in memory, spilled through several merge levels,
// and (XML, greppable, table) through one ReportWriter.
func TestWritersMatchGolden(t *testing.T) {
	f, err := os.Open("testdata/writers-07dbaf1.golden.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(string(raw), "=====\n")[1:]
	if len(parts) != 4 {
		t.Fatalf("golden file has %d parts, want 4", len(parts))
	}
	rs, hosts := spillResults(1500)
	info := RunInfo{Scanner: "portsense", Version: "1", Args: "scan -sS golden", Start: time.Unix(1796289000, 0),
		End: time.Unix(1796289010, 0), ScanType: "syn", Proto: target.TCP}
	feed := func(ws ...Writer) {
		for i, r := range rs {
			for _, w := range ws {
				if err := w.WriteResult(r); err != nil {
					t.Fatal(err)
				}
			}
			if i%2 == 0 && i/2 < len(hosts) {
				for _, w := range ws {
					if err := w.WriteHost(hosts[i/2]); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
		for _, w := range ws {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(name string, got *bytes.Buffer, want string) {
		t.Helper()
		if got.String() != want {
			dir := t.TempDir()
			os.WriteFile(dir+"/got", got.Bytes(), 0o644)
			os.WriteFile(dir+"/want", []byte(want), 0o644)
			t.Errorf("%s: %d bytes, golden %d: differ (diff %s/want %s/got)", name, got.Len(), len(want), dir, dir)
		}
	}
	for _, spill := range []bool{false, true} {
		var x, g, tb, j bytes.Buffer
		xw, gw, tw := NewXMLWriter(&x, info), NewGrepWriter(&g, info), NewTableWriter(&tb)
		if spill {
			for _, c := range []*collector{&xw.c, &gw.c, &tw.c} {
				c.chunk, c.hchunk, c.fanIn = 7, 3, 4
			}
		}
		feed(xw, gw, tw, NewJSONLWriter(&j))
		check("xml", &x, parts[0])
		check("greppable", &g, parts[1])
		check("table", &tb, parts[2])
		check("jsonl", &j, parts[3])

		var rx, rg, rt bytes.Buffer
		rw := NewReportWriter(info, &rx, &rg, &rt)
		if spill {
			rw.c.chunk, rw.c.hchunk, rw.c.fanIn = 7, 3, 4
		}
		feed(rw)
		check("report xml", &rx, parts[0])
		check("report greppable", &rg, parts[1])
		check("report table", &rt, parts[2])
	}
}

package result

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// The JSONL writer reuses the text of the last time it wrote; its lines
// stay those of AppendJSON whatever the sequence of times: repeated, new,
// zero, the same instant in another location or with a monotonic reading,
// and a time that cannot be encoded after one that was cached.
func TestJSONLWriterTimeCache(t *testing.T) {
	t1 := time.Date(2026, 12, 3, 15, 47, 4, 756098678, time.UTC)
	t2 := t1.Add(time.Nanosecond)
	east := time.FixedZone("east", 5*3600)
	times := []time.Time{
		t1, t1, t2, t1.In(east), {}, {}, t1, time.Now(), time.Now().Round(0), t2, t2.In(east),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), t2, time.Unix(0, 0), time.Unix(0, 0).In(east),
	}
	var got bytes.Buffer
	w := NewJSONLWriter(&got)
	var want strings.Builder
	a := netip.MustParseAddr("198.18.128.7")
	for i, tm := range times {
		r := Result{AddrPort: netip.AddrPortFrom(a, uint16(i+1)), Proto: target.TCP, State: Filtered, Reason: NoResponse, Tries: 1, Time: tm}
		line, werr := r.AppendJSON(nil)
		err := w.WriteResult(r)
		if (err != nil) != (werr != nil) {
			t.Fatalf("time %d (%v): writer error %v, AppendJSON error %v", i, tm, err, werr)
		}
		if werr == nil {
			want.Write(line)
			want.WriteByte('\n')
		}
	}
	if got.String() != want.String() {
		t.Errorf("writer wrote\n%s\nwant\n%s", got.String(), want.String())
	}
	if !strings.Contains(got.String(), `"time":"2026-12-03T15:47:04.756098679Z"`) || strings.Count(got.String(), "\n") != len(times)-1 {
		t.Errorf("unexpected output:\n%s", got.String())
	}
}

package detect

import (
	"bytes"
	"context"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestAlertLoggerRateLimit(t *testing.T) {
	var buf bytes.Buffer
	clk := &fakeClock{t: t0}
	l := NewAlertLogger(slog.New(slog.NewTextHandler(&buf, nil)), &AlertLogConfig{Rate: 1, Burst: 2, Now: clk.Now})
	e := Event{Kind: KindScan, Detector: "trw", Source: v4a, Shape: ShapeHorizontal, ScanType: ScanSYN, Hosts: 20, Ports: 1, Attempts: 5}
	for range 10 {
		if err := l.Respond(context.Background(), e); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(buf.String(), "port scan detected"); n != 2 {
		t.Fatalf("%d records within the burst, want 2:\n%s", n, buf.String())
	}
	if l.Suppressed() != 8 {
		t.Fatalf("suppressed %d, want 8", l.Suppressed())
	}
	clk.Add(time.Second)
	buf.Reset()
	l.Respond(context.Background(), Event{Kind: KindDistributed, Detector: "campaign", Source: v4a, Sources: []netip.Addr{v4a, v4b}})
	line := buf.String()
	for _, want := range []string{"level=WARN", "kind=distributed", "suppressed=8", "sources=", "198.18.1.2"} {
		if !strings.Contains(line, want) {
			t.Errorf("record lacks %q: %s", want, line)
		}
	}
	if l.Suppressed() != 0 {
		t.Error("suppressed count not reset")
	}
}

func TestCallbackAndNames(t *testing.T) {
	var got Event
	r := Callback(func(e Event) { got = e })
	if err := r.Respond(context.Background(), Event{Source: v4a}); err != nil || got.Source != v4a {
		t.Fatalf("callback: %v %+v", err, got)
	}
	if KindName(KindDecoy) != "decoy" || ShapeName(ShapeBlock) != "block" || ScanTypeName(ScanXmas) != "xmas" || ScanTypeName(99) != "unknown" {
		t.Error("names")
	}
}

package detect

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/netip"
	"slices"
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
	if KindDecoy.String() != "decoy" || ShapeBlock.String() != "block" || ScanXmas.String() != "xmas" || ScanType(99).String() != "unknown(99)" {
		t.Error("names")
	}
}

// Every enum marshals as its name and parses back; unknown names are
// refused with the token in the error.
func TestEnumText(t *testing.T) {
	for k := KindUnknown; k <= KindScanEnd; k++ {
		b, _ := k.MarshalText()
		var back EventKind
		if err := back.UnmarshalText(b); err != nil || back != k {
			t.Errorf("kind %d: %q → %v %v", k, b, back, err)
		}
	}
	for s := ShapeUnknown; s <= ShapeBlock; s++ {
		b, _ := s.MarshalText()
		var back Shape
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("shape %d: %q → %v %v", s, b, back, err)
		}
	}
	for ty := ScanTypeUnknown; ty <= ScanUDP; ty++ {
		b, _ := ty.MarshalText()
		var back ScanType
		if err := back.UnmarshalText(b); err != nil || back != ty {
			t.Errorf("scan type %d: %q → %v %v", ty, b, back, err)
		}
	}
	var ty ScanType
	if err := ty.UnmarshalText([]byte("sideways")); err == nil || !strings.Contains(err.Error(), `"sideways"`) {
		t.Errorf("bad name: %v", err)
	}
	if b, _ := OutcomeRefused.MarshalText(); string(b) != "refused" {
		t.Errorf("outcome %q", b)
	}
	if b, _ := FollowRST.MarshalText(); string(b) != "rst" {
		t.Errorf("follow-up %q", b)
	}
	e := Event{Kind: KindScan, Detector: "trw", Source: v4a, Shape: ShapeVertical, ScanType: ScanSYN, Attempts: 5}
	e.Sample.add(netip.AddrPortFrom(v4a, 22))
	j, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"scan"`, `"shape":"vertical"`, `"scan_type":"syn"`, `"attempts":5`, `"sample":["` + v4a.String() + `:22"]`} {
		if !strings.Contains(string(j), want) {
			t.Errorf("%s lacks %s", j, want)
		}
	}
	if strings.Contains(string(j), "first_seen") || strings.Contains(string(j), "note") {
		t.Errorf("zero fields not omitted: %s", j)
	}
	var back Event
	if err := json.Unmarshal(j, &back); err != nil || back.Kind != e.Kind || back.Sample != e.Sample || back.Source != e.Source {
		t.Errorf("round trip: %+v %v", back, err)
	}
}

func TestBlockTargets(t *testing.T) {
	a, b, c := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	for _, tc := range []struct {
		e    Event
		want []netip.Addr
	}{
		{Event{Kind: KindScan, Source: a}, []netip.Addr{a}},
		{Event{Kind: KindDistributed, Source: a, Sources: []netip.Addr{a, b, c}}, []netip.Addr{a, b, c}},
		{Event{Kind: KindDecoy, Source: a, Sources: []netip.Addr{b, c}}, []netip.Addr{a}},
		{Event{Kind: KindDecoy, Sources: []netip.Addr{a, b, c}, Note: NoteDecoyUndetermined}, nil},
		{Event{Kind: KindScanEnd, Source: a}, nil},
	} {
		got := slices.Collect(tc.e.BlockTargets())
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: %v, want %v", tc.e.Kind, got, tc.want)
		}
	}
}

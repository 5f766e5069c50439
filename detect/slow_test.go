package detect

import (
	"net/netip"
	"testing"
	"time"
)

// slowScan sends one SYN (answered by RST) every gap to a new port of one
// host, or, with retry, to the same port.
func slowScan(a Analyzer, src netip.Addr, gap time.Duration, n int, retry bool) []Event {
	var evs []Event
	emit := func(e Event) { evs = append(evs, e) }
	for i := range n {
		t := tT0.Add(time.Duration(i) * gap)
		port := uint16(1000 + i)
		if retry {
			port = 1000
		}
		sp := uint16(40000 + i)
		syn := Observation{Time: t, Src: src, Dst: tHost, SrcPort: sp, DstPort: port, Proto: 6, Flags: SYN, TTL: 50}
		rst := Observation{Time: t.Add(time.Millisecond), Src: tHost, Dst: src, SrcPort: port, DstPort: sp, Proto: 6, Flags: RST | ACK, TTL: 63}
		a.Observe(&syn, emit)
		a.Observe(&rst, emit)
		a.Advance(t.Add(2*time.Millisecond), emit)
	}
	return evs
}

func TestSlowCatchesOneProbeEveryFiveMinutes(t *testing.T) {
	for _, gap := range []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute} {
		evs := slowScan(NewSlow(nil), netip.MustParseAddr("198.19.5.5"), gap, 40, false)
		if len(evs) == 0 || evs[0].Detector != "slow" || evs[0].Shape != ShapeVertical {
			t.Fatalf("gap %v: events %+v, want a vertical slow event", gap, evs)
		}
		for i := 1; i < len(evs); i++ { // one per source per cooldown
			if d := evs[i].Time.Sub(evs[i-1].Time); d < 10*time.Minute {
				t.Errorf("gap %v: events %v apart, cooldown is 10 min", gap, d)
			}
		}
		if evs[0].Attempts > 25 {
			t.Errorf("gap %v: detected after %d attempts", gap, evs[0].Attempts)
		}
	}
}

func TestSlowIgnoresRetries(t *testing.T) {
	evs := slowScan(NewSlow(nil), netip.MustParseAddr("198.19.5.6"), time.Minute, 200, true)
	if len(evs) != 0 {
		t.Fatalf("retries of one dead service reported: %+v", evs)
	}
}

func TestThresholdMissesSlowScan(t *testing.T) {
	evs := slowScan(NewThreshold(nil), netip.MustParseAddr("198.19.5.7"), 5*time.Minute, 40, false)
	if len(evs) != 0 {
		t.Fatalf("threshold window caught a 5-minute scan: %+v", evs)
	}
	evs = slowScan(NewThreshold(nil), netip.MustParseAddr("198.19.5.8"), time.Second, 40, false)
	if len(evs) != 1 || evs[0].Detector != "threshold" {
		t.Fatalf("threshold window: %+v, want one event", evs)
	}
}

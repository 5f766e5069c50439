package detect

import (
	"math"
	"net/netip"
	"testing"
	"time"
)

func TestTRWThresholds(t *testing.T) {
	p := (*TRWConfig)(nil).params()
	if got := math.Exp(p.upper); math.Abs(got-99) > 1e-9 {
		t.Errorf("η1 = %v, want β/α = 99", got)
	}
	if got, want := math.Exp(p.lower), 0.01/0.99; math.Abs(got-want) > 1e-12 {
		t.Errorf("η0 = %v, want (1−β)/(1−α) = %v", got, want)
	}
	if math.Abs(p.fail-math.Log(4)) > 1e-12 || math.Abs(p.succ-math.Log(0.25)) > 1e-12 {
		t.Errorf("steps %v %v, want ln 4 and ln 1/4", p.fail, p.succ)
	}
	bad := (&TRWConfig{Theta0: 0.2, Theta1: 0.8, Alpha: 2, Beta: -1}).params()
	if bad.theta0 != 0.8 || bad.theta1 != 0.2 || math.Abs(math.Exp(bad.upper)-99) > 1e-9 {
		t.Errorf("out-of-range config not replaced by defaults: %+v", bad)
	}
}

// contactStream feeds synthetic contacts straight into a TRW.
type contactStream struct {
	a    *TRW
	t    time.Time
	evs  []Event
	port uint16
}

func (s *contactStream) contact(src netip.Addr, host byte, ok bool) {
	s.port++
	s.t = s.t.Add(time.Second)
	out := OutcomeRefused
	if ok {
		out = OutcomeSuccess
	}
	c := Contact{Start: s.t, End: s.t, Src: src, Dst: netip.AddrFrom4([4]byte{198, 18, 0, host}), DstPort: s.port,
		Proto: 6, Type: ScanSYN, Outcome: out, NewHost: true, NewPort: true}
	s.a.ObserveContact(&c, func(e Event) { s.evs = append(s.evs, e) })
}

func TestTRWResetsInsteadOfWhitelisting(t *testing.T) {
	s := &contactStream{a: NewTRW(&TRWConfig{FixedTheta0: true}), t: tT0}
	src := netip.MustParseAddr("198.19.9.9")
	s.contact(src, 1, false)
	s.contact(src, 2, false) // admitted here
	for i := range 30 {      // looks very benign for a while
		s.contact(src, byte(10+i), true)
	}
	if len(s.evs) != 0 {
		t.Fatalf("events during benign phase: %+v", s.evs)
	}
	// A few failures after a benign history are what clients do (a
	// closed port, a dead host): not a scan.
	for i := range 6 {
		s.contact(src, byte(100+i), false)
	}
	if len(s.evs) != 0 {
		t.Fatalf("a client with 30 successes reported after 8 failures: %+v", s.evs)
	}
	// Once failures are 40 % of its first contacts, the walk (which reset
	// on the benign verdict rather than trusting forever) reports it.
	for i := range 14 {
		s.contact(src, byte(110+i), false)
	}
	if len(s.evs) != 1 || s.evs[0].Source != src || s.evs[0].Detector != "trw" {
		t.Fatalf("after turning to scanning: events %+v, want one trw event", s.evs)
	}
}

func TestTRWMinFailures(t *testing.T) {
	s := &contactStream{a: NewTRW(&TRWConfig{MinFailures: 6, FixedTheta0: true}), t: tT0}
	src := netip.MustParseAddr("198.19.9.10")
	for i := range 5 {
		s.contact(src, byte(i), false)
	}
	if len(s.evs) != 0 {
		t.Fatalf("fired before MinFailures: %+v", s.evs)
	}
	s.contact(src, 9, false)
	if len(s.evs) != 1 {
		t.Fatalf("did not fire at MinFailures")
	}
	// cooldown: more failures, no second event
	for i := range 20 {
		s.contact(src, byte(20+i), false)
	}
	if len(s.evs) != 1 {
		t.Fatalf("%d events within the cooldown, want 1", len(s.evs))
	}
}

func TestTRWIgnoresOneFailureSources(t *testing.T) {
	s := &contactStream{a: NewTRW(nil), t: tT0}
	mem := s.a.MemoryBytes()
	for i := range 100_000 {
		s.contact(netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)}), byte(i), false)
	}
	if len(s.evs) != 0 {
		t.Fatalf("%d events from one-failure sources", len(s.evs))
	}
	if s.a.MemoryBytes() != mem {
		t.Fatalf("memory changed from %d to %d", mem, s.a.MemoryBytes())
	}
}

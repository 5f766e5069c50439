package detect

import (
	"net/netip"
	"testing"
	"time"
)

// weighStream feeds contacts to the default analyser, one a second.
type weighStream struct {
	a   *DefaultAnalyzer
	src netip.Addr
	t   time.Time
	evs []Event
}

func (s *weighStream) contact(host byte, port uint16, out Outcome, data bool) {
	s.t = s.t.Add(time.Second)
	c := Contact{Start: s.t, End: s.t, Src: s.src, Dst: netip.AddrFrom4([4]byte{198, 18, 0, host}), DstPort: port,
		Proto: 6, Type: ScanSYN, Outcome: out, NewPort: true, NewHost: port == 80 || out == OutcomeTimeout, Data: data}
	if out == OutcomeSuccess {
		c.FollowUp = FollowACK
	}
	s.a.e.contactFrom(&c, func(e Event) { s.evs = append(s.evs, e) })
}

// A client that uses three web servers and fails on a few closed ports of
// them, a fallback before the first success, and two dead hosts is not a
// scanner: the old walk reported exactly this after 8–14 contacts.
func TestWeightsClient(t *testing.T) {
	s := &weighStream{a: NewDefaultAnalyzer(nil), src: netip.MustParseAddr("198.19.0.1"), t: tT0}
	s.contact(1, 443, OutcomeRefused, false) // https first, then http: refunded
	s.contact(1, 80, OutcomeSuccess, true)
	s.contact(2, 80, OutcomeSuccess, true)
	s.contact(3, 80, OutcomeSuccess, true)
	for _, p := range []uint16{8443, 81, 3306, 5432} {
		s.contact(1, p, OutcomeRefused, false)
	}
	s.contact(2, 8080, OutcomeRefused, false)
	s.contact(3, 5432, OutcomeRefused, false)
	s.contact(70, 80, OutcomeTimeout, false)
	s.contact(71, 80, OutcomeTimeout, false)
	if len(s.evs) != 0 {
		t.Fatalf("client reported: %+v", s.evs)
	}
}

// A scanner that also browses the host it scans loses the discount after a
// handful of closed ports: still reported within a few more probes.
func TestWeightsScannerOfUsedHost(t *testing.T) {
	s := &weighStream{a: NewDefaultAnalyzer(nil), src: netip.MustParseAddr("198.19.0.2"), t: tT0}
	s.contact(1, 80, OutcomeSuccess, true)
	n := 0
	for p := uint16(1000); len(s.evs) == 0 && p < 1100; p++ {
		s.contact(1, p, OutcomeRefused, false)
		n++
	}
	if len(s.evs) == 0 || s.evs[0].Source != s.src {
		t.Fatal("vertical scan of a used host not reported")
	}
	if n > 12 {
		t.Errorf("reported after %d closed ports, want <= 12", n)
	}
	t.Logf("reported after %d closed ports", n)
}

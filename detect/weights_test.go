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

// A dual-stack client with broken IPv6: at every site its IPv6 attempt
// times out and its IPv4 address connects 200 ms later. Its IPv6 address
// is not a scanner. An IPv6 scanner of a web port is still reported.
func TestWeightsHappyEyeballs(t *testing.T) {
	a := NewDefaultAnalyzer(nil)
	var evs []Event
	emit := func(e Event) { evs = append(evs, e) }
	v6 := netip.MustParseAddr("2001:db8:100::1")
	v4 := netip.MustParseAddr("198.19.0.9")
	at := tT0
	for i := range 12 {
		at = at.Add(5 * time.Second)
		dst6 := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf0, 15: byte(i + 1)})
		dst4 := netip.AddrFrom4([4]byte{198, 18, 0, byte(i + 1)})
		ok := Contact{Start: at.Add(200 * time.Millisecond), End: at.Add(300 * time.Millisecond), Src: v4, Dst: dst4, DstPort: 443,
			Proto: 6, Type: ScanConnect, Outcome: OutcomeSuccess, FollowUp: FollowACK, Data: true, NewHost: true, NewPort: true}
		fail := Contact{Start: at, End: at.Add(3 * time.Second), Src: v6, Dst: dst6, DstPort: 443,
			Proto: 6, Type: ScanSYN, Outcome: OutcomeTimeout, NewHost: true, NewPort: true}
		if i%2 == 0 { // refused: decided before the IPv4 connection
			fail.Outcome, fail.End = OutcomeRefused, at.Add(time.Millisecond)
			a.e.contactFrom(&fail, emit)
			a.e.contactFrom(&ok, emit)
		} else {
			a.e.contactFrom(&ok, emit)
			a.e.contactFrom(&fail, emit)
		}
	}
	if len(evs) != 0 {
		t.Fatalf("happy-eyeballs client reported: %+v", evs)
	}
	scanner := netip.MustParseAddr("2001:db8:100::66")
	for i := range 20 {
		at = at.Add(time.Second)
		c := Contact{Start: at, End: at.Add(time.Millisecond), Src: scanner, Dst: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf1, 15: byte(i + 1)}),
			DstPort: 443, Proto: 6, Type: ScanSYN, Outcome: OutcomeRefused, NewHost: true, NewPort: true}
		a.e.contactFrom(&c, emit)
		if len(evs) > 0 {
			t.Logf("IPv6 scanner of 443 reported after %d probes", i+1)
			return
		}
	}
	t.Fatal("IPv6 scanner not reported")
}

package detect

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

var (
	tScanner = netip.MustParseAddr("198.19.0.66")
	tHost    = netip.MustParseAddr("198.18.0.10")
	tRouter  = netip.MustParseAddr("198.18.3.254")
	tT0      = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

func at(ms int) time.Time { return tT0.Add(time.Duration(ms) * time.Millisecond) }

func tcpPkt(ms int, src, dst netip.Addr, sp, dp uint16, f TCPFlags) Observation {
	return Observation{Time: at(ms), Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: target.TCP, Flags: f, TTL: 50}
}

func udpPkt(ms int, src, dst netip.Addr, sp, dp uint16) Observation {
	return Observation{Time: at(ms), Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: target.UDP, TTL: 50}
}

func unreachPkt(ms int, from netip.Addr, probe Observation, code uint8) Observation {
	return Observation{Time: at(ms), Src: from, Dst: probe.Src, Proto: target.ICMP, ICMPType: 3, ICMPCode: code, HasQuote: true,
		Quoted: Quote{Src: probe.Src, Dst: probe.Dst, SrcPort: probe.SrcPort, DstPort: probe.DstPort, Proto: probe.Proto}}
}

// track feeds packets (and a final Advance) and returns the contacts.
func track(t *testing.T, end int, pkts ...Observation) []Contact {
	t.Helper()
	tr := NewOutcomeTracker(nil)
	var got []Contact
	rep := func(c *Contact) { got = append(got, *c) }
	for i := range pkts {
		tr.Observe(&pkts[i], rep)
	}
	tr.Advance(at(end), rep)
	return got
}

func TestOutcomes(t *testing.T) {
	syn := tcpPkt(0, tScanner, tHost, 40000, 22, SYN)
	udp := udpPkt(0, tScanner, tHost, 40000, 161)
	cases := []struct {
		name   string
		pkts   []Observation
		want   Outcome
		follow FollowUp
		typ    ScanType
	}{
		{"syn-synack-rst", []Observation{syn, tcpPkt(5, tHost, tScanner, 22, 40000, SYN|ACK), tcpPkt(10, tScanner, tHost, 40000, 22, RST)},
			OutcomeSuccess, FollowRST, ScanSYN},
		{"syn-synack-ack", []Observation{syn, tcpPkt(5, tHost, tScanner, 22, 40000, SYN|ACK), tcpPkt(10, tScanner, tHost, 40000, 22, ACK)},
			OutcomeSuccess, FollowACK, ScanConnect},
		{"syn-synack-silence", []Observation{syn, tcpPkt(5, tHost, tScanner, 22, 40000, SYN|ACK)},
			OutcomeSuccess, FollowNone, ScanSYN},
		{"syn-rst", []Observation{syn, tcpPkt(5, tHost, tScanner, 22, 40000, RST|ACK)}, OutcomeRefused, FollowNone, ScanSYN},
		{"syn-retransmit-timeout", []Observation{syn, tcpPkt(1000, tScanner, tHost, 40000, 22, SYN)}, OutcomeTimeout, FollowNone, ScanSYN},
		{"syn-hostunreach", []Observation{syn, unreachPkt(5, tRouter, syn, 1)}, OutcomeUnreachable, FollowNone, ScanSYN},
		{"udp-portunreach", []Observation{udp, unreachPkt(5, tHost, udp, 3)}, OutcomeUnreachable, FollowNone, ScanUDP},
		{"udp-reply", []Observation{udp, udpPkt(5, tHost, tScanner, 161, 40000)}, OutcomeSuccess, FollowNone, ScanUDP},
		{"udp-silence", []Observation{udp}, OutcomeTimeout, FollowNone, ScanUDP},
		{"fin", []Observation{tcpPkt(0, tScanner, tHost, 40000, 22, FIN)}, OutcomeProbe, FollowNone, ScanFIN},
		{"null", []Observation{tcpPkt(0, tScanner, tHost, 40000, 22, 0)}, OutcomeProbe, FollowNone, ScanNULL},
		{"xmas", []Observation{tcpPkt(0, tScanner, tHost, 40000, 22, FIN|PSH|URG)}, OutcomeProbe, FollowNone, ScanXmas},
		{"ack-rst", []Observation{tcpPkt(0, tScanner, tHost, 40000, 22, ACK), tcpPkt(5, tHost, tScanner, 22, 40000, RST)},
			OutcomeProbe, FollowNone, ScanACK},
		{"ack-silence", []Observation{tcpPkt(0, tScanner, tHost, 40000, 22, ACK)}, OutcomeProbe, FollowNone, ScanACK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := track(t, 10_000, tc.pkts...)
			if len(got) != 1 {
				t.Fatalf("got %d contacts %+v, want 1", len(got), got)
			}
			c := got[0]
			if c.Outcome != tc.want || c.FollowUp != tc.follow || c.Type != tc.typ {
				t.Errorf("outcome %v follow %v type %v, want %v %v %v", c.Outcome, c.FollowUp, c.Type, tc.want, tc.follow, tc.typ)
			}
			if c.Src != tScanner || c.Dst != tHost || !c.NewHost || !c.NewPort || !c.Start.Equal(at(0)) {
				t.Errorf("contact fields wrong: %+v", c)
			}
			if c.Outcome.Failed() != (tc.want != OutcomeSuccess) {
				t.Errorf("Failed() = %v for %v", c.Outcome.Failed(), c.Outcome)
			}
		})
	}
}

func TestOutcomeMidFlowIsNotAProbe(t *testing.T) {
	// An ACK of a connection that began before we watched, answered by
	// the other side: a flow, not an ACK probe.
	got := track(t, 10_000,
		tcpPkt(0, tScanner, tHost, 40000, 443, ACK),
		tcpPkt(3, tHost, tScanner, 443, 40000, ACK|PSH),
	)
	if len(got) != 0 {
		t.Fatalf("mid-flow ACK reported: %+v", got)
	}
	// Data-bearing packets never open contacts; replies of a tracked
	// connection are not contacts of the server.
	o := tcpPkt(0, tScanner, tHost, 40001, 443, ACK|PSH)
	o.Payload = 100
	got = track(t, 10_000, o,
		tcpPkt(100, tScanner, tHost, 40002, 443, SYN),
		tcpPkt(101, tHost, tScanner, 443, 40002, SYN|ACK),
		tcpPkt(102, tScanner, tHost, 40002, 443, ACK),
		tcpPkt(103, tHost, tScanner, 443, 40002, ACK|PSH),
		tcpPkt(104, tHost, tScanner, 443, 40002, FIN|ACK),
	)
	if len(got) != 1 || got[0].Outcome != OutcomeSuccess || got[0].Src != tScanner {
		t.Fatalf("got %+v, want one success from the client", got)
	}
}

func TestOutcomeFirstContactOnly(t *testing.T) {
	got := track(t, 20_000,
		tcpPkt(0, tScanner, tHost, 40000, 22, SYN),
		tcpPkt(5, tHost, tScanner, 22, 40000, RST|ACK),
		tcpPkt(1000, tScanner, tHost, 40001, 22, SYN), // retry, new port number: not new
		tcpPkt(1005, tHost, tScanner, 22, 40001, RST|ACK),
		tcpPkt(2000, tScanner, tHost, 40002, 23, SYN), // same host, new port
		tcpPkt(2005, tHost, tScanner, 23, 40002, RST|ACK),
	)
	if len(got) != 2 {
		t.Fatalf("got %d contacts, want 2: %+v", len(got), got)
	}
	if !got[0].NewHost || got[1].NewHost || got[1].DstPort != 23 {
		t.Errorf("NewHost flags %v %v (port %d), want true false (23)", got[0].NewHost, got[1].NewHost, got[1].DstPort)
	}
}

func TestOutcomeUnmatchedICMPIgnored(t *testing.T) {
	other := udpPkt(0, tScanner, tHost, 1, 2)
	got := track(t, 0, unreachPkt(5, tHost, other, 3), Observation{Time: at(6), Src: tHost, Dst: tScanner, Proto: target.ICMP, ICMPType: 3})
	if len(got) != 0 {
		t.Fatalf("unmatched ICMP produced %+v", got)
	}
}

func TestOutcomeCapacityBounded(t *testing.T) {
	tr := NewOutcomeTracker(&OutcomeConfig{Capacity: 64})
	mem := tr.MemoryBytes()
	n := 0
	rep := func(c *Contact) {
		n++
		if c.Outcome != OutcomeTimeout {
			t.Fatalf("evicted contact reported as %v", c.Outcome)
		}
	}
	for i := range 10_000 {
		src := netip.AddrFrom4([4]byte{198, 19, byte(i >> 8), byte(i)})
		o := tcpPkt(i/100, src, tHost, 40000, 80, SYN)
		tr.Observe(&o, rep)
	}
	tr.Advance(at(100_000), rep)
	if n != 10_000 {
		t.Errorf("%d contacts reported, want every one of 10000 (early or on time)", n)
	}
	if tr.MemoryBytes() != mem {
		t.Errorf("memory grew from %d to %d", mem, tr.MemoryBytes())
	}
}

package probe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/result"
)

// handleSession is a session without sockets, for driving handle directly.
func handleSession(t testing.TB) (*SYNSession, *[]Reply) {
	cfg, err := (*SYNConfig)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	var got []Reply
	return &SYNSession{cfg: cfg, hash: cookie.New(cookie.Key{7}), deliver: func(r Reply) { got = append(got, r) }}, &got
}

func ser(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func tcpReply(t testing.TB, from, to netip.Addr, sport, dport uint16, ack uint32, syn, rst bool) []byte {
	ipl, nl := ipLayer(from, to, layers.IPProtocolTCP)
	tc := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: 99, Ack: ack, ACK: true, SYN: syn, RST: rst, Window: 1}
	_ = tc.SetNetworkLayerForChecksum(nl)
	return ser(t, ipl, tc)
}

func icmpReply(t testing.TB, router, us, them netip.Addr, sport, dport uint16, seq uint32) []byte {
	qip, qnl := ipLayer(us, them, layers.IPProtocolTCP)
	qt := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, SYN: true}
	_ = qt.SetNetworkLayerForChecksum(qnl)
	q := ser(t, qip, qt)
	if us.Is4() {
		ipl, _ := ipLayer(router, us, layers.IPProtocolICMPv4)
		return ser(t, ipl, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(q[:28]))
	}
	ipl, nl := ipLayer(router, us, layers.IPProtocolICMPv6)
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 3)}
	_ = ic.SetNetworkLayerForChecksum(nl)
	return ser(t, ipl, ic, gopacket.Payload(append(make([]byte, 4), q...)))
}

func TestSYNHandle(t *testing.T) {
	for _, fam := range []struct{ us, them, router string }{
		{"198.18.1.1", "198.18.9.9", "198.18.1.254"},
		{"2001:db8:1::1", "2001:db8:9::9", "2001:db8:1::fe"},
	} {
		us, them, router := netip.MustParseAddr(fam.us), netip.MustParseAddr(fam.them), netip.MustParseAddr(fam.router)
		s, got := handleSession(t)
		sport := uint16(DefaultSYNSourcePort + 5)
		c := s.hash.TCP(us, them, sport, 443)
		var r wire.Packet
		for _, pkt := range [][]byte{
			tcpReply(t, them, us, 443, sport, c+1, true, false),                // open
			tcpReply(t, them, us, 443, sport, c+1, false, true),                // closed
			icmpReply(t, router, us, them, sport, 443, c),                      // filtered, from a router
			tcpReply(t, them, us, 443, sport, c+2, true, false),                // forged
			tcpReply(t, them, us, 443, sport+1, c+1, true, false),              // cookie of another try: forged
			tcpReply(t, them, us, 444, sport, c+1, false, true),                // another port: forged
			icmpReply(t, router, us, them, sport, 443, c^1),                    // forged quote
			tcpReply(t, them, us, 443, sport+SYNSourcePorts, c+1, true, false), // outside our ports: ignored
			tcpReply(t, them, us, 443, sport, c+1, false, false),               // bare ACK: ignored
			{0x45, 0, 0}, // garbage: ignored
		} {
			s.handle(&r, pkt, timeZero)
		}
		want := []Reply{
			{State: result.Open, Reason: result.SynAck},
			{State: result.Closed, Reason: result.Reset},
			{State: result.Filtered, Reason: result.HostUnreach, From: router},
		}
		if len(*got) != len(want) {
			t.Fatalf("%v: delivered %d replies, want %d: %+v", us, len(*got), len(want), *got)
		}
		for i, w := range want {
			g := (*got)[i]
			if g.State != w.State || g.Reason != w.Reason || g.From != w.From || g.Try != 5 || g.Target != tcp(them, 443) || g.ReplyTTL != 64 {
				t.Errorf("%v reply %d: got %+v, want %+v try 5 target %v", us, i, g, w, them)
			}
		}
		st := s.Stats()
		if st.Forged != 4 || st.Ignored != 3 || st.Delivered != 3 {
			t.Errorf("%v: stats %+v, want 4 forged, 3 ignored, 3 delivered", us, st)
		}
	}
}

func TestSYNHandleAllocs(t *testing.T) {
	s, _ := handleSession(t)
	s.deliver = func(Reply) {}
	us, them := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:9::9")
	c := s.hash.TCP(us, them, DefaultSYNSourcePort, 80)
	pkts := [][]byte{
		tcpReply(t, them, us, 80, DefaultSYNSourcePort, c+1, true, false),
		tcpReply(t, them, us, 80, DefaultSYNSourcePort, c+9, true, false),
		icmpReply(t, them, us, them, DefaultSYNSourcePort, 80, c),
	}
	var r wire.Packet
	if n := testing.AllocsPerRun(200, func() {
		for _, p := range pkts {
			s.handle(&r, p, timeZero)
		}
	}); n != 0 {
		t.Fatalf("handle allocates %v times per batch", n)
	}
}

var timeZero time.Time

// BenchmarkSYNHandle measures the receive path after the socket: decode,
// cookie check and classification of one reply.
func BenchmarkSYNHandle(b *testing.B) {
	s, _ := handleSession(b)
	s.deliver = func(Reply) {}
	for _, fam := range []struct{ us, them string }{{"198.18.1.1", "198.18.9.9"}, {"2001:db8:1::1", "2001:db8:9::9"}} {
		us, them := netip.MustParseAddr(fam.us), netip.MustParseAddr(fam.them)
		c := s.hash.TCP(us, them, DefaultSYNSourcePort, 80)
		for name, pkt := range map[string][]byte{
			"synack": tcpReply(b, them, us, 80, DefaultSYNSourcePort, c+1, true, false),
			"forged": tcpReply(b, them, us, 80, DefaultSYNSourcePort, c+2, true, false),
			"icmp":   icmpReply(b, them, us, them, DefaultSYNSourcePort, 80, c),
		} {
			b.Run(name+"/"+fam.us, func(b *testing.B) {
				b.ReportAllocs()
				var r wire.Packet
				for b.Loop() {
					s.handle(&r, pkt, timeZero)
				}
			})
		}
	}
}

package packet

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

var (
	src4 = netip.MustParseAddr("198.18.1.1")
	dst4 = netip.MustParseAddr("198.18.1.2")
	src6 = netip.MustParseAddr("2001:db8:1::1")
	dst6 = netip.MustParseAddr("2001:db8:1::2")
)

// pseudoSum verifies a TCP checksum over the pseudo-header the slow way.
func tcpChecksumOK(t *testing.T, src, dst netip.Addr, tcp []byte) {
	t.Helper()
	var s uint32
	s = sum(s, src.AsSlice())
	s = sum(s, dst.AsSlice())
	s += 6 + uint32(len(tcp))
	s = sum(s, tcp)
	if fold(s) != 0 {
		t.Fatalf("bad TCP checksum %#04x", binary.BigEndian.Uint16(tcp[16:]))
	}
}

func TestSYNBuild(t *testing.T) {
	for _, c := range []struct{ src, dst netip.Addr }{{src4, dst4}, {src6, dst6}} {
		s, err := NewSYN(c.src, 64, 1024, 1460)
		if err != nil {
			t.Fatal(err)
		}
		var buf [128]byte
		for _, seq := range []uint32{0, 1, 0xffffffff, 0xdeadbeef} {
			n := s.Build(buf[:], c.dst, 61440, 443, seq)
			if n != s.Len() {
				t.Fatalf("Build = %d, want %d", n, s.Len())
			}
			pkt := buf[:n]
			var first gopacket.LayerType = layers.LayerTypeIPv4
			ipLen := 20
			if c.src.Is6() {
				first, ipLen = layers.LayerTypeIPv6, 40
			} else if Checksum(pkt[:20]) != 0 {
				t.Fatal("bad IPv4 header checksum")
			}
			tcpChecksumOK(t, c.src, c.dst, pkt[ipLen:])
			p := gopacket.NewPacket(pkt, first, gopacket.Default)
			tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ok {
				t.Fatalf("gopacket found no TCP layer: %v", p)
			}
			if !tl.SYN || tl.ACK || tl.RST || tl.SrcPort != 61440 || tl.DstPort != 443 || tl.Seq != seq || tl.Window != 1024 {
				t.Fatalf("wrong TCP header: %+v", tl)
			}
			if len(tl.Options) != 1 || tl.Options[0].OptionType != layers.TCPOptionKindMSS {
				t.Fatalf("options %v", tl.Options)
			}
			nl := p.NetworkLayer().NetworkFlow()
			if nl.Src().String() != c.src.String() || nl.Dst().String() != c.dst.String() {
				t.Fatalf("flow %v", nl)
			}
		}
	}
}

func TestSYNBuildRejects(t *testing.T) {
	s, _ := NewSYN(src4, 64, 1024, 1460)
	var buf [128]byte
	if s.Build(buf[:], dst6, 1, 2, 3) != 0 {
		t.Error("v4 template built a v6 destination")
	}
	if s.Build(buf[:10], dst4, 1, 2, 3) != 0 {
		t.Error("Build wrote into a short buffer")
	}
	if _, err := NewSYN(netip.Addr{}, 64, 1, 1); err == nil {
		t.Error("NewSYN accepted an invalid address")
	}
}

func TestSYNBuildAllocs(t *testing.T) {
	s, _ := NewSYN(src6, 64, 1024, 1460)
	var buf [128]byte
	if n := testing.AllocsPerRun(100, func() { s.Build(buf[:], dst6, 1, 2, 3) }); n != 0 {
		t.Fatalf("Build allocates %v times", n)
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func synAck4(t testing.TB) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 57, Protocol: layers.IPProtocolTCP, SrcIP: net.IP(dst4.AsSlice()), DstIP: net.IP(src4.AsSlice())}
	tcp := &layers.TCP{SrcPort: 443, DstPort: 61441, Seq: 7, Ack: 0x11223345, SYN: true, ACK: true, Window: 100}
	_ = tcp.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, tcp)
}

func icmp6Unreach(t testing.TB) []byte {
	probe, _ := NewSYN(src6, 64, 1024, 1460)
	var q [128]byte
	n := probe.Build(q[:], dst6, 61442, 22, 0xcafef00d)
	router := net.ParseIP("2001:db8:ff::1")
	ip := &layers.IPv6{Version: 6, HopLimit: 63, NextHeader: layers.IPProtocolICMPv6, SrcIP: router, DstIP: net.IP(src6.AsSlice())}
	ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 1)}
	_ = ic.SetNetworkLayerForChecksum(ip)
	return serialize(t, ip, ic, gopacket.Payload(append(make([]byte, 4), q[:n]...)))
}

func icmp4Unreach(t testing.TB) []byte {
	probe, _ := NewSYN(src4, 64, 1024, 1460)
	var q [128]byte
	probe.Build(q[:], dst4, 61440, 25, 0xcafef00d)
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(dst4.AsSlice()), DstIP: net.IP(src4.AsSlice())}
	ic := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 13)}
	return serialize(t, ip, ic, gopacket.Payload(q[:28])) // quote: IP header + 8 bytes, as RFC 792 requires
}

func TestDecode(t *testing.T) {
	var r Reply
	if err := r.Decode(append(synAck4(t), 0, 0, 0, 0)); err != nil { // with link padding
		t.Fatal(err)
	}
	if r.Kind != KindTCP || r.Src != dst4 || r.Dst != src4 || r.SrcPort != 443 || r.DstPort != 61441 ||
		r.Ack != 0x11223345 || r.Flags != FlagSYN|FlagACK || r.TTL != 57 {
		t.Fatalf("SYN-ACK decoded as %+v", r)
	}

	if err := r.Decode(icmp4Unreach(t)); err != nil {
		t.Fatal(err)
	}
	want := Quote{Src: src4, Dst: dst4, SrcPort: 61440, DstPort: 25, Seq: 0xcafef00d}
	if r.Kind != KindICMP || r.ICMPType != 3 || r.ICMPCode != 13 || r.ICMPQuote != want || r.V6 {
		t.Fatalf("ICMP decoded as %+v", r)
	}

	if err := r.Decode(icmp6Unreach(t)); err != nil {
		t.Fatal(err)
	}
	want = Quote{Src: src6, Dst: dst6, SrcPort: 61442, DstPort: 22, Seq: 0xcafef00d}
	if r.Kind != KindICMP || r.ICMPType != 1 || r.ICMPCode != 1 || r.ICMPQuote != want || !r.V6 ||
		r.Src != netip.MustParseAddr("2001:db8:ff::1") || r.TTL != 63 {
		t.Fatalf("ICMPv6 decoded as %+v", r)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := synAck4(t)
	frag := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(frag[6:], 0x2000) // more fragments
	udp := append([]byte(nil), good...)
	udp[9] = 17
	echo := serialize(t, &layers.IPv4{Version: 4, TTL: 1, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IP(dst4.AsSlice()), DstIP: net.IP(src4.AsSlice())},
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0)}, gopacket.Payload(make([]byte, 40)))
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":     {nil, ErrTruncated},
		"version":   {[]byte{0x50, 0, 0, 0}, ErrVersion},
		"short ip":  {good[:19], ErrTruncated},
		"short tcp": {good[:30], ErrTruncated},
		"fragment":  {frag, ErrFragment},
		"udp":       {udp, ErrUnsupported},
		"echo":      {echo, ErrUnsupported},
		"short v6":  {icmp6Unreach(t)[:60], ErrTruncated},
	} {
		var r Reply
		if err := r.Decode(c.b); err != c.want {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	pkts := [][]byte{synAck4(t), icmp4Unreach(t), icmp6Unreach(t)}
	var r Reply
	if n := testing.AllocsPerRun(100, func() {
		for _, p := range pkts {
			_ = r.Decode(p)
		}
	}); n != 0 {
		t.Fatalf("Decode allocates %v times", n)
	}
}

func BenchmarkSYNBuild(b *testing.B) {
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
	}{{"v4", src4, dst4}, {"v6", src6, dst6}} {
		s, _ := NewSYN(c.src, 64, 1024, 1460)
		var buf [128]byte
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.Build(buf[:], c.dst, 61440, uint16(i), uint32(i))
			}
		})
	}
}

func BenchmarkReplyDecode(b *testing.B) {
	for name, p := range map[string][]byte{"synack4": synAck4(b), "icmp4": icmp4Unreach(b), "icmp6": icmp6Unreach(b)} {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			var r Reply
			for b.Loop() {
				if r.Decode(p) != nil {
					b.Fatal("decode failed")
				}
			}
		})
	}
}

func FuzzDecodeReply(f *testing.F) {
	f.Add(synAck4(f))
	f.Add(icmp4Unreach(f))
	f.Add(icmp6Unreach(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Reply
		err := r.Decode(b)
		if err == nil && r.Kind == KindNone {
			t.Fatal("nil error without a kind")
		}
		if err != nil && r.Kind != KindNone {
			t.Fatalf("error %v with kind %d", err, r.Kind)
		}
	})
}

func ExampleSYN_Build() {
	s, _ := NewSYN(netip.MustParseAddr("198.18.1.1"), 64, 1024, 1460)
	var buf [SYNLen6]byte
	n := s.Build(buf[:], netip.MustParseAddr("198.18.1.2"), 61440, 80, 0x01020304)
	var r Reply
	err := r.Decode(buf[:n])
	fmt.Println(n, err, r.Src, r.Dst, r.DstPort, r.Seq == 0x01020304, r.Flags == FlagSYN)
	// Output: 44 <nil> 198.18.1.1 198.18.1.2 80 true true
}

package detect

import (
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

var (
	ethDec = dec(LinkEthernet)
	mac1   = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2   = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	v4a    = netip.MustParseAddr("198.18.1.1")
	v4b    = netip.MustParseAddr("198.18.1.2")
	v6a    = netip.MustParseAddr("2001:db8:1::1")
	v6b    = netip.MustParseAddr("2001:db8:1::2")
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
)

// serialize builds a packet from gopacket layers with lengths and
// checksums fixed up.
// dec returns a Decoder for l, which must be supported.
func dec(l LinkType) Decoder {
	d, err := NewDecoder(l)
	if err != nil {
		panic(err)
	}
	return d
}

// The zero Decoder decodes raw IP, never BSD loopback.
func TestZeroDecoder(t *testing.T) {
	ipb := serialize(t, ip4(layers.IPProtocolUDP, v4b, v4a), &layers.UDP{SrcPort: 1, DstPort: 2})
	var o Observation
	if err := (Decoder{}).Decode(ipb, t0, &o); err != nil || o.Src != v4b || (Decoder{}).Link() != LinkRaw {
		t.Fatalf("zero decoder: %v %+v", err, o)
	}
	null := append([]byte{2, 0, 0, 0}, ipb...)
	if err := (Decoder{}).Decode(null, t0, &o); err == nil {
		t.Fatalf("zero decoder read a BSD loopback header: %+v", o)
	}
}

func serialize(t testing.TB, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	for _, l := range ls {
		if tl, ok := l.(interface {
			SetNetworkLayerForChecksum(gopacket.NetworkLayer) error
		}); ok {
			for _, n := range ls {
				if nl, ok := n.(gopacket.NetworkLayer); ok {
					tl.SetNetworkLayerForChecksum(nl)
				}
			}
		}
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

func eth(et layers.EthernetType) *layers.Ethernet {
	return &layers.Ethernet{SrcMAC: mac1, DstMAC: mac2, EthernetType: et}
}

func ip4(proto layers.IPProtocol, src, dst netip.Addr) *layers.IPv4 {
	return &layers.IPv4{Version: 4, IHL: 5, TTL: 61, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func ip6(next layers.IPProtocol, src, dst netip.Addr) *layers.IPv6 {
	return &layers.IPv6{Version: 6, HopLimit: 57, NextHeader: next, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
}

func TestDecodeIPv4TCP(t *testing.T) {
	pkt := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b),
		&layers.TCP{SrcPort: 40000, DstPort: 22, SYN: true, ECE: true, CWR: true, Window: 1024, DataOffset: 5},
		gopacket.Payload("hello"))
	var o Observation
	if err := dec(LinkEthernet).Decode(pkt, t0, &o); err != nil {
		t.Fatal(err)
	}
	want := Observation{Time: t0, Src: v4a, Dst: v4b, SrcPort: 40000, DstPort: 22, Proto: target.TCP,
		Flags: SYN | ECE | CWR, TTL: 61, Payload: 5}
	if o != want {
		t.Fatalf("got %+v\nwant %+v", o, want)
	}
}

func TestDecodeVLANUDP(t *testing.T) {
	pkt := serialize(t, eth(layers.EthernetTypeDot1Q),
		&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4},
		ip4(layers.IPProtocolUDP, v4a, v4b), &layers.UDP{SrcPort: 53, DstPort: 33000}, gopacket.Payload("abc"))
	var o Observation
	if err := ethDec.Decode(pkt, t0, &o); err != nil {
		t.Fatal(err)
	}
	if o.Proto != target.UDP || o.SrcPort != 53 || o.DstPort != 33000 || o.Payload != 3 || o.Src != v4a {
		t.Fatalf("got %+v", o)
	}
}

func TestDecodeLinuxSLL(t *testing.T) {
	ipb := serialize(t, ip4(layers.IPProtocolUDP, v4b, v4a), &layers.UDP{SrcPort: 1, DstPort: 2})
	sll := make([]byte, 16, 16+len(ipb))
	sll[14], sll[15] = 0x08, 0x00
	var o Observation
	if err := dec(LinkLinuxSLL).Decode(append(sll, ipb...), t0, &o); err != nil {
		t.Fatal(err)
	}
	if o.Src != v4b || o.DstPort != 2 {
		t.Fatalf("got %+v", o)
	}
	sll2 := make([]byte, 20, 20+len(ipb))
	sll2[0], sll2[1] = 0x08, 0x00
	if err := dec(LinkLinuxSLL2).Decode(append(sll2, ipb...), t0, &o); err != nil || o.Dst != v4a {
		t.Fatalf("sll2: %v %+v", err, o)
	}
	null := append([]byte{2, 0, 0, 0}, ipb...)
	if err := dec(LinkNull).Decode(null, t0, &o); err != nil || o.Dst != v4a {
		t.Fatalf("null: %v %+v", err, o)
	}
	for _, l := range []LinkType{LinkRaw, LinkIPv4} {
		if err := dec(l).Decode(ipb, t0, &o); err != nil || o.Dst != v4a {
			t.Fatalf("%v: %v %+v", l, err, o)
		}
	}
	if err := dec(LinkIPv6).Decode(ipb, t0, &o); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ipv4 packet on ipv6 link: %v", err)
	}
}

func TestDecodeICMPv4Quote(t *testing.T) {
	// The offending packet: our UDP probe from a to b, quoted by b.
	inner := serialize(t, ip4(layers.IPProtocolUDP, v4a, v4b), &layers.UDP{SrcPort: 45000, DstPort: 161})
	pkt := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner[:28]))
	var o Observation
	if err := ethDec.Decode(pkt, t0, &o); err != nil {
		t.Fatal(err)
	}
	if o.Proto != target.ICMP || o.ICMPType != 3 || o.ICMPCode != 3 || !o.HasQuote {
		t.Fatalf("got %+v", o)
	}
	want := Quote{Src: v4a, Dst: v4b, SrcPort: 45000, DstPort: 161, Proto: target.UDP}
	if o.Quoted != want {
		t.Fatalf("quote %+v, want %+v", o.Quoted, want)
	}
	if o.SrcPort != 0 || o.DstPort != 0 || o.Flags != 0 {
		t.Fatalf("icmp with ports or flags: %+v", o)
	}

	// Echo requests quote nothing.
	echo := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4a, v4b),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, gopacket.Payload(inner))
	if err := ethDec.Decode(echo, t0, &o); err != nil || o.HasQuote || o.ICMPType != 8 {
		t.Fatalf("echo: %v %+v", err, o)
	}
}

func TestDecodeICMPv6Quote(t *testing.T) {
	inner := serialize(t, ip6(layers.IPProtocolTCP, v6a, v6b),
		&layers.TCP{SrcPort: 50000, DstPort: 8080, SYN: true, DataOffset: 5})
	icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}
	outer := ip6(layers.IPProtocolICMPv6, v6b, v6a)
	pkt := serialize(t, eth(layers.EthernetTypeIPv6), outer, icmp,
		gopacket.Payload(append([]byte{0, 0, 0, 0}, inner...)))
	var o Observation
	if err := ethDec.Decode(pkt, t0, &o); err != nil {
		t.Fatal(err)
	}
	if o.Proto != target.ICMPv6 || o.ICMPType != 1 || o.ICMPCode != 4 || o.TTL != 57 || !o.HasQuote {
		t.Fatalf("got %+v", o)
	}
	want := Quote{Src: v6a, Dst: v6b, SrcPort: 50000, DstPort: 8080, Proto: target.TCP}
	if o.Quoted != want {
		t.Fatalf("quote %+v, want %+v", o.Quoted, want)
	}
}

// ext builds an IPv6 extension header of 8*n bytes with next header nh.
func ext(nh byte, n int) []byte {
	b := make([]byte, 8*n)
	b[0], b[1] = nh, byte(n-1)
	b[2] = 1 // PadN option fills the rest
	b[3] = byte(8*n - 4)
	return b
}

func TestDecodeIPv6ExtensionHeaders(t *testing.T) {
	tcp := serialize(t, ip6(layers.IPProtocolTCP, v6a, v6b),
		&layers.TCP{SrcPort: 1234, DstPort: 443, FIN: true, PSH: true, URG: true, DataOffset: 5})[40:]
	frag := []byte{wire.ProtoTCP, 0, 0, 1, 0, 0, 0, 9} // offset 0, more fragments
	chain := append(append(append(ext(wire.ProtoRouting, 1), ext(wire.ProtoDstOpts, 2)...), ext(wire.ProtoFragment, 1)...), frag...)
	chain[8] = wire.ProtoDstOpts // routing header points at dest opts
	chain[8+8] = wire.ProtoFragment
	payload := append(chain, tcp...)
	pkt := serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop, v6a, v6b), gopacket.Payload(payload))
	var o Observation
	if err := ethDec.Decode(pkt, t0, &o); err != nil {
		t.Fatal(err)
	}
	if o.Proto != target.TCP || o.DstPort != 443 || o.Flags != FIN|PSH|URG || o.Payload != 0 {
		t.Fatalf("got %+v", o)
	}

	// A later fragment carries no transport header.
	frag[2], frag[3] = 0, 8<<3
	payload = append(append(append([]byte(nil), chain[:len(chain)-8]...), frag...), tcp...)
	pkt = serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolIPv6HopByHop, v6a, v6b), gopacket.Payload(payload))
	if err := ethDec.Decode(pkt, t0, &o); !errors.Is(err, ErrNotObserved) {
		t.Fatalf("later fragment: err %v", err)
	}
}

func TestDecodeIPv4Fragments(t *testing.T) {
	ip := ip4(layers.IPProtocolTCP, v4a, v4b)
	ip.Flags = layers.IPv4MoreFragments
	pkt := serialize(t, ip, &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	var o Observation
	if err := dec(LinkRaw).Decode(pkt, t0, &o); err != nil || o.DstPort != 2 {
		t.Fatalf("first fragment: %v %+v", err, o)
	}
	ip.FragOffset = 100
	pkt = serialize(t, ip, gopacket.Payload("xxxxxxxxxxxxxxxxxxxxxxxx"))
	if err := dec(LinkRaw).Decode(pkt, t0, &o); !errors.Is(err, ErrNotObserved) {
		t.Fatalf("later fragment: %v", err)
	}
}

func TestDecodeNotObserved(t *testing.T) {
	arp := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 1, SourceHwAddress: mac1, SourceProtAddress: v4a.AsSlice(),
		DstHwAddress: mac2, DstProtAddress: v4b.AsSlice()})
	gre := serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolGRE, v4a, v4b), gopacket.Payload("1234"))
	var o Observation
	for name, pkt := range map[string][]byte{"arp": arp, "gre": gre} {
		if err := ethDec.Decode(pkt, t0, &o); !errors.Is(err, ErrNotObserved) {
			t.Errorf("%s: err %v, want ErrNotObserved", name, err)
		}
	}
	if _, err := NewDecoder(9999); err == nil {
		t.Errorf("NewDecoder accepted link type 9999")
	}
}

// Every prefix of a valid packet either decodes or fails with
// ErrMalformed; none panics or yields a different observation.
func TestDecodeTruncated(t *testing.T) {
	inner := serialize(t, ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	pkts := [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, DataOffset: 5}),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP, v6a, v6b), &layers.UDP{SrcPort: 1, DstPort: 2}),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a),
			&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(inner[:28])),
	}
	for i, pkt := range pkts {
		var full Observation
		if err := ethDec.Decode(pkt, t0, &full); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		for n := 0; n < len(pkt); n++ {
			var o Observation
			err := ethDec.Decode(pkt[:n], t0, &o)
			if err != nil && !errors.Is(err, ErrMalformed) {
				t.Errorf("packet %d cut at %d: %v", i, n, err)
			}
			if err == nil && (o.Src != full.Src || o.DstPort != full.DstPort || o.Proto != full.Proto) {
				t.Errorf("packet %d cut at %d: %+v differs from %+v", i, n, o, full)
			}
		}
	}
}

// The decoder agrees with gopacket on well-formed packets.
func TestDecodeMatchesGopacket(t *testing.T) {
	inner := serialize(t, ip4(layers.IPProtocolUDP, v4a, v4b), &layers.UDP{SrcPort: 9, DstPort: 10})
	pkts := [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 5, DstPort: 6, RST: true, ACK: true, DataOffset: 5}),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolTCP, v6b, v6a), &layers.TCP{SrcPort: 7, DstPort: 8, SYN: true, ACK: true, DataOffset: 5}, gopacket.Payload("xyz")),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP, v6b, v6a), &layers.UDP{SrcPort: 7, DstPort: 8}),
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(11, 0)}, gopacket.Payload(inner)),
	}
	for i, pkt := range pkts {
		var o Observation
		if err := ethDec.Decode(pkt, t0, &o); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		gp := gopacket.NewPacket(pkt, layers.LayerTypeEthernet, gopacket.Default)
		src, dst := gp.NetworkLayer().NetworkFlow().Endpoints()
		if o.Src.String() != src.String() || o.Dst.String() != dst.String() {
			t.Errorf("packet %d: addrs %v>%v, gopacket %v>%v", i, o.Src, o.Dst, src, dst)
		}
		switch l := gp.TransportLayer().(type) {
		case *layers.TCP:
			f := TCPFlags(0)
			for j, b := range []bool{l.FIN, l.SYN, l.RST, l.PSH, l.ACK, l.URG, l.ECE, l.CWR} {
				if b {
					f |= 1 << j
				}
			}
			if o.SrcPort != uint16(l.SrcPort) || o.DstPort != uint16(l.DstPort) || o.Flags != f || int(o.Payload) != len(l.Payload) {
				t.Errorf("packet %d: %+v vs gopacket %v", i, o, l)
			}
		case *layers.UDP:
			if o.SrcPort != uint16(l.SrcPort) || o.DstPort != uint16(l.DstPort) {
				t.Errorf("packet %d: %+v vs gopacket %v", i, o, l)
			}
		}
	}
}

func TestDecodeAllocs(t *testing.T) {
	inner := serialize(t, ip6(layers.IPProtocolTCP, v6a, v6b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	pkts := [][]byte{
		serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5}),
		serialize(t, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6, v6b, v6a), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, gopacket.Payload(append([]byte{0, 0, 0, 0}, inner...))),
		serialize(t, eth(layers.EthernetTypeARP), gopacket.Payload("not ip at all")),
		{0x01},
	}
	var o Observation
	d := dec(LinkEthernet)
	for i, pkt := range pkts {
		if n := testing.AllocsPerRun(100, func() { d.Decode(pkt, t0, &o) }); n != 0 {
			t.Errorf("packet %d: %v allocs per decode, want 0", i, n)
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	inner := serialize(b, ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	cases := map[string][]byte{
		"ipv4-tcp": serialize(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5}),
		"ipv6-udp": serialize(b, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolUDP, v6a, v6b), &layers.UDP{SrcPort: 1, DstPort: 2}),
		"icmp-err": serialize(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner[:28])),
	}
	for name, pkt := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			var o Observation
			d := ethDec
			for b.Loop() {
				if err := d.Decode(pkt, t0, &o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeGopacket is the reference: gopacket's DecodingLayerParser
// with preallocated layers on the same IPv4 TCP packet.
func BenchmarkDecodeGopacket(b *testing.B) {
	pkt := serialize(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	var e layers.Ethernet
	var ip layers.IPv4
	var tcp layers.TCP
	p := gopacket.NewDecodingLayerParser(layers.LayerTypeEthernet, &e, &ip, &tcp)
	decoded := make([]gopacket.LayerType, 0, 4)
	b.ReportAllocs()
	for b.Loop() {
		p.DecodeLayers(pkt, &decoded)
	}
}

package wire_test

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

var (
	mac1 = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	mac2 = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	v4a  = netip.MustParseAddr("198.18.1.1")
	v4b  = netip.MustParseAddr("198.18.1.2")
	v6a  = netip.MustParseAddr("2001:db8:1::1")
	v6b  = netip.MustParseAddr("2001:db8:1::2")
)

// serialize builds a packet from gopacket layers with lengths and
// checksums fixed up.
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

func synAck4(t testing.TB) []byte {
	return serialize(t, ip4(layers.IPProtocolTCP, v4b, v4a),
		&layers.TCP{SrcPort: 443, DstPort: 61441, Seq: 7, Ack: 0x11223345, SYN: true, ACK: true, Window: 100, DataOffset: 5})
}

// probeQuote builds our SYN probe from src to dst, as an ICMP error would
// quote it.
func probeQuote(t testing.TB, src, dst netip.Addr, sport, dport uint16, seq uint32) []byte {
	s, err := packet.NewSYN(src, 64, 1024, 1460)
	if err != nil {
		t.Fatal(err)
	}
	var q [packet.SYNLen6]byte
	return q[:s.Build(q[:], dst, sport, dport, seq)]
}

func icmp4Unreach(t testing.TB) []byte {
	q := probeQuote(t, v4a, v4b, 61440, 25, 0xcafef00d)
	return serialize(t, ip4(layers.IPProtocolICMPv4, v4b, v4a),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 13)}, gopacket.Payload(q[:28]))
}

func icmp6Unreach(t testing.TB) []byte {
	q := probeQuote(t, v6a, v6b, 61442, 22, 0xcafef00d)
	router := netip.MustParseAddr("2001:db8:ff::1")
	return serialize(t, ip6(layers.IPProtocolICMPv6, router, v6a),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 1)}, gopacket.Payload(append(make([]byte, 4), q...)))
}

func TestDecodeReplies(t *testing.T) {
	var p wire.Packet
	if err := p.DecodeIP(append(synAck4(t), 0, 0, 0, 0)); err != nil { // with link padding
		t.Fatal(err)
	}
	if !p.IsIPv4() || p.Proto != wire.ProtoTCP || p.Src != v4b || p.Dst != v4a || p.SrcPort != 443 || p.DstPort != 61441 ||
		p.Seq != 7 || p.Ack != 0x11223345 || p.Flags != wire.FlagSYN|wire.FlagACK || p.TTL != 61 || p.Window != 100 ||
		p.Length != 0 || len(p.Payload) != 0 {
		t.Fatalf("SYN-ACK decoded as %+v", p)
	}

	if err := p.DecodeIP(icmp4Unreach(t)); err != nil {
		t.Fatal(err)
	}
	// The SYN template puts the low half of the cookie into the IP ID.
	want := wire.Quote{QuoteFlow: wire.QuoteFlow{Src: v4a, Dst: v4b, Proto: target.TCP, SrcPort: 61440, DstPort: 25}, TransportLen: 8, Seq: 0xcafef00d, IPID: 0xf00d}
	if p.Proto != wire.ProtoICMP || p.ICMPType != 3 || p.ICMPCode != 13 || !p.HasQuote || p.Quote != want || !p.Quote.HasPorts() {
		t.Fatalf("ICMP decoded as %+v", p)
	}
	if c := p.ICMPClass(); c.Kind != wire.ICMPUnreachable || c.Reason.String() != "admin-prohibited" {
		t.Fatalf("class %+v", c)
	}

	if err := p.DecodeIP(icmp6Unreach(t)); err != nil {
		t.Fatal(err)
	}
	want = wire.Quote{QuoteFlow: wire.QuoteFlow{Src: v6a, Dst: v6b, Proto: target.TCP, SrcPort: 61442, DstPort: 22}, TransportLen: 24, Seq: 0xcafef00d}
	if !p.IsIPv6() || p.Proto != wire.ProtoICMPv6 || p.ICMPType != 1 || p.ICMPCode != 1 || p.Quote != want ||
		p.Src != netip.MustParseAddr("2001:db8:ff::1") || p.TTL != 57 {
		t.Fatalf("ICMPv6 decoded as %+v", p)
	}
}

func TestDecodeLinks(t *testing.T) {
	ipb := serialize(t, ip4(layers.IPProtocolUDP, v4b, v4a), &layers.UDP{SrcPort: 1, DstPort: 2}, gopacket.Payload("xyz"))
	sll := append(make([]byte, 16), ipb...)
	sll[14] = 0x08
	sll2 := append(make([]byte, 20), ipb...)
	sll2[0] = 0x08
	vlan := serialize(t, eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv4}, gopacket.Payload(ipb))
	for _, c := range []struct {
		link wire.LinkType
		b    []byte
	}{
		{wire.LinkEthernet, vlan},
		{wire.LinkLinuxSLL, sll},
		{wire.LinkLinuxSLL2, sll2},
		{wire.LinkNull, append([]byte{2, 0, 0, 0}, ipb...)},
		{wire.LinkNull, append([]byte{0, 0, 0, 2}, ipb...)},
		{wire.LinkRaw, ipb},
		{wire.LinkIPv4, ipb},
	} {
		var p wire.Packet
		if err := p.Decode(c.link, c.b); err != nil || p.Src != v4b || p.DstPort != 2 || string(p.Payload) != "xyz" || p.Length != 3 {
			t.Errorf("%v: %v %+v", c.link, err, p)
		}
	}
	var p wire.Packet
	if err := p.Decode(wire.LinkIPv6, ipb); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("ipv4 on an ipv6 link: %v", err)
	}
	if err := p.Decode(9999, ipb); !errors.Is(err, wire.ErrNotObserved) {
		t.Errorf("unknown link: %v", err)
	}
}

func TestDecodeARP(t *testing.T) {
	var b [packet.ARPLen]byte
	n := packet.ARPRequest(b[:], [6]byte(mac1), v4a, v4b)
	var p wire.Packet
	if err := p.DecodeNetwork(wire.EtherTypeARP, b[:n]); err != nil {
		t.Fatal(err)
	}
	if !p.IsARP() || p.ARPOp != wire.ARPRequest || p.Src != v4a || p.Dst != v4b || !p.HasLinkAddr || p.LinkAddr != [6]byte(mac1) {
		t.Fatalf("request decoded as %+v", p)
	}
	// A reply as gopacket builds it, in an Ethernet frame.
	reply := serialize(t, eth(layers.EthernetTypeARP), &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4,
		HwAddressSize: 6, ProtAddressSize: 4, Operation: 2, SourceHwAddress: mac2, SourceProtAddress: v4b.AsSlice(),
		DstHwAddress: mac1, DstProtAddress: v4a.AsSlice()})
	if err := p.Decode(wire.LinkEthernet, reply); err != nil {
		t.Fatal(err)
	}
	if p.ARPOp != wire.ARPReply || p.Src != v4b || p.Dst != v4a || p.LinkAddr != [6]byte(mac2) {
		t.Fatalf("reply decoded as %+v", p)
	}
	for i := range reply[:14+28] {
		if err := p.Decode(wire.LinkEthernet, reply[:i]); err == nil {
			t.Fatalf("reply cut at %d decoded", i)
		}
	}
}

func TestDecodeNDP(t *testing.T) {
	var b [packet.NeighborSolLen]byte
	n := packet.NeighborSolicitation(b[:], [6]byte(mac1), v6a, v6b)
	var p wire.Packet
	if err := p.DecodeIP(b[:n]); err != nil {
		t.Fatal(err)
	}
	if p.ICMPType != 135 || p.NDTarget != v6b || p.Dst != packet.SolicitedNode(v6b) || p.TTL != 255 ||
		!p.HasLinkAddr || p.LinkAddr != [6]byte(mac1) || p.ICMPClass().Kind != wire.ICMPNeighborSolicit {
		t.Fatalf("solicitation decoded as %+v", p)
	}
	// gopacket agrees the checksum is right.
	gp := gopacket.NewPacket(b[:n], layers.LayerTypeIPv6, gopacket.Default)
	if gp.ErrorLayer() != nil || gp.Layer(layers.LayerTypeICMPv6NeighborSolicitation) == nil {
		t.Fatalf("gopacket: %v", gp)
	}
	ic := gp.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	csum := ic.Checksum
	ic.Checksum = 0
	ip := gp.Layer(layers.LayerTypeIPv6).(*layers.IPv6)
	_ = ic.SetNetworkLayerForChecksum(ip)
	re := serialize(t, ip, ic, gopacket.Payload(ic.Payload))
	if got := binary.BigEndian.Uint16(re[42:]); got != csum {
		t.Fatalf("checksum %#x, gopacket %#x", csum, got)
	}

	na := serialize(t, ip6(layers.IPProtocolICMPv6, v6b, v6a), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(136, 0)},
		&layers.ICMPv6NeighborAdvertisement{Flags: 0x60, TargetAddress: v6b.AsSlice(),
			Options: layers.ICMPv6Options{{Type: layers.ICMPv6OptTargetAddress, Data: mac2}}})
	if err := p.DecodeIP(na); err != nil {
		t.Fatal(err)
	}
	if p.ICMPType != 136 || p.NDTarget != v6b || p.NDFlags != wire.NDSolicited|wire.NDOverride || p.LinkAddr != [6]byte(mac2) ||
		p.ICMPClass().Reason.String() != "nd-response" {
		t.Fatalf("advertisement decoded as %+v", p)
	}
}

func TestDecodeEcho(t *testing.T) {
	var b [128]byte
	for _, c := range []struct{ src, dst netip.Addr }{{v4a, v4b}, {v6a, v6b}} {
		n := packet.ICMPEcho(b[:], c.src, c.dst, 0x1234, 7, 64, []byte("ping"))
		var p wire.Packet
		if err := p.DecodeIP(b[:n]); err != nil {
			t.Fatal(err)
		}
		if p.Src != c.src || p.ICMPID != 0x1234 || p.ICMPSeq != 7 || string(p.Payload) != "ping" ||
			p.ICMPClass().Kind != wire.ICMPEchoRequest {
			t.Fatalf("echo decoded as %+v", p)
		}
		// gopacket verifies our checksums.
		first := layers.LayerTypeIPv4
		if c.src.Is6() {
			first = layers.LayerTypeIPv6
		}
		gp := gopacket.NewPacket(b[:n], first, gopacket.Default)
		if gp.ErrorLayer() != nil {
			t.Fatalf("gopacket: %v", gp.ErrorLayer().Error())
		}
	}
	reply := serialize(t, ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 9, Seq: 3})
	var p wire.Packet
	if err := p.DecodeIP(reply); err != nil || p.ICMPID != 9 || p.ICMPSeq != 3 || p.ICMPClass().Reason.String() != "echo-reply" {
		t.Fatalf("echo reply: %v %+v", err, p)
	}
	ts := serialize(t, ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(14, 0), Id: 5, Seq: 6},
		gopacket.Payload([]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}))
	if err := p.DecodeIP(ts); err != nil || p.ICMPID != 5 || p.Originate != 1 || p.Receive != 2 || p.Transmit != 3 ||
		p.ICMPClass().Kind != wire.ICMPTimestampReply {
		t.Fatalf("timestamp reply: %v %+v", err, p)
	}
	// An unreachable quoting our echo request: host discovery matches it.
	n := packet.ICMPEcho(b[:], v4a, v4b, 0x4242, 1, 64, nil)
	un := serialize(t, ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 1)}, gopacket.Payload(b[:n]))
	if err := p.DecodeIP(un); err != nil || !p.HasQuote || p.Quote.Proto != target.ICMP || p.Quote.ICMPType != 8 || p.Quote.ICMPID != 0x4242 {
		t.Fatalf("unreachable quoting echo: %v %+v", err, p)
	}
}

func TestDecodeRejects(t *testing.T) {
	good := synAck4(t)
	later := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(later[6:], 0x0010) // fragment offset 16
	first := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(first[6:], 0x2000) // more fragments
	short := append([]byte(nil), good...)
	binary.BigEndian.PutUint16(short[2:], 12) // total length below the header
	gre := append([]byte(nil), good...)
	gre[9] = 47
	for name, c := range map[string]struct {
		b    []byte
		want error
	}{
		"empty":     {nil, wire.ErrMalformed},
		"version":   {[]byte{0x50, 0, 0, 0}, wire.ErrMalformed},
		"short ip":  {good[:19], wire.ErrMalformed},
		"short tcp": {good[:30], wire.ErrMalformed},
		"total len": {short, wire.ErrMalformed},
		"later":     {later, wire.ErrNotObserved},
		"gre":       {gre, wire.ErrNotObserved},
		"short v6":  {icmp6Unreach(t)[:39], wire.ErrMalformed},
	} {
		var p wire.Packet
		if err := p.DecodeIP(c.b); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	var p wire.Packet
	if err := p.DecodeIP(first); err != nil || !p.Fragment || p.DstPort != 61441 {
		t.Errorf("first fragment: %v %+v", err, p)
	}
}

// An IPv6 header carrying an IPv4-mapped address decodes as IPv6: the
// address keeps its 16-byte form.
func TestDecodeMappedIPv6(t *testing.T) {
	mapped := netip.MustParseAddr("::ffff:48.48.48.48")
	b := serialize(t, ip6(layers.IPProtocolUDP, v6a, mapped), &layers.UDP{SrcPort: 1, DstPort: 2})
	var p wire.Packet
	if err := p.DecodeIP(b); err != nil {
		t.Fatal(err)
	}
	if p.Dst != mapped || !p.Dst.Is4In6() || p.Dst == mapped.Unmap() {
		t.Fatalf("dst %v", p.Dst)
	}
}

func TestDecodeAllocs(t *testing.T) {
	pkts := [][]byte{synAck4(t), icmp4Unreach(t), icmp6Unreach(t), {0x45}}
	var p wire.Packet
	if n := testing.AllocsPerRun(100, func() {
		for _, b := range pkts {
			_ = p.DecodeIP(b)
		}
	}); n != 0 {
		t.Fatalf("Decode allocates %v times", n)
	}
}

func BenchmarkDecode(b *testing.B) {
	tcp := serialize(b, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	for _, c := range []struct {
		name string
		link wire.LinkType
		b    []byte
	}{
		{"ipv4-tcp", wire.LinkEthernet, tcp},
		{"synack4", wire.LinkRaw, synAck4(b)},
		{"icmp4", wire.LinkRaw, icmp4Unreach(b)},
		{"icmp6", wire.LinkRaw, icmp6Unreach(b)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(c.b)))
			var p wire.Packet
			for b.Loop() {
				if p.Decode(c.link, c.b) != nil {
					b.Fatal("decode failed")
				}
			}
		})
	}
}

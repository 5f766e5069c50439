package wire_test

import (
	"errors"
	"net/netip"
	"reflect"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
)

// gpAddr converts a gopacket address once, as the design says: a 4-byte
// slice is IPv4, a 16-byte one IPv6 (IPv4-mapped stays mapped).
func gpAddr(b []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(b)
	return a
}

// FuzzDecode checks that Decode never panics, is deterministic, returns
// only its two error classes, and agrees with gopacket's layers (the test
// oracle) on every field both decode, compared as netip values.
func FuzzDecode(f *testing.F) {
	inner4 := serialize(f, ip4(layers.IPProtocolUDP, v4a, v4b), &layers.UDP{SrcPort: 9, DstPort: 10})
	inner6 := serialize(f, ip6(layers.IPProtocolTCP, v6a, v6b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	var arp, ns, echo [128]byte
	packet.ARPRequest(arp[:], [6]byte(mac1), v4a, v4b)
	n := packet.NeighborSolicitation(ns[:], [6]byte(mac1), v6a, v6b)
	m := packet.ICMPEcho(echo[:], v6a, v6b, 1, 2, 64, []byte("x"))
	f.Add(uint16(wire.LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5}))
	f.Add(uint16(wire.LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner4)))
	f.Add(uint16(wire.LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6, v6b, v6a), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, gopacket.Payload(append([]byte{0, 0, 0, 0}, inner6...))))
	f.Add(uint16(wire.LinkEthernet), append([]byte{12: 0x08, 13: 0x06}, arp[:packet.ARPLen]...))
	f.Add(uint16(wire.LinkRaw), ns[:n])
	f.Add(uint16(wire.LinkRaw), echo[:m])
	f.Add(uint16(wire.LinkRaw), serialize(f, ip6(layers.IPProtocolUDP, v6a, netip.MustParseAddr("::ffff:48.48.48.48")), &layers.UDP{SrcPort: 1, DstPort: 2}))
	f.Add(uint16(wire.LinkLinuxSLL), append(append(make([]byte, 14), 0x08, 0), inner4...))
	f.Add(uint16(wire.LinkNull), append([]byte{2, 0, 0, 0}, inner4...))
	// Packets that leave every kind of field set: decoding any packet
	// after one of them must give what decoding into a fresh Packet gives
	// (Decode writes the common fields rather than clearing the Packet,
	// and clears the rare ones the previous Decode set).
	icmpErr := serialize(f, ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner4))
	tsReply := serialize(f, ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(14, 0), Id: 5, Seq: 6},
		gopacket.Payload([]byte{0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}))
	synAck := append(synAck4(f), 1, 2, 3) // padding: a non-empty Payload
	before := []struct {
		link wire.LinkType
		b    []byte
	}{{wire.LinkRaw, icmpErr}, {wire.LinkRaw, tsReply}, {wire.LinkRaw, ns[:n]}, {wire.LinkRaw, echo[:m]}, {wire.LinkRaw, synAck},
		{wire.LinkEthernet, append([]byte{12: 0x08, 13: 0x06}, arp[:packet.ARPLen]...)}}
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		var p wire.Packet
		err := p.Decode(wire.LinkType(link), data)
		for _, b := range before {
			var p2 wire.Packet
			if e := p2.Decode(b.link, b.b); e != nil {
				t.Fatalf("seed packet: %v", e)
			}
			err2 := p2.Decode(wire.LinkType(link), data)
			if err != err2 || !same(&p, &p2) {
				t.Fatalf("reused Packet differs: %v %+v / %v %+v", err, p, err2, p2)
			}
		}
		// Header.Decode, detect's fast path, fills Packet's Header, also
		// after a packet that set every field; DecodeQuote the flow of
		// Packet's Quote, into a QuoteFlow that held another.
		for _, b := range before {
			var h wire.Header
			if e := h.Decode(b.link, b.b); e != nil {
				t.Fatalf("seed packet: %v", e)
			}
			f := wire.QuoteFlow{Src: v6b, Dst: v6a, SrcPort: 1, DstPort: 2, Proto: 99}
			herr := h.Decode(wire.LinkType(link), data)
			if herr == nil && errors.Is(err, wire.ErrMalformed) && h.Proto == wire.ProtoICMPv6 && (h.ICMPType == 135 || h.ICMPType == 136) {
				continue // a bad NDP body: Header reads no NDP field
			}
			if herr != err || string(h.Payload) != string(p.Payload) || !reflect.DeepEqual(withoutHeaderPayload(h), withoutHeaderPayload(p.Header)) {
				t.Fatalf("Header differs: %v %+v / %v %+v", herr, h, err, p.Header)
			}
			if herr == nil && !h.IsARP() {
				if ok := h.DecodeQuote(&f); ok != p.HasQuote || f != p.Quote.QuoteFlow {
					t.Fatalf("DecodeQuote %v %+v, Packet %v %+v", ok, f, p.HasQuote, p.Quote)
				}
			}
		}
		if err != nil {
			if !errors.Is(err, wire.ErrMalformed) && !errors.Is(err, wire.ErrNotObserved) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrNotObserved", err)
			}
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
			t.Fatalf("bad addresses %v %v", p.Src, p.Dst)
		}
		if p.HasQuote && (p.Quote.Src.Is4() != p.Src.Is4() || !p.ICMPClass().Kind.IsError()) {
			t.Fatalf("bad quote %+v", p)
		}
		lt := wire.LinkType(link)
		if lt != wire.LinkEthernet && lt != wire.LinkRaw {
			return
		}
		first := layers.LayerTypeEthernet
		if lt == wire.LinkRaw {
			first = layers.LayerTypeIPv4
			if p.IsIPv6() {
				first = layers.LayerTypeIPv6
			}
		}
		gp := gopacket.NewPacket(data, first, gopacket.DecodeOptions{NoCopy: true, Lazy: false})
		if gp.ErrorLayer() != nil {
			return // gopacket refuses what we accept: compare nothing
		}
		if l, ok := gp.Layer(layers.LayerTypeARP).(*layers.ARP); ok && p.IsARP() {
			if gpAddr(l.SourceProtAddress) != p.Src || gpAddr(l.DstProtAddress) != p.Dst || l.Operation != p.ARPOp {
				t.Fatalf("arp %+v, gopacket %+v", p, l)
			}
			return
		}
		switch l := gp.NetworkLayer().(type) {
		case *layers.IPv4:
			if gpAddr(l.SrcIP) != p.Src || gpAddr(l.DstIP) != p.Dst || l.TTL != p.TTL {
				t.Fatalf("ipv4 %v>%v ttl %d, gopacket %v>%v ttl %d", p.Src, p.Dst, p.TTL, l.SrcIP, l.DstIP, l.TTL)
			}
		case *layers.IPv6:
			if gpAddr(l.SrcIP) != p.Src || gpAddr(l.DstIP) != p.Dst || l.HopLimit != p.TTL {
				t.Fatalf("ipv6 %v>%v, gopacket %v>%v", p.Src, p.Dst, l.SrcIP, l.DstIP)
			}
		default:
			return
		}
		switch l := gp.TransportLayer().(type) {
		case *layers.TCP:
			if p.Proto != wire.ProtoTCP || uint16(l.SrcPort) != p.SrcPort || uint16(l.DstPort) != p.DstPort ||
				l.Seq != p.Seq || l.Ack != p.Ack || l.Window != p.Window {
				t.Fatalf("tcp %+v, gopacket %v", p, l)
			}
		case *layers.UDP:
			if p.Proto != wire.ProtoUDP || uint16(l.SrcPort) != p.SrcPort || uint16(l.DstPort) != p.DstPort {
				t.Fatalf("udp %+v, gopacket %v", p, l)
			}
		}
		if l, ok := gp.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4); ok && p.Proto == wire.ProtoICMP {
			if l.TypeCode.Type() != p.ICMPType || l.TypeCode.Code() != p.ICMPCode {
				t.Fatalf("icmp %+v, gopacket %v", p, l)
			}
			if (p.ICMPType == 0 || p.ICMPType == 8) && (l.Id != p.ICMPID || l.Seq != p.ICMPSeq) {
				t.Fatalf("echo %+v, gopacket %v", p, l)
			}
		}
		if l, ok := gp.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6); ok && p.Proto == wire.ProtoICMPv6 {
			if l.TypeCode.Type() != p.ICMPType || l.TypeCode.Code() != p.ICMPCode {
				t.Fatalf("icmpv6 %+v, gopacket %v", p, l)
			}
		}
		if l, ok := gp.Layer(layers.LayerTypeICMPv6NeighborSolicitation).(*layers.ICMPv6NeighborSolicitation); ok && p.ICMPType == 135 {
			if gpAddr(l.TargetAddress) != p.NDTarget {
				t.Fatalf("ns target %v, gopacket %v", p.NDTarget, l.TargetAddress)
			}
		}
		if l, ok := gp.Layer(layers.LayerTypeICMPv6NeighborAdvertisement).(*layers.ICMPv6NeighborAdvertisement); ok && p.ICMPType == 136 {
			if gpAddr(l.TargetAddress) != p.NDTarget {
				t.Fatalf("na target %v, gopacket %v", p.NDTarget, l.TargetAddress)
			}
		}
	})
}

// same compares two packets field by field (Payload by content).
func same(a, b *wire.Packet) bool {
	return string(a.Payload) == string(b.Payload) && reflect.DeepEqual(withoutPayload(*a), withoutPayload(*b))
}

func withoutPayload(p wire.Packet) wire.Packet {
	p.Payload = nil
	return p
}

func withoutHeaderPayload(h wire.Header) wire.Header {
	h.Payload = nil
	return h
}

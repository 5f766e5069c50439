package detect

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

func FuzzDecode(f *testing.F) {
	inner4 := serialize(f, ip4(layers.IPProtocolUDP, v4a, v4b), &layers.UDP{SrcPort: 9, DstPort: 10})
	inner6 := serialize(f, ip6(layers.IPProtocolTCP, v6a, v6b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5})
	f.Add(uint16(LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b), &layers.TCP{SrcPort: 1, DstPort: 2, SYN: true, DataOffset: 5}))
	f.Add(uint16(LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner4)))
	f.Add(uint16(LinkEthernet), serialize(f, eth(layers.EthernetTypeIPv6), ip6(layers.IPProtocolICMPv6, v6b, v6a), &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, gopacket.Payload(append([]byte{0, 0, 0, 0}, inner6...))))
	f.Add(uint16(LinkRaw), serialize(f, ip6(layers.IPProtocolIPv6HopByHop, v6a, v6b), gopacket.Payload(append(ext(wire.ProtoUDP, 1), 0, 1, 0, 2, 0, 8, 0, 0))))
	f.Add(uint16(LinkLinuxSLL), append(make([]byte, 14), append([]byte{0x08, 0}, inner4...)...))
	f.Add(uint16(LinkNull), append([]byte{2, 0, 0, 0}, inner4...))
	icmpErr := serialize(f, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolICMPv4, v4b, v4a), &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(inner4))
	f.Fuzz(func(t *testing.T, link uint16, data []byte) {
		d := Decoder{link: LinkType(link), set: true}
		var o, o2 Observation
		err := d.Decode(data, t0, &o)
		// Decoding into an Observation that holds an ICMP error's quote
		// gives what decoding into a fresh one gives: Decode writes
		// every field (the quote in place) rather than clearing o.
		if e := ethDec.Decode(icmpErr, t0.Add(1), &o2); e != nil || !o2.HasQuote {
			t.Fatalf("seed icmp error: %v %+v", e, o2)
		}
		err2 := d.Decode(data, t0, &o2)
		if err != err2 || o != o2 {
			t.Fatalf("not deterministic: %v %+v / %v %+v", err, o, err2, o2)
		}
		// Decode writes observe's body out; the sources call observe
		// through observeHeader. The two must say the same.
		var h wire.Header
		var o3 Observation
		if err3 := observeHeader(h.Decode(d.Link(), data), &h, t0, &o3); err3 != err || o3 != o {
			t.Fatalf("observeHeader %v %+v, Decode %v %+v", err3, o3, err, o)
		}
		// detect reads a wire.Header and the quote's flow; the prober's
		// wire.Packet must say the same.
		var p wire.Packet
		perr := p.Decode(LinkType(link), data)
		if ndp := err == nil && o.Proto == target.ICMPv6 && (o.ICMPType == 135 || o.ICMPType == 136); ndp && errors.Is(perr, ErrMalformed) {
			// A neighbour solicitation or advertisement with a bad body
			// is malformed to a prober that reads NDP, an ICMPv6 packet
			// to detect (which reads no NDP field, as before wire).
		} else if perr != err && !(err == errARP && perr == nil && p.IsARP()) {
			t.Fatalf("wire.Packet error %v, Decoder %v", perr, err)
		} else if err == nil && (p.Src != o.Src || p.Dst != o.Dst || p.SrcPort != o.SrcPort || p.DstPort != o.DstPort ||
			target.Protocol(p.Proto) != o.Proto || TCPFlags(p.Flags) != o.Flags || p.TTL != o.TTL || p.Length != o.Payload ||
			p.ICMPType != o.ICMPType || p.ICMPCode != o.ICMPCode || p.HasQuote != o.HasQuote ||
			Quote(p.Quote.QuoteFlow) != o.Quoted) {
			t.Fatalf("wire.Packet %+v, Decoder %+v", p, o)
		}
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrNotObserved) {
				t.Fatalf("error %v wraps neither ErrMalformed nor ErrNotObserved", err)
			}
			return
		}
		if !o.Src.IsValid() || !o.Dst.IsValid() || o.Src.Is4() != o.Dst.Is4() {
			t.Fatalf("bad addresses %v %v", o.Src, o.Dst)
		}
		if !o.Time.Equal(t0) {
			t.Fatalf("time %v", o.Time)
		}
		switch o.Proto {
		case target.TCP, target.UDP:
			if o.HasQuote || o.ICMPType != 0 || o.ICMPCode != 0 {
				t.Fatalf("transport with icmp fields: %+v", o)
			}
			if o.Proto == target.UDP && o.Flags != 0 {
				t.Fatalf("udp with flags: %+v", o)
			}
		case target.ICMP, target.ICMPv6:
			if (o.Proto == target.ICMPv6) != o.Src.Is6() {
				t.Fatalf("icmp version mismatch: %+v", o)
			}
			if o.SrcPort != 0 || o.DstPort != 0 || o.Flags != 0 {
				t.Fatalf("icmp with ports: %+v", o)
			}
			if o.HasQuote && (o.Quoted.Src.Is4() != o.Src.Is4() || !o.Quoted.Dst.IsValid()) {
				t.Fatalf("quote of other ip version: %+v", o)
			}
		default:
			t.Fatalf("protocol %v", o.Proto)
		}
		if !o.HasQuote && o.Quoted != (Quote{}) {
			t.Fatalf("quote fields without HasQuote: %+v", o)
		}
		// Differential check against gopacket on the addresses, where
		// gopacket decodes the network layer cleanly.
		if lt := LinkType(link); lt == LinkEthernet || lt == LinkRaw {
			first := layers.LayerTypeEthernet
			if lt == LinkRaw {
				first = layers.LayerTypeIPv4
				if o.Src.Is6() {
					first = layers.LayerTypeIPv6
				}
			}
			// Compare netip values, converting gopacket's net.IP once:
			// an IPv4-mapped address in an IPv6 header is 16 bytes on
			// both sides (gopacket's String would print it as IPv4).
			gp := gopacket.NewPacket(data, first, gopacket.NoCopy)
			if nl := gp.NetworkLayer(); nl != nil && gp.ErrorLayer() == nil {
				src, dst := nl.NetworkFlow().Endpoints()
				gs, _ := netip.AddrFromSlice(src.Raw())
				gd, _ := netip.AddrFromSlice(dst.Raw())
				if gs != o.Src || gd != o.Dst {
					t.Fatalf("addresses %v>%v, gopacket %v>%v", o.Src, o.Dst, gs, gd)
				}
			}
		}
	})
}

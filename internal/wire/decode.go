package wire

import (
	"encoding/binary"
	"math/bits"
	"net/netip"

	"github.com/portsense/portsense/target"
)

// Decode fills p from b, framed as link. On error p is cleared and the
// error wraps ErrMalformed or ErrNotObserved. Decode never allocates;
// p.Payload aliases b.
func (p *Packet) Decode(link LinkType, b []byte) error {
	if p.rare != 0 {
		p.clearRare()
	}
	// Header.decode writes every Header field on success, so that Decode
	// need not clear them first: clearing the whole Packet for every
	// packet costs about as much as decoding it.
	l4, err := p.Header.decode(link, b)
	if err == nil {
		switch p.Proto {
		case ProtoTCP: // decode checked len(l4) >= 14
			p.Seq, p.Ack = binary.BigEndian.Uint32(l4[4:8]), binary.BigEndian.Uint32(l4[8:12])
			p.Window = 0
			if len(l4) >= 16 {
				p.Window = binary.BigEndian.Uint16(l4[14:16])
			}
		case ProtoICMP, ProtoICMPv6:
			p.Seq, p.Ack, p.Window = 0, 0, 0
			if len(l4) >= 8 {
				err = p.icmp(l4, p.Proto == ProtoICMPv6)
			}
		default: // UDP, ARP
			p.Seq, p.Ack, p.Window = 0, 0, 0
			if p.EtherType == EtherTypeARP {
				p.arp(l4)
			}
		}
	}
	if err != nil {
		p.reset()
	}
	return err
}

// DecodeIP fills p from an IPv4 or IPv6 packet, the version taken from
// the first nibble: what an AF_PACKET SOCK_DGRAM socket reads.
func (p *Packet) DecodeIP(b []byte) error { return p.Decode(LinkRaw, b) }

// DecodeNetwork fills p from the network-layer bytes b of EtherType et
// (IPv4, IPv6 or ARP): what an AF_PACKET SOCK_DGRAM socket reads, et from
// the sender address's protocol.
func (p *Packet) DecodeNetwork(et uint16, b []byte) error {
	switch et {
	case EtherTypeIPv4:
		return p.Decode(LinkIPv4, b)
	case EtherTypeIPv6:
		return p.Decode(LinkIPv6, b)
	case EtherTypeARP:
		if p.rare != 0 {
			p.clearRare()
		}
		l4, err := p.Header.arp(b)
		if err != nil {
			p.reset()
			return err
		}
		p.Seq, p.Ack, p.Window = 0, 0, 0
		p.arp(l4)
		return nil
	}
	p.reset()
	return errEtherType
}

// arp fills the ARP fields from the ARP packet b Header.arp decoded.
func (p *Packet) arp(b []byte) {
	p.rare |= rareLink
	p.ARPOp = binary.BigEndian.Uint16(b[6:8])
	p.LinkAddr = [6]byte(b[8:14])
	p.HasLinkAddr = true
}

// Decode fills h from b, framed as link, as Packet.Decode fills its
// Header but without the fields only Packet has (ICMP echo, quote, ARP
// and NDP): the fast path for readers that need only addresses, ports,
// flags and ICMP type. DecodeQuote reads an ICMP error's quote on demand.
// On error h is cleared and the error wraps ErrMalformed or
// ErrNotObserved. Decode never allocates; h.Payload aliases b.
func (h *Header) Decode(link LinkType, b []byte) error {
	_, err := h.decode(link, b)
	if err != nil {
		*h = Header{}
	}
	return err
}

// DecodeIP fills h as Packet.DecodeIP fills its Header.
func (h *Header) DecodeIP(b []byte) error { return h.Decode(LinkRaw, b) }

// DecodeNetwork fills h as Packet.DecodeNetwork fills its Header.
func (h *Header) DecodeNetwork(et uint16, b []byte) error {
	_, err := h.network(et, b)
	if err != nil {
		*h = Header{}
	}
	return err
}

// DecodeQuote fills f with the flow of the packet the ICMP error h
// quotes, as Packet.Decode fills Packet.Quote.QuoteFlow, and reports
// whether h is an ICMP error with a quote of its IP version
// (Packet.HasQuote). Otherwise f is zero. h.Payload must still alias the
// decoded buffer.
func (h *Header) DecodeQuote(f *QuoteFlow) bool { return h.quote(f, nil) }

// quote is DecodeQuote; a non-nil q, Packet's Quote whose QuoteFlow f is,
// gets the fields only probers read too. q is always zero here (Decode
// clears it when the previous packet set it); f is written on every path,
// so that DecodeQuote's caller need not clear it.
func (h *Header) quote(f *QuoteFlow, q *Quote) bool {
	if !h.isICMPError() {
		*f = QuoteFlow{}
		return false
	}
	b := h.Payload
	var (
		proto uint8
		rest  []byte
	)
	if h.Proto == ProtoICMP {
		if len(b) < 20 || b[0]>>4 != 4 {
			*f = QuoteFlow{}
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			*f = QuoteFlow{}
			return false
		}
		f.Src = netip.AddrFrom4([4]byte(b[12:16]))
		f.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		proto = b[9]
		if q != nil {
			q.IPID = binary.BigEndian.Uint16(b[4:6])
		}
		if binary.BigEndian.Uint16(b[6:8])&0x1fff == 0 {
			rest = b[ihl:] // a later fragment has no transport header
		}
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			*f = QuoteFlow{}
			return false
		}
		f.Src = netip.AddrFrom16([16]byte(b[8:24]))
		f.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		if q != nil {
			q.FlowLabel = binary.BigEndian.Uint32(b[0:4]) & 0xfffff
		}
		// Extension headers cut off by the quote leave the protocol
		// unknown (0).
		if next, r, _, _, err := skipExt(b[6], b[40:]); err == nil {
			proto, rest = next, r
		}
	}
	var ports uint32
	if (proto == ProtoTCP || proto == ProtoUDP) && len(rest) >= 4 {
		ports = portPair(rest)
	}
	f.SrcPort, f.DstPort = uint16(ports), uint16(ports>>16)
	f.Proto = target.Protocol(proto)
	if q == nil {
		return true
	}
	q.TransportLen = length(len(rest))
	switch proto {
	case ProtoTCP:
		if len(rest) >= 8 {
			q.Seq = binary.BigEndian.Uint32(rest[4:8])
		}
	case ProtoICMP, ProtoICMPv6:
		if len(rest) >= 2 {
			q.ICMPType, q.ICMPCode = rest[0], rest[1]
		}
		if len(rest) >= 8 {
			q.ICMPID = binary.BigEndian.Uint16(rest[4:6])
			q.ICMPSeq = binary.BigEndian.Uint16(rest[6:8])
		}
	}
	return true
}

// icmpErrors4 has bit t set for the ICMPv4 types t that are errors
// quoting the packet that provoked them: unreachable, source quench,
// redirect, time exceeded, parameter problem.
const icmpErrors4 = 1<<3 | 1<<4 | 1<<5 | 1<<11 | 1<<12

// isICMPError reports whether h is an ICMP error that quotes the packet
// that provoked it (ClassifyICMP(…).Kind.IsError()).
func (h *Header) isICMPError() bool {
	switch h.Proto {
	case ProtoICMP:
		return h.ICMPType < 32 && icmpErrors4&(1<<h.ICMPType) != 0
	case ProtoICMPv6:
		return h.ICMPType-1 < 4 // unreachable, too big, time exceeded, parameter problem
	}
	return false
}

// decode fills h from b, framed as link, and returns the transport bytes
// (the ARP packet for ARP) for Packet.Decode. Every entry point comes here
// (DecodeIP as LinkRaw, DecodeNetwork as LinkIPv4 or LinkIPv6). The
// common cases (an Ethernet header, IPv4, the transport header) are
// decoded inline: each call saved is a few percent of a decode.
func (h *Header) decode(link LinkType, b []byte) ([]byte, error) {
	var et uint16
	switch {
	case link == LinkEthernet && len(b) >= 14:
		et = binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		if et != EtherTypeIPv4 && (et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2) {
			var err error
			if et, b, err = vlan(b); err != nil {
				return nil, err
			}
		}
	case link == LinkRaw && len(b) > 0: // probers' replies: no call for the link
		switch b[0] >> 4 {
		case 4:
			et = EtherTypeIPv4
		case 6:
			et = EtherTypeIPv6
		default:
			return nil, errIPVersion
		}
	default:
		var err error
		if et, b, err = linkHeader(link, b); err != nil {
			return nil, err
		}
	}
	var (
		proto uint8
		l4len int
		v6    bool
	)
	switch et {
	case EtherTypeIPv4:
		h.EtherType = EtherTypeIPv4
		if len(b) < 20 {
			if len(b) > 0 && b[0]>>4 != 4 {
				return nil, errIPVersion
			}
			return nil, errIPv4Header
		}
		if b[0]>>4 != 4 {
			return nil, errIPVersion
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 {
			return nil, errIPv4IHL
		}
		if len(b) < ihl {
			return nil, errIPv4Header
		}
		frag := binary.BigEndian.Uint16(b[6:8])
		if frag&0x1fff != 0 {
			return nil, errFragment
		}
		h.Src = netip.AddrFrom4([4]byte(b[12:16]))
		h.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		h.TTL = b[8]
		proto = b[9]
		h.Proto = proto
		h.Fragment = frag&0x2000 != 0
		// The transport length comes from the header, not the capture: a
		// snap length may have cut the packet. 0 is what TCP segmentation
		// offload leaves in captures of outgoing packets: trust the
		// capture then.
		total := int(binary.BigEndian.Uint16(b[2:4]))
		switch {
		case total == 0:
			total = len(b)
		case total < ihl:
			return nil, errIPv4Len
		case total < len(b):
			b = b[:total] // link padding
		}
		b, l4len = b[ihl:], total-ihl
	case EtherTypeIPv6:
		var err error
		if proto, b, l4len, err = h.ipv6(b); err != nil {
			return nil, err
		}
		v6 = true
	case EtherTypeARP:
		return h.arp(b)
	default:
		return nil, errEtherType
	}

	// The transport header; b is returned for Packet.Decode.
	switch proto {
	case ProtoTCP:
		if len(b) < 14 {
			return nil, errTCPHeader
		}
		off := int(b[12]>>4) * 4
		if off < 20 {
			return nil, errTCPOffset
		}
		ports := portPair(b)
		h.setTransport(uint16(ports), uint16(ports>>16), b[13])
		h.ICMPType, h.ICMPCode = 0, 0
		h.Length = length(l4len - off)
		var payload []byte
		if len(b) > off {
			payload = b[off:]
		}
		h.Payload = payload
		return b, nil
	case ProtoUDP:
		if len(b) < 8 {
			return nil, errUDPHeader
		}
		ports := portPair(b)
		h.setTransport(uint16(ports), uint16(ports>>16), 0)
		h.ICMPType, h.ICMPCode = 0, 0
		h.Length = length(l4len - 8)
		h.Payload = b[8:]
		return b, nil
	case ProtoICMP, ProtoICMPv6:
		if (proto == ProtoICMPv6) != v6 {
			return nil, errICMPWrongIP
		}
		if len(b) < 4 {
			return nil, errICMPHeader
		}
		h.setTransport(0, 0, 0)
		h.ICMPType, h.ICMPCode = b[0], b[1]
		h.Length = length(l4len - 8)
		var payload []byte
		if len(b) >= 8 {
			payload = b[8:]
		}
		h.Payload = payload
		return b, nil
	}
	return nil, errIPProto
}

// vlan skips up to four 802.1Q/802.1ad tags after an Ethernet header
// and returns the EtherType and bytes they frame.
func vlan(b []byte) (uint16, []byte, error) {
	et := EtherTypeVLAN
	for i := 0; i < maxVLANTags && (et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2); i++ {
		if len(b) < 4 {
			return 0, nil, errLinkShort
		}
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[4:]
	}
	return et, b, nil
}

// linkHeader strips the link header of every link type but Ethernet
// with a whole header (decode's fast path) and returns the EtherType and
// the network-layer bytes.
func linkHeader(link LinkType, b []byte) (uint16, []byte, error) {
	switch link {
	case LinkRaw: // the version from the first nibble
		if len(b) == 0 {
			return 0, nil, errIPv4Header
		}
		switch b[0] >> 4 {
		case 4:
			return EtherTypeIPv4, b, nil
		case 6:
			return EtherTypeIPv6, b, nil
		}
		return 0, nil, errIPVersion
	case LinkIPv4:
		return EtherTypeIPv4, b, nil
	case LinkIPv6:
		return EtherTypeIPv6, b, nil
	case LinkEthernet: // shorter than an Ethernet header
		return 0, nil, errLinkShort
	case LinkLinuxSLL:
		if len(b) < 16 {
			return 0, nil, errLinkShort
		}
		return binary.BigEndian.Uint16(b[14:16]), b[16:], nil
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return 0, nil, errLinkShort
		}
		return binary.BigEndian.Uint16(b[0:2]), b[20:], nil
	case LinkNull:
		if len(b) < 4 {
			return 0, nil, errLinkShort
		}
		// The family is in the capturing host's byte order: accept either.
		fam := binary.LittleEndian.Uint32(b[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b[:4])
		}
		switch fam {
		case 2: // AF_INET everywhere
			return EtherTypeIPv4, b[4:], nil
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return EtherTypeIPv6, b[4:], nil
		}
		return 0, nil, errEtherType
	}
	return 0, nil, errLinkType
}

// network fills h from the network-layer bytes b of EtherType et.
func (h *Header) network(et uint16, b []byte) ([]byte, error) {
	switch et {
	case EtherTypeIPv4:
		return h.decode(LinkIPv4, b)
	case EtherTypeIPv6:
		return h.decode(LinkIPv6, b)
	case EtherTypeARP:
		return h.arp(b)
	}
	return nil, errEtherType
}

// arp decodes the addresses of an Ethernet/IPv4 ARP packet and returns
// it for Packet.arp.
func (h *Header) arp(b []byte) ([]byte, error) {
	h.EtherType = EtherTypeARP
	if len(b) < 8 {
		return nil, errARP
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return nil, errARPKind
	}
	if len(b) < 28 {
		return nil, errARP
	}
	h.Src = netip.AddrFrom4([4]byte(b[14:18]))
	h.Dst = netip.AddrFrom4([4]byte(b[24:28]))
	h.TTL, h.Proto, h.Fragment, h.Length, h.Payload = 0, 0, false, 0, nil
	h.setTransport(0, 0, 0)
	h.ICMPType, h.ICMPCode = 0, 0
	return b, nil
}

// ipv6 decodes an IPv6 header and its extension headers, and returns
// the upper-layer protocol, its bytes and the length the header
// announces for them.
func (h *Header) ipv6(b []byte) (uint8, []byte, int, error) {
	h.EtherType = EtherTypeIPv6
	if len(b) > 0 && b[0]>>4 != 6 {
		return 0, nil, 0, errIPVersion
	}
	if len(b) < 40 {
		return 0, nil, 0, errIPv6Header
	}
	h.Src = netip.AddrFrom16([16]byte(b[8:24]))
	h.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	h.TTL = b[7]
	l4len := int(binary.BigEndian.Uint16(b[4:6]))
	if l4len == 0 { // jumbogram or offload: trust the capture
		l4len = len(b) - 40
	} else if 40+l4len < len(b) {
		b = b[:40+l4len]
	}
	next := b[6]
	switch next {
	case ProtoTCP, ProtoUDP, ProtoICMPv6: // no extension headers
		h.Proto = next
		h.Fragment = false
		return next, b[40:], l4len, nil
	}
	next, rest, n, frag, err := skipExt(next, b[40:])
	h.Proto = next
	if err != nil {
		return 0, nil, 0, err
	}
	h.Fragment = frag
	return next, rest, l4len - n, nil
}

// skipExt walks IPv6 extension headers. It returns the upper-layer
// protocol, its bytes, the bytes the extension headers took, and whether
// a fragment header (of a first fragment) was seen.
func skipExt(next uint8, b []byte) (uint8, []byte, int, bool, error) {
	n := 0
	frag := false
	for i := 0; ; i++ {
		var hl int
		switch next {
		case ProtoHopByHop, ProtoRouting, ProtoDstOpts:
			if len(b) < 8 {
				return next, nil, 0, frag, errIPv6Ext
			}
			hl = (int(b[1]) + 1) * 8
		case ProtoAH:
			if len(b) < 8 {
				return next, nil, 0, frag, errIPv6Ext
			}
			hl = (int(b[1]) + 2) * 4
		case ProtoFragment:
			if len(b) < 8 {
				return next, nil, 0, frag, errIPv6Ext
			}
			if binary.BigEndian.Uint16(b[2:4])&^7 != 0 {
				return next, nil, 0, frag, errFragment
			}
			frag = true
			hl = 8
		case ProtoNoNext:
			return next, nil, 0, frag, errNoNextHdr
		default:
			return next, b, n, frag, nil
		}
		if i >= maxExtHeaders {
			return next, nil, 0, frag, errExtTooDeep
		}
		if len(b) < hl {
			return next, nil, 0, frag, errIPv6Ext
		}
		next = b[0]
		b = b[hl:]
		n += hl
	}
}

// setTransport writes the TCP/UDP fields.
func (h *Header) setTransport(sport, dport uint16, flags uint8) {
	h.SrcPort, h.DstPort, h.Flags = sport, dport, flags
}

func length(n int) uint16 {
	if n < 0 {
		return 0
	}
	if n > 0xffff {
		return 0xffff
	}
	return uint16(n)
}

// portPair returns the TCP or UDP ports at the start of b as
// SrcPort | DstPort<<16, so that the compiler writes Header.SrcPort and
// Header.DstPort (adjacent, in that order) with one 32-bit store. Readers
// that copy both ports load them with one 32-bit load, and a load that
// spans two smaller stores cannot be forwarded from the store buffer: it
// stalls for as long as the rest of a TCP decode takes.
func portPair(b []byte) uint32 {
	return bits.RotateLeft32(binary.BigEndian.Uint32(b[0:4]), 16)
}

// icmp decodes the message body of an ICMP packet of at least 8 bytes.
func (p *Packet) icmp(b []byte, v6 bool) error {
	t := p.ICMPType
	if !v6 {
		switch t {
		case 0, 8, 13, 14: // echo reply/request, timestamp request/reply
			p.rare |= rareICMP
			p.ICMPID = binary.BigEndian.Uint16(b[4:6])
			p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
			if (t == 13 || t == 14) && len(b) >= 20 {
				p.Originate = binary.BigEndian.Uint32(b[8:12])
				p.Receive = binary.BigEndian.Uint32(b[12:16])
				p.Transmit = binary.BigEndian.Uint32(b[16:20])
			}
		case 3, 4, 5, 11, 12: // icmpErrors4
			p.rare |= rareQuote
			p.HasQuote = p.Header.quote(&p.Quote.QuoteFlow, &p.Quote)
		}
		return nil
	}
	switch t {
	case 128, 129: // echo request, reply
		p.rare |= rareICMP
		p.ICMPID = binary.BigEndian.Uint16(b[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
	case 1, 2, 3, 4: // isICMPError
		p.rare |= rareQuote
		p.HasQuote = p.Header.quote(&p.Quote.QuoteFlow, &p.Quote)
	case 135, 136: // neighbour solicitation, advertisement
		p.rare |= rareLink
		if len(b) < 24 {
			return errNDP
		}
		if t == 136 {
			p.NDFlags = b[4] & (NDRouter | NDSolicited | NDOverride)
		}
		p.NDTarget = netip.AddrFrom16([16]byte(b[8:24]))
		want := uint8(1) // source link-layer address
		if t == 136 {
			want = 2 // target link-layer address
		}
		for o := b[24:]; len(o) >= 8; {
			n := int(o[1]) * 8
			if n == 0 || n > len(o) {
				return errNDP
			}
			if o[0] == want && n >= 8 {
				p.LinkAddr = [6]byte(o[2:8])
				p.HasLinkAddr = true
			}
			o = o[n:]
		}
	}
	return nil
}

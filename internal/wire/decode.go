package wire

import (
	"encoding/binary"
	"net/netip"
)

// Decode fills p from b, framed as link. On error p holds what was read
// before the error (useful for counting) and the error wraps ErrMalformed
// or ErrNotObserved. Decode never allocates; p.Payload aliases b.
func (p *Packet) Decode(link LinkType, b []byte) error {
	*p = Packet{}
	switch link {
	case LinkEthernet:
		if len(b) < 14 {
			return errLinkShort
		}
		et := binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		for i := 0; i < maxVLANTags && (et == EtherTypeVLAN || et == EtherTypeQinQ || et == EtherTypeQinQ2); i++ {
			if len(b) < 4 {
				return errLinkShort
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
		return p.network(et, b)
	case LinkLinuxSLL:
		if len(b) < 16 {
			return errLinkShort
		}
		return p.network(binary.BigEndian.Uint16(b[14:16]), b[16:])
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return errLinkShort
		}
		return p.network(binary.BigEndian.Uint16(b[0:2]), b[20:])
	case LinkNull:
		if len(b) < 4 {
			return errLinkShort
		}
		// The family is in the capturing host's byte order: accept either.
		fam := binary.LittleEndian.Uint32(b[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b[:4])
		}
		switch fam {
		case 2: // AF_INET everywhere
			return p.network(EtherTypeIPv4, b[4:])
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return p.network(EtherTypeIPv6, b[4:])
		}
		return errEtherType
	case LinkRaw:
		return p.DecodeIP(b)
	case LinkIPv4:
		return p.network(EtherTypeIPv4, b)
	case LinkIPv6:
		return p.network(EtherTypeIPv6, b)
	}
	return errLinkType
}

// DecodeIP fills p from an IPv4 or IPv6 packet, the version taken from
// the first nibble: what an AF_PACKET SOCK_DGRAM socket reads.
func (p *Packet) DecodeIP(b []byte) error {
	*p = Packet{}
	if len(b) == 0 {
		return errIPv4Header
	}
	switch b[0] >> 4 {
	case 4:
		p.EtherType = EtherTypeIPv4
		return p.ipv4(b)
	case 6:
		p.EtherType = EtherTypeIPv6
		return p.ipv6(b)
	}
	return errIPVersion
}

// DecodeNetwork fills p from the network-layer bytes b of EtherType et
// (IPv4, IPv6 or ARP): what an AF_PACKET SOCK_DGRAM socket reads, et from
// the sender address's protocol.
func (p *Packet) DecodeNetwork(et uint16, b []byte) error {
	*p = Packet{}
	return p.network(et, b)
}

func (p *Packet) network(et uint16, b []byte) error {
	switch et {
	case EtherTypeIPv4:
		p.EtherType = et
		if len(b) == 0 {
			return errIPv4Header
		}
		if b[0]>>4 != 4 {
			return errIPVersion
		}
		return p.ipv4(b)
	case EtherTypeIPv6:
		p.EtherType = et
		if len(b) == 0 {
			return errIPv6Header
		}
		if b[0]>>4 != 6 {
			return errIPVersion
		}
		return p.ipv6(b)
	case EtherTypeARP:
		p.EtherType = et
		return p.arp(b)
	}
	return errEtherType
}

func (p *Packet) arp(b []byte) error {
	if len(b) < 8 {
		return errARP
	}
	if binary.BigEndian.Uint16(b[0:2]) != 1 || binary.BigEndian.Uint16(b[2:4]) != EtherTypeIPv4 || b[4] != 6 || b[5] != 4 {
		return errARPKind
	}
	if len(b) < 28 {
		return errARP
	}
	p.ARPOp = binary.BigEndian.Uint16(b[6:8])
	p.LinkAddr = [6]byte(b[8:14])
	p.HasLinkAddr = true
	p.Src = netip.AddrFrom4([4]byte(b[14:18]))
	p.Dst = netip.AddrFrom4([4]byte(b[24:28]))
	return nil
}

func (p *Packet) ipv4(b []byte) error {
	if len(b) < 20 {
		return errIPv4Header
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 {
		return errIPv4IHL
	}
	if len(b) < ihl {
		return errIPv4Header
	}
	p.Src = netip.AddrFrom4([4]byte(b[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	p.TTL = b[8]
	p.Proto = b[9]
	frag := binary.BigEndian.Uint16(b[6:8])
	if frag&0x1fff != 0 {
		return errFragment
	}
	p.Fragment = frag&0x2000 != 0
	// The transport length comes from the header, not the capture: a snap
	// length may have cut the packet. 0 is what TCP segmentation offload
	// leaves in captures of outgoing packets: trust the capture then.
	total := int(binary.BigEndian.Uint16(b[2:4]))
	switch {
	case total == 0:
		total = len(b)
	case total < ihl:
		return errIPv4Len
	case total < len(b):
		b = b[:total] // link padding
	}
	return p.transport(b[ihl:], total-ihl, false)
}

func (p *Packet) ipv6(b []byte) error {
	if len(b) < 40 {
		return errIPv6Header
	}
	p.Src = netip.AddrFrom16([16]byte(b[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	p.TTL = b[7]
	l4len := int(binary.BigEndian.Uint16(b[4:6]))
	if l4len == 0 { // jumbogram or offload: trust the capture
		l4len = len(b) - 40
	} else if 40+l4len < len(b) {
		b = b[:40+l4len]
	}
	next, rest, n, frag, err := skipExt(b[6], b[40:])
	p.Proto = next
	if err != nil {
		return err
	}
	p.Fragment = frag
	return p.transport(rest, l4len-n, true)
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

func length(n int) uint16 {
	if n < 0 {
		return 0
	}
	if n > 0xffff {
		return 0xffff
	}
	return uint16(n)
}

func (p *Packet) transport(b []byte, l4len int, v6 bool) error {
	switch p.Proto {
	case ProtoTCP:
		if len(b) < 14 {
			return errTCPHeader
		}
		off := int(b[12]>>4) * 4
		if off < 20 {
			return errTCPOffset
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Seq = binary.BigEndian.Uint32(b[4:8])
		p.Ack = binary.BigEndian.Uint32(b[8:12])
		p.Flags = b[13]
		if len(b) >= 16 {
			p.Window = binary.BigEndian.Uint16(b[14:16])
		}
		p.Length = length(l4len - off)
		if len(b) > off {
			p.Payload = b[off:]
		}
		return nil
	case ProtoUDP:
		if len(b) < 8 {
			return errUDPHeader
		}
		p.SrcPort = binary.BigEndian.Uint16(b[0:2])
		p.DstPort = binary.BigEndian.Uint16(b[2:4])
		p.Length = length(l4len - 8)
		p.Payload = b[8:]
		return nil
	case ProtoICMP, ProtoICMPv6:
		if (p.Proto == ProtoICMPv6) != v6 {
			return errICMPWrongIP
		}
		if len(b) < 4 {
			return errICMPHeader
		}
		p.ICMPType, p.ICMPCode = b[0], b[1]
		p.Length = length(l4len - 8)
		if len(b) < 8 {
			return nil
		}
		p.Payload = b[8:]
		return p.icmp(b, v6)
	}
	return errIPProto
}

// icmp decodes the message body of an ICMP packet of at least 8 bytes.
func (p *Packet) icmp(b []byte, v6 bool) error {
	t := p.ICMPType
	if !v6 {
		switch t {
		case 0, 8, 13, 14: // echo reply/request, timestamp request/reply
			p.ICMPID = binary.BigEndian.Uint16(b[4:6])
			p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
			if (t == 13 || t == 14) && len(b) >= 20 {
				p.Originate = binary.BigEndian.Uint32(b[8:12])
				p.Receive = binary.BigEndian.Uint32(b[12:16])
				p.Transmit = binary.BigEndian.Uint32(b[16:20])
			}
		case 3, 4, 5, 11, 12:
			p.HasQuote = p.Quote.decode(b[8:], false)
		}
		return nil
	}
	switch t {
	case 128, 129: // echo request, reply
		p.ICMPID = binary.BigEndian.Uint16(b[4:6])
		p.ICMPSeq = binary.BigEndian.Uint16(b[6:8])
	case 1, 2, 3, 4:
		p.HasQuote = p.Quote.decode(b[8:], true)
	case 135, 136: // neighbour solicitation, advertisement
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

// decode reads the header an ICMP error quotes. It reports false when the
// quote is not an IP header of the error's version. Fields the quote is
// too short for stay zero.
func (q *Quote) decode(b []byte, v6 bool) bool {
	var rest []byte
	if !v6 {
		if len(b) < 20 || b[0]>>4 != 4 {
			return false
		}
		ihl := int(b[0]&0x0f) * 4
		if ihl < 20 || len(b) < ihl {
			return false
		}
		q.Src = netip.AddrFrom4([4]byte(b[12:16]))
		q.Dst = netip.AddrFrom4([4]byte(b[16:20]))
		q.Proto = b[9]
		q.IPID = binary.BigEndian.Uint16(b[4:6])
		if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
			return true // a later fragment has no transport header
		}
		rest = b[ihl:]
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			return false
		}
		q.Src = netip.AddrFrom16([16]byte(b[8:24]))
		q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		q.FlowLabel = binary.BigEndian.Uint32(b[0:4]) & 0xfffff
		next, r, _, _, err := skipExt(b[6], b[40:])
		if err != nil {
			return true // extension headers cut off: protocol unknown
		}
		q.Proto, rest = next, r
	}
	q.TransportLen = length(len(rest))
	switch q.Proto {
	case ProtoTCP, ProtoUDP:
		if len(rest) >= 4 {
			q.SrcPort = binary.BigEndian.Uint16(rest[0:2])
			q.DstPort = binary.BigEndian.Uint16(rest[2:4])
		}
		if q.Proto == ProtoTCP && len(rest) >= 8 {
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

package packet

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// TCP flags.
const (
	FlagFIN = 0x01
	FlagSYN = 0x02
	FlagRST = 0x04
	FlagPSH = 0x08
	FlagACK = 0x10
)

// Decode errors. They are sentinel values so that decoding never allocates.
var (
	ErrTruncated   = errors.New("packet: truncated")
	ErrVersion     = errors.New("packet: not IPv4 or IPv6")
	ErrFragment    = errors.New("packet: fragment")
	ErrUnsupported = errors.New("packet: not TCP or an ICMP error quoting TCP")
)

// Kind says what a decoded Reply is.
type Kind uint8

// Kinds of replies.
const (
	KindNone Kind = iota
	KindTCP       // a TCP segment: Reply's TCP fields are set
	KindICMP      // an ICMP or ICMPv6 error quoting a TCP segment: the ICMP and Quote fields are set
)

// Quote is the start of the packet an ICMP error quotes: the probe we sent.
type Quote struct {
	Src, Dst         netip.Addr
	SrcPort, DstPort uint16
	Seq              uint32
}

// Reply is a decoded reply packet. Decode fills it in place; reuse one
// Reply per receive loop.
type Reply struct {
	Kind     Kind
	Src, Dst netip.Addr // addresses of the reply itself
	TTL      uint8      // TTL or hop limit of the reply

	// TCP (KindTCP).
	SrcPort, DstPort uint16
	Seq, Ack         uint32
	Flags            uint8

	// ICMP (KindICMP): Type and Code as on the wire, ICMPv4 or ICMPv6 as
	// V6 says.
	V6        bool
	ICMPType  uint8
	ICMPCode  uint8
	ICMPQuote Quote
}

// Decode parses the network-layer packet b into r. It accepts IPv4 and
// IPv6 (without extension headers) carrying TCP, or an ICMP/ICMPv6
// destination-unreachable, time-exceeded or parameter-problem error that
// quotes a TCP segment. It never allocates and never keeps b.
func (r *Reply) Decode(b []byte) error {
	*r = Reply{}
	if len(b) < 1 {
		return ErrTruncated
	}
	var proto uint8
	var l4 []byte
	switch b[0] >> 4 {
	case 4:
		src, dst, p, payload, ttl, err := ip4(b)
		if err != nil {
			return err
		}
		r.Src, r.Dst, r.TTL, proto, l4 = src, dst, ttl, p, payload
	case 6:
		src, dst, p, payload, hl, err := ip6(b)
		if err != nil {
			return err
		}
		r.Src, r.Dst, r.TTL, proto, l4, r.V6 = src, dst, hl, p, payload, true
	default:
		return ErrVersion
	}
	switch {
	case proto == 6:
		if len(l4) < 20 {
			return ErrTruncated
		}
		if l4[12]>>4 < 5 {
			return ErrUnsupported
		}
		r.Kind = KindTCP
		r.SrcPort = binary.BigEndian.Uint16(l4[0:])
		r.DstPort = binary.BigEndian.Uint16(l4[2:])
		r.Seq = binary.BigEndian.Uint32(l4[4:])
		r.Ack = binary.BigEndian.Uint32(l4[8:])
		r.Flags = l4[13]
		return nil
	case proto == 1 && !r.V6:
		if len(l4) < 8 {
			return ErrTruncated
		}
		switch l4[0] {
		case 3, 11, 12: // destination unreachable, time exceeded, parameter problem
		default:
			return ErrUnsupported
		}
		r.ICMPType, r.ICMPCode = l4[0], l4[1]
		q := l4[8:]
		if len(q) < 1 || q[0]>>4 != 4 {
			return ErrUnsupported
		}
		src, dst, p, qp, _, err := ip4(q)
		if err != nil && err != ErrFragment {
			return err
		}
		return r.quote(src, dst, p, qp)
	case proto == 58 && r.V6:
		if len(l4) < 8 {
			return ErrTruncated
		}
		switch l4[0] {
		case 1, 3, 4: // destination unreachable, time exceeded, parameter problem
		default:
			return ErrUnsupported
		}
		r.ICMPType, r.ICMPCode = l4[0], l4[1]
		q := l4[8:]
		if len(q) < 1 || q[0]>>4 != 6 {
			return ErrUnsupported
		}
		src, dst, p, qp, _, err := ip6(q)
		if err != nil {
			return err
		}
		return r.quote(src, dst, p, qp)
	}
	return ErrUnsupported
}

func (r *Reply) quote(src, dst netip.Addr, proto uint8, tcp []byte) error {
	if proto != 6 {
		return ErrUnsupported
	}
	if len(tcp) < 8 {
		return ErrTruncated
	}
	r.Kind = KindICMP
	r.ICMPQuote = Quote{
		Src:     src,
		Dst:     dst,
		SrcPort: binary.BigEndian.Uint16(tcp[0:]),
		DstPort: binary.BigEndian.Uint16(tcp[2:]),
		Seq:     binary.BigEndian.Uint32(tcp[4:]),
	}
	return nil
}

// ip4 parses an IPv4 header. The payload is cut at the total length when
// the buffer is longer (link padding) and left short when it is shorter
// (capture truncation, ICMP quotes). ErrFragment reports a non-first
// fragment or a first fragment; the other results are still set.
func ip4(b []byte) (src, dst netip.Addr, proto uint8, payload []byte, ttl uint8, err error) {
	if len(b) < 20 {
		return src, dst, 0, nil, 0, ErrTruncated
	}
	ihl := int(b[0]&0x0f) * 4
	if ihl < 20 || len(b) < ihl {
		return src, dst, 0, nil, 0, ErrTruncated
	}
	total := int(binary.BigEndian.Uint16(b[2:]))
	if total < ihl {
		return src, dst, 0, nil, 0, ErrTruncated
	}
	if total < len(b) {
		b = b[:total]
	}
	src = netip.AddrFrom4([4]byte(b[12:16]))
	dst = netip.AddrFrom4([4]byte(b[16:20]))
	if frag := binary.BigEndian.Uint16(b[6:]); frag&0x3fff != 0 {
		if frag&0x1fff != 0 {
			return src, dst, b[9], nil, b[8], ErrFragment
		}
		err = ErrFragment
	}
	return src, dst, b[9], b[ihl:], b[8], err
}

// ip6 parses an IPv6 header without extension headers.
func ip6(b []byte) (src, dst netip.Addr, proto uint8, payload []byte, hl uint8, err error) {
	if len(b) < 40 {
		return src, dst, 0, nil, 0, ErrTruncated
	}
	if n := 40 + int(binary.BigEndian.Uint16(b[4:])); n < len(b) {
		b = b[:n]
	}
	src = netip.AddrFrom16([16]byte(b[8:24]))
	dst = netip.AddrFrom16([16]byte(b[24:40]))
	return src, dst, b[6], b[40:], b[7], nil
}

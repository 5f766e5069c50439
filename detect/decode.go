package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/target"
)

// LinkType is the link-layer framing of captured packets. The values are
// the LINKTYPE_ numbers used in pcap and pcapng files.
type LinkType uint16

// Link types the Decoder understands.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet  LinkType = 1   // Ethernet II, with optional 802.1Q/802.1ad tags
	LinkRaw       LinkType = 101 // raw IP; version taken from the first nibble
	LinkLinuxSLL  LinkType = 113 // Linux "cooked" capture, version 1
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux "cooked" capture, version 2
)

// String returns a short name such as "ethernet".
func (l LinkType) String() string {
	switch l {
	case LinkNull:
		return "null"
	case LinkEthernet:
		return "ethernet"
	case LinkRaw:
		return "raw"
	case LinkLinuxSLL:
		return "linux-sll"
	case LinkIPv4:
		return "ipv4"
	case LinkIPv6:
		return "ipv6"
	case LinkLinuxSLL2:
		return "linux-sll2"
	}
	return fmt.Sprintf("linktype(%d)", uint16(l))
}

// Supported reports whether the Decoder can decode packets of this link type.
func (l LinkType) Supported() bool {
	switch l {
	case LinkNull, LinkEthernet, LinkRaw, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2:
		return true
	}
	return false
}

// Packet-level errors. Decode returns errors that wrap exactly one of these,
// so callers can count them with errors.Is and keep going: neither is fatal
// for a stream of packets.
var (
	// ErrMalformed marks a packet that is truncated or inconsistent.
	ErrMalformed = errors.New("malformed packet")
	// ErrNotObserved marks a well-formed packet that carries nothing scan
	// detection looks at: ARP, other IP protocols, non-first fragments.
	ErrNotObserved = errors.New("packet not observed")
)

// Decode errors are preallocated so that Decode never allocates.
var (
	errShort       = fmt.Errorf("%w: truncated link header", ErrMalformed)
	errIPVersion   = fmt.Errorf("%w: bad ip version", ErrMalformed)
	errIPv4Header  = fmt.Errorf("%w: truncated ipv4 header", ErrMalformed)
	errIPv4IHL     = fmt.Errorf("%w: ipv4 header length below 20", ErrMalformed)
	errIPv6Header  = fmt.Errorf("%w: truncated ipv6 header", ErrMalformed)
	errIPv6Ext     = fmt.Errorf("%w: truncated ipv6 extension header", ErrMalformed)
	errTCPHeader   = fmt.Errorf("%w: truncated tcp header", ErrMalformed)
	errTCPOffset   = fmt.Errorf("%w: tcp data offset below 5", ErrMalformed)
	errUDPHeader   = fmt.Errorf("%w: truncated udp header", ErrMalformed)
	errICMPHeader  = fmt.Errorf("%w: truncated icmp header", ErrMalformed)
	errLinkType    = fmt.Errorf("%w: unsupported link type", ErrNotObserved)
	errEtherType   = fmt.Errorf("%w: not ip", ErrNotObserved)
	errFragment    = fmt.Errorf("%w: non-first fragment", ErrNotObserved)
	errIPProto     = fmt.Errorf("%w: ip protocol not tcp, udp or icmp", ErrNotObserved)
	errExtTooDeep  = fmt.Errorf("%w: too many ipv6 extension headers", ErrMalformed)
	errNoNextHdr   = fmt.Errorf("%w: ipv6 no next header", ErrNotObserved)
	errICMPWrongIP = fmt.Errorf("%w: icmp version does not match ip version", ErrMalformed)
)

// Ethernet types and IP protocol numbers the decoder looks at.
const (
	etherIPv4  = 0x0800
	etherIPv6  = 0x86dd
	etherVLAN  = 0x8100
	etherQinQ  = 0x88a8
	etherQinQ2 = 0x9100

	protoHopByHop = 0
	protoICMP     = 1
	protoTCP      = 6
	protoUDP      = 17
	protoRouting  = 43
	protoFragment = 44
	protoAH       = 51
	protoICMPv6   = 58
	protoNoNext   = 59
	protoDstOpts  = 60

	maxExtHeaders = 8
	maxVLANTags   = 4
)

// A Decoder turns captured packets of one link type into Observations. Set
// Link: its zero value is LinkNull, as in pcap files. A Decoder holds no state between packets and
// never allocates, so one Decoder may serve any number of packets; it is safe
// for concurrent use.
type Decoder struct {
	Link LinkType
}

// Decode fills o from the packet in data, captured at ts. o is reset first,
// so stale fields never leak from an earlier packet. On error o holds no
// meaningful values; the error wraps ErrMalformed or ErrNotObserved.
//
// Decode reads the link header, IPv4 or IPv6 (skipping hop-by-hop, routing,
// destination-options, fragment and AH extension headers; of a fragmented
// packet only the first fragment is observed), then TCP, UDP, ICMP or
// ICMPv6. For ICMP errors the quoted IP and transport header is decoded into
// o.Quoted. Payload is computed from the IP length fields, so packets cut by a
// capture snap length still report their original payload size.
func (d Decoder) Decode(data []byte, ts time.Time, o *Observation) error {
	*o = Observation{Time: ts}
	ip, err := d.network(data)
	if err != nil {
		return err
	}
	return decodeIP(ip, o)
}

// network strips the link header and returns the IP packet.
func (d Decoder) network(b []byte) ([]byte, error) {
	switch d.Link {
	case LinkEthernet:
		if len(b) < 14 {
			return nil, errShort
		}
		et := binary.BigEndian.Uint16(b[12:14])
		b = b[14:]
		for i := 0; i < maxVLANTags && (et == etherVLAN || et == etherQinQ || et == etherQinQ2); i++ {
			if len(b) < 4 {
				return nil, errShort
			}
			et = binary.BigEndian.Uint16(b[2:4])
			b = b[4:]
		}
		return etherPayload(et, b)
	case LinkLinuxSLL:
		if len(b) < 16 {
			return nil, errShort
		}
		return etherPayload(binary.BigEndian.Uint16(b[14:16]), b[16:])
	case LinkLinuxSLL2:
		if len(b) < 20 {
			return nil, errShort
		}
		return etherPayload(binary.BigEndian.Uint16(b[0:2]), b[20:])
	case LinkNull:
		if len(b) < 4 {
			return nil, errShort
		}
		// The family is in the capturing host's byte order; accept either.
		fam := binary.LittleEndian.Uint32(b[:4])
		if fam > 0xffff {
			fam = binary.BigEndian.Uint32(b[:4])
		}
		switch fam {
		case 2: // AF_INET everywhere
			return ipVersion(b[4:], 4)
		case 10, 24, 28, 30: // AF_INET6 on Linux, NetBSD/OpenBSD, FreeBSD, Darwin
			return ipVersion(b[4:], 6)
		}
		return nil, errEtherType
	case LinkRaw:
		return b, nil
	case LinkIPv4:
		return ipVersion(b, 4)
	case LinkIPv6:
		return ipVersion(b, 6)
	}
	return nil, errLinkType
}

func etherPayload(et uint16, b []byte) ([]byte, error) {
	switch et {
	case etherIPv4:
		return ipVersion(b, 4)
	case etherIPv6:
		return ipVersion(b, 6)
	}
	return nil, errEtherType
}

func ipVersion(b []byte, v byte) ([]byte, error) {
	if len(b) == 0 {
		if v == 4 {
			return nil, errIPv4Header
		}
		return nil, errIPv6Header
	}
	if b[0]>>4 != v {
		return nil, errIPVersion
	}
	return b, nil
}

func decodeIP(b []byte, o *Observation) error {
	if len(b) == 0 {
		return errIPv4Header
	}
	switch b[0] >> 4 {
	case 4:
		return decodeIPv4(b, o)
	case 6:
		return decodeIPv6(b, o)
	}
	return errIPVersion
}

func decodeIPv4(b []byte, o *Observation) error {
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
	o.Src = netip.AddrFrom4([4]byte(b[12:16]))
	o.Dst = netip.AddrFrom4([4]byte(b[16:20]))
	o.TTL = b[8]
	if binary.BigEndian.Uint16(b[6:8])&0x1fff != 0 {
		return errFragment
	}
	// Payload length from the header, not from the capture: a snap length
	// may have cut the packet. A bogus total length falls back to capture.
	l4len := int(binary.BigEndian.Uint16(b[2:4])) - ihl
	if l4len < 0 {
		l4len = len(b) - ihl
	}
	return decodeTransport(b[9], b[ihl:], l4len, false, o)
}

func decodeIPv6(b []byte, o *Observation) error {
	if len(b) < 40 {
		return errIPv6Header
	}
	o.Src = netip.AddrFrom16([16]byte(b[8:24]))
	o.Dst = netip.AddrFrom16([16]byte(b[24:40]))
	o.TTL = b[7]
	l4len := int(binary.BigEndian.Uint16(b[4:6]))
	if l4len == 0 { // jumbogram or zero: trust the capture
		l4len = len(b) - 40
	}
	next, rest, n, err := skipIPv6Ext(b[6], b[40:])
	if err != nil {
		return err
	}
	return decodeTransport(next, rest, l4len-n, true, o)
}

// skipIPv6Ext walks extension headers, returning the upper-layer protocol,
// its bytes, and how many bytes the extension headers took.
func skipIPv6Ext(next byte, b []byte) (byte, []byte, int, error) {
	n := 0
	for i := 0; ; i++ {
		var hl int
		switch next {
		case protoHopByHop, protoRouting, protoDstOpts:
			if len(b) < 8 {
				return 0, nil, 0, errIPv6Ext
			}
			hl = (int(b[1]) + 1) * 8
		case protoAH:
			if len(b) < 8 {
				return 0, nil, 0, errIPv6Ext
			}
			hl = (int(b[1]) + 2) * 4
		case protoFragment:
			if len(b) < 8 {
				return 0, nil, 0, errIPv6Ext
			}
			if binary.BigEndian.Uint16(b[2:4])&^7 != 0 {
				return 0, nil, 0, errFragment
			}
			hl = 8
		case protoNoNext:
			return 0, nil, 0, errNoNextHdr
		default:
			return next, b, n, nil
		}
		if i >= maxExtHeaders {
			return 0, nil, 0, errExtTooDeep
		}
		if len(b) < hl {
			return 0, nil, 0, errIPv6Ext
		}
		next = b[0]
		b = b[hl:]
		n += hl
	}
}

func decodeTransport(proto byte, b []byte, l4len int, v6 bool, o *Observation) error {
	switch proto {
	case protoTCP:
		if len(b) < 14 {
			return errTCPHeader
		}
		off := int(b[12]>>4) * 4
		if off < 20 {
			return errTCPOffset
		}
		o.Proto = target.TCP
		o.SrcPort = binary.BigEndian.Uint16(b[0:2])
		o.DstPort = binary.BigEndian.Uint16(b[2:4])
		o.Flags = TCPFlags(b[13])
		o.Payload = payload(l4len - off)
		return nil
	case protoUDP:
		if len(b) < 8 {
			return errUDPHeader
		}
		o.Proto = target.UDP
		o.SrcPort = binary.BigEndian.Uint16(b[0:2])
		o.DstPort = binary.BigEndian.Uint16(b[2:4])
		o.Payload = payload(l4len - 8)
		return nil
	case protoICMP, protoICMPv6:
		if (proto == protoICMPv6) != v6 {
			return errICMPWrongIP
		}
		if len(b) < 4 {
			return errICMPHeader
		}
		o.Proto = target.ICMP
		if v6 {
			o.Proto = target.ICMPv6
		}
		o.ICMPType, o.ICMPCode = b[0], b[1]
		o.Payload = payload(l4len - 8)
		if isICMPError(o.ICMPType, v6) && len(b) >= 8 {
			o.HasQuote = decodeQuote(b[8:], v6, &o.Quoted)
		}
		return nil
	}
	return errIPProto
}

func payload(n int) uint16 {
	if n < 0 {
		return 0
	}
	if n > 0xffff {
		return 0xffff
	}
	return uint16(n)
}

// isICMPError reports whether an ICMP type quotes the offending packet.
func isICMPError(t uint8, v6 bool) bool {
	if v6 {
		return t >= 1 && t <= 4 // unreachable, too big, time exceeded, parameter problem
	}
	switch t {
	case 3, 4, 5, 11, 12: // unreachable, source quench, redirect, time exceeded, parameter problem
		return true
	}
	return false
}

// decodeQuote reads the header an ICMP error quotes. Ports need the first
// four transport bytes; a quote too short for them still yields addresses.
func decodeQuote(b []byte, v6 bool, q *Quote) bool {
	var proto byte
	var rest []byte
	ports := true
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
		proto, rest = b[9], b[ihl:]
		// A later fragment has no transport header to read.
		ports = binary.BigEndian.Uint16(b[6:8])&0x1fff == 0
	} else {
		if len(b) < 40 || b[0]>>4 != 6 {
			return false
		}
		q.Src = netip.AddrFrom16([16]byte(b[8:24]))
		q.Dst = netip.AddrFrom16([16]byte(b[24:40]))
		next, r, _, err := skipIPv6Ext(b[6], b[40:])
		if err != nil {
			// Extension headers cut off by the quote: protocol unknown.
			return true
		}
		proto, rest = next, r
	}
	q.Proto = target.Protocol(proto)
	if !ports || (proto != protoTCP && proto != protoUDP) {
		return true
	}
	if len(rest) >= 4 {
		q.SrcPort = binary.BigEndian.Uint16(rest[0:2])
		q.DstPort = binary.BigEndian.Uint16(rest[2:4])
	}
	return true
}

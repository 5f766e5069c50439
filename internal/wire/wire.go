// Package wire is portsense's one packet decoder. Scanning and detecting
// read the same wire: probers decode replies with it, detect decodes
// captured traffic with it, so a packet kind (TCP, UDP, ICMP echo, ARP,
// NDP …) is parsed, tested and fuzzed in one place.
//
// A Packet is a reusable value: Decode fills it in place from a buffer
// without allocating and never keeps the buffer beyond the Payload slice.
// Its Header (addresses, ports, flags, ICMP type, lengths) is what every
// packet has; Header.Decode fills only that, by the same code, for
// readers such as detect that need no more (a Header is a third of a
// Packet), and Header.DecodeQuote reads an ICMP error's quoted flow on
// demand.
// The decoder reads
//
//   - link headers: Ethernet (with up to four 802.1Q/802.1ad tags), Linux
//     cooked captures (SLL, SLL2), BSD loopback (null), raw IP;
//   - ARP (Ethernet/IPv4);
//   - IPv4 and IPv6, walking IPv6 extension headers (hop-by-hop, routing,
//     destination options, fragment, AH); of a fragmented packet only the
//     first fragment is decoded;
//   - TCP, UDP, ICMP and ICMPv6, including echo and timestamp messages,
//     neighbour solicitations and advertisements (NDP), and the IP and
//     transport header an ICMP error quotes.
//
// ClassifyICMP is the one ICMP classification table: which messages are
// errors that quote a probe, and what each says about the probed port or
// host, in nmap's reason names.
//
// Addresses are netip values exactly as on the wire: an IPv4-mapped
// address (::ffff:a.b.c.d) in an IPv6 header stays a 16-byte IPv6 address
// and is never unmapped, so that IPv6 traffic can never be counted against
// the IPv4 host a.b.c.d.
package wire

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/portsense/portsense/target"
)

// LinkType is the link-layer framing of a buffer. The values are the
// LINKTYPE_ numbers of pcap and pcapng files.
type LinkType uint16

// Link types Decode understands.
const (
	LinkNull      LinkType = 0   // BSD loopback: 4-byte host-order address family
	LinkEthernet  LinkType = 1   // Ethernet II, with optional 802.1Q/802.1ad tags
	LinkRaw       LinkType = 101 // raw IP; version from the first nibble
	LinkLinuxSLL  LinkType = 113 // Linux cooked capture, version 1
	LinkIPv4      LinkType = 228 // raw IPv4
	LinkIPv6      LinkType = 229 // raw IPv6
	LinkLinuxSLL2 LinkType = 276 // Linux cooked capture, version 2
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

// Supported reports whether Decode understands the link type.
func (l LinkType) Supported() bool {
	switch l {
	case LinkNull, LinkEthernet, LinkRaw, LinkLinuxSLL, LinkIPv4, LinkIPv6, LinkLinuxSLL2:
		return true
	}
	return false
}

// EtherTypes (host byte order).
const (
	EtherTypeIPv4  uint16 = 0x0800
	EtherTypeARP   uint16 = 0x0806
	EtherTypeVLAN  uint16 = 0x8100
	EtherTypeIPv6  uint16 = 0x86dd
	EtherTypeQinQ  uint16 = 0x88a8
	EtherTypeQinQ2 uint16 = 0x9100
)

// IP protocol numbers.
const (
	ProtoHopByHop uint8 = 0
	ProtoICMP     uint8 = 1
	ProtoTCP      uint8 = 6
	ProtoUDP      uint8 = 17
	ProtoRouting  uint8 = 43
	ProtoFragment uint8 = 44
	ProtoAH       uint8 = 51
	ProtoICMPv6   uint8 = 58
	ProtoNoNext   uint8 = 59
	ProtoDstOpts  uint8 = 60
)

// TCP flag bits, as in the header.
const (
	FlagFIN uint8 = 1 << iota
	FlagSYN
	FlagRST
	FlagPSH
	FlagACK
	FlagURG
	FlagECE
	FlagCWR
)

// NDP advertisement flags (Packet.NDFlags).
const (
	NDRouter    uint8 = 0x80
	NDSolicited uint8 = 0x40
	NDOverride  uint8 = 0x20
)

// ARP operations (Packet.ARPOp).
const (
	ARPRequest uint16 = 1
	ARPReply   uint16 = 2
)

// Decode errors wrap exactly one of these two, so a reader of a packet
// stream can count them with errors.Is and go on: neither is fatal.
var (
	// ErrMalformed marks a truncated or inconsistent packet.
	ErrMalformed = errors.New("malformed packet")
	// ErrNotObserved marks a well-formed packet of a kind the decoder
	// does not look into: other EtherTypes or IP protocols, non-first
	// fragments.
	ErrNotObserved = errors.New("packet not observed")
)

// The errors are preallocated so that Decode never allocates.
var (
	errLinkShort   = fmt.Errorf("%w: truncated link header", ErrMalformed)
	errIPVersion   = fmt.Errorf("%w: bad ip version", ErrMalformed)
	errIPv4Header  = fmt.Errorf("%w: truncated ipv4 header", ErrMalformed)
	errIPv4IHL     = fmt.Errorf("%w: ipv4 header length below 20", ErrMalformed)
	errIPv4Len     = fmt.Errorf("%w: ipv4 total length below header length", ErrMalformed)
	errIPv6Header  = fmt.Errorf("%w: truncated ipv6 header", ErrMalformed)
	errIPv6Ext     = fmt.Errorf("%w: truncated ipv6 extension header", ErrMalformed)
	errExtTooDeep  = fmt.Errorf("%w: too many ipv6 extension headers", ErrMalformed)
	errTCPHeader   = fmt.Errorf("%w: truncated tcp header", ErrMalformed)
	errTCPOffset   = fmt.Errorf("%w: tcp data offset below 5", ErrMalformed)
	errUDPHeader   = fmt.Errorf("%w: truncated udp header", ErrMalformed)
	errICMPHeader  = fmt.Errorf("%w: truncated icmp header", ErrMalformed)
	errICMPWrongIP = fmt.Errorf("%w: icmp version does not match ip version", ErrMalformed)
	errNDP         = fmt.Errorf("%w: truncated neighbour discovery message", ErrMalformed)
	errARP         = fmt.Errorf("%w: truncated arp packet", ErrMalformed)
	errLinkType    = fmt.Errorf("%w: unsupported link type", ErrNotObserved)
	errEtherType   = fmt.Errorf("%w: ethertype not ip or arp", ErrNotObserved)
	errARPKind     = fmt.Errorf("%w: arp not ethernet/ipv4", ErrNotObserved)
	errFragment    = fmt.Errorf("%w: non-first fragment", ErrNotObserved)
	errNoNextHdr   = fmt.Errorf("%w: ipv6 no next header", ErrNotObserved)
	errIPProto     = fmt.Errorf("%w: ip protocol not tcp, udp, icmp or icmpv6", ErrNotObserved)
)

const (
	maxExtHeaders = 8
	maxVLANTags   = 4
)

// Header is what every IP packet carries: the network header and the
// transport header's common fields. Header.Decode fills only these, for
// readers such as detect that need no more; Packet embeds a Header and
// adds the rarely set fields. Decode writes every field on success and
// clears the Header on error, so no field leaks from an earlier packet.
type Header struct {
	// Src and Dst are the IP addresses; for ARP the sender and target
	// protocol addresses.
	Src, Dst netip.Addr
	// Payload is the transport payload present in the buffer (after the
	// TCP/UDP header; for ICMP after the first 8 bytes, which for an error
	// is the quoted packet), cut at the IP length. It aliases the buffer.
	Payload []byte
	// EtherType names the network layer: EtherTypeIPv4, EtherTypeIPv6 or
	// EtherTypeARP.
	EtherType uint16
	// Length is the transport payload length the IP header announces
	// (after the TCP/UDP header or the 8-byte ICMP header), even when a
	// snap length cut the buffer. It saturates at 65535.
	Length uint16
	// SrcPort and DstPort are the TCP or UDP ports.
	SrcPort, DstPort uint16
	// TTL is the IPv4 TTL or IPv6 hop limit.
	TTL uint8
	// Proto is the upper-layer protocol after any IPv6 extension headers:
	// ProtoTCP, ProtoUDP, ProtoICMP or ProtoICMPv6.
	Proto uint8
	// Fragment is true for the first fragment of a fragmented packet.
	Fragment bool
	// Flags are the TCP flags (FlagSYN …).
	Flags uint8
	// ICMPType and ICMPCode are set for ICMP and ICMPv6.
	ICMPType, ICMPCode uint8

	// The field order is part of the decode speed. A reader that copies
	// two adjacent fields into two adjacent fields gets one wider load
	// from the compiler, and a load that spans two narrower stores cannot
	// be forwarded from the store buffer: it stalls for about as long as
	// a whole TCP decode. So fields the decoder writes with separate
	// stores are not neighbours here when they are in detect.Observation
	// (Proto and Flags), and those that are (SrcPort and DstPort,
	// ICMPType and ICMPCode) are always written with one store.
}

// Packet is one decoded packet: the Header and what rarer packets carry
// (ICMP echo and timestamp fields, the quote of an ICMP error, ARP and
// NDP). No field leaks from an earlier Decode: fields of layers the
// packet does not have are zero, and on error the whole Packet is.
// (Decode overwrites what Decode wrote; a field set by hand to a rarely
// used value may survive the next Decode.)
type Packet struct {
	Header

	// Seq, Ack and Window are the TCP sequence number, acknowledgement
	// number and window.
	Seq, Ack uint32
	Window   uint16

	// ICMPID and ICMPSeq are set for echo and timestamp messages.
	ICMPID, ICMPSeq uint16
	// Originate, Receive and Transmit are the ICMP timestamp fields
	// (milliseconds since midnight UT) of timestamp messages.
	Originate, Receive, Transmit uint32
	// Quote is the IP and transport header an ICMP error quotes (the
	// probe that provoked it); valid when HasQuote.
	Quote    Quote
	HasQuote bool

	// ARPOp is the ARP operation (ARPRequest, ARPReply).
	ARPOp uint16
	// LinkAddr is a hardware address the packet carries: the ARP sender
	// hardware address, or the NDP source/target link-layer address
	// option; valid when HasLinkAddr.
	LinkAddr    [6]byte
	HasLinkAddr bool
	// NDTarget is the target address of a neighbour solicitation or
	// advertisement; NDFlags the advertisement's R, S and O bits. A
	// receiver must ignore NDP messages whose hop limit (TTL) is not 255
	// (RFC 4861); Decode reports them as they are.
	NDTarget netip.Addr
	NDFlags  uint8

	// rare says which of the rarely set fields (ICMP ID and timestamps,
	// quote, ARP, NDP) the last Decode wrote, so that the next one clears
	// only those: most packets are TCP or UDP, and clearing the whole
	// Packet would cost more than decoding it.
	rare uint8
}

// Groups of rarely set fields (Packet.rare).
const (
	rareICMP  uint8 = 1 << iota // ICMPID, ICMPSeq, Originate, Receive, Transmit
	rareQuote                   // Quote, HasQuote
	rareLink                    // ARPOp, LinkAddr, HasLinkAddr, NDTarget, NDFlags
)

// reset clears p.
func (p *Packet) reset() { *p = Packet{} }

// clearRare clears the rare fields the last Decode set.
func (p *Packet) clearRare() {
	r := p.rare
	if r&rareICMP != 0 {
		p.ICMPID, p.ICMPSeq = 0, 0
		p.Originate, p.Receive, p.Transmit = 0, 0, 0
	}
	if r&rareQuote != 0 {
		p.Quote, p.HasQuote = Quote{}, false
	}
	if r&rareLink != 0 {
		p.ARPOp, p.LinkAddr, p.HasLinkAddr = 0, [6]byte{}, false
		p.NDTarget, p.NDFlags = netip.Addr{}, 0
	}
	p.rare = 0
}

// QuoteFlow names the flow of the packet an ICMP error quotes. Its
// fields are those of detect.Quote, in the same order and of the same
// types, so that detect decodes a quote straight into its Observation
// (DecodeQuote through a pointer conversion), with no copy.
type QuoteFlow struct {
	Src, Dst netip.Addr
	// SrcPort and DstPort are the quoted TCP or UDP ports (4 bytes); 0
	// for other protocols.
	SrcPort, DstPort uint16
	// Proto is the quoted upper-layer protocol; 0 when IPv6 extension
	// headers cut off by the quote hide it.
	Proto target.Protocol
}

// Quote is the start of the packet an ICMP error quotes.
type Quote struct {
	QuoteFlow
	// TransportLen is how many bytes of the quoted transport header are
	// present (0 for a quoted non-first fragment); fields beyond it are 0.
	TransportLen uint16
	// Seq is the quoted TCP sequence number (8 bytes).
	Seq uint32
	// ICMPType, ICMPCode, ICMPID and ICMPSeq describe a quoted ICMP
	// message such as an echo request (8 bytes for ID and Seq).
	ICMPType, ICMPCode uint8
	ICMPID, ICMPSeq    uint16
	// IPID is the quoted IPv4 identification; FlowLabel the quoted IPv6
	// flow label. Raw UDP probes carry their cookie there, since UDP has
	// no sequence number.
	IPID      uint16
	FlowLabel uint32
}

// HasPorts reports whether the quote holds TCP or UDP ports.
func (q *Quote) HasPorts() bool {
	return (q.Proto == target.TCP || q.Proto == target.UDP) && q.TransportLen >= 4
}

// IsIPv4 reports whether h is an IPv4 packet.
func (h *Header) IsIPv4() bool { return h.EtherType == EtherTypeIPv4 }

// IsIPv6 reports whether h is an IPv6 packet.
func (h *Header) IsIPv6() bool { return h.EtherType == EtherTypeIPv6 }

// IsARP reports whether h is an ARP packet.
func (h *Header) IsARP() bool { return h.EtherType == EtherTypeARP }

// ICMPClass classifies an ICMP or ICMPv6 packet with ClassifyICMP; for
// other packets its Kind is ICMPUnknown.
func (h *Header) ICMPClass() ICMPClass {
	switch h.Proto {
	case ProtoICMP:
		return ClassifyICMP(false, h.ICMPType, h.ICMPCode)
	case ProtoICMPv6:
		return ClassifyICMP(true, h.ICMPType, h.ICMPCode)
	}
	return ICMPClass{}
}

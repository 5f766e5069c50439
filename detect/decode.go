package detect

import (
	"fmt"
	"time"

	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

// LinkType is the link-layer framing of captured packets. The values are
// the LINKTYPE_ numbers used in pcap and pcapng files.
type LinkType = wire.LinkType

// Link types the Decoder understands.
const (
	LinkNull      = wire.LinkNull      // BSD loopback: 4-byte host-order address family
	LinkEthernet  = wire.LinkEthernet  // Ethernet II, with optional 802.1Q/802.1ad tags
	LinkRaw       = wire.LinkRaw       // raw IP; version taken from the first nibble
	LinkLinuxSLL  = wire.LinkLinuxSLL  // Linux "cooked" capture, version 1
	LinkIPv4      = wire.LinkIPv4      // raw IPv4
	LinkIPv6      = wire.LinkIPv6      // raw IPv6
	LinkLinuxSLL2 = wire.LinkLinuxSLL2 // Linux "cooked" capture, version 2
)

// Packet-level errors. Decode returns errors that wrap exactly one of these,
// so callers can count them with errors.Is and keep going: neither is fatal
// for a stream of packets. They are internal/wire's, the one decoder's.
var (
	// ErrMalformed marks a packet that is truncated or inconsistent.
	ErrMalformed = wire.ErrMalformed
	// ErrNotObserved marks a well-formed packet that carries nothing scan
	// detection looks at: ARP, other IP protocols, non-first fragments.
	ErrNotObserved = wire.ErrNotObserved
)

var errARP = fmt.Errorf("%w: arp", ErrNotObserved)

// A Decoder turns captured packets of one link type into Observations. It
// is a thin view over internal/wire, the decoder the probers use too. The
// zero Decoder decodes raw IP packets (LinkRaw: IPv4 or IPv6 by the first
// nibble), which is what live capture delivers; files name their link
// type, so use NewDecoder for them (BSD loopback, LinkNull, is never a
// silent default). A Decoder holds no state between packets and never
// allocates, so one Decoder may serve any number of packets; it is safe
// for concurrent use.
type Decoder struct {
	link LinkType
	set  bool
}

// NewDecoder returns a Decoder for packets of link type l. It fails for
// link types the decoder does not know.
func NewDecoder(l LinkType) (Decoder, error) {
	if !l.Supported() {
		return Decoder{}, fmt.Errorf("detect: link type %v not supported", l)
	}
	return Decoder{link: l, set: true}, nil
}

// Link returns the link type d decodes: LinkRaw for the zero Decoder.
func (d Decoder) Link() LinkType {
	if !d.set {
		return LinkRaw
	}
	return d.link
}

// Decode fills o from the packet in data, captured at ts. o is reset first,
// so stale fields never leak from an earlier packet. On error o holds only
// ts; the error wraps ErrMalformed or ErrNotObserved.
//
// Decode reads the link header, IPv4 or IPv6 (skipping hop-by-hop, routing,
// destination-options, fragment and AH extension headers; of a fragmented
// packet only the first fragment is observed), then TCP, UDP, ICMP or
// ICMPv6. For ICMP errors the quoted IP and transport header is decoded into
// o.Quoted. Payload is computed from the IP length fields, so packets cut by a
// capture snap length still report their original payload size. An
// IPv4-mapped address (::ffff:a.b.c.d) in an IPv6 header stays an IPv6
// address: IPv6 traffic is never counted against the IPv4 host a.b.c.d.
func (d Decoder) Decode(data []byte, ts time.Time, o *Observation) error {
	// A wire.Header, not a wire.Packet: detect reads no ICMP echo, ARP or
	// NDP fields, and a Header is a third of a Packet to clear.
	var h wire.Header
	if err := h.Decode(d.Link(), data); err != nil || h.EtherType == wire.EtherTypeARP {
		return fail(err, ts, o)
	}
	// observe's body, written out: observe is too large to inline and
	// the call was a tenth of the decode. Keep the two the same.
	o.Time = ts
	o.Src, o.Dst = h.Src, h.Dst
	o.SrcPort, o.DstPort = h.SrcPort, h.DstPort
	o.Proto, o.Flags, o.TTL = target.Protocol(h.Proto), TCPFlags(h.Flags), h.TTL
	o.ICMPType, o.ICMPCode = h.ICMPType, h.ICMPCode
	o.Payload = h.Length
	if h.Proto == wire.ProtoICMP || h.Proto == wire.ProtoICMPv6 {
		// wire.QuoteFlow is Quote field for field: no copy.
		o.HasQuote = h.DecodeQuote((*wire.QuoteFlow)(&o.Quoted))
	} else {
		o.Quoted, o.HasQuote = Quote{}, false
	}
	return nil
}

// observe fills o from a decoded IP packet's header, writing every field
// once (field by field: a composite literal would be copied with loads
// wider than the stores that built it, which stall). Decode has the same
// body written out.
func observe(h *wire.Header, ts time.Time, o *Observation) {
	o.Time = ts
	o.Src, o.Dst = h.Src, h.Dst
	// wire zeroes the fields of layers a packet lacks: copy them as they
	// are (ports and flags are 0 for ICMP, ICMP fields 0 for TCP and UDP).
	o.SrcPort, o.DstPort = h.SrcPort, h.DstPort
	o.Proto, o.Flags, o.TTL = target.Protocol(h.Proto), TCPFlags(h.Flags), h.TTL
	o.ICMPType, o.ICMPCode = h.ICMPType, h.ICMPCode
	o.Payload = h.Length
	if h.Proto == wire.ProtoICMP || h.Proto == wire.ProtoICMPv6 {
		// wire.QuoteFlow is Quote field for field: no copy.
		o.HasQuote = h.DecodeQuote((*wire.QuoteFlow)(&o.Quoted))
	} else {
		o.Quoted, o.HasQuote = Quote{}, false
	}
}

// observeHeader is Decode for a header the caller decoded: err is what
// decoding it returned.
func observeHeader(err error, h *wire.Header, ts time.Time, o *Observation) error {
	if err != nil || h.EtherType == wire.EtherTypeARP {
		return fail(err, ts, o)
	}
	observe(h, ts, o)
	return nil
}

// fail is observe for a packet that is not observed.
func fail(err error, ts time.Time, o *Observation) error {
	if err == nil {
		err = errARP
	}
	*o = Observation{Time: ts}
	return err
}

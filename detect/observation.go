package detect

import (
	"net/netip"
	"time"

	"github.com/portsense/portsense/target"
)

// TCPFlags holds the flag bits of a TCP header, in header order.
type TCPFlags uint8

// TCP flag bits.
const (
	FIN TCPFlags = 1 << iota
	SYN
	RST
	PSH
	ACK
	URG
	ECE
	CWR
)

// Observation is one packet reduced to what scan detection needs. It is a
// plain value: decoders fill one in place without allocating.
type Observation struct {
	Time     time.Time       // packet timestamp from the capture
	Src, Dst netip.Addr      // IP source and destination
	SrcPort  uint16          // TCP/UDP source port; ICMP: 0
	DstPort  uint16          // TCP/UDP destination port; ICMP: 0
	Proto    target.Protocol // TCP, UDP, ICMP or ICMPv6
	Flags    TCPFlags        // TCP flags; 0 for other protocols
	TTL      uint8           // IPv4 TTL or IPv6 hop limit
	ICMPType uint8           // ICMP/ICMPv6 type when Proto is ICMP or ICMPv6
	ICMPCode uint8           // ICMP/ICMPv6 code
	Payload  uint16          // transport payload length in bytes
	// Quoted is the header an ICMP error quotes: the packet that provoked
	// it. Valid only when HasQuote is true.
	Quoted   Quote
	HasQuote bool
}

// Quote is the IP and transport header quoted inside an ICMP error.
// (Its fields are internal/wire's QuoteFlow, in the same order: Decode
// has the decoder write them in place.)
type Quote struct {
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Proto    target.Protocol
}

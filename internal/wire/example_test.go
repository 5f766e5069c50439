package wire_test

import (
	"fmt"
	"net/netip"

	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
)

// ip4Header and ip6Header prefix a payload with a minimal IP header.
func ip4Header(n int, src, dst netip.Addr) []byte {
	h := []byte{0x45, 0, byte((20 + n) >> 8), byte(20 + n), 0, 0, 0, 0, 64, 1, 0, 0}
	s, d := src.As4(), dst.As4()
	return append(append(h, s[:]...), d[:]...)
}

func ip6Header(n int, src, dst netip.Addr) []byte {
	h := []byte{0x60, 0, 0, 0, byte(n >> 8), byte(n), 58, 64}
	s, d := src.As16(), dst.As16()
	return append(append(h, s[:]...), d[:]...)
}

func ExamplePacket_DecodeIP() {
	// A SYN probe as a SOCK_DGRAM packet socket would read it.
	s, _ := packet.NewSYN(netip.MustParseAddr("198.18.0.1"), 64, 1024, 1460)
	var b [packet.SYNLen6]byte
	n := s.Build(b[:], netip.MustParseAddr("198.18.0.2"), 61440, 443, 0xfeedface)

	var p wire.Packet // reuse one per receive loop: Decode never allocates
	if err := p.DecodeIP(b[:n]); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(p.Src, "->", p.Dst, p.DstPort, p.Flags == wire.FlagSYN, p.Seq == 0xfeedface)
	// Output: 198.18.0.1 -> 198.18.0.2 443 true true
}

func ExamplePacket_DecodeNetwork() {
	// Who has 198.18.0.2? An ARP request as a SOCK_DGRAM socket reads it;
	// the EtherType comes from the socket address.
	var b [packet.ARPLen]byte
	n := packet.ARPRequest(b[:], [6]byte{2, 0, 0, 0, 0, 1}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2"))
	var p wire.Packet
	err := p.DecodeNetwork(wire.EtherTypeARP, b[:n])
	fmt.Println(err, p.ARPOp == wire.ARPRequest, p.Src, p.Dst, p.LinkAddr)
	// Output: <nil> true 198.18.0.1 198.18.0.2 [2 0 0 0 0 1]
}

func ExampleHeader_DecodeQuote() {
	// A port unreachable from 198.18.0.2 quoting a UDP probe to its port 53.
	src, dst := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("198.18.0.2")
	quoted := ip4Header(8, src, dst)
	quoted[9] = wire.ProtoUDP
	quoted = append(quoted, 0xf0, 0x00, 0, 53, 0, 8, 0, 0) // UDP 61440 -> 53
	icmp := append([]byte{3, 3, 0, 0, 0, 0, 0, 0}, quoted...)
	b := append(ip4Header(len(icmp), dst, src), icmp...)

	var h wire.Header // addresses, ports, ICMP type: all a detector reads
	if err := h.Decode(wire.LinkIPv4, b); err != nil {
		fmt.Println(err)
		return
	}
	var f wire.QuoteFlow
	ok := h.DecodeQuote(&f)
	fmt.Println(h.Src, "->", h.Dst, h.ICMPClass().Reason, ok, f.Src, "->", f.Dst, f.Proto, f.SrcPort, f.DstPort)
	// Output: 198.18.0.2 -> 198.18.0.1 port-unreach true 198.18.0.1 -> 198.18.0.2 udp 61440 53
}

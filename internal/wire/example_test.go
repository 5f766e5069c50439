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

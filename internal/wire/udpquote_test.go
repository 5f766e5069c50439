package wire_test

import (
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

// An ICMP error quoting a raw UDP probe gives back the ports and the
// cookie the probe carried in its IPv4 ID or IPv6 flow label.
func TestDecodeUDPQuote(t *testing.T) {
	var q [200]byte
	n := packet.UDP(q[:], v4a, v4b, 61457, 161, 64, 0x1234beef, []byte("x"))
	b := serialize(t, ip4(layers.IPProtocolICMPv4, v4b, v4a),
		&layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 3)}, gopacket.Payload(q[:n]))
	var p wire.Packet
	if err := p.DecodeIP(b); err != nil {
		t.Fatal(err)
	}
	want := wire.Quote{QuoteFlow: wire.QuoteFlow{Src: v4a, Dst: v4b, Proto: target.UDP, SrcPort: 61457, DstPort: 161}, TransportLen: 9, IPID: 0xbeef}
	if !p.HasQuote || p.Quote != want || p.ICMPClass().Reason.String() != "port-unreach" {
		t.Fatalf("v4 quote %+v, class %v", p.Quote, p.ICMPClass())
	}
	n = packet.UDP(q[:], v6a, v6b, 61458, 53, 64, 0x1234beef, nil)
	b = serialize(t, ip6(layers.IPProtocolICMPv6, v6b, v6a),
		&layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 4)}, gopacket.Payload(append(make([]byte, 4), q[:n]...)))
	if err := p.DecodeIP(b); err != nil {
		t.Fatal(err)
	}
	want = wire.Quote{QuoteFlow: wire.QuoteFlow{Src: v6a, Dst: v6b, Proto: target.UDP, SrcPort: 61458, DstPort: 53}, TransportLen: 8, FlowLabel: 0x4beef}
	if !p.HasQuote || p.Quote != want || p.ICMPClass().Reason.String() != "port-unreach" {
		t.Fatalf("v6 quote %+v, class %v", p.Quote, p.ICMPClass())
	}
}

package packet

import (
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/wire"
)

func TestARPReply(t *testing.T) {
	var b [64]byte
	hw := [6]byte{2, 0, 0, 0, 0, 1}
	asker := [6]byte{2, 0, 0, 0, 0, 2}
	n := ARPReply(b[:], hw, src4, asker, dst4)
	if n != ARPLen {
		t.Fatalf("length %d", n)
	}
	var p wire.Packet
	if err := p.DecodeNetwork(wire.EtherTypeARP, b[:n]); err != nil {
		t.Fatal(err)
	}
	if p.ARPOp != wire.ARPReply || p.Src != src4 || p.Dst != dst4 || p.LinkAddr != hw {
		t.Errorf("decoded op %d %v -> %v hw % x", p.ARPOp, p.Src, p.Dst, p.LinkAddr)
	}
	g := gopacket.NewPacket(b[:n], layers.LayerTypeARP, gopacket.Default)
	a, ok := g.Layer(layers.LayerTypeARP).(*layers.ARP)
	if !ok || a.Operation != 2 || string(a.DstHwAddress) != string(asker[:]) {
		t.Errorf("gopacket: %v", g)
	}
	if ARPReply(b[:27], hw, src4, asker, dst4) != 0 || ARPReply(b[:], hw, src6, asker, dst4) != 0 {
		t.Error("built into a short buffer or for IPv6")
	}
}

func TestNeighborAdvertisement(t *testing.T) {
	var b [128]byte
	hw := [6]byte{2, 0, 0, 0, 0, 1}
	n := NeighborAdvertisement(b[:], hw, src6, dst6, src6, NASolicited|NAOverride)
	if n != NeighborAdvLen {
		t.Fatalf("length %d", n)
	}
	var p wire.Packet
	if err := p.DecodeIP(b[:n]); err != nil {
		t.Fatal(err)
	}
	if p.ICMPClass().Kind != wire.ICMPNeighborAdvert || p.TTL != 255 || p.NDTarget != src6 ||
		!p.HasLinkAddr || p.LinkAddr != hw || p.NDFlags&(wire.NDSolicited|wire.NDOverride) != wire.NDSolicited|wire.NDOverride {
		t.Errorf("decoded %+v", p)
	}
	g := gopacket.NewPacket(b[:n], layers.LayerTypeIPv6, gopacket.Default)
	ic, ok := g.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if !ok {
		t.Fatalf("gopacket: %v", g)
	}
	checkICMPv6Sum(t, g, ic)
	if NeighborAdvertisement(b[:71], hw, src6, dst6, src6, 0) != 0 || NeighborAdvertisement(b[:], hw, src4, dst6, src6, 0) != 0 {
		t.Error("built into a short buffer or for IPv4")
	}
}

func TestDADSolicitation(t *testing.T) {
	var b [128]byte
	n := DADSolicitation(b[:], dst6)
	if n != DADSolLen {
		t.Fatalf("length %d", n)
	}
	var p wire.Packet
	if err := p.DecodeIP(b[:n]); err != nil {
		t.Fatal(err)
	}
	if p.ICMPClass().Kind != wire.ICMPNeighborSolicit || !p.Src.IsUnspecified() || p.Dst != SolicitedNode(dst6) ||
		p.NDTarget != dst6 || p.HasLinkAddr || p.TTL != 255 {
		t.Errorf("decoded %+v", p)
	}
	g := gopacket.NewPacket(b[:n], layers.LayerTypeIPv6, gopacket.Default)
	ic, ok := g.Layer(layers.LayerTypeICMPv6).(*layers.ICMPv6)
	if !ok {
		t.Fatalf("gopacket: %v", g)
	}
	checkICMPv6Sum(t, g, ic)
	if DADSolicitation(b[:63], dst6) != 0 || DADSolicitation(b[:], dst4) != 0 {
		t.Error("built into a short buffer or for IPv4")
	}
}

func TestNeighborAllocs(t *testing.T) {
	var b [128]byte
	hw := [6]byte{2, 0, 0, 0, 0, 1}
	if n := testing.AllocsPerRun(100, func() {
		ARPReply(b[:], hw, src4, hw, dst4)
		NeighborAdvertisement(b[:], hw, src6, dst6, src6, NAOverride)
		DADSolicitation(b[:], dst6)
	}); n != 0 {
		t.Fatalf("builders allocate %v times", n)
	}
}

func ExampleARPReply() {
	var b [ARPLen]byte
	me := [6]byte{2, 0, 0, 0, 0, 1}
	asker := [6]byte{2, 0, 0, 0, 0, 2}
	n := ARPReply(b[:], me, netip.MustParseAddr("198.18.1.40"), asker, netip.MustParseAddr("198.18.1.2"))
	var p wire.Packet
	err := p.DecodeNetwork(wire.EtherTypeARP, b[:n])
	fmt.Println(n, err, p.ARPOp == wire.ARPReply, p.Src, "is at", fmt.Sprintf("% x", p.LinkAddr))
	// Output: 28 <nil> true 198.18.1.40 is at 02 00 00 00 00 01
}

// checkICMPv6Sum has gopacket recompute the ICMPv6 checksum and compares.
func checkICMPv6Sum(t *testing.T, g gopacket.Packet, ic *layers.ICMPv6) {
	t.Helper()
	want := ic.Checksum
	if err := ic.SetNetworkLayerForChecksum(g.NetworkLayer()); err != nil {
		t.Fatal(err)
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true}, ic, gopacket.Payload(ic.Payload)); err != nil {
		t.Fatal(err)
	}
	if ic.Checksum != want {
		t.Errorf("checksum %#04x, gopacket computes %#04x", want, ic.Checksum)
	}
}

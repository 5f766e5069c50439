package packet

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

func TestUDPBuild(t *testing.T) {
	for _, c := range []struct{ src, dst string }{{"198.18.0.1", "198.18.0.2"}, {"2001:db8::1", "2001:db8::2"}} {
		src, dst := netip.MustParseAddr(c.src), netip.MustParseAddr(c.dst)
		var b [1500]byte
		n := UDP(b[:], src, dst, 61456, 7777, 64, 0xabcdef12, []byte("hello"))
		if n == 0 {
			t.Fatalf("%s: UDP wrote nothing", c.src)
		}
		first := layers.LayerTypeIPv4
		if src.Is6() {
			first = layers.LayerTypeIPv6
		}
		pkt := gopacket.NewPacket(b[:n], first, gopacket.Default)
		if el := pkt.ErrorLayer(); el != nil {
			t.Fatalf("%s: %v", c.src, el.Error())
		}
		udp, _ := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if udp == nil || udp.SrcPort != 61456 || udp.DstPort != 7777 || string(udp.Payload) != "hello" {
			t.Fatalf("%s: udp %+v", c.src, udp)
		}
		// Verify the checksum by recomputing it with gopacket.
		want := udp.Checksum
		if ip4, ok := pkt.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			if ip4.Id != 0xef12 || ip4.TTL != 64 {
				t.Errorf("ipv4 id %#x ttl %d", ip4.Id, ip4.TTL)
			}
			if err := udp.SetNetworkLayerForChecksum(ip4); err != nil {
				t.Fatal(err)
			}
		}
		if ip6, ok := pkt.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			if ip6.FlowLabel != 0xdef12 || ip6.HopLimit != 64 {
				t.Errorf("ipv6 flow %#x hops %d", ip6.FlowLabel, ip6.HopLimit)
			}
			if err := udp.SetNetworkLayerForChecksum(ip6); err != nil {
				t.Fatal(err)
			}
		}
		buf := gopacket.NewSerializeBuffer()
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{ComputeChecksums: true, FixLengths: true}, udp, gopacket.Payload(udp.Payload)); err != nil {
			t.Fatal(err)
		}
		if got := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); got.Checksum != want {
			t.Fatal("layer changed")
		}
		re := gopacket.NewPacket(buf.Bytes(), layers.LayerTypeUDP, gopacket.Default).Layer(layers.LayerTypeUDP).(*layers.UDP)
		if re.Checksum != want {
			t.Errorf("%s: checksum %#x, gopacket computes %#x", c.src, want, re.Checksum)
		}
	}
}

func TestUDPBuildRejects(t *testing.T) {
	var b [100]byte
	v4, v6 := netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("2001:db8::1")
	if UDP(b[:], v4, v6, 1, 2, 64, 0, nil) != 0 {
		t.Error("mixed families accepted")
	}
	if UDP(b[:], v4, v4, 1, 2, 64, 0, make([]byte, 80)) != 0 {
		t.Error("short buffer accepted")
	}
	if UDP(b[:], netip.Addr{}, v4, 1, 2, 64, 0, nil) != 0 {
		t.Error("invalid source accepted")
	}
}

func TestUDPBuildAllocs(t *testing.T) {
	var b [1500]byte
	src, dst := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::2")
	p := []byte("payload")
	if n := testing.AllocsPerRun(100, func() { UDP(b[:], src, dst, 1, 2, 64, 3, p) }); n != 0 {
		t.Errorf("UDP allocates %v times", n)
	}
}

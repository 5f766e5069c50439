package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"

	"github.com/portsense/portsense/internal/wire"
)

var (
	src4 = netip.MustParseAddr("198.18.1.1")
	dst4 = netip.MustParseAddr("198.18.1.2")
	src6 = netip.MustParseAddr("2001:db8:1::1")
	dst6 = netip.MustParseAddr("2001:db8:1::2")
)

// pseudoSum verifies a TCP checksum over the pseudo-header the slow way.
func tcpChecksumOK(t *testing.T, src, dst netip.Addr, tcp []byte) {
	t.Helper()
	var s uint32
	s = sum(s, src.AsSlice())
	s = sum(s, dst.AsSlice())
	s += 6 + uint32(len(tcp))
	s = sum(s, tcp)
	if fold(s) != 0 {
		t.Fatalf("bad TCP checksum %#04x", binary.BigEndian.Uint16(tcp[16:]))
	}
}

func TestSYNBuild(t *testing.T) {
	for _, c := range []struct{ src, dst netip.Addr }{{src4, dst4}, {src6, dst6}} {
		s, err := NewSYN(c.src, 64, 1024, 1460)
		if err != nil {
			t.Fatal(err)
		}
		var buf [128]byte
		for _, seq := range []uint32{0, 1, 0xffffffff, 0xdeadbeef} {
			n := s.Build(buf[:], c.dst, 61440, 443, seq)
			if n != s.Len() {
				t.Fatalf("Build = %d, want %d", n, s.Len())
			}
			pkt := buf[:n]
			var first gopacket.LayerType = layers.LayerTypeIPv4
			ipLen := 20
			if c.src.Is6() {
				first, ipLen = layers.LayerTypeIPv6, 40
			} else if Checksum(pkt[:20]) != 0 {
				t.Fatal("bad IPv4 header checksum")
			}
			tcpChecksumOK(t, c.src, c.dst, pkt[ipLen:])
			p := gopacket.NewPacket(pkt, first, gopacket.Default)
			tl, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if !ok {
				t.Fatalf("gopacket found no TCP layer: %v", p)
			}
			if !tl.SYN || tl.ACK || tl.RST || tl.SrcPort != 61440 || tl.DstPort != 443 || tl.Seq != seq || tl.Window != 1024 {
				t.Fatalf("wrong TCP header: %+v", tl)
			}
			if len(tl.Options) != 1 || tl.Options[0].OptionType != layers.TCPOptionKindMSS {
				t.Fatalf("options %v", tl.Options)
			}
			nl := p.NetworkLayer().NetworkFlow()
			if nl.Src().String() != c.src.String() || nl.Dst().String() != c.dst.String() {
				t.Fatalf("flow %v", nl)
			}
		}
	}
}

func TestSYNBuildRejects(t *testing.T) {
	s, _ := NewSYN(src4, 64, 1024, 1460)
	var buf [128]byte
	if s.Build(buf[:], dst6, 1, 2, 3) != 0 {
		t.Error("v4 template built a v6 destination")
	}
	if s.Build(buf[:10], dst4, 1, 2, 3) != 0 {
		t.Error("Build wrote into a short buffer")
	}
	if _, err := NewSYN(netip.Addr{}, 64, 1, 1); err == nil {
		t.Error("NewSYN accepted an invalid address")
	}
}

func TestSYNBuildAllocs(t *testing.T) {
	s, _ := NewSYN(src6, 64, 1024, 1460)
	var buf [128]byte
	if n := testing.AllocsPerRun(100, func() { s.Build(buf[:], dst6, 1, 2, 3) }); n != 0 {
		t.Fatalf("Build allocates %v times", n)
	}
}

func BenchmarkSYNBuild(b *testing.B) {
	for _, c := range []struct {
		name     string
		src, dst netip.Addr
	}{{"v4", src4, dst4}, {"v6", src6, dst6}} {
		s, _ := NewSYN(c.src, 64, 1024, 1460)
		var buf [128]byte
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s.Build(buf[:], c.dst, 61440, uint16(i), uint32(i))
			}
		})
	}
}

func ExampleSYN_Build() {
	s, _ := NewSYN(netip.MustParseAddr("198.18.1.1"), 64, 1024, 1460)
	var buf [SYNLen6]byte
	n := s.Build(buf[:], netip.MustParseAddr("198.18.1.2"), 61440, 80, 0x01020304)
	var p wire.Packet
	err := p.DecodeIP(buf[:n])
	fmt.Println(n, err, p.Src, p.Dst, p.DstPort, p.Seq == 0x01020304, p.Flags == wire.FlagSYN)
	// Output: 44 <nil> 198.18.1.1 198.18.1.2 80 true true
}

func TestDiscoveryBuildRejects(t *testing.T) {
	var b [128]byte
	hw := [6]byte{2, 0, 0, 0, 0, 1}
	if ARPRequest(b[:10], hw, src4, dst4) != 0 || ARPRequest(b[:], hw, src6, dst6) != 0 {
		t.Error("ARPRequest built into a short buffer or for IPv6")
	}
	if NeighborSolicitation(b[:20], hw, src6, dst6) != 0 || NeighborSolicitation(b[:], hw, src4, dst4) != 0 {
		t.Error("NeighborSolicitation built into a short buffer or for IPv4")
	}
	if ICMPEcho(b[:], src4, dst6, 1, 1, 64, nil) != 0 || ICMPEcho(b[:30], src6, dst6, 1, 1, 64, nil) != 0 {
		t.Error("ICMPEcho built for mixed families or into a short buffer")
	}
	if n := ICMPEcho(b[:], src4, dst4, 1, 1, 64, []byte("abcd")); n != ICMPEchoLen4+4 || Checksum(b[:20]) != 0 || Checksum(b[20:n]) != 0 {
		t.Errorf("echo of %d bytes with bad checksums", n)
	}
	if got := SolicitedNode(netip.MustParseAddr("2001:db8::1:2:3")); got != netip.MustParseAddr("ff02::1:ff02:3") {
		t.Errorf("solicited-node group %v", got)
	}
	if got := MulticastHW(netip.MustParseAddr("ff02::1:ff02:3")); got != [6]byte{0x33, 0x33, 0xff, 0x02, 0, 3} {
		t.Errorf("multicast hw % x", got)
	}
}

func TestDiscoveryAllocs(t *testing.T) {
	var b [128]byte
	hw := [6]byte{2, 0, 0, 0, 0, 1}
	if n := testing.AllocsPerRun(100, func() {
		ARPRequest(b[:], hw, src4, dst4)
		NeighborSolicitation(b[:], hw, src6, dst6)
		ICMPEcho(b[:], src6, dst6, 1, 2, 64, nil)
	}); n != 0 {
		t.Fatalf("builders allocate %v times", n)
	}
}

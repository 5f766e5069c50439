package packet

import (
	"net/netip"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// l4ChecksumOK checks a transport checksum over the pseudo-header.
func l4ChecksumOK(t *testing.T, src, dst netip.Addr, proto uint8, seg []byte) {
	t.Helper()
	s := sum(sum(0, src.AsSlice()), dst.AsSlice()) + uint32(proto) + uint32(len(seg))
	if fold(sum(s, seg)) != 0 {
		t.Fatalf("bad protocol %d checksum", proto)
	}
}

func decode(t *testing.T, pkt []byte, v6 bool) gopacket.Packet {
	t.Helper()
	first := gopacket.LayerType(layers.LayerTypeIPv4)
	if v6 {
		first = layers.LayerTypeIPv6
	} else if Checksum(pkt[:20]) != 0 {
		t.Fatal("bad IPv4 header checksum")
	}
	p := gopacket.NewPacket(pkt, first, gopacket.Default)
	if el := p.ErrorLayer(); el != nil {
		t.Fatalf("gopacket: %v", el.Error())
	}
	return p
}

func TestTCPPing(t *testing.T) {
	for _, c := range []struct{ src, dst netip.Addr }{{src4, dst4}, {src6, dst6}} {
		var buf [128]byte
		for _, flags := range []uint8{flagSYN, flagACK} {
			n := TCPPing(buf[:], c.src, c.dst, 61472, 443, 0xdeadbeef, 0x01020304, flags, 1024, 64)
			hl := 20
			if c.src.Is6() {
				hl = 40
			}
			if n != hl+20 {
				t.Fatalf("TCPPing = %d", n)
			}
			l4ChecksumOK(t, c.src, c.dst, 6, buf[hl:n])
			p := decode(t, buf[:n], c.src.Is6())
			tl := p.Layer(layers.LayerTypeTCP).(*layers.TCP)
			if tl.SYN != (flags == flagSYN) || tl.ACK != (flags == flagACK) || tl.SrcPort != 61472 || tl.DstPort != 443 ||
				tl.Seq != 0xdeadbeef || tl.Ack != 0x01020304 || tl.Window != 1024 {
				t.Fatalf("wrong TCP header %+v", tl)
			}
			f := p.NetworkLayer().NetworkFlow()
			if f.Src().String() != c.src.String() || f.Dst().String() != c.dst.String() {
				t.Fatalf("flow %v", f)
			}
		}
	}
	var buf [128]byte
	if TCPPing(buf[:], src4, dst6, 1, 2, 3, 4, flagSYN, 1, 64) != 0 || TCPPing(buf[:10], src4, dst4, 1, 2, 3, 4, flagSYN, 1, 64) != 0 {
		t.Error("TCPPing built a packet of mixed families or into a short buffer")
	}
}

func TestUDPPing(t *testing.T) {
	for _, c := range []struct{ src, dst netip.Addr }{{src4, dst4}, {src6, dst6}} {
		var buf [128]byte
		for _, payload := range [][]byte{nil, []byte("abc")} {
			n := UDPPing(buf[:], c.src, c.dst, 61504, 40125, 64, 7, payload)
			hl := 20
			if c.src.Is6() {
				hl = 40
			}
			if n != hl+8+len(payload) {
				t.Fatalf("UDPPing = %d", n)
			}
			l4ChecksumOK(t, c.src, c.dst, 17, buf[hl:n])
			p := decode(t, buf[:n], c.src.Is6())
			u := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
			if u.SrcPort != 61504 || u.DstPort != 40125 || int(u.Length) != 8+len(payload) || string(u.Payload) != string(payload) {
				t.Fatalf("wrong UDP header %+v", u)
			}
		}
	}
}

func TestICMPTimestamp(t *testing.T) {
	var buf [64]byte
	n := ICMPTimestamp(buf[:], src4, dst4, 0x1234, 0x5670, 64, 3600000)
	if n != ICMPTimestampLen {
		t.Fatalf("ICMPTimestamp = %d", n)
	}
	if Checksum(buf[20:n]) != 0 {
		t.Fatal("bad ICMP checksum")
	}
	p := decode(t, buf[:n], false)
	ic := p.Layer(layers.LayerTypeICMPv4).(*layers.ICMPv4)
	if ic.TypeCode.Type() != layers.ICMPv4TypeTimestampRequest || ic.Id != 0x1234 || ic.Seq != 0x5670 {
		t.Fatalf("wrong ICMP header %+v", ic)
	}
	if ICMPTimestamp(buf[:], src6, dst6, 1, 2, 64, 0) != 0 {
		t.Error("ICMPTimestamp built an IPv6 packet")
	}
}

func TestPingBuildAllocs(t *testing.T) {
	var buf [128]byte
	if n := testing.AllocsPerRun(100, func() {
		TCPPing(buf[:], src4, dst4, 1, 2, 3, 4, flagACK, 1024, 64)
		UDPPing(buf[:], src6, dst6, 1, 2, 64, 3, nil)
		ICMPTimestamp(buf[:], src4, dst4, 1, 2, 64, 3)
	}); n != 0 {
		t.Errorf("%v allocations per build, want 0", n)
	}
}

// TCP flags (internal/wire has the exported ones; packet does not import it).
const (
	flagSYN = 0x02
	flagACK = 0x10
)

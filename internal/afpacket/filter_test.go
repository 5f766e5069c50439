package afpacket

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"unsafe"

	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/packet"
)

func run(t *testing.T, prog []bpf.RawInstruction, pkt []byte) bool {
	t.Helper()
	ins, ok := bpf.Disassemble(prog)
	if !ok {
		t.Fatal("filter does not disassemble")
	}
	vm, err := bpf.NewVM(ins)
	if err != nil {
		t.Fatal(err)
	}
	n, err := vm.Run(pkt)
	if err != nil {
		t.Fatal(err)
	}
	return n > 0
}

func syn(t *testing.T, src, dst string, sport, dport uint16) []byte {
	s, err := packet.NewSYN(netip.MustParseAddr(src), 64, 1024, 1460)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	return b[:s.Build(b, netip.MustParseAddr(dst), sport, dport, 1)]
}

func icmp4(typ uint8, quote []byte) []byte {
	b := []byte{0x45, 0, 0, byte(20 + 8 + 28), 0, 0, 0, 0, 64, 1, 0, 0, 198, 18, 1, 2, 198, 18, 1, 1}
	b = append(b, typ, 0, 0, 0, 0, 0, 0, 0)
	return append(b, quote[:28]...)
}

func icmp6(typ uint8, quote []byte) []byte {
	b := make([]byte, 40, 40+8+48)
	b[0], b[5], b[6], b[7] = 0x60, 56, 58, 64
	b = append(b, typ, 0, 0, 0, 0, 0, 0, 0)
	return append(b, quote[:48]...)
}

func TestReplyFilter(t *testing.T) {
	prog, err := ReplyFilter(6, 61440, 61455)
	if err != nil {
		t.Fatal(err)
	}
	// Replies are modelled as packets to our port range; the SYN builder
	// makes correct headers for either direction.
	in4 := syn(t, "198.18.1.2", "198.18.1.1", 80, 61440)
	in6 := syn(t, "2001:db8:1::2", "2001:db8:1::1", 80, 61455)
	out4 := syn(t, "198.18.1.1", "198.18.1.2", 61440, 80)
	out6 := syn(t, "2001:db8:1::1", "2001:db8:1::2", 61441, 443)
	frag := append([]byte(nil), in4...)
	frag[7] = 1
	udp := append([]byte(nil), in4...)
	udp[9] = 17
	udpQuote := append([]byte(nil), out4...)
	udpQuote[9] = 17
	for name, c := range map[string]struct {
		pkt  []byte
		want bool
	}{
		"tcp4 in range":   {in4, true},
		"tcp6 in range":   {in6, true},
		"tcp4 below":      {syn(t, "198.18.1.2", "198.18.1.1", 80, 61439), false},
		"tcp6 above":      {syn(t, "2001:db8:1::2", "2001:db8:1::1", 80, 61456), false},
		"fragment":        {frag, false},
		"udp":             {udp, false},
		"icmp unreach":    {icmp4(3, out4), true},
		"icmp time":       {icmp4(11, out4), true},
		"icmp echo":       {icmp4(0, out4), false},
		"icmp quotes udp": {icmp4(3, udpQuote), false},
		"icmp6 unreach":   {icmp6(1, out6), true},
		"icmp6 too big":   {icmp6(2, out6), false},
		"icmp6 echo":      {icmp6(128, out6), false},
		"arp":             {[]byte{0, 1, 8, 0, 6, 4, 0, 1}, false},
	} {
		if got := run(t, prog, c.pkt); got != c.want {
			t.Errorf("%s: admitted %v, want %v", name, got, c.want)
		}
	}
	if _, err := ReplyFilter(6, 2, 1); err == nil {
		t.Error("ReplyFilter accepted an inverted range")
	}
}

func TestReplyFilterUDP(t *testing.T) {
	prog, err := ReplyFilter(17, 40000, 40010)
	if err != nil {
		t.Fatal(err)
	}
	in := syn(t, "198.18.1.2", "198.18.1.1", 53, 40005)
	in[9] = 17 // the same ports, as UDP
	tcp := syn(t, "198.18.1.2", "198.18.1.1", 53, 40005)
	out := syn(t, "198.18.1.1", "198.18.1.2", 40005, 53)
	out[9] = 17
	if !run(t, prog, in) || run(t, prog, tcp) || !run(t, prog, icmp4(3, out)) {
		t.Error("udp reply filter admits the wrong packets")
	}
	if _, err := ReplyFilter(1, 1, 2); err == nil {
		t.Error("ReplyFilter accepted protocol 1")
	}
}

func TestCaptureFilter(t *testing.T) {
	prog, err := CaptureFilter(96)
	if err != nil {
		t.Fatal(err)
	}
	// x/net/bpf's VM lacks SKF_AD_PROTOCOL: the lab test of detect's
	// live source runs this filter in the kernel. Here: it disassembles
	// to what we assembled, and bad snap lengths fail.
	ins, ok := bpf.Disassemble(prog)
	if !ok || len(ins) < 10 {
		t.Fatalf("program %v", ins)
	}
	if ret, ok := ins[len(ins)-1].(bpf.RetConstant); !ok || ret.Val != 96 {
		t.Fatalf("last instruction %v, want ret #96", ins[len(ins)-1])
	}
	if _, err := CaptureFilter(0); err == nil {
		t.Error("snap length 0 accepted")
	}
}

func TestAssemblerLabels(t *testing.T) {
	var a Assembler
	a.Op(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.JumpEq(1, "one", "")
	a.Jump("zero")
	a.Label("one")
	a.Op(bpf.RetConstant{Val: 1})
	a.Label("zero")
	a.Op(bpf.RetConstant{Val: 0})
	prog, err := a.Assemble()
	if err != nil {
		t.Fatal(err)
	}
	if !run(t, prog, []byte{1}) || run(t, prog, []byte{2}) {
		t.Error("labels resolved to the wrong instructions")
	}
	for name, build := range map[string]func(a *Assembler){
		"undefined": func(a *Assembler) { a.JumpEq(1, "nowhere", ""); a.Op(bpf.RetConstant{}) },
		"backward":  func(a *Assembler) { a.Label("back"); a.Op(bpf.RetConstant{}); a.JumpEq(1, "back", "") },
		"twice":     func(a *Assembler) { a.Label("x"); a.Label("x"); a.Op(bpf.RetConstant{}) },
	} {
		var a Assembler
		build(&a)
		if _, err := a.Assemble(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// The protocol number reaches the kernel in network byte order on every
// machine: on this one (the bytes in memory are big-endian, which a
// v<<8|v>>8 swap gets wrong on s390x) and on both byte orders by model.
func TestHtonsByteOrder(t *testing.T) {
	v := htons(0x0806)
	mem := *(*[2]byte)(unsafe.Pointer(&v))
	if mem != [2]byte{0x08, 0x06} {
		t.Fatalf("htons(0x0806) is % x in memory, want 08 06", mem)
	}
	if got := htonsFor(binary.LittleEndian, 0x0003); got != 0x0300 {
		t.Errorf("little-endian htons(3) = %#04x, want 0x0300", got)
	}
	if got := htonsFor(binary.BigEndian, 0x0003); got != 0x0003 {
		t.Errorf("big-endian htons(3) = %#04x, want 0x0003", got)
	}
}

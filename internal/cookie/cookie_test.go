package cookie

import (
	"fmt"
	"net/netip"
	"testing"
)

func refKey() Key {
	var k Key
	for i := range k {
		k[i] = byte(i)
	}
	return k
}

// Vectors from the SipHash paper's reference implementation: key 00..0f,
// message 00..len-1.
func TestSum64Vectors(t *testing.T) {
	h := New(refKey())
	msg := make([]byte, 64)
	for i := range msg {
		msg[i] = byte(i)
	}
	cases := []struct {
		n    int
		want uint64
	}{
		{0, 0x726fdb47dd0e0e31},
		{1, 0x74f839c593dc67fd},
		{7, 0xab0200f58b01d137},
		{8, 0x93f5f5799a932462},
		{15, 0xa129ca6149be45e5},
		{63, 0x958a324ceb064572},
	}
	for _, c := range cases {
		if got := h.Sum64(msg[:c.n]); got != c.want {
			t.Errorf("len %d: got %#x, want %#x", c.n, got, c.want)
		}
	}
}

func TestTCPBindsEveryField(t *testing.T) {
	h := New(refKey())
	a := netip.MustParseAddr("198.18.1.1")
	b := netip.MustParseAddr("198.18.1.2")
	base := h.TCP(a, b, 61440, 80)
	if base != h.TCP(a, b, 61440, 80) {
		t.Fatal("cookie not deterministic")
	}
	for name, c := range map[string]uint32{
		"src":   h.TCP(b, b, 61440, 80),
		"dst":   h.TCP(a, a, 61440, 80),
		"sport": h.TCP(a, b, 61441, 80),
		"dport": h.TCP(a, b, 61440, 81),
		"key":   New(Key{1}).TCP(a, b, 61440, 80),
	} {
		if c == base {
			t.Errorf("changing %s did not change the cookie", name)
		}
	}
	a6 := netip.MustParseAddr("2001:db8:1::1")
	b6 := netip.MustParseAddr("2001:db8:1::2")
	if h.TCP(a6, b6, 61440, 80) == h.TCP(b6, a6, 61440, 80) {
		t.Error("v6 cookie symmetric in addresses")
	}
}

func TestTCPAllocs(t *testing.T) {
	h := New(refKey())
	a := netip.MustParseAddr("2001:db8:1::1")
	b := netip.MustParseAddr("2001:db8:1::2")
	if n := testing.AllocsPerRun(100, func() { _ = h.TCP(a, b, 1, 2) }); n != 0 {
		t.Fatalf("TCP allocates %v times", n)
	}
}

func BenchmarkCookie(b *testing.B) {
	h := New(refKey())
	for _, fam := range []struct{ name, src, dst string }{
		{"v4", "198.18.1.1", "198.18.1.2"},
		{"v6", "2001:db8:1::1", "2001:db8:1::2"},
	} {
		src, dst := netip.MustParseAddr(fam.src), netip.MustParseAddr(fam.dst)
		b.Run(fam.name, func(b *testing.B) {
			b.ReportAllocs()
			var x uint32
			for i := 0; b.Loop(); i++ {
				x ^= h.TCP(src, dst, 61440, uint16(i))
			}
			_ = x
		})
	}
}

func ExampleHasher_TCP() {
	h := New(Key{}) // use a random key in real code
	src := netip.MustParseAddr("198.18.1.1")
	dst := netip.MustParseAddr("198.18.1.2")
	c := h.TCP(src, dst, 61440, 80)
	fmt.Println(c == h.TCP(src, dst, 61440, 80), c == h.TCP(src, dst, 61441, 80))
	// Output: true false
}

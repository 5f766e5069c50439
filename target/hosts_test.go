package target

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func resolveLiterals(t *testing.T, specs ...string) *Hosts {
	t.Helper()
	s, err := ParseHosts(specs...)
	if err != nil {
		t.Fatalf("ParseHosts(%q): %v", specs, err)
	}
	h, err := s.Resolve(context.Background(), failResolver{t})
	if err != nil {
		t.Fatalf("Resolve(%q): %v", specs, err)
	}
	return h
}

// failResolver fails the test if a lookup happens.
type failResolver struct{ t *testing.T }

func (f failResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	f.t.Errorf("unexpected lookup of %q", host)
	return nil, errors.New("no lookups expected")
}

// mapResolver answers from a map and records lookups.
type mapResolver struct {
	m     map[string][]netip.Addr
	calls []string
}

func (r *mapResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.calls = append(r.calls, network+" "+host)
	a, ok := r.m[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return slices.Clone(a), nil
}

func TestParseHostsExact(t *testing.T) {
	tests := []struct {
		spec string
		want string
		n    uint64
	}{
		{"198.18.0.1", "198.18.0.1", 1},
		{"2001:db8::1", "2001:db8::1", 1},
		{"198.18.0.0/24", "198.18.0.0/24", 256},
		{"198.18.0.77/24", "198.18.0.0/24", 256},
		{"2001:db8::/120", "2001:db8::/120", 256},
		{"198.18.0-3.1-254", "198.18.0.1-198.18.0.254,198.18.1.1-198.18.1.254,198.18.2.1-198.18.2.254,198.18.3.1-198.18.3.254", 4 * 254},
		{"198.18.0-3.*", "198.18.0.0/22", 1024},
		{"198.18.*.1", "", 256},
		{"198.18.0.1,2,3", "198.18.0.1-198.18.0.3", 3},
		{"198.18.0.1,5", "198.18.0.1,198.18.0.5", 2},
		{"198.18.0.-2", "198.18.0.0-198.18.0.2", 3},
		{"198.18.0.254-", "198.18.0.254/31", 2},
		{"198.18.0.10-198.18.0.50", "198.18.0.10-198.18.0.50", 41},
		{"198.18.0.0-198.18.1.255", "198.18.0.0/23", 512},
		{"2001:db8::1-2001:db8::3", "2001:db8::1-2001:db8::3", 3},
		{"198.18.0.1, 198.18.0.2\n198.18.0.3,2001:db8::1", "198.18.0.1-198.18.0.3,2001:db8::1", 4},
		{"2001:db8::1 198.18.0.9", "198.18.0.9,2001:db8::1", 2},
		{"198.18.0.0/24 198.18.0.5 198.18.0.128/25", "198.18.0.0/24", 256},
		{"198.18.0.0/25,198.18.0.128/25", "198.18.0.0/24", 256},
		{"0.0.0.0/0", "0.0.0.0/0", 1 << 32},
		{"2001:db8::/65", "2001:db8::/65", 1 << 63},
		{"::ffff:198.18.0.1", "::ffff:198.18.0.1", 1},
	}
	for _, tt := range tests {
		h := resolveLiterals(t, tt.spec)
		if tt.want != "" && h.String() != tt.want {
			t.Errorf("%q: String() = %q, want %q", tt.spec, h.String(), tt.want)
		}
		if h.Len() != tt.n {
			t.Errorf("%q: Len() = %d, want %d", tt.spec, h.Len(), tt.n)
		}
	}
}

func TestHostsOrderAndAt(t *testing.T) {
	h := MustParseHosts("2001:db8::2,198.18.0.3,2001:db8::1,198.18.0.1-198.18.0.2,198.18.0.2")
	want := []string{"198.18.0.1", "198.18.0.2", "198.18.0.3", "2001:db8::1", "2001:db8::2"}
	var got []string
	for a := range h.All() {
		got = append(got, a.String())
	}
	if !slices.Equal(got, want) {
		t.Fatalf("All() = %v, want %v", got, want)
	}
	for i, w := range want {
		if a := h.At(uint64(i)); a.String() != w {
			t.Errorf("At(%d) = %v, want %s", i, a, w)
		}
		if !h.Contains(netip.MustParseAddr(w)) {
			t.Errorf("Contains(%s) = false", w)
		}
	}
	for _, s := range []string{"198.18.0.0", "198.18.0.4", "2001:db8::", "2001:db8::3", "::ffff:198.18.0.1"} {
		if h.Contains(netip.MustParseAddr(s)) {
			t.Errorf("Contains(%s) = true", s)
		}
	}
	// At across many ranges matches All.
	h = MustParseHosts("198.18.0-9.1,3,5-7 2001:db8::/126 2001:db8:1::ff-2001:db8:1::101")
	i := uint64(0)
	for a := range h.All() {
		if b := h.At(i); b != a {
			t.Fatalf("At(%d) = %v, All gave %v", i, b, a)
		}
		i++
	}
	if i != h.Len() {
		t.Fatalf("All yielded %d, Len %d", i, h.Len())
	}
}

func TestHostsAtCarry(t *testing.T) {
	h := MustParseHosts("2001:db8::ffff:ffff:ffff:fffe-2001:db8:0:1::1")
	want := []string{"2001:db8::ffff:ffff:ffff:fffe", "2001:db8::ffff:ffff:ffff:ffff", "2001:db8:0:1::", "2001:db8:0:1::1"}
	for i, w := range want {
		if a := h.At(uint64(i)); a.String() != w {
			t.Errorf("At(%d) = %v, want %s", i, a, w)
		}
	}
}

func TestExclude(t *testing.T) {
	tests := []struct {
		spec, excl, want string
	}{
		{"198.18.0.0/24", "198.18.0.0/25", "198.18.0.128/25"},
		{"198.18.0.0/24", "198.18.0.1", "198.18.0.0,198.18.0.2-198.18.0.255"},
		{"198.18.0.0/24", "198.18.0.0,255", "198.18.0.1-198.18.0.254"},
		{"198.18.0.0/24 2001:db8::/126", "2001:db8::1-2001:db8::2 198.18.0.0/24", "2001:db8::,2001:db8::3"},
		{"198.18.0.0/24", "198.18.1.0/24", "198.18.0.0/24"},
		{"198.18.0.1-3 198.18.0.7-9", "198.18.0.2-8", "198.18.0.1,198.18.0.9"},
		{"2001:db8::/120", "2001:db8::/121 2001:db8::ff", "2001:db8::80-2001:db8::fe"},
		{"0.0.0.0/0", "0.0.0.0/1", "128.0.0.0/1"},
		{"2001:db8::/64", "2001:db8::/65", "2001:db8:0:0:8000::/65"},
	}
	for _, tt := range tests {
		s, err := ParseHosts(tt.spec)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Exclude(tt.excl); err != nil {
			t.Fatal(err)
		}
		h, err := s.Resolve(context.Background(), failResolver{t})
		if err != nil {
			t.Fatal(err)
		}
		if h.String() != tt.want {
			t.Errorf("%q minus %q = %q, want %q", tt.spec, tt.excl, h.String(), tt.want)
		}
	}
	// Excluding everything leaves an empty set.
	s, _ := ParseHosts("198.18.0.0/30")
	_ = s.Exclude("198.18.0.0/24")
	h, err := s.Resolve(context.Background(), nil)
	if err != nil || h.Len() != 0 || h.String() != "" {
		t.Errorf("all excluded: %v %d %q", err, h.Len(), h.String())
	}
}

func TestResolveNames(t *testing.T) {
	r := &mapResolver{m: map[string][]netip.Addr{
		"a.example":   {netip.MustParseAddr("198.18.0.5"), netip.MustParseAddr("2001:db8::5")},
		"b.example":   {netip.MustParseAddr("::ffff:198.18.1.9")},
		"bad.example": {netip.MustParseAddr("198.18.0.6")},
	}}
	s, err := ParseHosts("a.example, b.example/30 198.18.0.4", "a.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Exclude("bad.example"); err != nil {
		t.Fatal(err)
	}
	if got := s.Names(); !slices.Equal(got, []string{"a.example", "b.example", "bad.example"}) {
		t.Errorf("Names() = %v", got)
	}
	h, err := s.Resolve(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	if want := "198.18.0.4/31,198.18.1.8/30,2001:db8::5"; h.String() != want {
		t.Errorf("resolved = %q, want %q", h.String(), want)
	}
	if len(r.calls) != 3 || r.calls[0] != "ip a.example" {
		t.Errorf("lookups = %v, want one per distinct name", r.calls)
	}

	s, _ = ParseHosts("nosuch.example")
	if _, err := s.Resolve(context.Background(), r); err == nil || !strings.Contains(err.Error(), `"nosuch.example"`) {
		t.Errorf("failed lookup error = %v", err)
	}
	s, _ = ParseHosts("a.example/40")
	if _, err := s.Resolve(context.Background(), r); err == nil || !strings.Contains(err.Error(), "prefix length 40") {
		t.Errorf("long prefix error = %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s, _ = ParseHosts("a.example")
	if _, err := s.Resolve(ctx, r); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx error = %v", err)
	}
}

func TestReadHosts(t *testing.T) {
	list := `# lab hosts
198.18.0.1   # first
198.18.0.2,198.18.0.3

2001:db8::1 host.example
`
	s, err := ReadHosts(strings.NewReader(list))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ExcludeReader(strings.NewReader("198.18.0.2 # not this\n")); err != nil {
		t.Fatal(err)
	}
	h, err := s.Resolve(context.Background(), &mapResolver{m: map[string][]netip.Addr{"host.example": {netip.MustParseAddr("198.18.9.9")}}})
	if err != nil {
		t.Fatal(err)
	}
	if want := "198.18.0.1,198.18.0.3,198.18.9.9,2001:db8::1"; h.String() != want {
		t.Errorf("got %q, want %q", h.String(), want)
	}
	_, err = ReadHosts(strings.NewReader("198.18.0.1\n198.18.0.300\n"))
	if err == nil || !strings.HasPrefix(err.Error(), `target: line 2: bad host "198.18.0.300"`) {
		t.Errorf("bad list error = %v", err)
	}
	if _, err := ReadHosts(strings.NewReader("# nothing\n")); err == nil {
		t.Error("empty list: no error")
	}
}

func TestParseHostsErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"198.18.0.300", `target: bad host "198.18.0.300": octet 4 "300": out of range 0-255`},
		{"198.18.0", `target: bad host "198.18.0": IPv4 address needs 4 octets, found 3`},
		{"198.18.0.1,198.18.0.999", `target: bad host "198.18.0.999" in "198.18.0.1,198.18.0.999": octet 4 "999": out of range 0-255`},
		{"198.18.0.1,5-2", `target: bad host "198.18.0.1,5-2": octet 4 "1,5-2": "5-2": range 5-2 is reversed`},
		{"host.123", `target: bad host "host.123": not an address or host name: last label is numeric`},
		{"198.18.0.010", `target: bad host "198.18.0.010": octet 4 "010": leading zero`},
		{"a..b", `target: bad host "a..b": not an address or host name: bad label length`},
		{"198.18.0.5-2", `target: bad host "198.18.0.5-2": octet 4 "5-2": range 5-2 is reversed`},
		{"198.18.0.9-198.18.0.1", `target: bad host "198.18.0.9-198.18.0.1": range start 198.18.0.9 is after end 198.18.0.1`},
		{"198.18.0.0/33", `target: bad host "198.18.0.0/33": prefix length 33 too long for IPv4`},
		{"198.18.0.0/x", `target: bad host "198.18.0.0/x": bad prefix length "x": not a number`},
		{"2001:db8::g", `target: bad host "2001:db8::g": not a valid IPv6 address`},
		{"fe80::1%eth0", `target: bad host "fe80::1%eth0": zones are not supported`},
		{"2001:db8::1-198.18.0.1", `target: bad host "2001:db8::1-198.18.0.1": range mixes IPv4 and IPv6`},
		{"*.*.*.1", `target: bad host "*.*.*.1": pattern expands to 16777216 separate ranges (limit 1048576)`},
		{"bad_host!", `target: bad host "bad_host!": not an address or host name: bad character '!'`},
		{"198.18.0-3.0/24", `target: bad host "198.18.0-3.0/24": prefix length on an octet range`},
		{"", `target: empty host spec ""`},
		{" , ", `target: empty host spec " , "`},
	}
	for _, tt := range tests {
		_, err := ParseHosts(tt.spec)
		if err == nil {
			t.Errorf("%q: no error", tt.spec)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.spec, err, tt.want)
		}
	}
	s, _ := ParseHosts("198.18.0.1-3")
	if err := s.Exclude("198.18.0.2", "198.18.0.256"); err == nil || !strings.HasPrefix(err.Error(), `target: bad excluded host "198.18.0.256"`) {
		t.Errorf("bad exclude error = %v", err)
	}
	if err := s.ExcludeReader(strings.NewReader("198.18.0.1\nbad!")); err == nil {
		t.Error("bad exclude file: no error")
	}
	// A failed Exclude leaves s unchanged.
	if h, err := s.Resolve(context.Background(), nil); err != nil || h.String() != "198.18.0.1-198.18.0.3" {
		t.Errorf("after failed Exclude: %v %v", h, err)
	}
}

func TestHostsTooLarge(t *testing.T) {
	for _, spec := range []string{"2001:db8::/64", "::/0", "2001:db8::/65 2001:db9::/65 2001:dba::/65"} {
		s, err := ParseHosts(spec)
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Resolve(context.Background(), nil)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%q: error = %v, want ErrTooLarge", spec, err)
		}
	}
	// 2^64-1 addresses is the largest allowed set.
	h := MustParseHosts("2001:db8::/65 2001:db8:0:0:8000::-2001:db8::ffff:ffff:ffff:fffe")
	if h.Len() != ^uint64(0) {
		t.Errorf("Len = %d, want 2^64-1", h.Len())
	}
	if a := h.At(h.Len() - 1); a.String() != "2001:db8::ffff:ffff:ffff:fffe" {
		t.Errorf("last = %v", a)
	}
}

func TestNewHosts(t *testing.T) {
	h := NewHosts(netip.MustParseAddr("198.18.0.2"), netip.Addr{}, netip.MustParseAddr("198.18.0.1"), netip.MustParseAddr("fe80::1%eth0"), netip.MustParseAddr("198.18.0.2"))
	if h.String() != "198.18.0.1-198.18.0.2,fe80::1" || h.Len() != 3 {
		t.Errorf("NewHosts = %q (%d)", h.String(), h.Len())
	}
	var nilHosts *Hosts
	if nilHosts.Len() != 0 || nilHosts.Contains(netip.MustParseAddr("198.18.0.1")) || nilHosts.String() != "" {
		t.Error("nil Hosts is not empty")
	}
}

func TestMustParseHostsPanicsOnNames(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a host name")
		}
	}()
	MustParseHosts("host.example")
}

func TestHostsAllocs(t *testing.T) {
	h := MustParseHosts("198.18.0-20.1-9,77 2001:db8::/100")
	var sink netip.Addr
	n := testing.AllocsPerRun(1000, func() {
		sink = h.At(12345)
		sink = h.At(3)
	})
	if n != 0 {
		t.Errorf("Hosts.At allocs = %v, want 0", n)
	}
	_ = sink
}

func TestReadHostsLongList(t *testing.T) {
	var b strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "198.18.%d.%d\n", (i/250)%256, i%250)
	}
	s, err := ReadHosts(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	h, err := s.Resolve(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if h.Len() != 50000 {
		t.Errorf("Len = %d, want 50000", h.Len())
	}
}

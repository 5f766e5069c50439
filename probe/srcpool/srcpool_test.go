package srcpool

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseAddrs(t *testing.T) {
	got, err := ParseAddrs("198.18.1.200, 198.18.1.201,2001:db8:1::99,::ffff:198.18.1.7")
	if err != nil {
		t.Fatal(err)
	}
	want := []netip.Addr{
		netip.MustParseAddr("198.18.1.200"), netip.MustParseAddr("198.18.1.201"),
		netip.MustParseAddr("2001:db8:1::99"), netip.MustParseAddr("198.18.1.7"),
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
	for _, c := range []struct{ in, token string }{
		{"", "empty"},
		{"198.18.1.300", `"198.18.1.300"`},
		{"198.18.1.1,,198.18.1.2", `""`},
		{"0.0.0.0", "cannot be a probe source"},
		{"224.0.0.1", "cannot be a probe source"},
		{"127.0.0.1", "cannot be a probe source"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "zones"},
		{"255.255.255.255", "cannot be a probe source"},
	} {
		_, err := ParseAddrs(c.in)
		if err == nil || !strings.Contains(err.Error(), c.token) {
			t.Errorf("ParseAddrs(%q): %v, want an error naming %s", c.in, err, c.token)
		}
	}
}

func TestCheckConfig(t *testing.T) {
	a := netip.MustParseAddr("198.18.1.9")
	for _, c := range []struct {
		cfg  *Config
		want string
	}{
		{nil, "nil config"},
		{&Config{}, "no addresses"},
		{&Config{Count: -1, Count6: 1}, "negative"},
		{&Config{Count: maxCount + 1}, "at most"},
		{&Config{Addrs: []netip.Addr{a, a}}, "given twice"},
		{&Config{Addrs: []netip.Addr{{}}}, "invalid address"},
	} {
		if err := checkConfig(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkConfig(%+v) = %v, want %q", c.cfg, err, c.want)
		}
	}
	if err := checkConfig(&Config{Count: 3}); err != nil {
		t.Error(err)
	}
}

func TestTopDown(t *testing.T) {
	var got []string
	for a := range topDown(netip.MustParsePrefix("198.18.1.0/29"), func(a netip.Addr) bool { return a == netip.MustParseAddr("198.18.1.5") }) {
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "198.18.1.6 198.18.1.4 198.18.1.3 198.18.1.2 198.18.1.1" {
		t.Errorf("/29: %v", got)
	}
	got = got[:0]
	for a := range topDown(netip.MustParsePrefix("198.18.1.4/31"), nil) {
		got = append(got, a.String())
	}
	if strings.Join(got, " ") != "198.18.1.5 198.18.1.4" {
		t.Errorf("/31: %v", got)
	}
	n := 0
	for range topDown(netip.MustParsePrefix("2001:db8::/64"), nil) {
		n++
	}
	if n != 0 {
		t.Errorf("IPv6 prefix gave %d candidates", n)
	}
}

func TestRotation(t *testing.T) {
	for _, s := range []string{"per-probe", "per-target", "PROBE", "target"} {
		r, err := ParseRotation(s)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(r.String(), strings.ToLower(s)) {
			t.Errorf("%q -> %v", s, r)
		}
	}
	if _, err := ParseRotation("random"); err == nil || !strings.Contains(err.Error(), `"random"`) {
		t.Errorf("bad rotation: %v", err)
	}
}

func TestSourcePick(t *testing.T) {
	p := &Pool{}
	a, b, c := netip.MustParseAddr("198.18.1.10"), netip.MustParseAddr("198.18.1.11"), netip.MustParseAddr("2001:db8::5")
	p.finish([]netip.Addr{a, c, b})
	if p.Source(false, 0) != a || p.Source(false, 1) != b || p.Source(false, 2) != a || p.Source(true, 7) != c {
		t.Error("round robin by index")
	}
	if p.Next(false) != a || p.Next(false) != b || p.Next(false) != a {
		t.Error("Next")
	}
	p.markLost(a)
	if p.Source(false, 0) != b || p.Source(false, 1) != b || p.Stats().Conflicts != 1 {
		t.Error("lost address still picked")
	}
	p.markLost(b)
	if p.Source(false, 0).IsValid() {
		t.Error("picked from an exhausted family")
	}
	if !p.Contains(c) || p.Contains(netip.MustParseAddr("198.18.1.12")) {
		t.Error("Contains")
	}
	if n := testing.AllocsPerRun(100, func() { p.Source(true, 3); p.Next(true) }); n != 0 {
		t.Errorf("Source allocates %v times", n)
	}
}

func FuzzParseAddrs(f *testing.F) {
	for _, s := range []string{"198.18.1.200,198.18.1.201", "2001:db8::1", "", ",", "1.2.3.4.5", "::ffff:1.2.3.4", "fe80::1%lo"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		addrs, err := ParseAddrs(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "srcpool: ") {
				t.Errorf("error without package prefix: %v", err)
			}
			return
		}
		if len(addrs) == 0 {
			t.Fatal("no addresses and no error")
		}
		for _, a := range addrs {
			if checkAddr(a) != nil || a.Is4In6() {
				t.Errorf("accepted %v", a)
			}
		}
	})
}

func BenchmarkSource(b *testing.B) {
	p := &Pool{}
	var addrs []netip.Addr
	for i := range 16 {
		addrs = append(addrs, netip.AddrFrom4([4]byte{198, 18, 1, byte(200 + i)}))
	}
	p.finish(addrs)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		p.Source(false, uint64(i))
		p.Next(false)
	}
}

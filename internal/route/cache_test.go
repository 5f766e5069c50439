package route

import (
	"net/netip"
	"testing"
)

func TestCommonBits(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"198.18.1.2", "198.18.1.2", 32},
		{"198.18.1.2", "198.18.1.3", 31},
		{"198.18.1.2", "198.18.1.1", 30},
		{"0.0.0.0", "128.0.0.0", 0},
		{"2001:db8:1::2", "2001:db8:1::1", 126},
		{"2001:db8::", "2001:db9::", 31},
	} {
		if got := commonBits(netip.MustParseAddr(c.a), netip.MustParseAddr(c.b)); got != c.want {
			t.Errorf("commonBits(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

func TestReusable(t *testing.T) {
	c := NewCache(nil)
	c.table4 = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/0"),
		netip.MustParsePrefix("198.18.1.0/24"),
		netip.MustParsePrefix("198.18.1.1/32"),   // our own address (local table)
		netip.MustParsePrefix("198.18.1.128/25"), // a more specific route
	}
	r := Route{Prefix: netip.MustParsePrefix("198.18.1.0/24")}
	for dst, want := range map[string]string{
		"198.18.1.2":  "198.18.1.2/31",
		"198.18.1.77": "198.18.1.64/26",
		"198.18.1.1":  "198.18.1.1/32",
	} {
		if got := c.reusable(netip.MustParseAddr(dst), r); got.String() != want {
			t.Errorf("reusable(%s) = %v, want %s", dst, got, want)
		}
	}
	r.Prefix = netip.MustParsePrefix("0.0.0.0/0")
	if got := c.reusable(netip.MustParseAddr("203.0.113.9"), r); got.String() != "200.0.0.0/5" {
		t.Errorf("default route reusable = %v, want 200.0.0.0/5", got)
	}
}

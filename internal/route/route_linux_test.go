package route

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

// hostMAC returns the hardware address of the host's end of its link.
func hostMAC(t *testing.T, h *netlab.Host) net.HardwareAddr {
	t.Helper()
	var mac net.HardwareAddr
	err := h.Do(func() error {
		ifs, err := net.Interfaces()
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback == 0 && len(ifi.HardwareAddr) == 6 {
				mac = ifi.HardwareAddr
			}
		}
		return err
	})
	if err != nil || mac == nil {
		t.Fatalf("host interface: %v, %v", mac, err)
	}
	return mac
}

func TestGetAndResolve(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	any4 := netip.MustParsePrefix("198.19.8.0/24")
	any6 := netip.MustParsePrefix("2001:db8:ff08::/64")
	h.AnyIP(t, any4)
	h.AnyIP(t, any6)
	mac := hostMAC(t, h)
	ifi, err := net.InterfaceByName(h.Ifname)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dst, src, gw netip.Addr
		prefix       netip.Prefix
	}{
		{h.Addr4, h.Local4, netip.Addr{}, netip.PrefixFrom(h.Local4, 24).Masked()},
		{h.Addr6, h.Local6, netip.Addr{}, netip.PrefixFrom(h.Local6, 64).Masked()},
		{netip.MustParseAddr("198.19.8.77"), h.Local4, h.Addr4, any4},
		{netip.MustParseAddr("2001:db8:ff08::77"), h.Local6, h.Addr6, any6},
	} {
		r, err := Get(c.dst, 0)
		if err != nil {
			t.Fatalf("Get(%v): %v", c.dst, err)
		}
		if r.Ifindex != ifi.Index || r.Ifname != h.Ifname || r.Src != c.src || r.Gateway != c.gw || r.Prefix != c.prefix || r.Local || r.NoLink {
			t.Errorf("Get(%v) = %+v; want src %v gw %v prefix %v on %s", c.dst, r, c.src, c.gw, c.prefix, h.Ifname)
		}
		// Neither kernel entry nor cache exists yet for v6 AnyIP; resolve on the wire.
		got, err := Resolve(context.Background(), r.Ifindex, r.HWAddr, r.Src, r.NextHop(), 200*time.Millisecond)
		if err != nil || !bytes.Equal(got, mac) {
			t.Errorf("Resolve(%v) = %v, %v; want %v", r.NextHop(), got, err, mac)
		}
	}
	if _, err := Get(netip.MustParseAddr("198.18.251.9"), 0); err == nil {
		t.Error("Get found a route out of a namespace that has none")
	}
	if _, err := Resolve(context.Background(), ifi.Index, ifi.HardwareAddr, h.Local4, netip.MustParseAddr("198.18.0.0").Next().Next().Next(), 50*time.Millisecond); err == nil {
		// 198.18.0.3 is not on the link: nobody answers.
		t.Error("Resolve of an absent neighbour succeeded")
	}
}

func TestCache(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	mac := hostMAC(t, h)
	c := NewCache(nil)
	for _, dst := range []netip.Addr{h.Addr4, h.Addr6} {
		hop, err := c.Hop(context.Background(), dst)
		if err != nil {
			t.Fatal(err)
		}
		if hop.HWLen != 6 || !bytes.Equal(hop.HW[:6], mac) {
			t.Errorf("Hop(%v) = %+v, want MAC %v", dst, hop, mac)
		}
		if n := testing.AllocsPerRun(100, func() { _, _ = c.Hop(context.Background(), dst) }); n != 0 {
			t.Errorf("cached Hop allocates %v times", n)
		}
	}
	lo, err := c.Hop(context.Background(), netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	loi, _ := net.InterfaceByName("lo")
	if lo.Ifindex != loi.Index || lo.HWLen != 0 || lo.Src != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("loopback hop %+v", lo)
	}
	// Our own address goes through lo too.
	self, err := c.Hop(context.Background(), h.Local6)
	if err != nil || self.Ifindex != loi.Index || self.Src != h.Local6 {
		t.Errorf("own-address hop %+v, %v", self, err)
	}
	if _, err := c.Hop(context.Background(), netip.MustParseAddr("198.18.0.3")); err == nil {
		t.Error("Hop to an unrouted address succeeded")
	}
	forced := NewCache(&CacheConfig{Src4: netip.MustParseAddr("198.18.99.1")})
	if hop, err := forced.Hop(context.Background(), h.Addr4); err != nil || hop.Src != netip.MustParseAddr("198.18.99.1") {
		t.Errorf("forced source: %+v, %v", hop, err)
	}
}

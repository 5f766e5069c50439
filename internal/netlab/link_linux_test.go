package netlab_test

import (
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

// TestLink puts two hosts on one shared link: both answer the scanner on
// their addresses, see each other directly (same broadcast domain), and
// learn the scanner's bridge address in their neighbour tables.
func TestLink(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	a := k.AddHost(0)
	b := k.AddHost(200)
	if a.Addr4 != netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 2}) || b.Addr4 != netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 200}) {
		t.Fatalf("addresses %v %v", a.Addr4, b.Addr4)
	}
	if a.Local4 != k.Local4 || !k.Prefix6.Contains(b.Addr6) {
		t.Fatalf("scanner side %v, prefix %v, host %v", a.Local4, k.Prefix6, b.Addr6)
	}
	a.ListenTCP(t, 22)
	b.ListenTCP(t, 22)
	for _, h := range []*netlab.Host{a, b} {
		for _, addr := range []netip.Addr{h.Addr4, h.Addr6} {
			c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, 22).String(), 3*time.Second)
			if err != nil {
				t.Fatalf("dial %v: %v", addr, err)
			}
			c.Close()
		}
	}
	// Host a reaches host b over the bridge, without the scanner routing.
	err := a.Do(func() error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(b.Addr4, 22).String(), 3*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("host to host: %v", err)
	}
	neigh := a.Neighbors(t)
	if !strings.Contains(neigh, k.Local4.String()+" ") || !strings.Contains(neigh, k.HW.String()) {
		t.Errorf("host a's neighbour table lacks the scanner %v at %v:\n%s", k.Local4, k.HW, neigh)
	}
	if !strings.Contains(neigh, b.Addr4.String()+" ") {
		t.Errorf("host a's neighbour table lacks host b:\n%s", neigh)
	}
}

package srcpool_test

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/probe/srcpool"
)

// resolveFrom asks, from inside host h, for the hardware address of ip
// with ARP or a neighbour solicitation on h's link.
func resolveFrom(t *testing.T, h *netlab.Host, ip netip.Addr) (net.HardwareAddr, error) {
	t.Helper()
	var mac net.HardwareAddr
	var rerr error
	err := h.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback != 0 {
				continue
			}
			src := h.Addr4
			if ip.Is6() {
				src = h.Addr6
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			mac, rerr = route.Resolve(ctx, ifi.Index, ifi.HardwareAddr, src, ip, 200*time.Millisecond)
			return nil
		}
		return errors.New("no link in host")
	})
	if err != nil {
		t.Fatal(err)
	}
	return mac, rerr
}

// ourTables lists the nftables tables a Pool adds that exist now.
func ourTables(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v: %s", err, out)
	}
	var ts []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "portsense_src_") {
			ts = append(ts, strings.TrimSpace(l))
		}
	}
	return ts
}

func fastProbes(c *srcpool.Config) *srcpool.Config {
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeWait = 200 * time.Millisecond
	return c
}

// TestClaimLab claims 16 free IPv4 and 2 IPv6 addresses of a shared link
// on which another host sits at the top of the subnet (where the pool
// starts looking): that host's address is refused, the claimed ones are
// answered with the scanner's MAC while the pool is open and not at all
// after Close, and the nftables table comes and goes with the pool.
func TestClaimLab(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	target := k.AddHost(0)
	other := k.AddHost(254)
	p, err := srcpool.Claim(context.Background(), fastProbes(&srcpool.Config{Interface: k.Ifname, Count: 16, Count6: 2}))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	addrs := p.Addrs()
	if len(addrs) != 18 || p.Len(false) != 16 || p.Len(true) != 2 {
		t.Fatalf("claimed %v", addrs)
	}
	for _, a := range addrs {
		if a == other.Addr4 || a == target.Addr4 || a == k.Local4 || a == other.Addr6 {
			t.Errorf("claimed %v, an address in use", a)
		}
		if !k.Prefix4.Contains(a) && !k.Prefix6.Contains(a) {
			t.Errorf("claimed %v outside the link", a)
		}
	}
	if addrs[0] != netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 253}) {
		t.Errorf("first claimed %v, want .253 (.254 is taken)", addrs[0])
	}
	if got := ourTables(t); len(got) != 1 {
		t.Errorf("tables while open: %v", got)
	}
	for _, a := range []netip.Addr{addrs[0], addrs[15], addrs[16]} {
		mac, err := resolveFrom(t, target, a)
		if err != nil || mac.String() != k.HW.String() {
			t.Errorf("target resolves %v to %v (%v), want the scanner's %v", a, mac, err, k.HW)
		}
	}
	if st := p.Stats(); st.ARPReplies < 2 || st.NAReplies < 1 || st.Conflicts != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for _, a := range []netip.Addr{addrs[0], addrs[16]} {
		if mac, err := resolveFrom(t, target, a); err == nil {
			t.Errorf("%v still answered (by %v) after Close", a, mac)
		}
	}
	if got := ourTables(t); len(got) != 0 {
		t.Errorf("tables left after Close: %v", got)
	}
}

// TestClaimRefuses checks the errors of bad claims on a real link.
func TestClaimRefuses(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	k.AddHost(0)
	other := k.AddHost(0)
	for _, c := range []struct {
		name string
		cfg  srcpool.Config
		want error
	}{
		{"other host v4", srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{other.Addr4}}, srcpool.ErrInUse},
		{"other host v6", srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{other.Addr6}}, srcpool.ErrInUse},
		{"own address", srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{k.Local4}}, srcpool.ErrInUse},
		{"one of two in use", srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{
			netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 100}), other.Addr4}}, srcpool.ErrInUse},
		{"other subnet", srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{netip.MustParseAddr("198.19.0.5")}}, srcpool.ErrNotLocal},
		{"no interface has it", srcpool.Config{Addrs: []netip.Addr{netip.MustParseAddr("198.19.0.5")}}, srcpool.ErrNotLocal},
		{"loopback", srcpool.Config{Interface: "lo", Count: 1}, srcpool.ErrNoLinkLayer},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := srcpool.Claim(context.Background(), fastProbes(&c.cfg))
			if err == nil {
				p.Close()
				t.Fatalf("claimed %v", p.Addrs())
			}
			if !errors.Is(err, c.want) {
				t.Fatalf("error %v, want %v", err, c.want)
			}
			t.Log(err)
		})
	}
	if got := ourTables(t); len(got) != 0 {
		t.Errorf("tables left after failed claims: %v", got)
	}
	// A cancelled claim releases what it made.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := srcpool.Claim(ctx, &srcpool.Config{Interface: k.Ifname, Count: 2}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled claim: %v", err)
	}
}

// TestClosePanicPath releases the claim from a deferred Close while a
// panic unwinds.
func TestClosePanicPath(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	h := k.AddHost(0)
	var addr netip.Addr
	func() {
		defer func() { _ = recover() }()
		p, err := srcpool.Claim(context.Background(), fastProbes(&srcpool.Config{Interface: k.Ifname, Count: 1}))
		if err != nil {
			t.Error(err)
			return
		}
		defer p.Close()
		addr = p.Addrs()[0]
		if _, err := resolveFrom(t, h, addr); err != nil {
			t.Errorf("not answered while open: %v", err)
		}
		panic("scan blew up")
	}()
	if mac, err := resolveFrom(t, h, addr); err == nil {
		t.Errorf("%v still answered (by %v) after the panic", addr, mac)
	}
	if got := ourTables(t); len(got) != 0 {
		t.Errorf("tables left: %v", got)
	}
}

// TestStaleTable removes a table left by a process that died.
func TestStaleTable(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	k.AddHost(0)
	// A pid that cannot be alive: above the kernel's limit (4194304).
	stale := "portsense_src_4194305_1"
	if out, err := exec.Command("nft", "add", "table", "inet", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	p, err := srcpool.Claim(context.Background(), fastProbes(&srcpool.Config{Interface: k.Ifname, Count: 1}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range ourTables(t) {
		if strings.Contains(tb, stale) {
			t.Errorf("stale table %s kept", stale)
		}
	}
	p.Close()
}

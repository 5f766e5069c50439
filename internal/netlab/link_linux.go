//go:build linux

package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// Link is a shared Ethernet segment: a Linux bridge in the scanner
// namespace that carries the scanner's addresses, with any number of
// hosts attached to it, each by a veth whose scanner end is a bridge
// port. Unlike hosts added with [Lab.AddHost], which each get a link of
// their own, the hosts of a Link share one subnet and one broadcast
// domain with the scanner, so they see each other's ARP and neighbour
// discovery (needed to test source-address claiming, ARP scans and
// decoys). Create it with [Lab.AddLink].
//
// Subnet N gives the segment 198.18.N.0/24 and 2001:db8:N::/64 (N in the
// IPv6 group with the same digits, as for hosts). The scanner side is .1 /
// ::1 on the bridge; [Link.AddHost] hands out .2, .3, … unless told a
// number. Bridge spanning tree, forwarding delay and multicast snooping
// are off, so frames flow as soon as a port is up and multicast (IPv6
// solicited-node groups) floods to every port.
type Link struct {
	Ifname  string       // the bridge in the scanner namespace
	Subnet  int          // the link index N
	Local4  netip.Addr   // scanner address 198.18.N.1
	Local6  netip.Addr   // scanner address 2001:db8:N::1
	Prefix4 netip.Prefix // 198.18.N.0/24
	Prefix6 netip.Prefix // 2001:db8:N::/64
	HW      net.HardwareAddr

	lab  *Lab
	mu   sync.Mutex
	used [256]bool
}

// AddLink creates a shared link on subnet n (0 picks the next free one)
// and returns it; Cleanup removes the bridge (its hosts are removed with
// the lab). Errors fail the test.
func (l *Lab) AddLink(n int) *Link {
	l.t.Helper()
	k, err := l.addLink(n)
	if err != nil {
		l.t.Fatalf("netlab: add link: %v", err)
	}
	return k
}

func (l *Lab) addLink(n int) (*Link, error) {
	n, err := allocSubnet(n)
	if err != nil {
		return nil, err
	}
	seq := nameSeq.Add(1)
	k := &Link{Ifname: ifaceName('b', seq), Subnet: n, lab: l}
	k.Local4, _, k.Local6, _ = subnetAddrs(n)
	k.Prefix4 = netip.PrefixFrom(k.Local4, 24).Masked()
	k.Prefix6 = netip.PrefixFrom(k.Local6, 64).Masked()
	k.HW = net.HardwareAddr{0x02, 0x70, 0x73, byte(seq >> 8), byte(seq), byte(n)}
	k.used[0], k.used[1], k.used[255] = true, true, true
	l.t.Cleanup(func() {
		_ = exec.Command("ip", "link", "del", k.Ifname).Run()
		freeSubnet(n)
	})
	script := strings.Join([]string{
		fmt.Sprintf("link add %s address %s type bridge stp_state 0 forward_delay 0 mcast_snooping 0", k.Ifname, k.HW),
		fmt.Sprintf("link set %s up", k.Ifname),
		fmt.Sprintf("addr add %s/24 dev %s", k.Local4, k.Ifname),
		fmt.Sprintf("addr add %s/64 dev %s nodad", k.Local6, k.Ifname),
	}, "\n") + "\n"
	if err := run([]byte(script), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	return k, nil
}

// AddHost creates a target namespace on the link with host number num
// (2..254: address 198.18.N.num and 2001:db8:N::<num in hex>), or the
// lowest free number when num is 0. The Host's Local4 and Local6 are the
// scanner's addresses on the bridge, its Ifname the scanner end of its
// veth (a bridge port). Errors fail the test.
func (k *Link) AddHost(num int) *Host {
	k.lab.t.Helper()
	h, err := k.addHost(num)
	if err != nil {
		k.lab.t.Fatalf("netlab: add host to link %s: %v", k.Ifname, err)
	}
	return h
}

func (k *Link) addHost(num int) (*Host, error) {
	l := k.lab
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("lab already closed")
	}
	k.mu.Lock()
	if num == 0 {
		for i := 2; i < 255; i++ {
			if !k.used[i] {
				num = i
				break
			}
		}
	}
	if num < 2 || num > 254 || k.used[num] {
		k.mu.Unlock()
		return nil, fmt.Errorf("host number %d taken or outside 2..254", num)
	}
	k.used[num] = true
	k.mu.Unlock()

	seq := nameSeq.Add(1)
	h := &Host{
		Name:   fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), seq),
		Ifname: ifaceName('s', seq),
		Subnet: k.Subnet,
		Local4: k.Local4,
		Local6: k.Local6,
		lab:    l,
	}
	h.impl.hostIf = ifaceName('h', seq)
	h.impl.link = k
	a4 := k.Prefix4.Addr().As4()
	a4[3] = byte(num)
	h.Addr4 = netip.AddrFrom4(a4)
	a6 := k.Prefix6.Addr().As16()
	a6[15] = byte(num)
	h.Addr6 = netip.AddrFrom16(a6)

	if err := withLock(func() error { return run(nil, "ip", "netns", "add", h.Name) }); err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()
	if err := h.Do(func() error {
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/all/accept_dad", []byte("0"), 0)
		if err := noICMPRateLimit(); err != nil {
			return err
		}
		return linkUp("lo")
	}); err != nil {
		return nil, fmt.Errorf("set up namespace %s: %w", h.Name, err)
	}
	scanner := strings.Join([]string{
		fmt.Sprintf("link add %s type veth peer name %s netns %s", h.Ifname, h.impl.hostIf, h.Name),
		fmt.Sprintf("link set %s master %s", h.Ifname, k.Ifname),
		fmt.Sprintf("link set %s up", h.Ifname),
	}, "\n") + "\n"
	if err := run([]byte(scanner), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	host := strings.Join([]string{
		fmt.Sprintf("link set %s up", h.impl.hostIf),
		fmt.Sprintf("addr add %s/24 dev %s", h.Addr4, h.impl.hostIf),
		fmt.Sprintf("addr add %s/64 dev %s nodad", h.Addr6, h.impl.hostIf),
		fmt.Sprintf("route add %s via %s", labSpace4, h.Local4),
		fmt.Sprintf("route add %s via %s", labSpace6, h.Local6),
	}, "\n") + "\n"
	if err := run([]byte(host), "ip", "-n", h.Name, "-batch", "-"); err != nil {
		return nil, err
	}
	if err := waitRunning("", h.Ifname, k.Ifname); err != nil {
		return nil, err
	}
	if err := waitRunning(h.Name, h.impl.hostIf); err != nil {
		return nil, err
	}
	if err := waitNotTentative("", k.Ifname); err != nil {
		return nil, err
	}
	if err := waitNotTentative(h.Name, h.impl.hostIf); err != nil {
		return nil, err
	}
	return h, nil
}

// Neighbors returns the host's neighbour table as `ip neigh show` prints
// it (one entry a line: "198.18.1.9 dev X lladdr 02:… REACHABLE"), for
// checks of what the host learnt from ARP and neighbour discovery.
func (h *Host) Neighbors(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("ip", "-n", h.Name, "neigh", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("netlab: %s: ip neigh show: %v: %s", h.Name, err, out)
	}
	return string(out)
}

package scanner

import (
	"context"
	"encoding/xml"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// The discovery lab: one host answering for AnyIP ranges split in
// classes by nftables rules, a blackholed (dark) range, and the host's own
// on-link address next to a dark on-link address. The same for IPv6.
type pingClass int

const (
	classPlain    pingClass = iota // answers everything
	classNoICMP                    // drops ICMP echo and timestamp; TCP answers
	classSYNOnly                   // no ICMP, drops bare ACKs: only the SYN ping answers
	classACKOnly                   // no ICMP, drops SYNs: only the ACK ping answers
	classDark                      // blackholed
	classLink                      // the host's on-link address
	classLinkDark                  // an on-link address nobody has
)

var classNames = [...]string{"plain", "no-icmp", "syn-only", "ack-only", "dark", "link", "link-dark"}

func (c pingClass) String() string { return classNames[c] }

type pingLab struct {
	host   *netlab.Host
	mac    net.HardwareAddr
	class  map[netip.Addr]pingClass
	hosts  *target.Hosts
	live4  netip.Prefix
	live6  netip.Prefix
	subnet int
}

// newPingLab builds the lab on a host with cfg; n (0..15) keeps prefixes
// apart when one test builds several.
func newPingLab(t *testing.T, lab *netlab.Lab, cfg netlab.HostConfig, n int) *pingLab {
	h := lab.AddHost(cfg)
	l := &pingLab{host: h, class: map[netip.Addr]pingClass{}, subnet: h.Subnet}
	l.live4 = netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/28", 200+n))
	dark4 := netip.MustParsePrefix(fmt.Sprintf("198.19.%d.16/28", 200+n))
	l.live6 = netip.MustParsePrefix(fmt.Sprintf("2001:db8:f2%02x::/124", n))
	dark6 := netip.MustParsePrefix(fmt.Sprintf("2001:db8:f2%02x::10/124", n))
	h.AnyIP(t, l.live4)
	h.AnyIP(t, l.live6)
	h.Blackhole(t, dark4)
	h.Blackhole(t, dark6)
	r4 := func(lo, hi int) string {
		b := l.live4.Addr().As4()
		return fmt.Sprintf("%d.%d.%d.%d-%d.%d.%d.%d", b[0], b[1], b[2], lo, b[0], b[1], b[2], hi)
	}
	r6 := func(lo, hi int) string {
		return fmt.Sprintf("%s-%s", addr6(l.live6, lo), addr6(l.live6, hi))
	}
	rules := fmt.Sprintf(`table inet psdisc {
	chain in {
		type filter hook input priority -10; policy accept;
		ip daddr %[1]s icmp type { echo-request, timestamp-request } drop
		ip6 daddr %[2]s icmpv6 type echo-request drop
		ip daddr %[3]s tcp flags & (fin|syn|rst|ack) == ack drop
		ip6 daddr %[4]s tcp flags & (fin|syn|rst|ack) == ack drop
		ip daddr %[5]s tcp flags & (syn|ack) == syn drop
		ip6 daddr %[6]s tcp flags & (syn|ack) == syn drop
	}
}
`, r4(4, 15), r6(4, 15), r4(8, 11), r6(8, 11), r4(12, 15), r6(12, 15))
	h.Run(t, "sh", "-c", "nft -f - <<'EOF'\n"+rules+"EOF\n")
	var addrs []netip.Addr
	for i := range 16 {
		c := pingClass(i / 4)
		for _, a := range []netip.Addr{addrAt(l.live4, i), addr6(l.live6, i)} {
			l.class[a] = c
			addrs = append(addrs, a)
		}
		for _, a := range []netip.Addr{addrAt(dark4, i), addr6(dark6, i)} {
			l.class[a] = classDark
			addrs = append(addrs, a)
		}
	}
	l.class[h.Addr4], l.class[h.Addr6] = classLink, classLink
	ld4 := netip.AddrFrom4([4]byte{198, 18, byte(h.Subnet), 77})
	ld6 := netip.MustParseAddr(fmt.Sprintf("2001:db8:%d::77", h.Subnet))
	l.class[ld4], l.class[ld6] = classLinkDark, classLinkDark
	addrs = append(addrs, h.Addr4, h.Addr6, ld4, ld6)
	var ifname string
	require.NoError(t, h.Do(func() error {
		ifs, err := net.Interfaces()
		if err != nil {
			return err
		}
		for _, ifi := range ifs {
			as, _ := ifi.Addrs()
			for _, a := range as {
				if p, err := netip.ParsePrefix(a.String()); err == nil && p.Addr() == h.Addr4 {
					l.mac, ifname = ifi.HardwareAddr, ifi.Name
				}
			}
		}
		return nil
	}))
	require.NotNil(t, l.mac, "no MAC for %v", h.Addr4)
	// More live hosts on the same link: further addresses of the host's
	// interface, which answer ARP and NDP too.
	for _, i := range []int{10, 11} {
		a4 := netip.AddrFrom4([4]byte{198, 18, byte(h.Subnet), byte(i)})
		a6 := netip.MustParseAddr(fmt.Sprintf("2001:db8:%d::%d", h.Subnet, i))
		h.Run(t, "ip", "addr", "add", a4.String()+"/24", "dev", ifname)
		h.Run(t, "ip", "addr", "add", a6.String()+"/64", "dev", ifname, "nodad")
		l.class[a4], l.class[a6] = classLink, classLink
		addrs = append(addrs, a4, a6)
	}
	l.hosts = target.NewHosts(addrs...)
	return l
}

func addrAt(p netip.Prefix, i int) netip.Addr {
	a := p.Addr()
	for range i {
		a = a.Next()
	}
	return a
}

func addr6(p netip.Prefix, i int) netip.Addr { return addrAt(p, i) }

// discover runs discovery of l's hosts with cfg and checks every verdict
// against up(class).
func (l *pingLab) discover(t *testing.T, cfg *probe.PingConfig, up func(netip.Addr, pingClass) bool, opts ...Option) {
	t.Helper()
	ping, err := probe.NewPing(cfg)
	require.NoError(t, err)
	opts = append([]Option{WithTiming(T4), WithRTTTimeouts(0, 50*time.Millisecond, 300*time.Millisecond), WithMinRetries(4), WithMaxRetries(4)}, opts...)
	s, err := New(ping, opts...)
	require.NoError(t, err)
	seen, nUp, noRTT := 0, 0, 0
	reasons := map[string]int{}
	defer func() { t.Logf("verdicts by class/family/reason: %v", reasons) }()
	for h, err := range s.Discover(context.Background(), l.hosts) {
		require.NoError(t, err)
		seen++
		fam := "v4"
		if h.Addr.Is6() {
			fam = "v6"
		}
		reasons[fmt.Sprintf("%v/%s/%v", l.class[h.Addr], fam, h.Reason)]++
		c, ok := l.class[h.Addr]
		require.True(t, ok, "verdict on a stranger %v", h.Addr)
		want := up(h.Addr, c)
		if !assert.Equal(t, want, h.State == result.HostUp, "%v (%v): %v %v", h.Addr, c, h.State, h.Reason) {
			continue
		}
		if !want {
			assert.Equal(t, result.NoResponse, h.Reason, "%v", h.Addr)
			continue
		}
		nUp++
		if h.RTT == 0 {
			// Legitimate when the answer cannot name its try (ARP, NDP)
			// and came after a retransmission (Karn's rule): rare.
			noRTT++
		}
		switch c {
		case classLink:
			assert.Equal(t, l.mac, h.MAC, "%v: mac", h.Addr)
		default:
			assert.Nil(t, h.MAC, "%v: routed host with a MAC", h.Addr)
			assert.NotZero(t, h.ReplyTTL, "%v: ttl", h.Addr)
		}
	}
	require.Equal(t, int(l.hosts.Len()), seen)
	assert.LessOrEqual(t, 2*noRTT, nUp, "%d of %d up hosts without an RTT", noRTT, nUp)
}

func isLive(_ netip.Addr, c pingClass) bool { return c != classDark && c != classLinkDark }

func TestLabDiscoveryRaw(t *testing.T) {
	lab := netlab.New(t)
	l := newPingLab(t, lab, netlab.HostConfig{}, 0)
	methods := func(m ...probe.PingMethod) *probe.PingConfig { return &probe.PingConfig{Methods: m} }
	only := func(cs ...pingClass) func(netip.Addr, pingClass) bool {
		return func(_ netip.Addr, c pingClass) bool { return slices.Contains(cs, c) }
	}
	t.Run("default", func(t *testing.T) {
		l.discover(t, &probe.PingConfig{Raw: probe.RawAlways}, isLive)
	})
	t.Run("echo", func(t *testing.T) {
		l.discover(t, methods(probe.PingEcho), only(classPlain, classLink))
	})
	t.Run("timestamp", func(t *testing.T) {
		// No ICMPv6 timestamp: IPv6 hosts cannot answer it.
		l.discover(t, methods(probe.PingTimestamp, probe.PingARP), func(a netip.Addr, c pingClass) bool {
			return c == classLink || c == classPlain && a.Is4()
		})
	})
	t.Run("syn", func(t *testing.T) {
		l.discover(t, methods(probe.PingSYN), only(classPlain, classNoICMP, classSYNOnly, classLink))
	})
	t.Run("ack", func(t *testing.T) {
		l.discover(t, methods(probe.PingACK), only(classPlain, classNoICMP, classACKOnly, classLink))
	})
	t.Run("arp", func(t *testing.T) {
		l.discover(t, methods(probe.PingARP), only(classLink))
	})
	t.Run("udp", func(t *testing.T) {
		// A closed UDP port answers port-unreachable: up.
		l.discover(t, methods(probe.PingUDP), only(classPlain, classNoICMP, classSYNOnly, classACKOnly, classLink))
	})
	t.Run("connect", func(t *testing.T) {
		// The unprivileged default: connect to 80 and 443; refused is up.
		ping, err := probe.NewConnectPing(nil, nil)
		require.NoError(t, err)
		s, err := New(ping, WithTiming(T4), WithMinRetries(3), WithRTTTimeouts(0, 50*time.Millisecond, 300*time.Millisecond))
		require.NoError(t, err)
		for h, err := range s.Discover(context.Background(), l.hosts) {
			require.NoError(t, err)
			c := l.class[h.Addr]
			want := c == classPlain || c == classNoICMP || c == classSYNOnly || c == classLink
			assert.Equal(t, want, h.State == result.HostUp, "%v (%v): %v %v", h.Addr, c, h.State, h.Reason)
			if want {
				assert.Equal(t, result.ConnRefused, h.Reason, "%v", h.Addr)
			}
		}
	})
	t.Run("disable-arp", func(t *testing.T) {
		l.discover(t, &probe.PingConfig{Raw: probe.RawAlways, DisableARP: true}, isLive)
	})
}

func TestLabDiscoveryLoss(t *testing.T) {
	lab := netlab.New(t)
	l := newPingLab(t, lab, netlab.HostConfig{Loss: 0.05, Both: true}, 1)
	t.Run("default", func(t *testing.T) {
		l.discover(t, &probe.PingConfig{Raw: probe.RawAlways}, isLive)
	})
	t.Run("syn", func(t *testing.T) {
		l.discover(t, &probe.PingConfig{Methods: []probe.PingMethod{probe.PingSYN}}, func(_ netip.Addr, c pingClass) bool {
			return c == classPlain || c == classNoICMP || c == classSYNOnly || c == classLink
		})
	})
}

// TestLabSweep discovers the lab with the default raw ping and SYN-scans
// the live hosts: every live host's verdict comes before its ports, down
// hosts get no port scan, and the ports are exact (443 closed, 22 closed:
// nothing listens; a dropped port is filtered).
func TestLabSweep(t *testing.T) {
	lab := netlab.New(t)
	l := newPingLab(t, lab, netlab.HostConfig{}, 2)
	ping, err := probe.NewPing(&probe.PingConfig{Raw: probe.RawAlways})
	require.NoError(t, err)
	syn, err := probe.NewSYN(nil)
	require.NoError(t, err)
	sp, err := target.NewSpace(l.hosts, target.PortsOf(target.TCP, 22, 443))
	require.NoError(t, err)
	s, err := New(syn, WithProber(ping), WithTiming(T4), WithMinRetries(3), WithRTTTimeouts(0, 50*time.Millisecond, 300*time.Millisecond))
	require.NoError(t, err)
	hostAt := map[netip.Addr]int{}
	ports := map[netip.Addr]int{}
	n := 0
	for rec, err := range s.Sweep(context.Background(), sp) {
		require.NoError(t, err)
		n++
		if h := rec.Host; h != nil {
			hostAt[h.Addr] = n
			assert.Equal(t, isLive(h.Addr, l.class[h.Addr]), h.State == result.HostUp, "%v (%v)", h.Addr, l.class[h.Addr])
			continue
		}
		r := rec.Result
		a := r.AddrPort.Addr()
		require.NotZero(t, hostAt[a], "port %v before its host verdict", r)
		require.True(t, isLive(a, l.class[a]), "port of a down host: %v", r)
		want := result.Closed
		if l.class[a] == classACKOnly {
			want = result.Filtered // its SYNs are dropped
		}
		assert.Equal(t, want, r.State, "%v (%v)", r, l.class[a])
		ports[a]++
	}
	assert.Len(t, hostAt, int(l.hosts.Len()))
	for a, c := range l.class {
		if isLive(a, c) {
			assert.Equal(t, 2, ports[a], "ports of %v (%v)", a, c)
		}
	}
}

// TestLabDiscoveryMatchesNmap runs nmap's own ping scan (nmap -sn, as
// root: ARP/NDP on-link, else echo, SYN 443, ACK 80, timestamp) over the
// lab and demands the same up/down verdict on every address.
func TestLabDiscoveryMatchesNmap(t *testing.T) {
	nmap, err := exec.LookPath("nmap")
	if err != nil {
		t.Skip("nmap not installed")
	}
	lab := netlab.New(t)
	l := newPingLab(t, lab, netlab.HostConfig{}, 3)
	nmapUp := map[netip.Addr]bool{}
	for _, v6 := range []bool{false, true} {
		args := []string{"-n", "-sn", "--max-retries", "4", "-oX", "-"} // nmap's default timing: robust on a busy machine
		if v6 {
			args = append(args, "-6")
		}
		for a := range l.hosts.All() {
			if a.Is6() == v6 {
				args = append(args, a.String())
			}
		}
		out, err := exec.Command(nmap, args...).Output()
		require.NoError(t, err, "nmap %v", args)
		var run struct {
			Hosts []struct {
				Status struct {
					State string `xml:"state,attr"`
				} `xml:"status"`
				Addrs []struct {
					Addr string `xml:"addr,attr"`
					Type string `xml:"addrtype,attr"`
				} `xml:"address"`
			} `xml:"host"`
		}
		require.NoError(t, xml.Unmarshal(out, &run))
		for _, h := range run.Hosts {
			for _, a := range h.Addrs {
				if a.Type != "mac" && h.Status.State == "up" {
					nmapUp[netip.MustParseAddr(a.Addr)] = true
				}
			}
		}
	}
	ping, err := probe.NewPing(nil)
	require.NoError(t, err)
	s, err := New(ping, WithTiming(T4), WithMinRetries(3))
	require.NoError(t, err)
	n := 0
	for h, err := range s.Discover(context.Background(), l.hosts) {
		require.NoError(t, err)
		n++
		assert.Equal(t, nmapUp[h.Addr], h.State == result.HostUp, "%v (%v): nmap up %v, we say %v %v",
			h.Addr, l.class[h.Addr], nmapUp[h.Addr], h.State, h.Reason)
		assert.Equal(t, isLive(h.Addr, l.class[h.Addr]), h.State == result.HostUp, "%v (%v)", h.Addr, l.class[h.Addr])
	}
	require.Equal(t, int(l.hosts.Len()), n)
	t.Logf("nmap and portsense agree on %d addresses (%d up)", n, len(nmapUp))
}

// TestLabSweepUnprivileged is the sweep a process without CAP_NET_RAW
// runs: the connect ping, then connect scans of the live hosts.
func TestLabSweepUnprivileged(t *testing.T) {
	lab := netlab.New(t)
	l := newPingLab(t, lab, netlab.HostConfig{}, 4)
	ping, err := probe.NewPing(&probe.PingConfig{Raw: probe.RawNever})
	require.NoError(t, err)
	sp, err := target.NewSpace(l.hosts, target.PortsOf(target.TCP, 22, 8080))
	require.NoError(t, err)
	s, err := New(probe.NewConnect(nil), WithProber(ping), WithTiming(T4), WithMinRetries(3),
		WithRTTTimeouts(0, 50*time.Millisecond, 300*time.Millisecond))
	require.NoError(t, err)
	live := func(c pingClass) bool {
		return c == classPlain || c == classNoICMP || c == classSYNOnly || c == classLink // ack-only drops SYNs
	}
	hostAt := map[netip.Addr]int{}
	ports := map[netip.Addr]int{}
	n := 0
	for rec, err := range s.Sweep(context.Background(), sp) {
		require.NoError(t, err)
		n++
		if h := rec.Host; h != nil {
			hostAt[h.Addr] = n
			assert.Equal(t, live(l.class[h.Addr]), h.State == result.HostUp, "%v (%v): %v %v", h.Addr, l.class[h.Addr], h.State, h.Reason)
			continue
		}
		r := rec.Result
		a := r.AddrPort.Addr()
		require.NotZero(t, hostAt[a], "port %v before its host verdict", r)
		require.True(t, live(l.class[a]), "port of a down host: %v", r)
		assert.Equal(t, result.Closed, r.State, "%v", r)
		assert.Equal(t, result.ConnRefused, r.Reason, "%v", r)
		ports[a]++
	}
	require.Len(t, hostAt, int(l.hosts.Len()))
	for a, c := range l.class {
		if live(c) {
			assert.Equal(t, 2, ports[a], "ports of %v (%v)", a, c)
		}
	}
}

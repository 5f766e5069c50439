//go:build benchcompare && linux

package bench

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// Lab layout. Everything lies in the lab space 198.18.0.0/15.
var (
	// anyNet is answered by the horizontal host, except darkNet.
	anyNet  = netip.MustParsePrefix("198.19.0.0/16")
	darkNet = netip.MustParsePrefix("198.19.255.0/24")
	// quickNet is the horizontal range of --quick: 3,840 live, 256 dark.
	quickNet = netip.MustParsePrefix("198.19.240.0/20")
)

// quickPorts is the top of the vertical range in --quick mode; the port mix
// puts half of every class below it.
const quickPorts = 10000

// Port mix of the vertical hosts (TCP), seeded.
const (
	nOpen     = 20
	nDropped  = 500
	nRejected = 100
	mixSeed   = 2026
)

// Banners on a few open ports, so that -sV has something to name.
var banners = map[uint16]string{
	22: "SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n",
	25: "220 lab.example ESMTP Postfix\r\n",
}

// UDP services of the vertical host: echo ports answer (open), silent
// ports read and drop (open|filtered); udpDropped are dropped by the
// firewall (open|filtered); the rest of 1-1000 is closed (port unreachable).
var (
	udpEcho   = []uint16{7, 53, 123, 161, 500}
	udpSilent = []uint16{69, 137}
)

const nUDPDropped = 20

// portMix is the ground truth of a vertical host.
type portMix struct {
	tcp map[uint16]string // non-closed TCP ports: "open" or "filtered"
	udp map[uint16]string // non-closed UDP ports in 1-1000
	// open lists the open TCP ports, sorted.
	open []uint16
	// dropped and rejected list the filtered TCP ports by kind.
	dropped, rejected []uint16
	udpDropped        []uint16
}

// newPortMix draws the seeded mix: half of every class below quickPorts,
// half above, so that --quick sees every kind of port.
func newPortMix(seed uint64) *portMix {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	m := &portMix{tcp: map[uint16]string{}, udp: map[uint16]string{}}
	taken := map[uint16]bool{}
	draw := func(n int) []uint16 {
		var out []uint16
		for i := range n {
			lo, hi := 1, quickPorts
			if i%2 == 1 {
				lo, hi = quickPorts+1, 65535
			}
			for {
				p := uint16(lo + r.IntN(hi-lo+1))
				if !taken[p] {
					taken[p] = true
					out = append(out, p)
					break
				}
			}
		}
		slices.Sort(out)
		return out
	}
	m.open = []uint16{22, 25, 80}
	for _, p := range m.open {
		taken[p] = true
	}
	m.open = append(m.open, draw(nOpen-len(m.open))...)
	slices.Sort(m.open)
	m.dropped = draw(nDropped)
	m.rejected = draw(nRejected)
	for _, p := range m.open {
		m.tcp[p] = "open"
	}
	for _, p := range append(slices.Clone(m.dropped), m.rejected...) {
		m.tcp[p] = "filtered"
	}

	for _, p := range udpEcho {
		m.udp[p] = "open"
	}
	for _, p := range udpSilent {
		m.udp[p] = "open|filtered"
	}
	for len(m.udpDropped) < nUDPDropped {
		p := uint16(1 + r.IntN(1000))
		if _, ok := m.udp[p]; ok {
			continue
		}
		m.udp[p] = "open|filtered"
		m.udpDropped = append(m.udpDropped, p)
	}
	slices.Sort(m.udpDropped)
	return m
}

// tcpState is the truth for TCP port p.
func (m *portMix) tcpState(p uint16) string {
	if s, ok := m.tcp[p]; ok {
		return s
	}
	return "closed"
}

// udpState is the truth for UDP port p.
func (m *portMix) udpState(p uint16) string {
	if s, ok := m.udp[p]; ok {
		return s
	}
	return "closed"
}

// benchLab is the lab every workload runs on.
type benchLab struct {
	mix      *portMix
	vert     *netlab.Host // the port mix, clean link
	horiz    *netlab.Host // AnyIP anyNet minus darkNet, port 80 open
	lossy    *netlab.Host // the port mix, 5% loss on what it sends
	dark     *netlab.Host // swallows darkWide (engine_test.go)
	macs     map[*netlab.Host]string
	horizNet netip.Prefix // anyNet, or quickNet with --quick
}

func buildLab(t *testing.T, quick bool) *benchLab {
	t.Helper()
	lab := netlab.New(t)
	b := &benchLab{mix: newPortMix(mixSeed), macs: map[*netlab.Host]string{}, horizNet: anyNet}
	if quick {
		b.horizNet = quickNet
	}
	b.vert = lab.AddHost(netlab.HostConfig{})
	b.lossy = lab.AddHost(netlab.HostConfig{Loss: 0.05})
	for _, h := range []*netlab.Host{b.vert, b.lossy} {
		b.servePortMix(t, h)
	}
	b.vert.ListenUDP(t, true, udpEcho...)
	b.vert.ListenUDP(t, false, udpSilent...)
	b.vert.Drop(t, target.UDP, b.mix.udpDropped...)

	b.horiz = lab.AddHost(netlab.HostConfig{})
	b.horiz.ListenTCP(t, 80)
	// The host's AnyIP route goes to the local table, which the kernel
	// consults before the main table's blackhole: so the live part is made
	// of the prefixes that cover anyNet minus darkNet, and only darkNet is
	// blackholed.
	for _, p := range coverExcept(anyNet, darkNet) {
		b.horiz.AnyIP(t, p)
	}
	b.horiz.Blackhole(t, darkNet)
	b.dark = addDarkHost(t, lab)

	for _, h := range []*netlab.Host{b.vert, b.lossy, b.horiz, b.dark} {
		b.macs[h] = hostMAC(t, h)
	}
	b.check(t)
	return b
}

// servePortMix opens, drops and rejects the mix's TCP ports on h.
func (b *benchLab) servePortMix(t *testing.T, h *netlab.Host) {
	for _, p := range b.mix.open {
		switch {
		case p == 80:
			h.ServeTCP(t, p, serveHTTP)
		case banners[p] != "":
			h.ListenTCPBanner(t, []byte(banners[p]), p)
		default:
			h.ListenTCP(t, p)
		}
	}
	h.Drop(t, target.TCP, b.mix.dropped...)
	h.RejectICMP(t, target.TCP, b.mix.rejected...)
}

// serveHTTP answers whatever the client sends first with an HTTP response,
// as a busy web server answers garbage with an error page, so that version
// probes never wait on it.
func serveHTTP(c net.Conn) {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	if _, err := c.Read(buf); err != nil {
		return
	}
	_, _ = c.Write([]byte("HTTP/1.0 200 OK\r\nServer: lab-httpd/1.0\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n\r\nok\n"))
}

// coverExcept returns the prefixes that cover outer minus inner (inner
// inside outer): one per bit between them.
func coverExcept(outer, inner netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for bits := outer.Bits() + 1; bits <= inner.Bits(); bits++ {
		// The sibling of inner's ancestor at this length.
		anc := netip.PrefixFrom(inner.Addr(), bits).Masked()
		a := anc.Addr().As4()
		bit := 32 - bits
		v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
		v ^= 1 << bit
		sib := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		out = append(out, netip.PrefixFrom(sib, bits))
	}
	return out
}

// hostMAC reads the MAC address of h's end of its link, which masscan and
// zmap need as their "router" MAC.
func hostMAC(t *testing.T, h *netlab.Host) string {
	t.Helper()
	var links []struct {
		Ifname  string `json:"ifname"`
		Address string `json:"address"`
	}
	out := h.Run(t, "ip", "-j", "link", "show")
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		t.Fatalf("ip -j link show in %s: %v: %s", h.Name, err, out)
	}
	for _, l := range links {
		if l.Ifname != "lo" && l.Address != "" {
			return l.Address
		}
	}
	t.Fatalf("no link with a MAC address in %s: %s", h.Name, out)
	return ""
}

// check verifies the lab before anything is measured: an open port
// accepts, a closed one refuses, a live AnyIP address answers, and the
// addresses the peers will be given are lab addresses.
func (b *benchLab) check(t *testing.T) {
	t.Helper()
	dial := func(a netip.Addr, p uint16) error {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, p).String(), 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	}
	if err := dial(b.vert.Addr4, b.mix.open[0]); err != nil {
		t.Fatalf("lab check: open port %d: %v", b.mix.open[0], err)
	}
	for _, a := range []netip.Addr{anyNet.Addr(), netip.MustParseAddr("198.19.254.255")} {
		if err := dial(a, 80); err != nil {
			t.Fatalf("lab check: AnyIP %v port 80: %v", a, err)
		}
	}
	for _, h := range []*netlab.Host{b.vert, b.lossy, b.horiz} {
		for _, a := range []netip.Addr{h.Addr4, h.Local4} {
			if !labSpace.Contains(a) {
				t.Fatalf("lab check: %v is outside the lab space %v", a, labSpace)
			}
		}
	}
	t.Logf("lab: vertical %s (%s), lossy %s (%s), horizontal %s (%s) answering %v minus %v",
		b.vert.Addr4, b.vert.Ifname, b.lossy.Addr4, b.lossy.Ifname, b.horiz.Addr4, b.horiz.Ifname, anyNet, darkNet)
	t.Logf("lab: open TCP ports %v; %d dropped, %d rejected; UDP echo %v, silent %v, %d dropped",
		b.mix.open, len(b.mix.dropped), len(b.mix.rejected), udpEcho, udpSilent, len(b.mix.udpDropped))
}

// labSpace is where every address given to a scanner must lie.
var labSpace = netip.MustParsePrefix("198.18.0.0/15")

// mustLab panics unless every address of ps lies in the lab space; it
// guards the command lines of the peers, which send raw packets.
func mustLab(ps ...netip.Prefix) {
	for _, p := range ps {
		if !labSpace.Contains(p.Addr()) || p.Bits() < labSpace.Bits() {
			panic(fmt.Sprintf("bench: %v is outside the lab space %v", p, labSpace))
		}
	}
}

//go:build linux

package scanner

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// wireCount is what a capture inside a target host saw arrive.
type wireCount struct {
	mu sync.Mutex
	// syns[src][port] counts SYN probes from src to port.
	syns map[netip.Addr]map[uint16]int
	// sports counts the source ports of SYN probes.
	sports map[uint16]int
	// firstSrc[port] lists sources in the order their first SYN to port
	// arrived.
	firstSrc map[uint16][]netip.Addr
	// fromScanner counts packets other than SYN probes that came from
	// the scanner's link address: resets, ICMP errors, forwarded packets.
	fromScanner map[string]int
}

// capture counts, until the test ends, the IP packets host h receives.
func capture(t *testing.T, h *netlab.Host, scannerHW net.HardwareAddr) *wireCount {
	t.Helper()
	var c *afpacket.Conn
	err := h.Do(func() error {
		var err error
		c, err = afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoAll, &afpacket.Config{IgnoreOutgoing: true, ReadBuffer: 8 << 20})
		return err
	})
	require.NoError(t, err)
	w := &wireCount{syns: map[netip.Addr]map[uint16]int{}, firstSrc: map[uint16][]netip.Addr{}, fromScanner: map[string]int{}, sports: map[uint16]int{}}
	var wg sync.WaitGroup
	wg.Go(func() {
		var (
			buf  [2048]byte
			from afpacket.Addr
			p    wire.Packet
		)
		for {
			n, err := c.ReadPacket(buf[:], &from)
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue
			}
			if from.Protocol == afpacket.ProtoARP || p.DecodeIP(buf[:n]) != nil {
				continue
			}
			mine := from.HardwareAddr().String() == scannerHW.String()
			w.mu.Lock()
			switch {
			case p.Proto == wire.ProtoTCP && p.Flags == wire.FlagSYN:
				m := w.syns[p.Src]
				if m == nil {
					m = map[uint16]int{}
					w.syns[p.Src] = m
				}
				if m[p.DstPort] == 0 {
					w.firstSrc[p.DstPort] = append(w.firstSrc[p.DstPort], p.Src)
				}
				m[p.DstPort]++
				w.sports[p.SrcPort]++
			case mine && p.Proto == wire.ProtoTCP && p.Flags&wire.FlagRST != 0:
				w.fromScanner["rst from "+p.Src.String()]++
			case mine && (p.Proto == wire.ProtoICMP || p.Proto == wire.ProtoICMPv6) && p.ICMPClass().Kind.IsError():
				w.fromScanner["icmp error from "+p.Src.String()]++
			case mine && p.Proto == wire.ProtoICMP && p.ICMPType == 5:
				w.fromScanner["redirect from "+p.Src.String()]++
			case mine && p.Proto == wire.ProtoTCP:
				w.fromScanner["tcp forwarded "+p.Src.String()]++
			}
			w.mu.Unlock()
		}
	})
	t.Cleanup(func() { c.Close(); wg.Wait() })
	return w
}

// settle lets the last packets of a scan reach the capture.
func settle() { time.Sleep(300 * time.Millisecond) }

// neighbours parses `ip neigh show` into address -> link address.
func neighbours(s string) map[netip.Addr]string {
	m := map[netip.Addr]string{}
	for _, l := range strings.Split(s, "\n") {
		f := strings.Fields(l)
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "lladdr" && len(f) > 0 {
				if a, err := netip.ParseAddr(f[0]); err == nil {
					m[a] = f[i+1]
				}
			}
		}
	}
	return m
}

// resolvedFrom reports whether anyone answers ARP/NDP for ip on h's link.
func resolvedFrom(t *testing.T, h *netlab.Host, ip netip.Addr) bool {
	t.Helper()
	ok := false
	require.NoError(t, h.Do(func() error {
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
			_, err := route.Resolve(ctx, ifi.Index, ifi.HardwareAddr, src, ip, 200*time.Millisecond)
			ok = err == nil
			return nil
		}
		return errors.New("no link")
	}))
	return ok
}

func poolTables(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("nft", "list", "tables").CombinedOutput()
	require.NoError(t, err, "%s", out)
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "portsense_src_") {
			ours = append(ours, l)
		}
	}
	return strings.Join(ours, "; ")
}

func claimPool(t *testing.T, cfg srcpool.Config) *srcpool.Pool {
	t.Helper()
	cfg.ProbeInterval, cfg.ProbeWait = 50*time.Millisecond, 200*time.Millisecond
	p, err := srcpool.Claim(context.Background(), &cfg)
	require.NoError(t, err)
	t.Cleanup(func() { p.Close() })
	return p
}

// A SYN scan of every port from a pool of 16 claimed addresses on one
// bridged link with the target: every verdict is right, the target's
// neighbour table maps the 16 addresses to the scanner's MAC, the
// scanner's kernel sent nothing for them (counted on the target's wire,
// with IP forwarding on in the scanner, where a kernel without the pool's
// table forwards replies back and sends redirects), an address used by
// another host on the link is refused and never a source, and after
// Close no address is answered and no table remains.
func TestLabSYNSourcePool(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	h := k.AddHost(0)
	other := k.AddHost(254) // the pool starts looking at the top of the subnet
	connectLayout.build(t, h)
	require.NoError(t, os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0))
	w := capture(t, h, k.HW)

	pool := claimPool(t, srcpool.Config{Interface: k.Ifname, Count: 16})
	addrs := pool.Addrs()
	require.Len(t, addrs, 16)
	require.NotContains(t, addrs, other.Addr4)
	syn, err := probe.NewSYN(&probe.SYNConfig{SourcePool: pool})
	require.NoError(t, err)
	got, st := scanPorts(t, syn, target.NewHosts(h.Addr4), "1-65535", WithTiming(T4))
	checkSYNLayout(t, h.Addr4, got)
	t.Logf("pool scan: %d probes, %d retransmits, %v, pool %+v", st.Sent, st.Retransmits, st.Elapsed, pool.Stats())

	bySource := map[netip.Addr]int{}
	for _, r := range got {
		if r.Reason == result.NoResponse {
			assert.False(t, r.Source.IsValid(), "silent port %v has a source", r.AddrPort)
			continue
		}
		assert.True(t, pool.Contains(r.Source), "%v answered to %v, not a pool address", r.AddrPort, r.Source)
		bySource[r.Source]++
	}
	assert.Len(t, bySource, 16, "every pool address got answers")
	settle()
	w.mu.Lock()
	for src := range w.syns {
		assert.True(t, pool.Contains(src), "target saw a SYN from %v", src)
	}
	assert.NotContains(t, w.syns, other.Addr4)
	assert.Empty(t, w.fromScanner, "the scanner's kernel sent packets for claimed addresses")
	w.mu.Unlock()
	neigh := neighbours(h.Neighbors(t))
	for _, a := range addrs {
		assert.Equal(t, k.HW.String(), neigh[a], "target's neighbour entry for %v", a)
	}
	require.NoError(t, pool.Close())
	for _, a := range []netip.Addr{addrs[0], addrs[7], addrs[15]} {
		assert.False(t, resolvedFrom(t, h, a), "%v still answered after Close", a)
	}
	assert.Empty(t, poolTables(t))

	// The same check without the pool's table: the wire count sees the
	// kernel meddle, so its silence above means something.
	t.Run("control without firewall", func(t *testing.T) {
		w2 := capture(t, h, k.HW)
		pool := claimPool(t, srcpool.Config{Interface: k.Ifname, Count: 2, NoFirewall: true})
		syn, err := probe.NewSYN(&probe.SYNConfig{SourcePool: pool})
		require.NoError(t, err)
		// The kernel's redirects and errors are rate-limited per peer, and
		// the scans above may have spent that budget: give it up to three
		// scans, a second apart, to show itself.
		var seen int
		for try := 0; try < 3 && seen == 0; try++ {
			if try > 0 {
				time.Sleep(time.Second)
			}
			scanPorts(t, syn, target.NewHosts(h.Addr4), "20-25,79-81", WithTiming(T4))
			settle()
			w2.mu.Lock()
			seen = len(w2.fromScanner)
			w2.mu.Unlock()
		}
		w2.mu.Lock()
		defer w2.mu.Unlock()
		assert.NotEmpty(t, w2.fromScanner, "without the table the kernel forwards or redirects")
		t.Logf("without table: %v", w2.fromScanner)
	})
}

// A decoy scan: the target sees every probe from each decoy and from the
// real source, the real one at the chosen position, and the verdicts stay
// right (replies to decoys are never taken as answers).
func TestLabSYNDecoys(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	h := k.AddHost(0)
	connectLayout.build(t, h)
	w := capture(t, h, k.HW)
	d1 := netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 101})
	d2 := netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 102})
	d6 := netip.MustParseAddr("2001:db8:ffff::7") // another family: not used for IPv4 targets
	syn, err := probe.NewSYN(&probe.SYNConfig{Decoys: []netip.Addr{d1, d6, d2}, DecoyPosition: 2})
	require.NoError(t, err)
	ports := "1-1000,5000-5010,6000-6010,7000-7010"
	got, st := scanPorts(t, syn, target.NewHosts(h.Addr4), ports, WithTiming(T4))
	want := synLayout{connectLayout}.want
	require.Len(t, got, 1033)
	for tg, r := range got {
		s, reason := want(tg.Port.Num)
		assert.Equal(t, s, r.State, "port %d", tg.Port.Num)
		assert.Equal(t, reason, r.Reason, "port %d", tg.Port.Num)
	}
	settle()
	w.mu.Lock()
	defer w.mu.Unlock()
	real := k.Local4
	assert.NotContains(t, w.syns, d6)
	for tg := range got {
		p := tg.Port.Num
		for _, src := range []netip.Addr{d1, d2, real} {
			assert.Positive(t, w.syns[src][p], "port %d: no probe from %v", p, src)
		}
		// Position 2 of [d1, d6, d2]: after d1 and the skipped d6, before d2.
		if f := w.firstSrc[p]; len(f) >= 3 {
			assert.Equal(t, []netip.Addr{d1, real, d2}, f[:3], "port %d order", p)
		}
	}
	assert.Equal(t, w.syns[d1][80], w.syns[real][80])
	t.Logf("decoy scan: %d probes, %d retransmits, %v", st.Sent, st.Retransmits, st.Elapsed)
}

// The IPv6 side: four claimed addresses (duplicate address detection,
// neighbour advertisements), per-target rotation, verdicts right, the
// target's neighbour table maps them to the scanner's MAC.
func TestLabSYNSourcePool6(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	h := k.AddHost(0)
	connectLayout.build(t, h)
	w := capture(t, h, k.HW)
	pool := claimPool(t, srcpool.Config{Interface: k.Ifname, Count6: 4})
	syn, err := probe.NewSYN(&probe.SYNConfig{SourcePool: pool, Rotation: srcpool.PerTarget})
	require.NoError(t, err)
	got, st := scanPorts(t, syn, target.NewHosts(h.Addr6), "1-1000,5000-5010,6000-6010,7000-7010", WithTiming(T4))
	want := synLayout{connectLayout}.want
	require.Len(t, got, 1033)
	used := map[netip.Addr]bool{}
	for tg, r := range got {
		s, reason := want(tg.Port.Num)
		assert.Equal(t, s, r.State, "port %d", tg.Port.Num)
		assert.Equal(t, reason, r.Reason, "port %d", tg.Port.Num)
		if r.Reason != result.NoResponse {
			assert.True(t, pool.Contains(r.Source), "port %d answered to %v", tg.Port.Num, r.Source)
			used[r.Source] = true
		}
	}
	assert.Len(t, used, 4)
	settle()
	w.mu.Lock()
	for src, ports := range w.syns {
		assert.True(t, pool.Contains(src), "SYN from %v", src)
		for p, n := range ports {
			if n > 1 { // per-target: every try of a port from the same source
				for other, ps := range w.syns {
					assert.True(t, other == src || ps[p] == 0, "port %d probed from %v and %v", p, src, other)
				}
			}
		}
	}
	assert.Empty(t, w.fromScanner)
	w.mu.Unlock()
	neigh := neighbours(h.Neighbors(t))
	for _, a := range pool.Addrs() {
		assert.Equal(t, k.HW.String(), neigh[a], "target's neighbour entry for %v", a)
	}
	t.Logf("IPv6 pool scan: %d probes, %d retransmits, %v, pool %+v", st.Sent, st.Retransmits, st.Elapsed, pool.Stats())
}

// nmap's -S with an address that is not the scanner's (a one-address
// pool, as examples/scan does) and -g: every probe leaves from that
// address and port, replies come back through our ARP answers, verdicts
// are right and every result names the source.
func TestLabSYNSpoofedSourceFixedPort(t *testing.T) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	h := k.AddHost(0)
	connectLayout.build(t, h)
	w := capture(t, h, k.HW)
	src := netip.AddrFrom4([4]byte{198, 18, byte(k.Subnet), 77})
	pool := claimPool(t, srcpool.Config{Interface: k.Ifname, Addrs: []netip.Addr{src}})
	syn, err := probe.NewSYN(&probe.SYNConfig{SourcePool: pool, SourcePort: 53, FixedSourcePort: true})
	require.NoError(t, err)
	got, _ := scanPorts(t, syn, target.NewHosts(h.Addr4), "1-100,5000-5005,6000-6005,7000-7005", WithTiming(T4))
	want := synLayout{connectLayout}.want
	require.Len(t, got, 118)
	for tg, r := range got {
		s, reason := want(tg.Port.Num)
		assert.Equal(t, s, r.State, "port %d", tg.Port.Num)
		assert.Equal(t, reason, r.Reason, "port %d", tg.Port.Num)
		if r.Reason != result.NoResponse {
			assert.Equal(t, src, r.Source, "port %d", tg.Port.Num)
		}
	}
	settle()
	w.mu.Lock()
	defer w.mu.Unlock()
	assert.Len(t, w.syns, 1)
	assert.Contains(t, w.syns, src)
	assert.Len(t, w.sports, 1)
	assert.Positive(t, w.sports[53])
	assert.Empty(t, w.fromScanner)
}

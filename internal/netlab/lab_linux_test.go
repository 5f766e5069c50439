package netlab_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// dialTimeout is short: every port in these tests either answers at once or
// never answers.
const dialTimeout = 300 * time.Millisecond

func dial(addr netip.Addr, port uint16) error {
	return dialWait(addr, port, dialTimeout)
}

func dialWait(addr netip.Addr, port uint16, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.Dial("tcp", netip.AddrPortFrom(addr, port).String())
	if err == nil {
		c.Close()
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func bothFamilies(t *testing.T, h *netlab.Host, fn func(t *testing.T, a netip.Addr)) {
	t.Run("v4", func(t *testing.T) { fn(t, h.Addr4) })
	t.Run("v6", func(t *testing.T) { fn(t, h.Addr6) })
}

func TestTCPStates(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80, 81, 82, 83)
	h.Drop(t, target.TCP, 81)
	h.RejectICMP(t, target.TCP, 82)
	h.RejectReset(t, 83)

	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		if err := dial(a, 80); err != nil {
			t.Errorf("open port 80: %v", err)
		}
		if err := dial(a, 79); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("closed port 79: got %v, want ECONNREFUSED", err)
		}
		if err := dial(a, 81); !isTimeout(err) {
			t.Errorf("dropped port 81: got %v, want a timeout", err)
		}
		// The SYN's ICMP error can arrive while connect(2) still holds the
		// socket lock (the whole exchange runs in that syscall); Linux then
		// drops it and reports the next one, for the retransmitted SYN
		// about a second later. Hence the long timeout here.
		err := dialWait(a, 82, 5*time.Second)
		if err == nil || isTimeout(err) ||
			!(errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.ENETUNREACH)) {
			t.Errorf("icmp-rejected port 82: got %v, want a prompt unreachable/prohibited error", err)
		}
		if err := dial(a, 83); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("reset port 83: got %v, want ECONNREFUSED", err)
		}
	})
}

// udpPings sends n numbered datagrams to addr and returns how many distinct
// ones came back. Datagrams go out in one burst and replies are collected
// until all are back or none came for a while after the burst, so the result
// depends on loss, not on timing.
func udpPings(t *testing.T, addr netip.AddrPort, n int) int {
	t.Helper()
	const quiet = time.Second
	c, err := net.Dial("udp", addr.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	seen := make(map[uint32]bool)
	var sent atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		for len(seen) < n {
			m, err := c.Read(buf)
			if err != nil {
				if isTimeout(err) {
					return
				}
				continue // e.g. a queued ICMP error
			}
			if m == 4 {
				seen[binary.BigEndian.Uint32(buf)] = true
			}
			if sent.Load() {
				c.SetReadDeadline(time.Now().Add(quiet))
			}
		}
	}()
	var b [4]byte
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(b[:], uint32(i))
		if _, err := c.Write(b[:]); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
	}
	sent.Store(true)
	c.SetReadDeadline(time.Now().Add(quiet))
	<-done
	return len(seen)
}

func TestUDPEcho(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenUDP(t, true, 7)
	h.ListenUDP(t, false, 9)
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		if got := udpPings(t, netip.AddrPortFrom(a, 7), 20); got != 20 {
			t.Errorf("echo port 7: %d of 20 replies", got)
		}
		if got := udpPings(t, netip.AddrPortFrom(a, 9), 5); got != 0 {
			t.Errorf("discard port 9: %d replies, want 0", got)
		}
	})
}

func TestLoss(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Loss: 0.3})
	h.ListenUDP(t, true, 7)
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		const n = 200
		got := udpPings(t, netip.AddrPortFrom(a, 7), n)
		loss := 1 - float64(got)/n
		t.Logf("%d of %d replies: loss %.0f%%", got, n, loss*100)
		// 30% nominal; the bounds are more than 5 standard deviations wide.
		if loss < 0.15 || loss > 0.70 {
			t.Errorf("loss %.2f outside [0.15, 0.70]", loss)
		}
	})
}

func TestLossBoth(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Loss: 0.3, Both: true})
	h.ListenUDP(t, true, 7)
	const n = 400
	got := udpPings(t, netip.AddrPortFrom(h.Addr4, 7), n)
	loss := 1 - float64(got)/n
	t.Logf("%d of %d replies: loss %.0f%%", got, n, loss*100)
	// Round trip through two 30% links: 51% nominal.
	if loss < 0.38 || loss > 0.64 {
		t.Errorf("loss %.2f outside [0.38, 0.64]", loss)
	}
}

// connectRTTs dials addr n times and returns each connect's duration.
func connectRTTs(t *testing.T, addr netip.AddrPort, n int) []time.Duration {
	t.Helper()
	rtts := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		c, err := net.DialTimeout("tcp", addr.String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %v through the delay bridge: %v", addr, err)
		}
		rtts = append(rtts, time.Since(start))
		c.Close()
	}
	slices.Sort(rtts)
	return rtts
}

// TestDelay checks the lab's own delay line: bounds on the median are wide
// statistical bounds on a 50 ms ± 20 ms link, not a speed claim.
func TestDelay(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Delay: 50 * time.Millisecond, Jitter: 20 * time.Millisecond})
	h.ListenTCP(t, 80)
	h.ListenUDP(t, true, 7)
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		rtts := connectRTTs(t, netip.AddrPortFrom(a, 80), 50)
		med := rtts[len(rtts)/2]
		t.Logf("connect RTT min %v median %v max %v", rtts[0], med, rtts[len(rtts)-1])
		if med < 30*time.Millisecond || med > 150*time.Millisecond {
			t.Errorf("median connect RTT %v outside [30ms, 150ms] for a 50±20 ms link", med)
		}
		if rtts[0] == rtts[len(rtts)-1] {
			t.Errorf("no spread in connect RTT (all %v) with 20 ms jitter", med)
		}
		if got := udpPings(t, netip.AddrPortFrom(a, 7), 50); got != 50 {
			t.Errorf("udp echo through the bridge: %d of 50 replies", got)
		}
	})
	if s := h.BridgeStats(); s.Forwarded == 0 || s.Dropped != 0 || s.SendErrors != 0 {
		t.Errorf("bridge stats %+v: want frames forwarded, none dropped", s)
	}
}

// TestDelayBulkTCP moves a megabyte each way over a delayed link: large
// segments with offloaded checksums must cross the bridge intact.
func TestDelayBulkTCP(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Delay: 5 * time.Millisecond, Jitter: 2 * time.Millisecond, Both: true})
	h.ServeTCP(t, 7, func(c net.Conn) { io.Copy(c, c) })
	want := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(5, 6))
	for i := range want {
		want[i] = byte(r.Uint32())
	}
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, 7).String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(60 * time.Second))
		errc := make(chan error, 1)
		go func() {
			_, err := c.Write(want)
			c.(*net.TCPConn).CloseWrite()
			errc <- err
		}()
		got, err := io.ReadAll(c)
		if err != nil {
			t.Fatalf("read echo: %v", err)
		}
		if err := <-errc; err != nil {
			t.Fatalf("write: %v", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("echo of %d bytes came back as %d different bytes", len(want), len(got))
		}
	})
	t.Logf("bridge %+v", h.BridgeStats())
}

func TestDelayBoth(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Delay: 40 * time.Millisecond, Both: true})
	h.ListenTCP(t, 80)
	rtts := connectRTTs(t, netip.AddrPortFrom(h.Addr4, 80), 20)
	med := rtts[len(rtts)/2]
	t.Logf("connect RTT min %v median %v max %v", rtts[0], med, rtts[len(rtts)-1])
	// Two 40 ms legs: the SYN and the SYN-ACK are both held.
	if med < 70*time.Millisecond || med > 250*time.Millisecond {
		t.Errorf("median connect RTT %v outside [70ms, 250ms] for 40 ms each way", med)
	}
}

func TestLossAndDelay(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Loss: 0.3, Delay: 20 * time.Millisecond, Jitter: 5 * time.Millisecond})
	h.ListenUDP(t, true, 7)
	const n = 300
	got := udpPings(t, netip.AddrPortFrom(h.Addr4, 7), n)
	loss := 1 - float64(got)/n
	t.Logf("%d of %d replies: loss %.0f%%, bridge %+v", got, n, loss*100, h.BridgeStats())
	// 30% nominal; more than 5 standard deviations either side.
	if loss < 0.17 || loss > 0.45 {
		t.Errorf("loss %.2f outside [0.17, 0.45]", loss)
	}
}

func randomAddr(r *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits() / 8; i < len(b); i++ {
		b[i] = byte(r.IntN(254) + 1)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestAnyIPAndBlackhole(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	any4 := netip.MustParsePrefix("198.19.0.0/16")
	any6 := netip.MustParsePrefix("2001:db8:f000::/48")
	dark4 := netip.MustParsePrefix("198.18.252.0/24")
	dark6 := netip.MustParsePrefix("2001:db8:f001::/48")
	h.AnyIP(t, any4)
	h.AnyIP(t, any6)
	h.Blackhole(t, dark4)
	h.Blackhole(t, dark6)

	r := rand.New(rand.NewPCG(1, 2))
	for _, p := range []netip.Prefix{any4, any6} {
		for range 3 {
			a := randomAddr(r, p)
			if err := dial(a, 80); err != nil {
				t.Errorf("AnyIP %v port 80: %v", a, err)
			}
			if err := dial(a, 81); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("AnyIP %v port 81: got %v, want ECONNREFUSED", a, err)
			}
		}
	}
	for _, p := range []netip.Prefix{dark4, dark6} {
		a := randomAddr(r, p)
		if err := dial(a, 80); !isTimeout(err) {
			t.Errorf("blackholed %v: got %v, want a timeout", a, err)
		}
	}
}

func TestNoRouteOut(t *testing.T) {
	lab := netlab.New(t)
	lab.AddHost(netlab.HostConfig{})
	for _, fam := range []string{"-4", "-6"} {
		out, err := exec.Command("ip", fam, "route", "show", "default").CombinedOutput()
		if err != nil {
			t.Fatalf("ip %s route: %v: %s", fam, err, out)
		}
		if s := strings.TrimSpace(string(out)); s != "" {
			t.Errorf("scanner namespace has a default route: %s", s)
		}
	}
	// TEST-NET-2 and the IPv6 documentation space outside the lab: no route,
	// so connect fails before any packet is built.
	for _, a := range []string{"198.51.100.1", "2001:db9::1"} {
		if err := dial(netip.MustParseAddr(a), 80); !errors.Is(err, syscall.ENETUNREACH) {
			t.Errorf("dial %s: got %v, want ENETUNREACH", a, err)
		}
	}
}

func labNamespaces(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir("/run/netns")
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	var ours []string
	prefix := "psl-" + strconv.Itoa(os.Getpid()) + "-"
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) {
			ours = append(ours, e.Name())
		}
	}
	return ours
}

func TestCleanup(t *testing.T) {
	var names []string
	var ifnames []string
	t.Run("lab", func(t *testing.T) {
		lab := netlab.New(t)
		for range 3 {
			h := lab.AddHost(netlab.HostConfig{Loss: 0.1, Both: true})
			h.ListenTCP(t, 80)
			h.ListenUDP(t, true, 7)
			h.Drop(t, target.TCP, 81)
			h.AnyIP(t, netip.MustParsePrefix(fmt.Sprintf("198.19.%d.0/24", h.Subnet)))
			h.Start(t, "sleep", "600")
			names = append(names, h.Name)
			ifnames = append(ifnames, h.Ifname)
		}
		d := lab.AddHost(netlab.HostConfig{Delay: time.Millisecond, Loss: 0.1, Both: true})
		d.ListenTCP(t, 80)
		names = append(names, d.Name)
		ifnames = append(ifnames, d.Ifname)
		if got := len(labNamespaces(t)); got < 5 {
			t.Fatalf("%d lab namespaces while the lab is up, want at least 5 (one a delay wire)", got)
		}
	})
	left := labNamespaces(t)
	if len(left) != 0 {
		t.Errorf("lab namespaces left behind: %v", left)
	}
	for _, n := range names {
		if slices.Contains(left, n) {
			t.Errorf("namespace %s left behind", n)
		}
	}
	for _, ifn := range ifnames {
		if _, err := net.InterfaceByName(ifn); err == nil {
			t.Errorf("interface %s left behind", ifn)
		}
	}
	out, _ := exec.Command("ip", "route", "show", "198.19.0.0/16").CombinedOutput()
	if s := strings.TrimSpace(string(out)); s != "" {
		t.Errorf("routes left behind: %s", s)
	}
	out, _ = exec.Command("nft", "list", "tables").CombinedOutput()
	if strings.Contains(string(out), "portsense_lab") {
		t.Errorf("nft tables left in the scanner namespace: %s", out)
	}
}

func TestCloseEarly(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	lab.Close()
	lab.Close() // idempotent
	if _, err := os.Stat("/run/netns/" + h.Name); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("namespace %s still there after Close: %v", h.Name, err)
	}
	if err := h.Do(func() error { return nil }); err == nil {
		t.Error("Do on a closed host succeeded")
	}
}

func TestDoRunStart(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	before, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	var inside string
	if err := h.Do(func() error {
		var err error
		inside, err = os.Readlink("/proc/thread-self/ns/net")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if inside == before {
		t.Errorf("Do ran in the scanner namespace %s", inside)
	}
	want := errors.New("from fn")
	if err := h.Do(func() error { return want }); !errors.Is(err, want) {
		t.Errorf("Do error: got %v, want %v", err, want)
	}
	if out := h.Run(t, "ip", "-4", "addr", "show"); !strings.Contains(out, h.Addr4.String()+"/24") {
		t.Errorf("Run ip addr in the host namespace: no %v in\n%s", h.Addr4, out)
	}
	var pid int
	t.Run("start", func(t *testing.T) {
		cmd := h.Start(t, "sleep", "600")
		pid = cmd.Process.Pid
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			t.Fatal(err)
		}
		if ns != inside {
			t.Errorf("started process in %s, want the host namespace %s", ns, inside)
		}
	})
	// Cleanup of the subtest killed and reaped it.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("started process %d still there after cleanup: %v", pid, err)
	}
}

func TestServeTCPBanner(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{Subnet: 200})
	if h.Addr4 != netip.MustParseAddr("198.18.200.2") || h.Local6 != netip.MustParseAddr("2001:db8:200::1") {
		t.Errorf("subnet 200 addresses: %v %v", h.Addr4, h.Local6)
	}
	h.ListenTCPBanner(t, []byte("SSH-2.0-lab\r\n"), 22)
	h.ServeTCP(t, 23, func(c net.Conn) {
		buf := make([]byte, 16)
		n, _ := c.Read(buf)
		c.Write(bytes.ToUpper(buf[:n]))
	})
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(a, 22).String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(c)
		c.Close()
		if string(b) != "SSH-2.0-lab\r\n" {
			t.Errorf("banner %q", b)
		}
		c, err = net.DialTimeout("tcp", netip.AddrPortFrom(a, 23).String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hello"))
		b, _ = io.ReadAll(c)
		c.Close()
		if string(b) != "HELLO" {
			t.Errorf("echo %q", b)
		}
	})
	// A handler that never returns on its own is ended by cleanup.
	h.ServeTCP(t, 24, func(c net.Conn) { io.Copy(io.Discard, c) })
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(h.Addr4, 24).String(), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
}

func TestRangesAndUDPFilters(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 1000, 1500, 2000, 3000)
	h.DropRange(t, target.TCP, 1000, 1999)
	h.RejectResetRange(t, 2000, 2999)
	h.ListenUDP(t, true, 53, 54)
	h.RejectICMP(t, target.UDP, 54)
	h.DropRange(t, target.UDP, 55, 55)
	for _, p := range []uint16{1000, 1500} {
		if err := dial(h.Addr4, p); !isTimeout(err) {
			t.Errorf("port %d in dropped range: got %v, want a timeout", p, err)
		}
	}
	if err := dial(h.Addr4, 2000); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("port 2000 in reset range: got %v", err)
	}
	if err := dial(h.Addr4, 3000); err != nil {
		t.Errorf("port 3000 open: %v", err)
	}
	if got := udpPings(t, netip.AddrPortFrom(h.Addr4, 53), 3); got != 3 {
		t.Errorf("udp 53: %d of 3 echoes", got)
	}
	// Connected UDP sockets report ICMP errors on the next read.
	for _, tc := range []struct {
		port uint16
		want error
	}{{54, syscall.EHOSTUNREACH}, {56, syscall.ECONNREFUSED}} {
		c, err := net.Dial("udp", netip.AddrPortFrom(h.Addr4, tc.port).String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		_, err = c.Read(make([]byte, 8))
		c.Close()
		if !errors.Is(err, tc.want) {
			t.Errorf("udp %d: got %v, want %v", tc.port, err, tc.want)
		}
	}
}

func TestStaleRemoval(t *testing.T) {
	if ok, why := netlab.Available(); !ok {
		netlab.New(t) // skips or fails with the reason
		t.Fatal(why)
	}
	// A pid that is dead: a process that has exited and been reaped.
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	// A pid that is alive, standing for a parallel test binary.
	live := exec.Command("sleep", "600")
	if err := live.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { live.Process.Kill(); live.Wait() })

	staleName := fmt.Sprintf("psl-%d-1", dead.Process.Pid)
	liveName := fmt.Sprintf("psl-%d-1", live.Process.Pid)
	for _, n := range []string{staleName, liveName} {
		if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v: %s", n, err, out)
		}
		t.Cleanup(func() { exec.Command("ip", "netns", "del", n).Run() })
	}
	netlab.New(t)
	if _, err := os.Stat("/run/netns/" + staleName); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s of dead pid not removed: %v", staleName, err)
	}
	if _, err := os.Stat("/run/netns/" + liveName); err != nil {
		t.Errorf("namespace %s of a live pid removed: %v", liveName, err)
	}
}

func TestParallelLabs(t *testing.T) {
	for i := range 4 {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			lab := netlab.New(t)
			a, b := lab.AddHost(netlab.HostConfig{}), lab.AddHost(netlab.HostConfig{})
			if a.Subnet == b.Subnet {
				t.Fatalf("two hosts on subnet %d", a.Subnet)
			}
			a.ListenTCP(t, 80)
			b.ListenTCP(t, 81)
			if err := dial(a.Addr4, 80); err != nil {
				t.Error(err)
			}
			if err := dial(b.Addr6, 81); err != nil {
				t.Error(err)
			}
			// Each host answers only for itself.
			if err := dial(b.Addr4, 80); !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("port 80 on the other host: got %v, want ECONNREFUSED", err)
			}
		})
	}
}

// TestICMPNoRateLimit checks that a lab host answers every rejected probe:
// real hosts rate-limit ICMP errors (Linux: about 6 per destination in a
// burst, then one a second), which would make reject tests inexact.
func TestICMPNoRateLimit(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	const lo, n = 20000, 300
	h.RejectICMPRange(t, target.UDP, lo, lo+n-1)
	bothFamilies(t, h, func(t *testing.T, a netip.Addr) {
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.Dial("udp", netip.AddrPortFrom(a, uint16(lo+i)).String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[i] = c
		}
		for _, c := range conns {
			if _, err := c.Write([]byte("probe")); err != nil {
				t.Fatal(err)
			}
		}
		// A connected UDP socket reports the ICMP error on its next read.
		errs := 0
		deadline := time.Now().Add(2 * time.Second)
		buf := make([]byte, 16)
		for _, c := range conns {
			c.SetReadDeadline(deadline)
			_, err := c.Read(buf)
			if errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.EACCES) ||
				errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ENETUNREACH) {
				errs++
			}
		}
		t.Logf("%d ICMP errors for %d rejected datagrams", errs, n)
		if errs < n-10 {
			t.Errorf("%d ICMP errors for %d rejected datagrams, want at least %d: rate limited?", errs, n, n-10)
		}
	})
}

// BenchmarkBridge floods a delayed link (1 ms each way, so every frame goes
// through a delay queue) with small UDP datagrams and reports the frames per
// second the bridge forwarded and the share it lost.
func BenchmarkBridge(b *testing.B) {
	lab := netlab.New(b)
	h := lab.AddHost(netlab.HostConfig{Delay: time.Millisecond, Both: true})
	h.ListenUDP(b, false, 9)
	c, err := net.Dial("udp", netip.AddrPortFrom(h.Addr4, 9).String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	// Resolve the neighbour first, so the flood is not queued behind ARP.
	c.Write([]byte("warm-up"))
	time.Sleep(20 * time.Millisecond)
	before := h.BridgeStats()
	payload := make([]byte, 18) // 64-byte frames
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		c.Write(payload)
	}
	// Let the queue drain before counting.
	for i := 0; i < 200; i++ {
		time.Sleep(5 * time.Millisecond)
		s := h.BridgeStats()
		if s.Forwarded-before.Forwarded+s.Dropped+s.SocketDrops >= uint64(b.N) {
			break
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	s := h.BridgeStats()
	fwd := s.Forwarded - before.Forwarded
	b.ReportMetric(float64(fwd)/elapsed.Seconds(), "frames/s")
	b.ReportMetric(100*float64(s.Dropped+s.SocketDrops)/float64(b.N), "%lost")
}

package probe

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// collector records what a session delivers.
type collector struct {
	mu  sync.Mutex
	got map[target.Target]Reply
	n   int
}

func newCollector() *collector { return &collector{got: map[target.Target]Reply{}} }

func (c *collector) deliver(r Reply) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n++
	if _, ok := c.got[r.Target]; !ok {
		c.got[r.Target] = r
	}
}

func (c *collector) count() (distinct, all int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got), c.n
}

func (c *collector) reply(t target.Target) (Reply, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.got[t]
	return r, ok
}

func openSYN(t *testing.T, cfg *SYNConfig) (*SYNSession, *collector) {
	t.Helper()
	p, err := NewSYN(cfg)
	if err != nil {
		t.Fatal(err)
	}
	col := newCollector()
	s, err := p.Open(context.Background(), col.deliver)
	if err != nil {
		t.Fatal(err)
	}
	ss := s.(*SYNSession)
	t.Cleanup(func() { ss.Close() })
	return ss, col
}

// scan plays a minimal engine: it probes every target not yet answered,
// flushes, and waits until every target answered or replies stop coming
// for quiet; then it retries, up to tries times.
func scan(t *testing.T, s *SYNSession, col *collector, targets []target.Target, tries int, quiet time.Duration) {
	t.Helper()
	for try := range tries {
		pending := 0
		for _, tg := range targets {
			if _, ok := col.reply(tg); ok {
				continue
			}
			pending++
			if err := s.Send(Probe{Target: tg, Try: try}); err != nil {
				t.Fatalf("Send(%v): %v", tg, err)
			}
		}
		if pending == 0 {
			return
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		last, _ := col.count()
		idle := time.Now()
		for time.Since(idle) < quiet {
			time.Sleep(5 * time.Millisecond)
			n, _ := col.count()
			if n == len(targets) {
				return
			}
			if n != last {
				last, idle = n, time.Now()
			}
		}
	}
}

func tcp(a netip.Addr, port uint16) target.Target {
	return target.Target{Addr: a, Port: target.Port{Proto: target.TCP, Num: port}}
}

// unlimitICMP lifts the host's ICMP error rate limits, so that a scan of
// many rejected ports gets every error (real hosts limit them; the engine's
// retries cope, but a test wants exact answers).
func unlimitICMP(t *testing.T, h *netlab.Host) {
	for _, kv := range []string{"net.ipv4.icmp_ratemask=0", "net.ipv4.icmp_ratelimit=0", "net.ipv6.icmp.ratelimit=0", "net.ipv6.icmp.ratemask=128", "net.ipv4.icmp_msgs_per_sec=10000000", "net.ipv4.icmp_msgs_burst=10000000"} {
		if out, err := exec.Command("ip", "netns", "exec", h.Name, "sysctl", "-w", kv).CombinedOutput(); err != nil {
			t.Logf("sysctl %s: %v %s", kv, err, out)
		}
	}
}

func TestSYNStates(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	unlimitICMP(t, h)
	h.ListenTCP(t, 22, 80, 83)
	h.Drop(t, target.TCP, 81)
	h.RejectICMP(t, target.TCP, 82)
	h.RejectReset(t, 83)
	s, col := openSYN(t, nil)

	for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
		want := map[uint16]struct {
			state  result.State
			reason result.Reason
		}{
			22: {result.Open, result.SynAck},
			80: {result.Open, result.SynAck},
			82: {result.Filtered, result.AdminProhibited},
			83: {result.Closed, result.Reset},
			84: {result.Closed, result.Reset},
		}
		var targets []target.Target
		for _, p := range []uint16{22, 80, 81, 82, 83, 84} {
			targets = append(targets, tcp(a, p))
		}
		scan(t, s, col, targets, 2, 300*time.Millisecond)
		for port, w := range want {
			r, ok := col.reply(tcp(a, port))
			if !ok {
				t.Errorf("%v port %d: no reply", a, port)
				continue
			}
			if r.State != w.state || r.Reason != w.reason || r.Try != 0 || r.ReplyTTL != 64 || r.From.IsValid() || r.Time.IsZero() {
				t.Errorf("%v port %d: got %+v, want %v/%v try 0 ttl 64", a, port, r, w.state, w.reason)
			}
		}
		if r, ok := col.reply(tcp(a, 81)); ok {
			t.Errorf("%v dropped port 81 answered: %+v", a, r)
		}
	}

	st := s.Stats()
	if st.Forged != 0 || st.Delivered < 10 || st.Sent < 12 {
		t.Errorf("stats %+v", st)
	}
}

func TestSYNTryInSourcePort(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	for _, try := range []int{0, 3, 15, 17} {
		s, col := openSYN(t, &SYNConfig{SourcePort: 50000})
		for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
			if err := s.Send(Probe{Target: tcp(a, 80), Try: try}); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Second)
		for n, _ := col.count(); n < 2 && time.Now().Before(deadline); n, _ = col.count() {
			time.Sleep(5 * time.Millisecond)
		}
		for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
			r, ok := col.reply(tcp(a, 80))
			if !ok || r.Try != try%SYNSourcePorts || r.State != result.Open {
				t.Errorf("try %d to %v: got %+v (ok %v)", try, a, r, ok)
			}
		}
		s.Close()
	}
}

func TestSYNLoopback(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	var open []netip.AddrPort
	// Loopback, and this host's own addresses (routed through lo too).
	for _, addr := range []string{"127.0.0.1:0", "[::1]:0", netip.AddrPortFrom(h.Local4, 0).String(), netip.AddrPortFrom(h.Local6, 0).String()} {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		open = append(open, netip.MustParseAddrPort(ln.Addr().String()))
	}
	s, col := openSYN(t, nil)
	var targets []target.Target
	for _, ap := range open {
		targets = append(targets, tcp(ap.Addr(), ap.Port()), tcp(ap.Addr(), ap.Port()+1))
	}
	scan(t, s, col, targets, 2, 300*time.Millisecond)
	for i, tg := range targets {
		want := result.Open
		if i%2 == 1 {
			want = result.Closed
		}
		if r, ok := col.reply(tg); !ok || r.State != want {
			t.Errorf("%v: got %+v (ok %v), want %v", tg, r, ok, want)
		}
	}
}

// injector sends forged packets from inside a host's namespace.
type injector struct {
	fd4, fd6 int
}

func newInjector(t *testing.T, h *netlab.Host) *injector {
	in := &injector{}
	err := h.Do(func() error {
		var err error
		if in.fd4, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW); err != nil {
			return err
		}
		in.fd6, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
		return err
	})
	if err != nil {
		t.Fatalf("injector sockets: %v", err)
	}
	t.Cleanup(func() { unix.Close(in.fd4); unix.Close(in.fd6) })
	return in
}

func (in *injector) send(t *testing.T, src, dst netip.Addr, ls ...gopacket.SerializableLayer) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	var err error
	if dst.Is4() {
		err = unix.Sendto(in.fd4, buf.Bytes(), 0, &unix.SockaddrInet4{Addr: dst.As4()})
	} else {
		err = unix.Sendto(in.fd6, buf.Bytes(), 0, &unix.SockaddrInet6{Addr: dst.As16()})
	}
	if err != nil && !errors.Is(err, unix.ENOBUFS) {
		t.Fatalf("inject: %v", err)
	}
}

func ipLayer(src, dst netip.Addr, proto layers.IPProtocol) (gopacket.SerializableLayer, gopacket.NetworkLayer) {
	if src.Is4() {
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		return ip, ip
	}
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
	return ip, ip
}

// forge sends a SYN-ACK, a RST and an ICMP admin-prohibited, each claiming
// to answer a probe from us:sport to them:port, with random sequence data.
func (in *injector) forge(t *testing.T, them, us netip.Addr, port, sport uint16, rng *rand.Rand) {
	for _, flags := range []string{"SA", "R"} {
		ipl, nl := ipLayer(them, us, layers.IPProtocolTCP)
		tc := &layers.TCP{SrcPort: layers.TCPPort(port), DstPort: layers.TCPPort(sport), Seq: rng.Uint32(), Ack: rng.Uint32(), ACK: true, SYN: flags == "SA", RST: flags == "R", Window: 1024}
		_ = tc.SetNetworkLayerForChecksum(nl)
		in.send(t, them, us, ipl, tc)
	}
	// The quoted probe: what a real SYN from us would look like, with a wrong seq.
	qip, qnl := ipLayer(us, them, layers.IPProtocolTCP)
	qt := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(port), Seq: rng.Uint32(), SYN: true, Window: 1024}
	_ = qt.SetNetworkLayerForChecksum(qnl)
	qb := gopacket.NewSerializeBuffer()
	_ = gopacket.SerializeLayers(qb, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, qip, qt)
	if them.Is4() {
		ipl, _ := ipLayer(them, us, layers.IPProtocolICMPv4)
		in.send(t, them, us, ipl, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(3, 13)}, gopacket.Payload(qb.Bytes()[:28]))
	} else {
		ipl, nl := ipLayer(them, us, layers.IPProtocolICMPv6)
		ic := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(1, 1)}
		_ = ic.SetNetworkLayerForChecksum(nl)
		in.send(t, them, us, ipl, ic, gopacket.Payload(append(make([]byte, 4), qb.Bytes()...)))
	}
}

func TestSYNForgedRepliesRejected(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	const lo, hi = 1000, 1199
	h.DropRange(t, target.TCP, lo, hi) // genuine probes get no answer at all
	s, col := openSYN(t, nil)
	in := newInjector(t, h)
	rng := rand.New(rand.NewPCG(1, 2))

	var targets []target.Target
	for p := uint16(lo); p <= hi; p++ {
		targets = append(targets, tcp(h.Addr4, p), tcp(h.Addr6, p))
	}
	done := make(chan struct{})
	injected := 0
	go func() {
		defer close(done)
		for round := range 5 {
			for p := uint16(lo); p <= hi; p++ {
				sport := DefaultSYNSourcePort + uint16(rng.IntN(SYNSourcePorts))
				in.forge(t, h.Addr4, h.Local4, p, sport, rng)
				in.forge(t, h.Addr6, h.Local6, p, sport, rng)
				injected += 6
			}
			_ = round
		}
	}()
	scan(t, s, col, targets, 3, 200*time.Millisecond)
	<-done
	time.Sleep(200 * time.Millisecond)
	st := s.Stats()
	if _, all := col.count(); all != 0 {
		t.Errorf("%d forged replies delivered", all)
	}
	if st.Delivered != 0 || st.Forged < uint64(injected)*9/10 {
		t.Errorf("injected %d forged packets; stats %+v", injected, st)
	}
	t.Logf("injected %d, stats %+v", injected, st)
}

func TestSYNHorizontal(t *testing.T) {
	horizontal(t, netip.MustParsePrefix("198.19.0.0/20"), netip.MustParsePrefix("2001:db8:ff00::/116"))
}

// TestSYNHorizontal16 is the horizontal check: one port over
// 65,536 AnyIP hosts, every one found.
func TestSYNHorizontal16(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 65,536 hosts")
	}
	horizontal(t, netip.MustParsePrefix("198.19.0.0/16"))
}

func horizontal(t *testing.T, prefixes ...netip.Prefix) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	for _, p := range prefixes {
		h.AnyIP(t, p)
	}
	h.ListenTCP(t, 80)
	s, col := openSYN(t, nil)
	for _, p := range prefixes {
		var targets []target.Target
		for a := p.Addr(); p.Contains(a); a = a.Next() {
			targets = append(targets, tcp(a, 80))
		}
		scan(t, s, col, targets, 4, 500*time.Millisecond)
		found := 0
		for _, tg := range targets {
			if r, ok := col.reply(tg); ok && r.State == result.Open && r.Reason == result.SynAck {
				found++
			}
		}
		if found != len(targets) {
			t.Errorf("%v: %d of %d hosts found open", p, found, len(targets))
		}
	}
	st := s.Stats()
	if st.Skipped != 0 || st.Forged != 0 {
		t.Errorf("stats %+v: want nothing skipped or forged", st)
	}
	t.Logf("stats %+v", st)
}

// vertical probes every port of h over IPv4 and IPv6 and checks each
// verdict against the lab's definition: open, closed, dropped, rejected.
func vertical(t *testing.T, h *netlab.Host, tries int, quiet time.Duration) {
	verticalCfg(t, h, tries, quiet, nil)
}

// verticalCfg is vertical with a prober configured by cfg.
func verticalCfg(t *testing.T, h *netlab.Host, tries int, quiet time.Duration, cfg *SYNConfig) {
	unlimitICMP(t, h)
	open := []uint16{22, 80, 443, 8080, 65535}
	h.ListenTCP(t, open...)
	h.DropRange(t, target.TCP, 10000, 10999)
	h.RejectICMPRange(t, target.TCP, 20000, 20999)
	isOpen := map[uint16]bool{}
	for _, p := range open {
		isOpen[p] = true
	}
	s, col := openSYN(t, cfg)
	for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
		var targets []target.Target
		for p := 1; p <= 65535; p++ {
			targets = append(targets, tcp(a, uint16(p)))
		}
		scan(t, s, col, targets, tries, quiet)
		bad := 0
		for _, tg := range targets {
			p := tg.Port.Num
			r, ok := col.reply(tg)
			var good bool
			switch {
			case p >= 10000 && p <= 10999:
				good = !ok
			case p >= 20000 && p <= 20999:
				good = ok && r.State == result.Filtered && r.Reason == result.AdminProhibited
			case isOpen[p]:
				good = ok && r.State == result.Open && r.Reason == result.SynAck
			default:
				good = ok && r.State == result.Closed && r.Reason == result.Reset
			}
			if !good {
				if bad++; bad <= 5 {
					t.Errorf("%v: got %+v (reply %v)", tg, r, ok)
				}
			}
		}
		if bad > 0 {
			t.Errorf("%v: %d ports misclassified", a, bad)
		}
	}
	t.Logf("stats %+v", s.Stats())
}

func TestSYNVerticalAllPorts(t *testing.T) {
	lab := netlab.New(t)
	vertical(t, lab.AddHost(netlab.HostConfig{}), 3, 300*time.Millisecond)
}

// TestSYNNoTxRing runs the vertical scan with sendmmsg instead of the
// default transmit rings: every verdict exact.
func TestSYNNoTxRing(t *testing.T) {
	lab := netlab.New(t)
	verticalCfg(t, lab.AddHost(netlab.HostConfig{}), 3, 300*time.Millisecond, &SYNConfig{NoTxRing: true})
}

// TestSYNVerticalLossy is the same scan through 5 % loss of the host's
// replies: retries (played here by scan) must recover every verdict.
func TestSYNVerticalLossy(t *testing.T) {
	lab := netlab.New(t)
	vertical(t, lab.AddHost(netlab.HostConfig{Loss: 0.05}), 8, 300*time.Millisecond)
}

// TestSYNVerticalJitter adds 50±50 ms of delay (netem; skipped without it).
func TestSYNVerticalJitter(t *testing.T) {
	if testing.Short() {
		t.Skip("slow: 2 x 65535 ports through netem")
	}
	lab := netlab.New(t)
	vertical(t, lab.AddHost(netlab.HostConfig{Loss: 0.05, Delay: 50 * time.Millisecond, Jitter: 50 * time.Millisecond}), 8, 400*time.Millisecond)
}

func TestSYNNoCapability(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root: the permission error cannot be provoked")
	}
	_, err := NewSYN(nil)
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), "CAP_NET_RAW") {
		t.Fatalf("NewSYN as non-root: %v, want os.ErrPermission naming CAP_NET_RAW", err)
	}
}

// TestSYNOnLinkDeadHosts scans a lab link where only one neighbour exists:
// Send never waits for ARP/NDP, the live host is found, and the probes to
// silent neighbours are counted as skipped once resolution gives up.
func TestSYNOnLinkDeadHosts(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	s, col := openSYN(t, &SYNConfig{ResolveTimeout: 100 * time.Millisecond})
	dead := 0
	for _, base := range []netip.Addr{h.Addr4, h.Addr6} {
		a := base
		for i := range 20 {
			for _, port := range []uint16{80, 81} {
				if err := s.Send(Probe{Target: tcp(a, port)}); err != nil {
					t.Fatalf("Send(%v): %v", a, err)
				}
				if i > 0 {
					dead++
				}
			}
			a = a.Next()
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for s.Stats().Skipped < uint64(dead) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	for _, a := range []netip.Addr{h.Addr4, h.Addr6} {
		if r, ok := col.reply(tcp(a, 80)); !ok || r.State != result.Open {
			t.Errorf("%v:80: %+v (ok %v), want open", a, r, ok)
		}
		if r, ok := col.reply(tcp(a, 81)); !ok || r.State != result.Closed {
			t.Errorf("%v:81: %+v (ok %v), want closed", a, r, ok)
		}
	}
	st := s.Stats()
	if st.Skipped != uint64(dead) || st.Sent != 4 {
		t.Errorf("stats %+v, want %d skipped and 4 sent", st, dead)
	}
	// A known-dead neighbour now fails at once with ErrTargetSkipped.
	if err := s.Send(Probe{Target: tcp(h.Addr4.Next(), 80)}); !errors.Is(err, ErrTargetSkipped) {
		t.Errorf("Send to a dead neighbour: %v, want ErrTargetSkipped", err)
	}
}

// TestSYNFlushTimer sends a single probe without calling Flush: the
// partial batch must still go out after FlushDelay.
func TestSYNFlushTimer(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 80)
	wait := func(col *collector, tg target.Target) (Reply, bool) {
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if r, ok := col.reply(tg); ok {
				return r, true
			}
			time.Sleep(5 * time.Millisecond)
		}
		return Reply{}, false
	}
	for _, workers := range []int{-1, 2} {
		s, col := openSYN(t, &SYNConfig{SendWorkers: workers, FlushDelay: time.Millisecond})
		// The first probe waits for neighbour discovery, which flushes by
		// itself; the second finds the neighbour cached and only the
		// timer sends it.
		for _, port := range []uint16{80, 81} {
			if err := s.Send(Probe{Target: tcp(h.Addr6, port)}); err != nil {
				t.Fatal(err)
			}
			if _, ok := wait(col, tcp(h.Addr6, port)); !ok {
				t.Errorf("workers %d: no reply from port %d without Flush", workers, port)
			}
		}
	}
}

// ringMaps counts the process's shared socket mappings: PACKET_TX_RINGs.
func ringMaps(t *testing.T) int {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, " rw-s ") && strings.Contains(l, "socket:[") {
			n++
		}
	}
	return n
}

// A Send that takes a ring slot and then skips its target (Build gives
// 0) leaves the slot uncommitted; Close must still release every ring.
// Before Close reset the writer, the ring stayed mapped (and its socket
// open) for the life of the process.
func TestSYNCloseReleasesRings(t *testing.T) {
	netlab.New(t) // root and a namespace of our own
	before := ringMaps(t)
	s, _ := openSYN(t, nil)
	if ringMaps(t) == before {
		t.Skip("no transmit ring on this kernel: nothing to release")
	}
	s.mu.Lock()
	_ = s.tx.Slot() // what Send does before Build refuses a target
	s.mu.Unlock()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := ringMaps(t); got != before {
		t.Errorf("%d socket mappings after Close, want %d", got, before)
	}
}

package probe

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// blackholeLab makes a host that swallows p, so that a send benchmark
// measures the sender and not the host's replies.
func blackholeLab(tb testing.TB, p4, p6 netip.Prefix) {
	lab := netlab.New(tb)
	h := lab.AddHost(netlab.HostConfig{})
	h.Blackhole(tb, p4)
	h.Blackhole(tb, p6)
}

func TestSYNSendAllocs(t *testing.T) {
	p4 := netip.MustParsePrefix("198.19.32.0/20")
	p6 := netip.MustParsePrefix("2001:db8:ff20::/116")
	blackholeLab(t, p4, p6)
	for _, ring := range []bool{false, true} {
		s, _ := openSYN(t, &SYNConfig{NoTxRing: !ring})
		synSendAllocs(t, s, ring, p4, p6)
	}
}

func synSendAllocs(t *testing.T, s *SYNSession, ring bool, p4, p6 netip.Prefix) {
	for _, p := range []netip.Prefix{p4, p6} {
		a := p.Addr().Next()
		port := uint16(0)
		send := func() {
			port++
			if err := s.Send(Probe{Target: tcp(a, port), Try: int(port)}); err != nil {
				t.Fatal(err)
			}
		}
		send() // resolves and caches the route and next hop
		if n := testing.AllocsPerRun(2000, send); n != 0 {
			t.Errorf("%v (ring %v): Send allocates %v times per probe", p, ring, n)
		}
		if n := testing.AllocsPerRun(100, func() { send(); _ = s.Flush() }); n != 0 {
			t.Errorf("%v (ring %v): Send+Flush allocates %v times", p, ring, n)
		}
	}
}

// sink routes 198.19.128.0/18 into a veth whose peer is down, in the
// test's own namespace: the kernel drops each frame after the driver's
// transmit, so a benchmark measures only the sending side.
func sink(tb testing.TB) netip.Prefix {
	ip := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	ip("link", "add", "pssink0", "type", "veth", "peer", "name", "pssink1")
	tb.Cleanup(func() { _ = exec.Command("ip", "link", "del", "pssink0").Run() })
	ip("addr", "add", "198.18.254.1/24", "dev", "pssink0")
	ip("link", "set", "pssink0", "up")
	ip("neigh", "replace", "198.18.254.2", "lladdr", "02:00:00:00:00:02", "dev", "pssink0", "nud", "permanent")
	ip("route", "add", "198.19.128.0/18", "via", "198.18.254.2", "dev", "pssink0", "onlink")
	return netip.MustParsePrefix("198.19.128.0/18")
}

// cpuTime is the process's user+system CPU time so far: with the
// benchmark's sending threads it includes the kernel's send path and, on a
// veth, the receiving namespace's work that runs inline in the send call.
func cpuTime() time.Duration {
	var ru unix.Rusage
	_ = unix.Getrusage(unix.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSYNSend measures the whole send path, Send through sendmmsg
// (batchN) or a PACKET_TX_RING (ringN) into a lab veth, in probes per
// second and CPU time per probe (cpu-ns/op, every thread of the process).
func BenchmarkSYNSend(b *testing.B) {
	p6 := netip.MustParsePrefix("2001:db8:ff30::/112")
	p4 := netip.MustParsePrefix("198.19.0.0/16")
	blackholeLab(b, p4, p6)
	ps := sink(b)
	for _, c := range []struct {
		name           string
		p              netip.Prefix
		batch, workers int
		ring           bool
	}{
		{"veth/v4/batch64", p4, 64, 0, false}, {"veth/v4/batch1", p4, 1, 0, false}, {"veth/v4/batch256", p4, 256, 0, false},
		{"veth/v4/batch64/sync", p4, 64, -1, false}, {"veth/v4/batch64/workers1", p4, 64, 1, false},
		{"veth/v6/batch64", p6, 64, 0, false},
		{"sink/v4/batch64", ps, 64, 0, false}, {"sink/v4/batch64/sync", ps, 64, -1, false}, {"sink/v4/batch64/workers1", ps, 64, 1, false},
		// The same through PACKET_TX_RING sockets.
		{"veth/v4/ring64", p4, 64, 0, true}, {"veth/v4/ring256", p4, 256, 0, true},
		{"veth/v4/ring64/sync", p4, 64, -1, true}, {"veth/v4/ring64/workers1", p4, 64, 1, true},
		{"veth/v6/ring64", p6, 64, 0, true},
		{"sink/v4/ring64", ps, 64, 0, true}, {"sink/v4/ring64/sync", ps, 64, -1, true}, {"sink/v4/ring64/workers1", ps, 64, 1, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewSYN(&SYNConfig{BatchSize: c.batch, SendWorkers: c.workers, NoTxRing: !c.ring})
			if err != nil {
				b.Fatal(err)
			}
			sess, err := p.Open(b.Context(), func(Reply) {})
			if err != nil {
				b.Fatal(err)
			}
			defer sess.Close()
			s := sess.(*SYNSession)
			a := c.p.Addr()
			_ = s.Send(Probe{Target: tcp(a, 1)})
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu := time.Now(), cpuTime()
			for i := 0; i < b.N; i++ {
				if err := s.Send(Probe{Target: target.Target{Addr: a, Port: target.Port{Proto: target.TCP, Num: uint16(i)}}}); err != nil {
					b.Fatal(err)
				}
				if uint16(i) == 0xffff {
					a = a.Next()
					if !c.p.Contains(a) {
						a = c.p.Addr()
					}
				}
			}
			_ = s.Flush()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

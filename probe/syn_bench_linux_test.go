package probe

import (
	"net/netip"
	"os/exec"
	"testing"
	"time"

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
	s, _ := openSYN(t, nil)
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
			t.Errorf("%v: Send allocates %v times per probe", p, n)
		}
		if n := testing.AllocsPerRun(100, func() { send(); _ = s.Flush() }); n != 0 {
			t.Errorf("%v: Send+Flush allocates %v times", p, n)
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

// BenchmarkSYNSend measures the whole send path, Send through sendmmsg
// into a lab veth, in probes per second.
func BenchmarkSYNSend(b *testing.B) {
	p6 := netip.MustParsePrefix("2001:db8:ff30::/112")
	p4 := netip.MustParsePrefix("198.19.0.0/16")
	blackholeLab(b, p4, p6)
	ps := sink(b)
	for _, c := range []struct {
		name           string
		p              netip.Prefix
		batch, workers int
	}{
		{"veth/v4/batch64", p4, 64, 0}, {"veth/v4/batch1", p4, 1, 0}, {"veth/v4/batch256", p4, 256, 0},
		{"veth/v4/batch64/sync", p4, 64, -1}, {"veth/v4/batch64/workers1", p4, 64, 1},
		{"veth/v6/batch64", p6, 64, 0},
		{"sink/v4/batch64", ps, 64, 0}, {"sink/v4/batch64/sync", ps, 64, -1}, {"sink/v4/batch64/workers1", ps, 64, 1},
	} {
		b.Run(c.name, func(b *testing.B) {
			p, err := NewSYN(&SYNConfig{BatchSize: c.batch, SendWorkers: c.workers})
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
			start := time.Now()
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
		})
	}
}

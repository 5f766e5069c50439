package scanner

import (
	"context"
	"encoding/xml"
	"os/exec"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// BenchmarkEngine measures the engine's own cost per probe: a prober that
// answers at once, so only bookkeeping, the window and the results channel
// remain.
func BenchmarkEngine(b *testing.B) {
	h := target.MustParseHosts("198.18.0.0/16")
	p, _ := target.ParsePorts("1-1024", target.TCP)
	sp, _ := target.NewSpace(h, p)
	s, err := New(&fakeNet{state: labState}, WithTiming(T5), WithMaxRetries(0), WithMinRetries(0))
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc, err := s.Start(ctx, sp)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, ok := <-sc.Results(); !ok {
			b.Fatal("scan ended early")
		}
	}
	b.StopTimer()
	cancel()
	for range sc.Results() {
	}
}

// BenchmarkLabConnectAllPorts scans all 65,535 TCP ports of a lab host
// with the connect prober and, when nmap is installed, runs
// `nmap -n -Pn -sT -p- -T5` against the same host in the same run. It
// reports both wall times, their ratio, and the ports on which the two
// disagree.
func BenchmarkLabConnectAllPorts(b *testing.B) {
	lab := netlab.New(b)
	h := lab.AddHost(netlab.HostConfig{})
	connectLayout.buildTB(b, h)
	nmap, _ := exec.LookPath("nmap")
	var ours, theirs time.Duration
	for range b.N {
		t0 := time.Now()
		got := scanAllPorts(b, h.Addr4, WithTiming(T5))
		ours += time.Since(t0)
		if nmap == "" {
			continue
		}
		t0 = time.Now()
		out, err := exec.Command(nmap, "-n", "-Pn", "-sT", "-p-", "-T5", "-oX", "-", h.Addr4.String()).Output()
		theirs += time.Since(t0)
		if err != nil {
			b.Fatalf("nmap: %v", err)
		}
		b.ReportMetric(float64(disagreements(b, got, out)), "nmap-disagree")
	}
	b.ReportMetric(ours.Seconds()/float64(b.N), "s/scan")
	if nmap != "" {
		b.ReportMetric(theirs.Seconds()/float64(b.N), "nmap-s/scan")
		b.ReportMetric(ours.Seconds()/theirs.Seconds(), "ratio")
	}
}

func scanAllPorts(tb testing.TB, addr interface{ String() string }, opts ...Option) map[uint16]result.State {
	tb.Helper()
	a := target.MustParseHosts(addr.String())
	ports, _ := target.ParsePorts("1-65535", target.TCP)
	sp, err := target.NewSpace(a, ports)
	if err != nil {
		tb.Fatal(err)
	}
	s, err := New(connectProber(), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	sc, err := s.Start(context.Background(), sp)
	if err != nil {
		tb.Fatal(err)
	}
	got := map[uint16]result.State{}
	for r := range sc.Results() {
		got[r.AddrPort.Port()] = r.State
	}
	if err := sc.Wait(); err != nil {
		tb.Fatal(err)
	}
	return got
}

// disagreements counts ports whose state in nmap's XML differs from ours;
// ports nmap summarises as extraports take the extraports state.
func disagreements(tb testing.TB, ours map[uint16]result.State, nmapXML []byte) int {
	var run struct {
		Hosts []struct {
			Ports struct {
				Extra []struct {
					State string `xml:"state,attr"`
				} `xml:"extraports"`
				Port []struct {
					ID    uint16 `xml:"portid,attr"`
					State struct {
						State string `xml:"state,attr"`
					} `xml:"state"`
				} `xml:"port"`
			} `xml:"ports"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(nmapXML, &run); err != nil || len(run.Hosts) != 1 {
		tb.Fatalf("nmap XML: %v", err)
	}
	ports := run.Hosts[0].Ports
	theirs := map[uint16]string{}
	for _, p := range ports.Port {
		theirs[p.ID] = p.State.State
	}
	extra := ""
	if len(ports.Extra) > 0 {
		extra = ports.Extra[0].State
	}
	n := 0
	for p := 1; p <= 65535; p++ {
		want, ok := theirs[uint16(p)]
		if !ok {
			want = extra
		}
		if ours[uint16(p)].String() != want {
			n++
		}
	}
	return n
}

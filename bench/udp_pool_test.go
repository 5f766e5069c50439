//go:build benchcompare && linux

package bench

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"net/netip"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// The UDP comparison of issue 14: nmap -sU at its default timing from one
// address against examples/scan -sU from a pool of 16 claimed addresses
// (--source-pool 16), side by side in one run, against a host that keeps
// its kernel's ICMP rate limit (per destination address). IPv4 only.
//
//	go test -c -tags benchcompare -o /tmp/bench.test ./bench/ && go build -o /tmp/scan ./examples/scan
//	cd bench && sudo /tmp/bench.test -test.run '^TestUDPRateLimitPool$' -test.v -test.timeout 60m \
//	    -cmp.scan=/tmp/scan [-udppool.nmap=false] [-udp.ports=N] [-udp.md=FILE]
//
// Ours runs at its defaults; with -sU a pool rotates per target, so the
// engine paces each (host, source) ICMP budget on its own.
var flagPoolNmap = flag.Bool("udppool.nmap", true, "run nmap beside the pool scan")

func TestUDPRateLimitPool(t *testing.T) {
	if *flagScan == "" {
		t.Fatal("-cmp.scan (the examples/scan binary) is required")
	}
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{ICMPRateLimit: true})
	h.StartDNSmasq(t)
	h.StartChrony(t)
	h.StartSNMPd(t)
	h.Drop(t, target.UDP, udpBenchDrop...)
	h.RejectICMP(t, target.UDP, udpBenchReject...)
	a := h.Local4.As4()
	a[3] = 3
	s3 := netipFrom4(a)
	mustRun(t, "ip", "addr", "add", s3.String()+"/24", "dev", h.Ifname)
	n := uint16(*flagUDPPorts)
	dir := t.TempDir()
	pool := &udpRun{name: toolOurs + " (pool 16)", fam: "IPv4", maxPort: n, bin: *flagScan, parse: parseJSONL,
		args: []string{"-sU", "-n", "-Pn", "-v", "-p", fmt.Sprintf("1-%d", n), "-e", h.Ifname, "--source-pool", "16",
			"-oJ", "@OUT@", h.Addr4.String()}}
	runs := []*udpRun{pool}
	if *flagPoolNmap {
		nm := &udpRun{name: toolNmap, fam: "IPv4", maxPort: n, src: s3, bin: "nmap", parse: parseNmapXML,
			args: []string{"-sU", "-n", "-Pn", "-p", fmt.Sprintf("1-%d", n), "-e", h.Ifname, "-S", s3.String(), "-oX", "@OUT@", h.Addr4.String()}}
		runs = append(runs, nm)
		counters(t, h, []*udpRun{nm})
	}
	var wg sync.WaitGroup
	for i, r := range runs {
		r.out = filepath.Join(dir, fmt.Sprintf("run%d.out", i))
		wg.Go(func() { r.run(t) })
	}
	wg.Wait()
	if *flagPoolNmap {
		readCounters(t, h, runs[1:])
	}
	for _, r := range runs {
		if r.err != nil {
			t.Errorf("%s: %v\n%s", r.name, r.err, tail(r.stderr, 5))
			continue
		}
		r.score(t)
	}
	md := udpTable(h, runs)
	if len(runs) == 2 && runs[1].wall > 0 {
		md += fmt.Sprintf("\npool wall / nmap wall = %.3f\n", runs[0].wall.Seconds()/runs[1].wall.Seconds())
	}
	t.Log("\n" + md)
	if *flagUDPMD != "" {
		if err := os.WriteFile(*flagUDPMD, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	if pool.wrong > 0 {
		t.Errorf("pool run: %d ports wrong: %v", pool.wrong, pool.wrongEx)
	}
}

func netipFrom4(a [4]byte) netip.Addr { return netip.AddrFrom4(a) }

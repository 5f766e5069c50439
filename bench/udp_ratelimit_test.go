//go:build benchcompare && linux

package bench

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// The UDP comparison against a host that keeps its kernel's ICMP rate limit
// (a burst of six errors to one destination, then one a second for IPv4;
// net.ipv6.icmp.ratelimit for IPv6). It runs apart from TestCompare: one
// IPv4 run takes a quarter of an hour whatever the tool, because closed
// ports can only answer that fast.
//
//	go test -c -tags benchcompare -o /tmp/bench.test ./bench/ && go build -o /tmp/scan ./examples/scan
//	cd bench && sudo /tmp/bench.test -test.run '^TestUDPRateLimit$' -test.v -test.timeout 60m \
//	    -cmp.scan=/tmp/scan [-udp.md=FILE]
//
// Every run starts at the same time, each from its own source address on
// the scanner's side of the link. The limit is per destination address, so
// the runs do not share a budget; they do share the CPU, which hardly
// matters for scans that wait on the target. The target runs real dnsmasq,
// chronyd and snmpd, drops some ports and rejects others with ICMP
// admin-prohibited; every other port is closed.
var (
	flagUDPMD    = flag.String("udp.md", "", "write the UDP rate-limit table here (Markdown)")
	flagUDPPorts = flag.Int("udp.ports", 1000, "scan ports 1-N (and ours also 1-(N+24)); a small N is a smoke test")
)

var (
	udpBenchOpen   = []uint16{53, 123, 161}
	udpBenchDrop   = []uint16{67, 69, 111, 137, 500, 514, 520, 600, 601, 602, 603, 604, 605, 606, 607, 608, 609}
	udpBenchReject = []uint16{138, 389, 1000, 1001, 1002, 1003, 1004, 1005, 1006, 1007, 1008, 1009}
	udpBenchNames  = map[uint16]string{53: "domain", 123: "ntp", 161: "snmp"}
)

func udpBenchState(p uint16) string {
	for _, q := range udpBenchOpen {
		if p == q {
			return "open"
		}
	}
	for _, q := range udpBenchDrop {
		if p == q {
			return "open|filtered"
		}
	}
	for _, q := range udpBenchReject {
		if p == q {
			return "filtered"
		}
	}
	return "closed"
}

type udpRun struct {
	name, fam string
	maxPort   uint16
	src       netip.Addr
	bin       string
	args      []string
	parse     func(string, uint16) (*observed, error)

	wall    time.Duration
	out     string
	stderr  string
	err     error
	probes  uint64 // datagrams the target received from src
	icmp    uint64 // ICMP errors the target sent to src
	wrong   int
	wrongEx []string
	named   int
}

func TestUDPRateLimit(t *testing.T) {
	if *flagScan == "" {
		t.Fatal("-cmp.scan (the examples/scan binary) is required")
	}
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Fatal("nmap not found")
	}
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{ICMPRateLimit: true})
	h.StartDNSmasq(t)
	h.StartChrony(t)
	h.StartSNMPd(t)
	h.Drop(t, target.UDP, udpBenchDrop...)
	h.RejectICMP(t, target.UDP, udpBenchReject...)

	// Extra source addresses on the scanner's side of the link.
	src4 := func(n byte) netip.Addr { a := h.Local4.As4(); a[3] = n; return netip.AddrFrom4(a) }
	src6 := func(n byte) netip.Addr { a := h.Local6.As16(); a[15] = n; return netip.AddrFrom16(a) }
	for _, n := range []byte{3, 4} {
		mustRun(t, "ip", "addr", "add", src4(n).String()+"/24", "dev", h.Ifname)
		mustRun(t, "ip", "addr", "add", src6(n).String()+"/64", "dev", h.Ifname, "nodad")
	}
	dir := t.TempDir()
	n := uint16(*flagUDPPorts)
	var runs []*udpRun
	for _, fam := range []string{"IPv4", "IPv6"} {
		dst, s1, s3, s4 := h.Addr4, h.Local4, src4(3), src4(4)
		six := []string{}
		if fam == "IPv6" {
			dst, s1, s3, s4 = h.Addr6, h.Local6, src6(3), src6(4)
			six = []string{"-6"}
		}
		ours := func(maxPort uint16, src netip.Addr) *udpRun {
			return &udpRun{name: toolOurs, fam: fam, maxPort: maxPort, src: src, bin: *flagScan, parse: parseJSONL,
				args: []string{"-sU", "-n", "-Pn", "-v", "-p", fmt.Sprintf("1-%d", maxPort), "-e", h.Ifname, "-S", src.String(), "-oJ", "@OUT@", dst.String()}}
		}
		runs = append(runs,
			ours(n, s1),
			&udpRun{name: toolNmap, fam: fam, maxPort: n, src: s3, bin: "nmap", parse: parseNmapXML,
				args: append(six, "-sU", "-n", "-Pn", "-p", fmt.Sprintf("1-%d", n), "-e", h.Ifname, "-S", s3.String(), "-oX", "@OUT@", dst.String())},
			ours(n+24, s4),
		)
	}
	counters(t, h, runs)
	var wg sync.WaitGroup
	for i, r := range runs {
		r.out = filepath.Join(dir, fmt.Sprintf("run%d.out", i))
		wg.Go(func() { r.run(t) })
	}
	wg.Wait()
	readCounters(t, h, runs)
	for _, r := range runs {
		if r.err != nil {
			t.Errorf("%s %s: %v\n%s", r.name, r.fam, r.err, tail(r.stderr, 5))
			continue
		}
		r.score(t)
	}
	md := udpTable(h, runs)
	t.Log("\n" + md)
	if *flagUDPMD != "" {
		if err := os.WriteFile(*flagUDPMD, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	for _, r := range runs {
		if r.name == toolOurs && r.wrong > 0 {
			t.Errorf("%s %s 1-%d: %d ports wrong: %v", r.name, r.fam, r.maxPort, r.wrong, r.wrongEx)
		}
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

func (r *udpRun) run(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Minute)
	defer cancel()
	args := make([]string, len(r.args))
	for i, a := range r.args {
		args[i] = strings.ReplaceAll(a, "@OUT@", r.out)
	}
	cmd := exec.CommandContext(ctx, r.bin, args...)
	var errb strings.Builder
	cmd.Stderr = &errb
	start := time.Now()
	err := cmd.Run()
	r.wall = time.Since(start)
	r.stderr = errb.String()
	if err != nil {
		r.err = err
	}
	t.Logf("%s %s 1-%d from %v: %.1fs", r.name, r.fam, r.maxPort, r.src, r.wall.Seconds())
}

func (r *udpRun) score(t *testing.T) {
	o, err := r.parse(r.out, 0)
	if err != nil {
		r.err = err
		return
	}
	dst := ""
	for k := range o.states {
		dst = k.addr.String()
		break
	}
	for p := uint16(1); p <= r.maxPort; p++ {
		var got string
		var name string
		for k, st := range o.states {
			if k.port == p && k.addr.String() == dst {
				got, name = st, o.services[k]
			}
		}
		if got == "" {
			got = "(missing)"
		}
		if want := udpBenchState(p); got != want {
			r.wrong++
			if len(r.wrongEx) < 5 {
				r.wrongEx = append(r.wrongEx, fmt.Sprintf("%d %s≠%s", p, got, want))
			}
		}
		if n := udpBenchNames[p]; n != "" && name == n {
			r.named++
		}
	}
}

// counters adds nftables counters in the target for the datagrams each
// source sends it and the ICMP errors it sends back.
func counters(t *testing.T, h *netlab.Host, runs []*udpRun) {
	var b strings.Builder
	b.WriteString("table inet psbench {\n chain in { type filter hook input priority -10; policy accept;\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %s saddr %s meta l4proto udp counter\n", ipKw(r.src), r.src)
	}
	b.WriteString(" }\n chain out { type filter hook output priority 0; policy accept;\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "  %s daddr %s meta l4proto { icmp, ipv6-icmp } counter\n", ipKw(r.src), r.src)
	}
	b.WriteString(" }\n}\n")
	f := filepath.Join(t.TempDir(), "counters.nft")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Run(t, "nft", "-f", f)
}

func ipKw(a netip.Addr) string {
	if a.Is4() {
		return "ip"
	}
	return "ip6"
}

var counterRE = regexp.MustCompile(`(saddr|daddr) (\S+) .*counter packets (\d+)`)

func readCounters(t *testing.T, h *netlab.Host, runs []*udpRun) {
	out := h.Run(t, "nft", "list", "table", "inet", "psbench")
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		m := counterRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		n, _ := strconv.ParseUint(m[3], 10, 64)
		a, err := netip.ParseAddr(m[2])
		if err != nil {
			continue
		}
		for _, r := range runs {
			if r.src == a {
				if m[1] == "saddr" {
					r.probes = n
				} else {
					r.icmp = n
				}
			}
		}
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// udpTable renders the runs with the floor: the ICMP-answering ports beyond
// the burst, one interval each.
func udpTable(h *netlab.Host, runs []*udpRun) string {
	limit := map[string]time.Duration{}
	for fam, key := range map[string]string{"IPv4": "net.ipv4.icmp_ratelimit", "IPv6": "net.ipv6.icmp.ratelimit"} {
		if out, err := exec.Command("ip", "netns", "exec", h.Name, "sysctl", "-n", key).Output(); err == nil {
			ms, _ := strconv.Atoi(strings.TrimSpace(string(out)))
			limit[fam] = time.Duration(ms) * time.Millisecond
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| tool | family | ports | wall s | floor s | wall/floor | datagrams sent | ICMP errors back | wrong ports | daemons named | our note |\n")
	fmt.Fprintf(&b, "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n")
	for _, r := range runs {
		icmpPorts := 0
		for p := uint16(1); p <= r.maxPort; p++ {
			if st := udpBenchState(p); st == "closed" || st == "filtered" {
				icmpPorts++
			}
		}
		floor := time.Duration(max(icmpPorts-6, 0)) * limit[r.fam]
		note := ""
		for _, l := range strings.Split(r.stderr, "\n") {
			if strings.Contains(l, "rate-limited hosts") {
				note = l[strings.Index(l, "retransmits")-0:]
			}
		}
		status := fmt.Sprint(r.wrong)
		if r.err != nil {
			status = "error: " + r.err.Error()
		}
		ratio := 0.0
		if floor > 0 {
			ratio = r.wall.Seconds() / floor.Seconds()
		}
		fmt.Fprintf(&b, "| %s | %s | 1-%d | %.1f | %.1f | %.2f | %d | %d | %s | %d/3 | %s |\n",
			r.name, r.fam, r.maxPort, r.wall.Seconds(), floor.Seconds(), ratio, r.probes, r.icmp, status, r.named, note)
	}
	fmt.Fprintf(&b, "\nfloor: (ports answering ICMP − burst of 6) × the target's ratelimit sysctl (IPv4 %v, IPv6 %v; the kernel scales the IPv6 one by route prefix length).\n",
		limit["IPv4"], limit["IPv6"])
	return b.String()
}

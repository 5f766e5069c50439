//go:build benchcompare && linux

package bench

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

// darkWide is routed from the scanner to the dark host, which discards it:
// every probe goes on the wire and none is answered. It lies above the
// lab's link subnets (198.18.1-4.0/24), so every probe leaves by the dark
// host's link through its one next hop.
var darkWide = netip.MustParsePrefix("198.18.128.0/17")

// addDarkHost adds the host that swallows darkWide. The host drops the
// probes at its link's ingress hook, before IP routing: veth runs the
// receiver's work inside the sender's system call, so a blackhole route
// alone made every tool pay for the dark host's route lookup per packet,
// and the workload measured the lab's kernel more than the scanners.
func addDarkHost(t testing.TB, lab *netlab.Lab) *netlab.Host {
	h := lab.AddHost(netlab.HostConfig{})
	h.Blackhole(t, darkWide)
	h.Run(t, "sh", "-c", `set -e
for dev in $(ls /sys/class/net); do
	[ "$dev" = lo ] && continue
	nft add table netdev portsense_dark
	nft add chain netdev portsense_dark in "{ type filter hook ingress device $dev priority -500; policy accept; }"
	nft add rule netdev portsense_dark in ip daddr `+darkWide.String()+` counter drop
done`)
	return h
}

// engineWorkloads are the engine and memory workloads of issue 10: many
// probes, no replies, so that the scanner's own work (engine, output) is
// all there is to measure, and the peak RSS of a scan of a million targets.
func engineWorkloads(b *benchLab, ours, dir string, quick bool) []workload {
	h := b.dark
	empty := filepath.Join(dir, "empty-blocklist.conf")
	pfx := darkWide
	if quick {
		pfx = netip.PrefixFrom(darkWide.Addr(), 20)
	}
	mustLab(pfx, netip.PrefixFrom(h.Local4, 32))
	dark := func(ports int) expectation {
		return expectation{
			positive: "open",
			each: func(yield func(key, string) bool) {
				for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
					for p := 1; p <= ports; p++ {
						if !yield(key{a, uint16(p)}, "filtered") {
							return
						}
					}
				}
			},
			has: func(k key) bool { return pfx.Contains(k.addr) && k.port >= 1 && int(k.port) <= ports },
		}
	}
	zmap := func(probes int) tool {
		// zmap 2.1 scans one port: -P sends that many probes to each
		// address, the same packet count as ports 1-N.
		return tool{name: toolZmap, bin: "zmap", parse: parseZmapCSV, port: 1, openOnly: true,
			args: []string{"-p", "1", "-P", strconv.Itoa(probes), "-B", "10G", "-c", "1",
				"-i", h.Ifname, "-G", b.macs[h], "-S", h.Local4.String(),
				"-b", empty, "-O", "csv", "-f", "saddr", "--disable-syslog", "-q", "-o", "@OUT@", pfx.String()}}
	}
	maxPort := uint16(65535)
	if quick {
		maxPort = quickPorts
	}
	lossy := b.lossy.Addr4
	lossyExp := expectation{
		positive: "open",
		each: func(yield func(key, string) bool) {
			for p := uint16(1); p <= maxPort && p != 0; p++ {
				if !yield(key{lossy, p}, b.mix.tcpState(p)) {
					return
				}
			}
		},
		has: func(k key) bool { return k.addr == lossy && k.port >= 1 && k.port <= maxPort },
	}
	hosts := 1 << (32 - pfx.Bits())
	n16, n32 := hosts*16, hosts*32
	return []workload{
		{
			name: fmt.Sprintf("Engine: TCP SYN, ports 1-16, dark %s (%d probes, no replies)", pfx, n16),
			host: h, exp: dark(16),
			tools: []tool{
				{name: toolOurs, bin: ours, parse: parseJSONL,
					args: []string{"-sS", "-n", "-Pn", "-p", "1-16", "--min-rate", "3000000", "--max-retries", "0", "-oJ", "@OUT@", pfx.String()}},
				{name: toolNmap, na: "hours at this size"},
				{name: toolMasscan, na: "see the horizontal workload"},
				zmap(16),
			},
		},
		{
			name: fmt.Sprintf("Memory: TCP SYN, ports 1-32, dark %s (%d targets), JSONL, XML, greppable and the table", pfx, n32),
			host: h, exp: dark(32),
			tools: []tool{
				{name: toolOurs, bin: ours, parse: parseJSONL,
					args: []string{"-sS", "-n", "-Pn", "-p", "1-32", "--min-rate", "3000000", "--max-retries", "0",
						"-oJ", "@OUT@", "-oX", "@OUT@.xml", "-oG", "@OUT@.gnmap", pfx.String()}},
				{name: toolNmap, na: "hours at this size"},
				{name: toolMasscan, na: "see the horizontal workload"},
				zmap(32),
			},
		},
		{
			// Default timing must stay exact under loss; only -T5 and
			// explicit rates trade retries for speed.
			name: fmt.Sprintf("TCP SYN, ports 1-%d, 1 host, 5%% reply loss, default timing", maxPort),
			host: b.lossy, exp: lossyExp,
			tools: []tool{
				{name: toolOurs, bin: ours, parse: parseJSONL,
					args: []string{"-sS", "-n", "-Pn", "-p", fmt.Sprintf("1-%d", maxPort), "-oJ", "@OUT@", lossy.String()}},
				{name: toolNmap, na: "minutes at default timing; see the -T5 workload"},
				{name: toolMasscan, na: "no retransmission"},
				{name: toolZmap, na: "one port per run"},
			},
		},
	}
}

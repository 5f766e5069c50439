//go:build benchcompare && linux

package bench

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/portsense/portsense/internal/netlab"
)

// expectation is the ground truth of one workload.
type expectation struct {
	positive string // the verdict open-only tools report: "open", or "up" for hosts
	// each yields every key of the workload with its true state.
	each func(yield func(key, string) bool)
	has  func(key) bool
	// unlisted is the state of a key a tool does not mention ("" when
	// that is an error, as for port scanners that list every port).
	unlisted string
}

// score is the accuracy of one run.
type score struct {
	Total   int `json:"total"`
	Correct int `json:"correct"`
	// Missed counts positives (open ports, up hosts) not reported so.
	Missed int `json:"missed"`
	// Wrong counts every other disagreement: a wrong or missing state, or
	// a positive that is not.
	Wrong int `json:"wrong"`
	// Extra counts positives reported outside the workload's targets.
	Extra     int  `json:"extra"`
	Positives int  `json:"positives"`
	Found     int  `json:"found"` // positives reported so
	OpenOnly  bool `json:"open_only"`
	Named     int  `json:"services_named,omitempty"`
	// Bad lists the first few disagreements, "addr:port want≠got", so
	// that a wrong verdict can be traced.
	Bad []string `json:"bad,omitempty"`
}

func (s score) bad() int { return s.Missed + s.Wrong + s.Extra }

// scoreRun compares what a run reported with the truth. Open-only tools
// (masscan, zmap) are judged on the positives alone.
func scoreRun(e expectation, o *observed, openOnly bool) score {
	s := score{OpenOnly: openOnly}
	e.each(func(k key, want string) bool {
		s.Total++
		got, ok := o.states[k]
		if !ok {
			got = e.unlisted
		}
		if want == e.positive {
			s.Positives++
			if _, named := o.services[k]; named {
				s.Named++
			}
		}
		switch {
		case want == e.positive && got == e.positive:
			s.Found++
			s.Correct++
		case want == e.positive:
			s.Missed++
		case openOnly && got != e.positive, got == want:
			s.Correct++
		default:
			s.Wrong++
		}
		if got != want && !(openOnly && want != e.positive && got != e.positive) && len(s.Bad) < 5 {
			s.Bad = append(s.Bad, fmt.Sprintf("%v want %s≠got %q", netip.AddrPortFrom(k.addr, k.port), want, got))
		}
		return true
	})
	for k, st := range o.states {
		if st == e.positive && !e.has(k) {
			s.Extra++
		}
	}
	return s
}

// tool is one scanner's way of doing a workload.
type tool struct {
	name string
	// na, when set, says why the tool cannot do the workload.
	na   string
	bin  string
	args []string // "@OUT@" stands for the output file
	// parse reads the output file; port is the workload's single port for
	// horizontal scans (0 for host discovery).
	parse    func(path string, port uint16) (*observed, error)
	port     uint16
	openOnly bool
	// trickle makes the workload's host broadcast a datagram every 200 ms
	// during the run. masscan's receive thread blocks in libpcap until a
	// frame arrives, so on a quiet link it cannot exit after --wait; the
	// trickle bounds that hang without touching what it scans.
	trickle bool
}

// workload is one line group of the table.
type workload struct {
	name  string
	host  *netlab.Host // whose link counts the packets
	exp   expectation
	tools []tool
	// setup, when set, prepares the lab before the runs; undo reverts it.
	setup func() (undo func(), err error)
}

// Tool names, in table order.
const (
	toolOurs    = "portsense"
	toolNmap    = "nmap"
	toolMasscan = "masscan"
	toolZmap    = "zmap"
)

// workloads builds the workload list over lab b. ours is the path of the
// examples/scan binary; dir holds helper files.
func workloads(b *benchLab, ours, dir string, quick bool) ([]workload, error) {
	maxPort := uint16(65535)
	if quick {
		maxPort = quickPorts
	}
	portRange := fmt.Sprintf("1-%d", maxPort)
	net := b.horizNet
	mustLab(net, netip.PrefixFrom(b.vert.Addr4, 32), netip.PrefixFrom(b.lossy.Addr4, 32),
		netip.PrefixFrom(b.horiz.Addr4, 32), netip.PrefixFrom(b.vert.Local4, 32),
		netip.PrefixFrom(b.lossy.Local4, 32), netip.PrefixFrom(b.horiz.Local4, 32))
	empty := filepath.Join(dir, "empty-blocklist.conf")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		return nil, err
	}
	const peerRate = "100000" // masscan and zmap packets per second
	const nmapMinRate = "20000"

	vertical := func(h *netlab.Host) expectation {
		a := h.Addr4
		return expectation{
			positive: "open",
			each: func(yield func(key, string) bool) {
				for p := uint16(1); p <= maxPort && p != 0; p++ {
					if !yield(key{a, p}, b.mix.tcpState(p)) {
						return
					}
				}
			},
			has: func(k key) bool { return k.addr == a && k.port >= 1 && k.port <= maxPort },
		}
	}
	horizontal := func(port uint16, live, dead string) expectation {
		e := expectation{
			positive: live,
			each: func(yield func(key, string) bool) {
				for a := net.Addr(); net.Contains(a); a = a.Next() {
					st := live
					if darkNet.Contains(a) {
						st = dead
					}
					if !yield(key{a, port}, st) {
						return
					}
				}
			},
			has: func(k key) bool { return net.Contains(k.addr) && k.port == port },
		}
		if port == 0 {
			e.unlisted = "down" // nmap -sn leaves down hosts out
		}
		return e
	}
	synVertical := func(h *netlab.Host) []tool {
		a := h.Addr4.String()
		return []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sS", "-T5", "-n", "-Pn", "-p", portRange, "-oJ", "@OUT@", a}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sS", "-T5", "-n", "-Pn", "-p", portRange, "-oX", "@OUT@", a}},
			{name: toolMasscan, bin: "masscan", parse: parseMasscanList, openOnly: true, trickle: true,
				args: []string{"-p", portRange, "--rate", peerRate, "--wait", "1",
					"--interface", h.Ifname, "--router-mac", b.macs[h], "--source-ip", h.Local4.String(),
					"-oL", "@OUT@", a}},
			{name: toolZmap, na: "zmap 2.1 scans one port per run"},
		}
	}

	var ws []workload
	ws = append(ws, workload{
		name: "TCP SYN, ports " + portRange + ", 1 host",
		host: b.vert, exp: vertical(b.vert), tools: synVertical(b.vert),
	})
	a := b.vert.Addr4.String()
	ws = append(ws, workload{
		name: "TCP connect, ports " + portRange + ", 1 host",
		host: b.vert, exp: vertical(b.vert),
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sT", "-T5", "-n", "-Pn", "-p", portRange, "-oJ", "@OUT@", a}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sT", "-T5", "-n", "-Pn", "-p", portRange, "-oX", "@OUT@", a}},
			{name: toolMasscan, na: "no connect scan"},
			{name: toolZmap, na: "no connect scan"},
		},
	})
	hn := net.String()
	h := b.horiz
	ws = append(ws, workload{
		name: fmt.Sprintf("TCP SYN, port 80, %s (%d hosts, %d dark)", hn, 1<<(32-net.Bits()), 1<<(32-darkNet.Bits())),
		host: h, exp: horizontal(80, "open", "filtered"),
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sS", "-T5", "-n", "-Pn", "-p", "80", "-oJ", "@OUT@", hn}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sS", "-T5", "-n", "-Pn", "-p", "80", "--min-rate", nmapMinRate, "-oX", "@OUT@", hn}},
			{name: toolMasscan, bin: "masscan", parse: parseMasscanList, openOnly: true, trickle: true,
				args: []string{"-p", "80", "--rate", peerRate, "--wait", "1",
					"--interface", h.Ifname, "--router-mac", b.macs[h], "--source-ip", h.Local4.String(),
					"-oL", "@OUT@", hn}},
			{name: toolZmap, bin: "zmap", parse: parseZmapCSV, port: 80, openOnly: true,
				args: []string{"-p", "80", "-i", h.Ifname, "-G", b.macs[h], "-S", h.Local4.String(),
					"-b", empty, "-r", peerRate, "-c", "1", "-O", "csv", "-f", "saddr",
					"--disable-syslog", "-q", "-o", "@OUT@", hn}},
		},
	})
	udpExp := expectation{
		positive: "open",
		each: func(yield func(key, string) bool) {
			for p := uint16(1); p <= 1000; p++ {
				if !yield(key{b.vert.Addr4, p}, b.mix.udpState(p)) {
					return
				}
			}
		},
		has: func(k key) bool { return k.addr == b.vert.Addr4 && k.port >= 1 && k.port <= 1000 },
	}
	ws = append(ws, workload{
		name: "UDP, ports 1-1000, 1 host",
		host: b.vert, exp: udpExp,
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sU", "-T5", "-n", "-Pn", "-p", "1-1000", "-oJ", "@OUT@", a}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sU", "-T5", "-n", "-Pn", "-p", "1-1000", "-oX", "@OUT@", a}},
			{name: toolMasscan, na: "UDP only with known payloads, open only"},
			{name: toolZmap, na: "one port per run"},
		},
	})
	ws = append(ws, workload{
		name: fmt.Sprintf("Ping sweep, %s", hn),
		host: h, exp: horizontal(0, "up", "down"),
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sn", "-T5", "-n", "-oJ", "@OUT@", hn}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sn", "-T5", "-n", "--min-rate", nmapMinRate, "-oX", "@OUT@", hn}},
			{name: toolMasscan, bin: "masscan", parse: parseMasscanList, openOnly: true, trickle: true,
				args: []string{"--ping", "--rate", peerRate, "--wait", "1",
					"--interface", h.Ifname, "--router-mac", b.macs[h], "--source-ip", h.Local4.String(),
					"-oL", "@OUT@", hn}},
			{name: toolZmap, bin: "zmap", parse: parseZmapCSV, port: 0, openOnly: true,
				args: []string{"-M", "icmp_echoscan", "-i", h.Ifname, "-G", b.macs[h], "-S", h.Local4.String(),
					"-b", empty, "-r", peerRate, "-c", "1", "-O", "csv", "-f", "saddr",
					"--disable-syslog", "-q", "-o", "@OUT@", hn}},
		},
	})
	var open []string
	var openPorts []uint16
	for _, p := range b.mix.open {
		if p <= maxPort {
			open = append(open, strconv.Itoa(int(p)))
			openPorts = append(openPorts, p)
		}
	}
	list := strings.Join(open, ",")
	ws = append(ws, workload{
		name: fmt.Sprintf("Version detection (-sV), %d open ports", len(open)),
		host: b.vert,
		exp: expectation{
			positive: "open",
			each: func(yield func(key, string) bool) {
				for _, p := range openPorts {
					if !yield(key{b.vert.Addr4, p}, "open") {
						return
					}
				}
			},
			has: func(k key) bool { return k.addr == b.vert.Addr4 && b.mix.tcpState(k.port) == "open" },
		},
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sV", "-T5", "-n", "-Pn", "-p", list, "-oJ", "@OUT@", a}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-sV", "-T5", "-n", "-Pn", "-p", list, "-oX", "@OUT@", a}},
			{name: toolMasscan, na: "banners only"},
			{name: toolZmap, na: "no service detection"},
		},
	})
	ws = append(ws, workload{
		name: "TCP SYN, ports " + portRange + ", 1 host, 5% reply loss",
		host: b.lossy, exp: vertical(b.lossy), tools: synVertical(b.lossy),
	})
	ws = append(ws, engineWorkloads(b, ours, dir, quick)...)
	ws = append(ws, discoveryWorkload(b, ours, empty), discoveryMemoryWorkload(b, ours, quick))
	return ws, nil
}

package result

import (
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/portsense/portsense/target"
)

// RunInfo describes a scan for the headers and footers of the XML and
// greppable outputs. Every field may be left zero.
type RunInfo struct {
	Scanner string // the program, "portsense" when empty (shown in comments)
	Args    string // the command line or a description of the scan
	// Version is the program's version. Empty means portsense's module
	// version from the binary's build information (a VCS revision for a
	// development build).
	Version string
	// Start and End bound the scan. A zero Start becomes the earliest
	// record time. A zero End becomes the time of Close when Start is set
	// (a live scan's writer is closed when the scan ends), else the latest
	// record time (a replay), else the time of Close.
	Start, End time.Time
	// ScanType is "syn", "connect", "udp" or "ping" (any type of nmap's
	// DTD works). "ping", or no port results, means a host-only run.
	ScanType string
	// Proto is the scanned protocol; zero means every protocol seen.
	Proto target.Protocol
	// Ports is the scanned port list as nmap's services attribute writes
	// it ("1-1000", "22,80,443"); empty means the ports seen.
	Ports string
}

// xmlScanTypes are the scan types nmap.dtd allows in <scaninfo>.
var xmlScanTypes = []string{"syn", "ack", "bounce", "connect", "null", "xmas",
	"window", "maimon", "fin", "udp", "sctpinit", "sctpcookieecho", "ipproto"}

// run holds RunInfo with its defaults applied for one output.
type run struct {
	RunInfo
	elapsed float64
}

func resolveRun(info RunInfo, s *summary, now time.Time) run {
	r := run{RunInfo: info}
	if r.Scanner == "" {
		r.Scanner = "portsense"
	}
	if r.Version == "" {
		r.Version = buildVersion()
	}
	if r.End.IsZero() {
		r.End = s.last
		if r.End.IsZero() || !r.Start.IsZero() {
			r.End = now
		}
	}
	if r.Start.IsZero() {
		r.Start = s.first
		if r.Start.IsZero() {
			r.Start = r.End
		}
	}
	if d := r.End.Sub(r.Start); d > 0 {
		r.elapsed = d.Seconds()
	}
	return r
}

// scanned is one protocol's entry in <scaninfo> or "# Ports scanned".
type scanned struct {
	proto    target.Protocol
	typ      string
	services string
	count    int
}

// scannedPorts lists what was scanned, per protocol.
func (r *run) scannedPorts(s *summary) []scanned {
	if r.ScanType == "ping" || (!s.hasPortsResults && r.Ports == "") {
		return nil
	}
	var protos []target.Protocol
	if r.Proto != 0 {
		protos = []target.Protocol{r.Proto}
	} else {
		for _, p := range []target.Protocol{target.TCP, target.UDP, 132} {
			if len(s.ports[p]) > 0 {
				protos = append(protos, p)
			}
		}
	}
	var out []scanned
	for _, p := range protos {
		sc := scanned{proto: p}
		switch {
		case p == target.UDP:
			sc.typ = "udp"
		case p == 132:
			sc.typ = "sctpinit"
		case r.ScanType != "" && r.ScanType != "udp" && containsStr(xmlScanTypes, r.ScanType):
			sc.typ = r.ScanType
		default:
			sc.typ = "connect"
		}
		if p == r.Proto && r.Ports != "" {
			if n, ok := countPorts(r.Ports); ok {
				sc.services, sc.count = r.Ports, n
			}
		}
		if sc.services == "" {
			sc.services = string(appendRanges(nil, s.ports[p]))
			sc.count = len(s.ports[p])
		}
		out = append(out, sc)
	}
	return out
}

func containsStr(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// countPorts counts the distinct ports of a list such as "1-1000,22".
func countPorts(spec string) (int, bool) {
	var seen [65536 / 64]uint64
	n := 0
	for part := range strings.SplitSeq(spec, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err1 := strconv.ParseUint(lo, 10, 16)
		b := a
		var err2 error
		if isRange {
			b, err2 = strconv.ParseUint(hi, 10, 16)
		}
		if err1 != nil || err2 != nil || b < a {
			return 0, false
		}
		for p := a; p <= b; p++ {
			if seen[p/64]&(1<<(p%64)) == 0 {
				seen[p/64] |= 1 << (p % 64)
				n++
			}
		}
	}
	return n, true
}

// summaryLine is nmap's closing sentence without the leading words:
// "1 IP address (1 host up) scanned in 0.50 seconds".
func (r *run) summaryLine(s *summary) string {
	return plural(s.total, "IP address", "IP addresses") + " (" +
		plural(s.up, "host up", "hosts up") + ") scanned in " +
		strconv.FormatFloat(r.elapsed, 'f', 2, 64) + " seconds"
}

// modulePath is portsense's module, whose version the outputs report.
const modulePath = "github.com/portsense/portsense"

// buildVersion is portsense's version as the running binary records it:
// the module version when portsense is a dependency, "0.0.0-<revision>"
// (with "-dirty" for uncommitted changes) for a development build of
// portsense itself, "0.0.0-devel" when no revision is recorded (go test,
// go run), "0" when the binary has no build information.
func buildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "0"
	}
	for _, d := range bi.Deps {
		if d.Path == modulePath && d.Version != "" && d.Version != "(devel)" {
			return d.Version
		}
	}
	if bi.Main.Path == modulePath && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	var rev string
	dirty := false
	for _, kv := range bi.Settings {
		switch kv.Key {
		case "vcs.revision":
			rev = kv.Value
		case "vcs.modified":
			dirty = kv.Value == "true"
		}
	}
	if rev == "" {
		return "0.0.0-devel" // go test and go run record no revision
	}
	v := "0.0.0-" + rev[:min(12, len(rev))]
	if dirty {
		v += "-dirty"
	}
	return v
}

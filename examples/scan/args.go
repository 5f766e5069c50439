package main

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/portsense/portsense/scanner"
)

// options is the parsed command line. It stays in package main: the library
// is configured through its own options, never through a flag struct.
type options struct {
	scanType    string // "syn", "connect" or "" (pick like nmap)
	udp         bool   // -sU (flags_udp.go)
	ports       string // -p, "" when not given
	topPorts    int    // --top-ports (or 100 for -F), 0 when not given
	timing      scanner.Timing
	timingSet   bool
	minRate     float64
	maxRate     float64
	maxRetries  int
	retriesSet  bool
	hostTimeout time.Duration
	scanDelay   time.Duration
	minPar      int
	maxPar      int
	initRTT     time.Duration
	minRTT      time.Duration
	maxRTT      time.Duration
	exclude     []string
	excludeFile string
	inputList   string
	outX        string
	outG        string
	outJ        string
	outN        string
	appendOut   bool
	seed        uint64
	seedSet     bool
	shard       uint64 // 1-based, as given
	shards      uint64
	iface       string
	source      netip.Addr
	resume      string
	serviceDB   string // --servicedb FILE
	sequential  bool
	openOnly    bool
	verbose     int
	help        bool
	targets     []string
	svc         serviceFlags  // -sV and --version-*; see flags_service.go
	disc        discoveryOpts // -sn, -P…, --disable-arp-ping (flags_discovery.go)
	src         sourceOpts    // --source-pool, -D, -g … (flags_source.go)
	cpuProfile  string        // hidden --cpuprofile FILE (flags_profile.go)
}

// usageError is a bad command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error {
	return &usageError{fmt.Sprintf(format, a...)}
}

func notSupported(flag string) error {
	return usagef("not yet supported: %s", flag)
}

// longOpt describes one --long option. set is nil for options that exist in
// nmap but are not built yet.
type longOpt struct {
	arg bool
	set func(o *options, v string) error
}

// longOpts returns the table of --long options. It is a function, not a
// package variable, so that the program keeps no global state.
func longOpts() map[string]longOpt {
	num := func(name string, dst func(*options) *float64) longOpt {
		return longOpt{true, func(o *options, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 || f != f {
				return usagef("bad --%s %q: want a number >= 0", name, v)
			}
			*dst(o) = f
			return nil
		}}
	}
	dur := func(name string, dst func(*options) *time.Duration) longOpt {
		return longOpt{true, func(o *options, v string) error {
			d, err := parseTime(v)
			if err != nil {
				return usagef("bad --%s %q: %v", name, v, err)
			}
			*dst(o) = d
			return nil
		}}
	}
	count := func(name string, max int, dst func(*options) *int) longOpt {
		return longOpt{true, func(o *options, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > max {
				return usagef("bad --%s %q: want an integer 0-%d", name, v, max)
			}
			*dst(o) = n
			return nil
		}}
	}
	flag := func(set func(*options)) longOpt {
		return longOpt{false, func(o *options, _ string) error { set(o); return nil }}
	}
	m := map[string]longOpt{
		"top-ports": {true, func(o *options, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return usagef("bad --top-ports %q: want a positive integer", v)
			}
			o.topPorts = n
			return nil
		}},
		"min-rate":            num("min-rate", func(o *options) *float64 { return &o.minRate }),
		"max-rate":            num("max-rate", func(o *options) *float64 { return &o.maxRate }),
		"max-retries":         {true, nil}, // replaced below
		"host-timeout":        dur("host-timeout", func(o *options) *time.Duration { return &o.hostTimeout }),
		"scan-delay":          dur("scan-delay", func(o *options) *time.Duration { return &o.scanDelay }),
		"initial-rtt-timeout": dur("initial-rtt-timeout", func(o *options) *time.Duration { return &o.initRTT }),
		"min-rtt-timeout":     dur("min-rtt-timeout", func(o *options) *time.Duration { return &o.minRTT }),
		"max-rtt-timeout":     dur("max-rtt-timeout", func(o *options) *time.Duration { return &o.maxRTT }),
		"min-parallelism":     count("min-parallelism", 1<<20, func(o *options) *int { return &o.minPar }),
		"max-parallelism":     count("max-parallelism", 1<<20, func(o *options) *int { return &o.maxPar }),
		"exclude": {true, func(o *options, v string) error {
			o.exclude = append(o.exclude, v)
			return nil
		}},
		"excludefile": {true, func(o *options, v string) error { o.excludeFile = v; return nil }},
		"seed": {true, func(o *options, v string) error {
			n, err := strconv.ParseUint(v, 0, 64)
			if err != nil {
				return usagef("bad --seed %q: want an unsigned 64-bit integer", v)
			}
			o.seed, o.seedSet = n, true
			return nil
		}},
		"shard": {true, func(o *options, v string) error {
			k, n, ok := strings.Cut(v, "/")
			ki, err1 := strconv.ParseUint(k, 10, 64)
			ni, err2 := strconv.ParseUint(n, 10, 64)
			if !ok || err1 != nil || err2 != nil {
				return usagef("bad --shard %q: want K/N, such as 1/4", v)
			}
			if ni == 0 || ki < 1 || ki > ni {
				return usagef("bad --shard %q: shard %d of %d: want 1 <= K <= N", v, ki, ni)
			}
			o.shard, o.shards = ki, ni
			return nil
		}},
		"resume":        {true, func(o *options, v string) error { o.resume = v; return nil }},
		"servicedb":     {true, func(o *options, v string) error { o.serviceDB = v; return nil }},
		"append-output": flag(func(o *options) { o.appendOut = true }),
		"reason":        flag(func(*options) {}), // the table always shows reasons
		"open":          flag(func(o *options) { o.openOnly = true }),
		"help":          flag(func(o *options) { o.help = true }),
	}
	m["max-retries"] = longOpt{true, func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 50 {
			return usagef("bad --max-retries %q: want an integer 0-50", v)
		}
		o.maxRetries, o.retriesSet = n, true
		return nil
	}}
	// nmap options that portsense does not do yet.
	for _, name := range []string{
		"script", "script-args", "traceroute", "data-length", "data",
		"data-string", "spoof-mac", "ttl", "badsum", "mtu", "osscan-limit", "osscan-guess", "proxies",
		"ip-options", "randomize-hosts", "dns-servers", "system-dns", "packet-trace",
		"privileged", "unprivileged", "send-eth", "send-ip", "min-hostgroup",
		"max-hostgroup", "defeat-rst-ratelimit", "scanflags", "port-ratio",
	} {
		m[name] = longOpt{}
	}
	addServiceOpts(m)
	discoveryLongOpts(m)
	sourceLongOpts(m)
	profileLongOpts(m)
	return m
}

// shortNotSupported are nmap's single-letter options for features not built
// yet. Those taking an argument are refused before it is read.
var shortNotSupported = [...]string{"-O", "-A", "-f", "-b", "-R", "-iR", "-d", "-V"}

// parseArgs reads an nmap-style command line. Targets may appear anywhere;
// "--" ends the options.
func parseArgs(args []string) (*options, error) {
	o := &options{}
	long := longOpts()
	// next returns the argument of option name: the rest of the token when
	// attached (-p22, --seed=7), else the following token.
	i := 0
	next := func(name, attached string, hasAttached bool) (string, error) {
		if hasAttached {
			return attached, nil
		}
		if i+1 >= len(args) {
			return "", usagef("option %s needs an argument", name)
		}
		i++
		return args[i], nil
	}
	for ; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			o.targets = append(o.targets, args[i+1:]...)
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			if a == "-" {
				return nil, usagef("unknown option %q", a)
			}
			o.targets = append(o.targets, a)
			continue
		}
		// --name, --name=value, and nmap's single-dash spelling -name.
		body := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		name, val, hasVal := strings.Cut(body, "=")
		if lo, ok := long[name]; ok && (strings.HasPrefix(a, "--") || len(name) > 2) {
			if lo.set == nil {
				return nil, notSupported("--" + name)
			}
			if !lo.arg {
				if hasVal {
					return nil, usagef("option --%s takes no argument", name)
				}
				if err := lo.set(o, ""); err != nil {
					return nil, err
				}
				continue
			}
			v, err := next("--"+name, val, hasVal)
			if err != nil {
				return nil, err
			}
			if err := lo.set(o, v); err != nil {
				return nil, err
			}
			continue
		}
		if strings.HasPrefix(a, "--") {
			return nil, usagef("unknown option %q", a)
		}
		if err := parseShort(o, a, next); err != nil {
			return nil, err
		}
	}
	return o, nil
}

func parseShort(o *options, a string, next func(name, attached string, hasAttached bool) (string, error)) error {
	if ok, err := parseSourceShort(o, a, next); ok {
		return err
	}
	for _, ns := range shortNotSupported {
		if a == ns || (ns != "-V" && strings.HasPrefix(a, ns)) {
			return notSupported(ns)
		}
	}
	rest := a[2:]
	switch a[1] {
	case 's':
		if rest == "" {
			return usagef("option -s needs a scan type, such as -sT or -sS")
		}
		for _, c := range rest {
			if c == 'n' || c == 'P' { // -sn, nmap's old -sP: ping scan
				o.disc.pingOnly = true
				continue
			}
			var t string
			switch c {
			case 'V':
				o.svc.on = true
				continue
			case 'T':
				t = "connect"
			case 'S':
				t = "syn"
			case 'U':
				o.udp = true
				continue
			default:
				return notSupported("-s" + string(c))
			}
			if o.scanType != "" && o.scanType != t {
				return usagef("scan types -sT and -sS conflict")
			}
			o.scanType = t
		}
		return nil
	case 'P':
		return parsePing(o, rest)
	case 'p':
		v, err := next("-p", rest, rest != "")
		if err != nil {
			return err
		}
		if o.ports != "" {
			o.ports += ","
		}
		o.ports += v
		return nil
	case 'T':
		v, err := next("-T", rest, rest != "")
		if err != nil {
			return err
		}
		t, err := scanner.ParseTiming(v)
		if err != nil {
			return usagef("bad timing template %q in %q: want -T0 to -T5 or a template name", v, a)
		}
		o.timing, o.timingSet = t, true
		return nil
	case 'o':
		var dst *string
		switch rest {
		case "X":
			dst = &o.outX
		case "G":
			dst = &o.outG
		case "J":
			dst = &o.outJ
		case "N":
			dst = &o.outN
		case "A":
			v, err := next(a, "", false)
			if err != nil {
				return err
			}
			o.outX, o.outG, o.outN = v+".xml", v+".gnmap", v+".nmap"
			return nil
		default:
			if rest == "S" || rest == "M" || rest == "H" {
				return notSupported(a)
			}
			return usagef("unknown option %q", a)
		}
		v, err := next(a, "", false)
		if err != nil {
			return err
		}
		*dst = v
		return nil
	case 'i':
		if rest != "L" {
			return usagef("unknown option %q", a)
		}
		v, err := next(a, "", false)
		if err != nil {
			return err
		}
		o.inputList = v
		return nil
	case 'e':
		v, err := next("-e", rest, rest != "")
		if err != nil {
			return err
		}
		o.iface = v
		return nil
	case 'S':
		v, err := next("-S", rest, rest != "")
		if err != nil {
			return err
		}
		addr, err := netip.ParseAddr(v)
		if err != nil || addr.Zone() != "" {
			return usagef("bad -S address %q: want an IP address", v)
		}
		o.source = addr.Unmap()
		return nil
	case 'F':
		if rest != "" {
			break
		}
		o.topPorts = 100
		return nil
	case 'r', 'n', '4', '6':
		if rest != "" {
			break
		}
		if a[1] == 'r' {
			o.sequential = true
		}
		return nil // -n: we never do reverse DNS; -4/-6: both families always work
	case 'v':
		if strings.Trim(rest, "v") != "" {
			break
		}
		o.verbose += 1 + len(rest)
		return nil
	case 'h':
		if rest != "" {
			break
		}
		o.help = true
		return nil
	}
	return usagef("unknown option %q", a)
}

// parseTime reads nmap's time syntax: a number with an optional unit ms, s,
// m or h; a bare number is seconds.
func parseTime(s string) (time.Duration, error) {
	unit := time.Second
	num := s
	for _, u := range []struct {
		suffix string
		d      time.Duration
	}{{"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}} {
		if strings.HasSuffix(s, u.suffix) {
			num, unit = strings.TrimSuffix(s, u.suffix), u.d
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f != f || strings.ContainsAny(num, "eEinfINFxX") {
		return 0, errors.New("want a time such as 500ms, 30s, 5m, 1h or a number of seconds")
	}
	d := f * float64(unit)
	if d > float64(1<<62) {
		return 0, errors.New("too long")
	}
	return time.Duration(d), nil
}

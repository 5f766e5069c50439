// Command scan is an nmap-style port scanner built on portsense. It shows the
// library end to end: target specs (package target), probers (package
// probe), the scan engine (package scanner) and the output writers (package
// result), with nmap's option spellings.
//
//	go run ./examples/scan -sT -p 22,80,443 127.0.0.1
//	sudo go run ./examples/scan -sS --top-ports 100 -T4 -oX scan.xml 198.18.0.0/24
//	go run ./examples/scan -p- --max-rate 500 --resume state.json -oJ part.jsonl ::1
//
// Targets may appear anywhere among the options; "--" ends the options.
//
// # Options
//
//	-sT                  TCP connect scan (no privileges needed)
//	-sS                  TCP SYN scan (Linux, needs CAP_NET_RAW). The default
//	                     is -sS when running as root on Linux and the SYN
//	                     prober opens, else -sT, as nmap does.
//	-sn                  ping scan: find live hosts, scan no ports
//	-Pn                  no host discovery: every host is up, all its ports
//	                     are scanned. Without it live hosts are found first
//	                     and only they are port-scanned (see
//	                     flags_discovery.go for -PE/-PP/-PS/-PA/-PU/-PR and
//	                     --disable-arp-ping)
//	-p SPEC              ports, nmap syntax: 22,80,1000-2000, -100, 60000-,
//	                     - (1-65535), service names, T:/U: prefixes. UDP ports
//	                     need -sU (else they are ignored with a warning)
//	-sU                  UDP scan, alone or with -sS/-sT in one run
//	                     (-sS -sU -p T:22,80,U:53,161); raw packets as root
//	                     on Linux, connected UDP sockets otherwise
//	--top-ports N, -F    the N (or 100) most common TCP ports; the default
//	                     is the top 1000, like nmap
//	-r                   scan in natural order instead of a random one
//	-T0 … -T5            timing template (paranoid … insane)
//	--min-rate, --max-rate PPS
//	--max-retries N
//	--host-timeout, --scan-delay, --initial-rtt-timeout,
//	--min-rtt-timeout, --max-rtt-timeout TIME
//	                     nmap time syntax: 500ms, 30s, 5m, 1h; a bare
//	                     number is seconds
//	--min-parallelism, --max-parallelism N
//	--exclude LIST, --excludefile FILE, -iL FILE ("-" reads stdin)
//	-oN/-oX/-oG/-oJ FILE normal, nmap XML, greppable, JSON Lines output;
//	                     "-" sends it to stdout instead of the table. The
//	                     table on stdout reports per host for up to 256
//	                     hosts; for more it prints open ports as they come
//	                     and counts the rest by state. Memory stays bounded
//	                     for any number of targets and any output.
//	-oA BASE             BASE.nmap, BASE.xml and BASE.gnmap
//	--append-output      append to output files instead of truncating them
//	--open               report open ports only
//	--seed N             the permutation seed (random when not given)
//	--shard K/N          scan shard K of N, 1-based like masscan: the N
//	                     shards of one seed cover every target exactly once
//	-e IFACE, -S ADDR    outgoing interface and source address (-e needs -sS);
//	                     an -S address not of this host is claimed (below)
//	--source-pool N|LIST claim N free addresses of the targets' subnet, or
//	                     the listed ones, checked unused with ARP probes /
//	                     IPv6 DAD, answered for during the scan, released
//	                     after it; probes rotate over them
//	                     (--source-rotate per-probe|per-target) and each
//	                     result records its source (-oJ "source")
//	-D D1,D2,ME,…        decoys: every probe is also sent from each Dn; ME
//	                     places the real one (default last). RND is refused
//	-g, --source-port P  fixed TCP source port (tries then share it)
//	--resume FILE        save the scan's state to FILE and continue a saved
//	                     scan from it (see below)
//	--servicedb FILE     name ports from FILE (nmap-services or /etc/services
//	                     format) instead of portsense's own small table;
//	                     with nmap's file the outputs name ports as nmap does
//	-n, --reason, -4, -6 accepted for nmap compatibility: there is no reverse
//	                     DNS, the table always shows reasons, and both
//	                     address families are always scanned
//	-sV                  version detection on open TCP ports (probe/service)
//	--version-intensity N  0-9 (default 7); --version-light = 2, --version-all = 9
//	-v                   a progress line on stderr every second
//	-h, --help           this help
//
// Flags for nmap features not built yet (-O, -A, --script,
// …) exit with status 2 and "not yet supported: FLAG". A bad option value
// exits with status 2 and a one-line message naming the bad token. An
// interrupted scan (SIGINT) exits with status 130 after writing its outputs
// and resume file; other failures exit with status 1.
//
// # Resume
//
// With --resume FILE, the scan writes its state to FILE every second and when
// it ends or is interrupted. A new FILE is written before the first probe
// (the run says so on stderr), so an unwritable path fails at once. If FILE
// already exists when the scan starts, the
// scan continues from it: its hosts, ports, seed, shard and order come from
// the file (targets and ports on the command line must match it, or may be
// left out), while outputs, timing and the scan type may change. The resumed
// run's outputs hold only what it reports; join JSON Lines parts with
// result.Merge, or use --append-output. FILE is JSON:
//
//	{
//	  "version": 1,               // format version
//	  "scan_type": "connect",     // "connect" or "syn", informational
//	  "hosts": "127.0.0.1",       // the resolved hosts, target.ParseHosts syntax
//	  "ports": "T:1-200",         // the ports, target.ParsePorts syntax
//	  "seed": 42,                 // permutation seed
//	  "shard": 1, "shards": 2,    // 1-based shard; both absent without --shard
//	  "sequential": false,        // -r
//	  "position": 57,             // positions of the shard already finished
//	  "total": 100,               // positions in the shard
//	  "done": [{"addr": "127.0.0.1", "port": 80, "proto": "tcp"}],
//	                              // targets past position already reported;
//	                              // the resumed run does not report them again
//	  "finished": false,          // true once the whole shard is done
//	  "updated": "2026-11-27T16:16:53Z"
//	}
//
// Position is a target.IterConfig.Start value: the resumed scan asks the
// engine to start there.
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// memoryLimit is the soft limit on the Go heap (unless GOMEMLIMIT says
// otherwise): the scan's live memory is bounded (some 15 MiB at any size),
// and the limit keeps the garbage collector from letting the heap grow to
// twice that before it runs.
const memoryLimit = 24 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		// After the first signal, a second one kills the program at once.
		<-ctx.Done()
		stop()
	}()
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK          = 0
	exitFailure     = 1
	exitUsage       = 2
	exitInterrupted = 130
)

// run is the whole program: it parses args, scans, and writes the outputs.
// It returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := scan(ctx, args, stdout, stderr)
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errHelp):
		fmt.Fprint(stdout, usage)
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitUsage
	case errors.Is(err, context.Canceled):
		fmt.Fprintln(stderr, "scan: interrupted")
		return exitInterrupted
	default:
		fmt.Fprintf(stderr, "scan: %v\n", err)
		return exitFailure
	}
}

var errHelp = errors.New("help")

const usage = `Usage: scan [options] TARGET...
  -sT / -sS           TCP connect / SYN scan (default -sS as root on Linux)
  -sU                 UDP scan; with -sS/-sT both in one run (-p T:22,U:53)
  -sn                 ping scan: live hosts only, no ports
  -Pn                 no host discovery: every host is up
  -PE/-PP/-PS[P]/-PA[P]/-PU[P]/-PR  discovery methods; --disable-arp-ping
  -p SPEC             ports (22,80,1000-2000,-100,60000-,-,T:..,U:..)
  --top-ports N, -F   the N (100) most common ports; default top 1000
  -r                  scan in order, not randomly
  -T0..-T5            timing template
  --min-rate, --max-rate PPS; --max-retries N
  --host-timeout, --scan-delay, --initial-rtt-timeout,
  --min-rtt-timeout, --max-rtt-timeout TIME (500ms, 30s, 5m, 1h, seconds)
  --min-parallelism, --max-parallelism N
  --exclude LIST, --excludefile FILE, -iL FILE
  -oN/-oX/-oG/-oJ FILE  normal/XML/greppable/JSON Lines output ("-" = stdout)
  -oA BASE            BASE.nmap, BASE.xml, BASE.gnmap
  --append-output     append to output files
  --open              only open ports
  --seed N            permutation seed
  --shard K/N         scan shard K of N (1-based)
  -e IFACE, -S ADDR   interface (with -sS) and source address
` + sourceUsage + `  --resume FILE       save state to FILE; continue from it if it exists
  --servicedb FILE    port names from FILE (nmap-services, /etc/services)
  -n, --reason, -4, -6  accepted (no reverse DNS; reasons always shown)
  -v                  progress on stderr
  -h, --help          this help
`

// plan is everything a scan needs once the command line is checked.
type plan struct {
	opts     *options
	space    *target.Space
	hosts    *target.Hosts
	ports    *target.Ports
	order    target.IterConfig
	state    *resumeState // the resume file's state, nil without --resume
	suppress map[target.Target]struct{}
	prober   probe.Prober
	scanType string
	names    *serviceDB       // --servicedb, nil without
	flush    func() error     // flushes the outputs' buffers; the scan calls it every second
	extra    []scanner.Option // more probers: -sU with a TCP scan (flags_udp.go)
}

func scan(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	defer o.src.close() // a claimed source pool (flags_source.go)
	if o.help {
		return errHelp
	}
	stopProfile, err := startProfile(o) // hidden --cpuprofile (flags_profile.go)
	if err != nil {
		return err
	}
	defer stopProfile()
	p, err := makePlan(ctx, o, stderr)
	if err != nil {
		return err
	}
	out, err := openOutputs(o, stdout)
	if err != nil {
		return err
	}
	p.flush = out.flush
	info := result.RunInfo{
		Scanner:  "portsense scan",
		Args:     strings.Join(append([]string{"scan"}, args...), " "),
		ScanType: p.scanType,
		Proto:    target.TCP,
		Ports:    strings.TrimPrefix(p.ports.String(), "T:"),
		Start:    time.Now(),
	}
	if o.disc.pingOnly {
		info.ScanType, info.Ports = "ping", ""
	}
	// info.End stays zero: the writers take RunInfo by value when made, and
	// a zero End means the time of Close, which is when the scan ended.
	p.udpRunInfo(&info)
	w := out.writer(info, int(min(p.hosts.Len(), 1<<40)))
	scanErr := execute(ctx, p, w, stderr)
	if err := w.Close(); err != nil && scanErr == nil {
		scanErr = fmt.Errorf("writing output: %w", err)
	}
	if err := out.close(); err != nil && scanErr == nil {
		scanErr = err
	}
	return scanErr
}

// makePlan turns options into hosts, ports, order and a prober.
func makePlan(ctx context.Context, o *options, stderr io.Writer) (*plan, error) {
	p := &plan{opts: o}
	var err error
	if o.resume != "" {
		if p.state, err = loadResume(o.resume); err != nil {
			return nil, err
		}
	}
	if err := checkOptions(o); err != nil {
		return nil, err
	}
	if p.ports, err = choosePorts(o, stderr); err != nil {
		return nil, err
	}
	haveTargets := len(o.targets) > 0 || o.inputList != ""
	if haveTargets {
		if p.hosts, err = resolveHosts(ctx, o); err != nil {
			return nil, err
		}
	}
	if st := p.state; st != nil {
		if err := p.adoptState(o, haveTargets); err != nil {
			return nil, err
		}
	} else {
		if !haveTargets {
			return nil, usagef("no targets given (see -h)")
		}
		p.order = target.IterConfig{Seed: o.seed, Sequential: o.sequential}
		if !o.seedSet {
			p.order.Seed = rand.Uint64()
		}
		if o.shards > 0 {
			p.order.Shard, p.order.Shards = o.shard-1, o.shards
		}
	}
	if p.hosts.Len() == 0 {
		return nil, usagef("no targets left after exclusions")
	}
	if p.space, err = target.NewSpace(p.hosts, p.ports); err != nil {
		return nil, usagef("%v", err)
	}
	it, err := p.space.Iter(p.order)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if p.state == nil && o.resume != "" {
		p.state = &resumeState{
			Version: resumeVersion, Hosts: p.hosts.String(), Ports: p.ports.String(),
			Seed: p.order.Seed, Sequential: o.sequential, Total: it.Len(),
		}
		if p.order.Shards > 0 {
			p.state.Shard, p.state.Shards = p.order.Shard+1, p.order.Shards
		}
	}
	if err := prepareSource(ctx, o, p.hosts, stderr); err != nil {
		return nil, err
	}
	if p.prober, p.scanType, err = chooseProbers(o, p, stderr); err != nil {
		return nil, err
	}
	if o.serviceDB != "" {
		if p.names, err = loadServiceDB(o.serviceDB); err != nil {
			return nil, err
		}
	}
	if p.state != nil {
		p.state.ScanType = p.scanType
	}
	return p, nil
}

// adoptState takes hosts, ports and order from the resume file, checking
// that the command line, where it says anything, agrees.
func (p *plan) adoptState(o *options, haveTargets bool) error {
	st := p.state
	hosts, err := target.ParseHosts(st.Hosts)
	if err != nil {
		return usagef("bad resume file %q: %v", o.resume, err)
	}
	saved, err := hosts.Resolve(context.Background(), nil)
	if err != nil {
		return usagef("bad resume file %q: %v", o.resume, err)
	}
	ports, err := target.ParsePorts(st.Ports, target.TCP)
	if err != nil {
		return usagef("bad resume file %q: %v", o.resume, err)
	}
	if haveTargets && p.hosts.String() != saved.String() {
		return usagef("targets %q differ from the resume file's %q", p.hosts.String(), saved.String())
	}
	if (o.ports != "" || o.topPorts > 0) && p.ports.String() != ports.String() {
		return usagef("ports %q differ from the resume file's %q", p.ports.String(), ports.String())
	}
	if o.seedSet && o.seed != st.Seed {
		return usagef("--seed %d differs from the resume file's %d", o.seed, st.Seed)
	}
	if o.shards > 0 && (o.shard != st.Shard || o.shards != st.Shards) {
		return usagef("--shard %d/%d differs from the resume file's %d/%d", o.shard, o.shards, st.Shard, st.Shards)
	}
	p.hosts, p.ports = saved, ports
	p.order = target.IterConfig{Seed: st.Seed, Start: st.Position, Sequential: st.Sequential}
	if st.Shards > 0 {
		p.order.Shard, p.order.Shards = st.Shard-1, st.Shards
	}
	p.suppress = map[target.Target]struct{}{}
	for _, d := range st.Done {
		p.suppress[target.Target{Addr: d.Addr, Port: target.Port{Proto: d.Proto, Num: d.Port}}] = struct{}{}
	}
	return nil
}

// checkOptions rejects combinations the library cannot do yet.
func checkOptions(o *options) error {
	if o.ports != "" && o.topPorts > 0 {
		return usagef("-p and --top-ports (or -F) conflict: give one")
	}
	if err := checkDiscovery(o); err != nil {
		return err
	}
	if o.minRate > 0 && o.maxRate > 0 && o.minRate > o.maxRate {
		return usagef("--min-rate %v is above --max-rate %v", o.minRate, o.maxRate)
	}
	n := 0
	for _, f := range []string{o.outX, o.outG, o.outJ, o.outN} {
		if f == "-" {
			n++
		}
	}
	if n > 1 {
		return usagef("only one output can go to stdout (\"-\")")
	}
	return nil
}

// choosePorts returns the TCP ports to scan.
func choosePorts(o *options, stderr io.Writer) (*target.Ports, error) {
	if o.udp {
		return choosePortsUDP(o)
	}
	switch {
	case o.ports != "":
		ps, err := target.ParsePorts(o.ports, target.TCP)
		if err != nil {
			return nil, usagef("%v", err)
		}
		tcp := onlyTCP(ps)
		if tcp.Len() < ps.Len() {
			fmt.Fprintf(stderr, "scan: warning: ignoring %d UDP ports: add -sU to scan them\n", ps.Len()-tcp.Len())
		}
		if tcp.Len() == 0 {
			return nil, usagef("no TCP ports in -p %q", o.ports)
		}
		return tcp, nil
	case o.topPorts > 0:
		if n := target.TopLen(target.TCP); o.topPorts > n {
			return nil, usagef("bad --top-ports %d: portsense knows the top %d TCP ports", o.topPorts, n)
		}
		return target.Top(o.topPorts, target.TCP)
	default:
		return target.Top(min(1000, target.TopLen(target.TCP)), target.TCP)
	}
}

// onlyTCP returns the TCP ports of ps. Ports has no per-protocol view, so
// this copies the port numbers (at most 65,536).
func onlyTCP(ps *target.Ports) *target.Ports {
	if protos := ps.Protocols(); len(protos) == 1 && protos[0] == target.TCP {
		return ps
	}
	var nums []uint16
	for i := range ps.Len() {
		if p := ps.At(i); p.Proto == target.TCP {
			nums = append(nums, p.Num)
		}
	}
	return target.PortsOf(target.TCP, nums...)
}

// resolveHosts reads targets from the command line and -iL, removes
// exclusions and resolves names.
func resolveHosts(ctx context.Context, o *options) (*target.Hosts, error) {
	var spec *target.HostSpec
	var err error
	switch {
	case o.inputList != "" && len(o.targets) > 0:
		// HostSpec cannot join two specs, so read the list as text.
		b, err := readInput(o.inputList)
		if err != nil {
			return nil, err
		}
		spec, err = target.ParseHosts(append(o.targets, stripComments(string(b)))...)
		if err != nil {
			return nil, usagef("%v", err)
		}
	case o.inputList != "":
		r, closeFn, err := openInput(o.inputList)
		if err != nil {
			return nil, err
		}
		spec, err = target.ReadHosts(r)
		closeFn()
		if err != nil {
			return nil, usagef("-iL %s: %v", o.inputList, err)
		}
	default:
		if spec, err = target.ParseHosts(o.targets...); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if len(o.exclude) > 0 {
		if err := spec.Exclude(o.exclude...); err != nil {
			return nil, usagef("%v", err)
		}
	}
	if o.excludeFile != "" {
		r, closeFn, err := openInput(o.excludeFile)
		if err != nil {
			return nil, err
		}
		err = spec.ExcludeReader(r)
		closeFn()
		if err != nil {
			return nil, usagef("--excludefile %s: %v", o.excludeFile, err)
		}
	}
	hosts, err := spec.Resolve(ctx, nil)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return hosts, nil
}

func openInput(name string) (io.Reader, func(), error) {
	if name == "-" {
		return os.Stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { f.Close() }, nil
}

func readInput(name string) ([]byte, error) {
	r, closeFn, err := openInput(name)
	if err != nil {
		return nil, err
	}
	defer closeFn()
	return io.ReadAll(r)
}

func stripComments(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		if j := strings.IndexByte(l, '#'); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return strings.Join(lines, "\n")
}

// chooseProber builds the prober of the scan type, picking one like nmap
// when none was asked for.
func chooseProber(o *options) (probe.Prober, string, error) {
	typ := o.scanType
	if typ == "" {
		typ = "connect"
		if runtime.GOOS == "linux" && os.Geteuid() == 0 {
			typ = "syn"
		}
	}
	if typ == "syn" {
		syn, err := probe.NewSYN(o.synConfig())
		switch {
		case err == nil:
			return syn, "syn", nil
		case o.scanType == "" && o.iface == "":
			// Not allowed after all (no CAP_NET_RAW): fall back like nmap.
		case errors.Is(err, errors.ErrUnsupported):
			return nil, "", usagef("not yet supported: -sS on %s", runtime.GOOS)
		case errors.Is(err, fs.ErrPermission):
			return nil, "", fmt.Errorf("-sS: %w", err)
		default:
			return nil, "", usagef("-sS: %v", err) // a bad -e or -S
		}
	}
	if o.iface != "" {
		return nil, "", usagef("not yet supported: -e with -sT (the connect prober picks the interface by route)")
	}
	return probe.NewConnect(&probe.ConnectConfig{Source: o.source}), "connect", nil
}

// outputs holds the files the writers write to. Every destination is
// buffered, so that a record costs no system call; the scan flushes the
// buffers every second, so streams stay live.
type outputs struct {
	stdout io.Writer
	o      *options
	files  []*os.File
	bufs   []*bufio.Writer
	dst    map[*string]io.Writer
}

func (out *outputs) buffer(w io.Writer) io.Writer {
	for _, b := range out.bufs {
		if b == w {
			return b
		}
	}
	b := bufio.NewWriterSize(w, 64<<10)
	out.bufs = append(out.bufs, b)
	return b
}

// flush writes what the buffers hold.
func (out *outputs) flush() error {
	var errs []error
	for _, b := range out.bufs {
		errs = append(errs, b.Flush())
	}
	return errors.Join(errs...)
}

func openOutputs(o *options, stdout io.Writer) (*outputs, error) {
	out := &outputs{stdout: stdout, o: o, dst: map[*string]io.Writer{}}
	for _, name := range []*string{&o.outN, &o.outX, &o.outG, &o.outJ} {
		switch *name {
		case "":
		case "-":
			out.dst[name] = stdout // buffered below, with the table's stdout
		default:
			flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
			if o.appendOut {
				flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
			}
			f, err := os.OpenFile(*name, flags, 0o644)
			if err != nil {
				out.close()
				return nil, err
			}
			out.files = append(out.files, f)
			out.dst[name] = out.buffer(f)
		}
	}
	return out, nil
}

// liveHosts is the number of hosts above which the table on stdout prints
// open ports as they come and counts the rest (result.LiveTableWriter)
// instead of a report per host at the end.
const liveHosts = 256

// writer returns the writers of every output, the table on stdout unless
// another output claimed it. Every writer's memory is bounded whatever the
// number of targets; the table on stdout is live for more than liveHosts
// hosts.
func (out *outputs) writer(info result.RunInfo, hosts int) result.Writer {
	o := out.o
	var ws []result.Writer
	var xml, grep, table io.Writer // one ReportWriter buffers the run once for these
	stdoutTaken := false
	for name, w := range out.dst {
		if w == out.stdout {
			stdoutTaken = true
			w = out.buffer(w)
		}
		switch name {
		case &o.outN:
			table = w
		case &o.outX:
			xml = w
		case &o.outG:
			grep = w
		case &o.outJ:
			ws = append(ws, result.NewJSONLWriter(w))
		}
	}
	if !stdoutTaken {
		if hosts > liveHosts {
			ws = append(ws, result.NewLiveTableWriter(out.stdout, hosts)) // it flushes each open port
		} else {
			table = out.stdout
		}
	}
	if xml != nil || grep != nil || table != nil {
		ws = append(ws, result.NewReportWriter(info, xml, grep, table))
	}
	return result.Multi(ws...)
}

func (out *outputs) close() error {
	errs := []error{out.flush()}
	for _, f := range out.files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}

// execute runs the scan, feeds results to w, and keeps the resume file.
func execute(ctx context.Context, p *plan, w result.Writer, stderr io.Writer) error {
	o := p.opts
	opts := []scanner.Option{scanner.WithOrder(p.order)}
	if o.timingSet {
		opts = append(opts, scanner.WithTiming(o.timing))
	}
	if o.maxRate > 0 {
		opts = append(opts, scanner.WithRate(o.maxRate))
	}
	if o.minRate > 0 {
		opts = append(opts, scanner.WithMinRate(o.minRate))
	}
	if o.retriesSet {
		opts = append(opts, scanner.WithMaxRetries(o.maxRetries))
		if o.maxRetries < 1 {
			opts = append(opts, scanner.WithMinRetries(o.maxRetries))
		}
	}
	if o.hostTimeout > 0 {
		opts = append(opts, scanner.WithHostTimeout(o.hostTimeout))
	}
	if o.scanDelay > 0 {
		opts = append(opts, scanner.WithScanDelay(o.scanDelay))
	}
	if o.minPar > 0 || o.maxPar > 0 {
		opts = append(opts, scanner.WithParallelism(o.minPar, o.maxPar))
	}
	if o.initRTT > 0 || o.minRTT > 0 || o.maxRTT > 0 {
		opts = append(opts, scanner.WithRTTTimeouts(o.initRTT, o.minRTT, o.maxRTT))
	}
	var errMu sync.Mutex
	if o.verbose > 0 {
		opts = append(opts, scanner.WithProgress(time.Second, func(s scanner.Stats) {
			errMu.Lock()
			defer errMu.Unlock()
			fmt.Fprintln(stderr, progressLine(s))
		}))
	}
	if so, err := serviceOption(o); err != nil || so != nil {
		if err != nil {
			return err
		}
		opts = append(opts, so)
	}
	opts = append(opts, p.extra...)
	if handled, err := discover(ctx, p, w, stderr, opts); handled {
		return err
	}
	sc, err := scanner.New(p.prober, opts...)
	if err != nil {
		return usagef("%v", err)
	}
	var tr *tracker
	if p.state != nil {
		var done []target.Target
		for t := range p.suppress {
			done = append(done, t)
		}
		if tr, err = newTracker(p.space, p.order, done); err != nil {
			return err
		}
	}
	if p.state != nil && p.state.Finished {
		fmt.Fprintf(stderr, "scan: %s: the saved scan is finished; nothing left to scan (remove the file to scan again)\n", o.resume)
	}
	if err := p.startResume(stderr); err != nil {
		return err
	}
	if o.verbose > 0 {
		errMu.Lock()
		fmt.Fprintf(stderr, "scan: %s scan of %d hosts × %d ports, seed %d, %d targets in this run\n",
			p.scanType, p.hosts.Len(), p.ports.Len(), p.order.Seed, p.space.Len())
		errMu.Unlock()
	}
	run, err := sc.Start(ctx, p.space)
	if err != nil {
		return usagef("%v", err)
	}
	save := func(finished bool) error {
		if tr == nil {
			return nil
		}
		for _, h := range run.Hosts() {
			if h.Reason == result.HostTimeout {
				tr.hostGone(h.Addr)
			}
		}
		st := p.state
		st.Position = min(tr.position(), run.Stats().Position)
		st.Done = tr.doneList()
		st.Finished = finished
		return st.save(o.resume)
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var writeErr error
	noRoute := &noRouteWarner{stderr: stderr}
	handle := func(r result.Result) {
		t := target.Target{Addr: r.AddrPort.Addr(), Port: target.Port{Proto: r.Proto, Num: r.AddrPort.Port()}}
		if _, dup := p.suppress[t]; dup {
			delete(p.suppress, t) // reported by the run that saved the resume file
			return
		}
		if tr != nil {
			tr.report(t)
		}
		noRoute.see(r)
		if o.openOnly && r.State != result.Open {
			return
		}
		if err := w.WriteResult(p.names.name(r)); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	results := run.Results()
	for results != nil {
		select {
		case r, ok := <-results:
			// Results come in bursts (a timed-out block of probes at
			// once): take the rest of a burst with plain receives, not a
			// select with the ticker per result.
			for n := 1; ok; n++ {
				handle(r)
				if n == 4096 {
					break
				}
				select {
				case r, ok = <-results:
					continue
				default:
				}
				break
			}
			if !ok {
				results = nil
			}
		case <-tick.C:
			if err := save(false); err != nil {
				fmt.Fprintf(stderr, "scan: %v\n", err)
			}
			if p.flush != nil {
				if err := p.flush(); err != nil && writeErr == nil {
					writeErr = err
				}
			}
		}
	}
	scanErr := run.Wait()
	for _, h := range run.Hosts() {
		if err := w.WriteHost(h); err != nil && writeErr == nil {
			writeErr = err
		}
	}
	if err := save(scanErr == nil); err != nil && scanErr == nil {
		scanErr = err
	}
	if scanErr != nil {
		if errors.Is(scanErr, context.Canceled) && o.resume != "" {
			fmt.Fprintf(stderr, "scan: state saved; continue with --resume %s\n", o.resume)
		}
		return scanErr
	}
	if writeErr != nil {
		return fmt.Errorf("writing output: %w", writeErr)
	}
	return nil
}

// progressLine formats a Stats snapshot for -v.
func progressLine(s scanner.Stats) string {
	eta := "?"
	if d := s.ETA(); d > 0 || s.Finished {
		eta = d.Round(time.Second).String()
	}
	line := fmt.Sprintf("scan: %5.1f%% done (%d/%d), %.0f probes/s, %d in flight, %d retransmits, elapsed %s, ETA %s",
		100*s.Progress(), s.Done, s.Total, s.Rate, s.InFlight, s.Retransmits,
		s.Elapsed.Round(time.Second), eta)
	return line + rateLimitNote(s)
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"runtime"
	"slices"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// Host discovery flags, as nmap spells them:
//
//	-sn (-sP)            ping scan: discover hosts, scan no ports
//	-Pn (-P0, -PN)       no discovery: every host is up (reason user-set)
//	-PE, -PP             ICMP echo, ICMP timestamp request
//	-PS[PORTS]           TCP SYN ping (default port 80; as non-root a connect)
//	-PA[PORTS]           TCP ACK ping (default 80)
//	-PU[PORTS]           UDP ping (default 40125)
//	-PR                  ARP ping (NDP for IPv6) on the local link
//	--disable-arp-ping   send the other methods to on-link hosts too
//
// Without -Pn, hosts are discovered first and only live ones are
// port-scanned, streaming (scanner.Sweep). With no -P method the default
// is nmap's: as root ARP/NDP on-link, else echo + SYN 443 + ACK 80 +
// timestamp; otherwise a connect to 80 and 443. --shard and --resume keep
// the scan a plain port scan of every host, as with -Pn.
type discoveryOpts struct {
	pingOnly   bool // -sn
	noPing     bool // -Pn
	methods    []probe.PingMethod
	synPorts   []uint16
	ackPorts   []uint16
	udpPorts   []uint16
	disableARP bool
}

// discoveryLongOpts adds the long discovery options to m.
func discoveryLongOpts(m map[string]longOpt) {
	m["disable-arp-ping"] = longOpt{false, func(o *options, _ string) error {
		o.disc.disableARP = true
		return nil
	}}
}

// parsePing reads a -P option; rest is what follows "-P".
func parsePing(o *options, rest string) error {
	d := &o.disc
	if rest == "" {
		return usagef("option -P needs a discovery method, such as -Pn, -PE or -PS22")
	}
	add := func(m probe.PingMethod) {
		if !slices.Contains(d.methods, m) {
			d.methods = append(d.methods, m)
		}
	}
	ports := func(flag, list string, dst *[]uint16) error {
		if list == "" {
			return nil
		}
		ps, err := target.ParsePorts(list, target.TCP)
		if err != nil {
			return usagef("bad port list in %s%s: %v", flag, list, err)
		}
		if ps.Len() > 64 {
			return usagef("bad port list in %s%s: %d ports, at most 64", flag, list, ps.Len())
		}
		for i := range ps.Len() {
			*dst = append(*dst, ps.At(i).Num)
		}
		return nil
	}
	switch rest[0] {
	case 'n', 'N', '0':
		if len(rest) > 1 {
			break
		}
		d.noPing = true
		return nil
	case 'E', 'P', 'R':
		if len(rest) > 1 {
			break
		}
		add(map[byte]probe.PingMethod{'E': probe.PingEcho, 'P': probe.PingTimestamp, 'R': probe.PingARP}[rest[0]])
		return nil
	case 'S':
		add(probe.PingSYN)
		if rest[1:] == "" && d.synPorts == nil {
			d.synPorts = []uint16{80} // nmap's -PS port; its default ping uses 443
			return nil
		}
		return ports("-PS", rest[1:], &d.synPorts)
	case 'A':
		add(probe.PingACK)
		return ports("-PA", rest[1:], &d.ackPorts)
	case 'U':
		add(probe.PingUDP)
		return ports("-PU", rest[1:], &d.udpPorts)
	case 'M', 'Y', 'O':
		return notSupported("-P" + rest[:1])
	}
	return usagef("unknown option %q", "-P"+rest)
}

// checkDiscovery rejects discovery combinations that make no sense.
func checkDiscovery(o *options) error {
	d := &o.disc
	if d.pingOnly && (o.ports != "" || o.topPorts > 0) {
		return usagef("-sn (ping scan) scans no ports: drop -p / --top-ports / -F")
	}
	if d.noPing && len(d.methods) > 0 {
		return usagef("-Pn (no discovery) conflicts with -P%s", pingFlag(d.methods[0]))
	}
	if d.disableARP && slices.Contains(d.methods, probe.PingARP) {
		return usagef("--disable-arp-ping conflicts with -PR")
	}
	if d.pingOnly && o.resume != "" {
		return usagef("--resume works with port scans, not -sn")
	}
	return nil
}

func pingFlag(m probe.PingMethod) string {
	switch m {
	case probe.PingEcho:
		return "E"
	case probe.PingTimestamp:
		return "P"
	case probe.PingSYN:
		return "S"
	case probe.PingACK:
		return "A"
	case probe.PingUDP:
		return "U"
	case probe.PingARP:
		return "R"
	}
	return m.String()
}

// buildPing makes the discovery prober the options ask for.
func buildPing(o *options) (probe.Prober, error) {
	d := &o.disc
	cfg := &probe.PingConfig{
		Methods: slices.Clone(d.methods), SYNPorts: d.synPorts, ACKPorts: d.ackPorts, UDPPorts: d.udpPorts,
		DisableARP: d.disableARP,
		SYN:        &probe.SYNConfig{Interface: o.iface, Source: o.source},
		Connect:    &probe.ConnectConfig{Source: o.source},
	}
	p, err := probe.NewPing(cfg)
	switch {
	case err == nil:
		return p, nil
	case errors.Is(err, errors.ErrUnsupported):
		return nil, usagef("not yet supported on %s: %v", runtime.GOOS, err)
	case errors.Is(err, fs.ErrPermission):
		return nil, fmt.Errorf("host discovery: %w (use -Pn to skip discovery, or no -P flags for the connect ping)", err)
	}
	return nil, usagef("host discovery: %v", err)
}

// discover runs host discovery when the options call for it and reports
// whether it handled the scan: -sn (hosts only) and the default sweep
// (discovery, then ports of live hosts). With -Pn, --shard or --resume it
// leaves the plain port scan to the caller.
func discover(ctx context.Context, p *plan, w result.Writer, stderr io.Writer, opts []scanner.Option) (bool, error) {
	o := p.opts
	d := &o.disc
	if d.pingOnly && d.noPing {
		// nmap -sn -Pn: every host is reported up, nothing is sent.
		for a := range p.hosts.All() {
			if err := w.WriteHost(result.Host{Addr: a, State: result.HostUp, Reason: result.UserSet}); err != nil {
				return true, fmt.Errorf("writing output: %w", err)
			}
		}
		return true, nil
	}
	if d.noPing {
		return false, nil
	}
	if !d.pingOnly && (p.state != nil || p.order.Shards > 0) {
		if len(d.methods) > 0 {
			return true, usagef("host discovery (-P) cannot be combined with --shard or --resume: add -Pn")
		}
		if o.verbose > 0 {
			fmt.Fprintln(stderr, "scan: --shard/--resume: no host discovery, every host is scanned (-Pn)")
		}
		return false, nil
	}
	ping, err := buildPing(o)
	if err != nil {
		return true, err
	}
	var writeErr error
	write := func(err error) {
		if err != nil && writeErr == nil {
			writeErr = fmt.Errorf("writing output: %w", err)
		}
	}
	if d.pingOnly {
		s, err := scanner.New(ping, opts...)
		if err != nil {
			return true, usagef("%v", err)
		}
		for h, err := range s.Discover(ctx, p.hosts) {
			if err != nil {
				return true, err
			}
			if h.State == result.HostUp || o.verbose > 0 {
				write(w.WriteHost(h)) // nmap lists down hosts only with -v
			}
		}
		return true, writeErr
	}
	s, err := scanner.New(p.prober, append(opts, scanner.WithProber(ping))...)
	if err != nil {
		return true, usagef("%v", err)
	}
	for rec, err := range s.Sweep(ctx, p.space) {
		if err != nil {
			return true, err
		}
		switch {
		case rec.Host != nil:
			if rec.Host.State == result.HostUp || o.verbose > 0 {
				write(w.WriteHost(*rec.Host))
			}
		case rec.Result != nil:
			if o.openOnly && rec.Result.State != result.Open {
				continue
			}
			write(w.WriteResult(*rec.Result))
		}
	}
	return true, writeErr
}

package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// UDP scans (-sU), alone or with a TCP scan type in one run:
//
//	scan -sU -p 53,161 198.18.0.2
//	scan -sS -sU -p T:22,80,U:53,161 198.18.0.2
//
// Without a T:/U: prefix a port applies to every scan type given, as in
// nmap. As root on Linux UDP probes are raw packets; otherwise they go
// through connected UDP sockets (no privileges needed).

// wantTCP reports whether the command line asks for a TCP scan: a TCP
// scan type, or no -sU.
func wantTCP(o *options) bool { return o.scanType != "" || !o.udp }

// choosePortsUDP is choosePorts for runs with -sU.
func choosePortsUDP(o *options) (*target.Ports, error) {
	tcp, udp := wantTCP(o), o.udp
	var sets []*target.Ports
	switch {
	case o.ports != "":
		for _, proto := range []target.Protocol{target.TCP, target.UDP} {
			if (proto == target.TCP && !tcp) || (proto == target.UDP && !udp) {
				continue
			}
			ps, err := target.ParsePorts(o.ports, proto)
			if err != nil {
				return nil, usagef("%v", err)
			}
			sets = append(sets, onlyProto(ps, proto))
		}
	default:
		n := 1000
		if o.topPorts > 0 {
			n = o.topPorts
		}
		for _, proto := range []target.Protocol{target.TCP, target.UDP} {
			if (proto == target.TCP && !tcp) || (proto == target.UDP && !udp) {
				continue
			}
			if o.topPorts > target.TopLen(proto) {
				return nil, usagef("bad --top-ports %d: portsense knows the top %d %s ports", o.topPorts, target.TopLen(proto), proto)
			}
			ps, err := target.Top(min(n, target.TopLen(proto)), proto)
			if err != nil {
				return nil, err
			}
			sets = append(sets, ps)
		}
	}
	var all *target.Ports
	for _, s := range sets {
		if all == nil {
			all = s
		} else {
			all = all.Merge(s)
		}
	}
	if all == nil || all.Len() == 0 {
		return nil, usagef("no ports to scan in -p %q for the scan types given", o.ports)
	}
	return all, nil
}

// onlyProto returns the ports of ps of one protocol.
func onlyProto(ps *target.Ports, proto target.Protocol) *target.Ports {
	if protos := ps.Protocols(); len(protos) == 1 && protos[0] == proto {
		return ps
	}
	var nums []uint16
	for i := range ps.Len() {
		if p := ps.At(i); p.Proto == proto {
			nums = append(nums, p.Num)
		}
	}
	return target.PortsOf(proto, nums...)
}

// chooseProbers sets the plan's probers: the TCP one of chooseProber
// and, with -sU, a UDP prober (the only one for a UDP-only run, else an
// extra one). It returns the scan type for the outputs.
func chooseProbers(o *options, p *plan, stderr io.Writer) (probe.Prober, string, error) {
	if !o.udp {
		return chooseProber(o)
	}
	udp, err := newUDPProber(o, stderr)
	if err != nil {
		return nil, "", err
	}
	if !wantTCP(o) || !hasProto(p.ports, target.TCP) {
		return udp, "udp", nil
	}
	tcp, typ, err := chooseProber(o)
	if err != nil {
		return nil, "", err
	}
	if hasProto(p.ports, target.UDP) {
		p.extra = append(p.extra, scanner.WithProber(udp))
	}
	return tcp, typ, nil
}

func hasProto(ps *target.Ports, proto target.Protocol) bool {
	for _, p := range ps.Protocols() {
		if p == proto {
			return true
		}
	}
	return false
}

// newUDPProber opens raw UDP probes when allowed, connected sockets
// otherwise (saying so on stderr).
func newUDPProber(o *options, stderr io.Writer) (probe.Prober, error) {
	cfg := &probe.UDPConfig{Interface: o.iface, Source: o.source, SourcePool: o.src.claimed, Rotation: o.src.udpRotation()}
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		u, err := probe.NewUDP(cfg)
		switch {
		case err == nil:
			return u, nil
		case errors.Is(err, fs.ErrPermission), errors.Is(err, errors.ErrUnsupported):
		default:
			return nil, usagef("-sU: %v", err) // a bad -e or -S
		}
	}
	if o.iface != "" {
		return nil, usagef("not yet supported: -e with -sU without raw sockets (connected sockets pick the interface by route)")
	}
	fmt.Fprintln(stderr, "scan: -sU without raw sockets: probing through connected UDP sockets")
	cfg.Sockets = true
	return probe.NewUDP(cfg)
}

// udpRunInfo fixes the outputs' run description for runs with UDP ports.
func (p *plan) udpRunInfo(info *result.RunInfo) {
	if !hasProto(p.ports, target.UDP) {
		return
	}
	if !hasProto(p.ports, target.TCP) {
		info.Proto = target.UDP
		info.ScanType = "udp"
		info.Ports = strings.TrimPrefix(p.ports.String(), "U:")
		return
	}
	info.Proto = 0 // each protocol's ports as seen
	info.Ports = ""
}

// rateLimitNote tells, in the progress line, about hosts whose ICMP
// errors are rate-limited (UDP scans).
func rateLimitNote(s scanner.Stats) string {
	if s.RateLimited == 0 {
		return ""
	}
	return fmt.Sprintf(", %d sent, %d ICMP-rate-limited hosts (one error per %v; %d probes paced)",
		s.Sent, s.RateLimited, s.ICMPInterval.Round(time.Millisecond), s.Paced)
}

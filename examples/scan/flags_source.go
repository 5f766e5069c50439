package main

// Source-address flags: --source-pool, --source-rotate, -S (claimed when
// it is not this host's), -D decoys, -g/--source-port. See sourceUsage.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/target"
)

// sourceUsage is the help text of the source flags.
const sourceUsage = `  --source-pool N|LIST claim N free addresses of the targets' subnet (or the
                      listed ones) and send from them, answering ARP/NDP
                      for them (-sS; root on Linux; see probe/srcpool)
  --source-rotate per-probe|per-target   how probes use the pool (default
                      per-probe for -sS, per-target for -sU)
  -S ADDR             source address; one not of this host is claimed like
                      a one-address pool
  -D D1,D2,ME,...     decoys: each probe is also sent from D1, D2 …; ME is
                      the real probe's place (default last). No RND.
  -g PORT, --source-port PORT   fixed source port
`

// sourceOpts are the parsed source flags.
type sourceOpts struct {
	pool      string // --source-pool, "" when not given
	rotate    srcpool.Rotation
	rotateSet bool
	decoys    []netip.Addr
	mePos     int // position of ME in -D; -1 when not given (last)
	decoysSet bool
	port      uint16
	portSet   bool
	claimed   *srcpool.Pool // claimed by prepareSource; closed by close
}

// sourceLongOpts adds --source-pool, --source-rotate and --source-port.
func sourceLongOpts(m map[string]longOpt) {
	m["source-pool"] = longOpt{true, func(o *options, v string) error {
		if err := checkPoolArg(v); err != nil {
			return err
		}
		o.src.pool = v
		return nil
	}}
	m["source-rotate"] = longOpt{true, func(o *options, v string) error {
		r, err := srcpool.ParseRotation(v)
		if err != nil {
			return usagef("bad --source-rotate %q: want per-probe or per-target", v)
		}
		o.src.rotate, o.src.rotateSet = r, true
		return nil
	}}
	m["source-port"] = longOpt{true, func(o *options, v string) error { return o.src.setPort("--source-port", v) }}
}

// parseSourceShort handles -D and -g; it reports whether a was one of them.
func parseSourceShort(o *options, a string, next func(name, attached string, hasAttached bool) (string, error)) (bool, error) {
	if len(a) < 2 {
		return false, nil
	}
	rest := a[2:]
	switch a[1] {
	case 'g':
		v, err := next("-g", rest, rest != "")
		if err != nil {
			return true, err
		}
		return true, o.src.setPort("-g", v)
	case 'D':
		v, err := next("-D", rest, rest != "")
		if err != nil {
			return true, err
		}
		return true, o.src.setDecoys(v)
	}
	return false, nil
}

func (s *sourceOpts) setPort(flag, v string) error {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil || n == 0 {
		return usagef("bad %s %q: want a port 1-65535", flag, v)
	}
	s.port, s.portSet = uint16(n), true
	return nil
}

// setDecoys reads nmap's -D list: addresses and at most one ME.
func (s *sourceOpts) setDecoys(v string) error {
	s.decoys, s.mePos, s.decoysSet = nil, -1, true
	for _, tok := range strings.Split(v, ",") {
		switch up := strings.ToUpper(strings.TrimSpace(tok)); {
		case up == "ME":
			if s.mePos >= 0 {
				return usagef("bad -D %q: ME given twice", v)
			}
			s.mePos = len(s.decoys)
			continue
		case strings.HasPrefix(up, "RND"):
			return usagef("bad -D token %q: random decoys would be addresses of strangers; list decoy addresses", tok)
		}
		a, err := netip.ParseAddr(strings.TrimSpace(tok))
		if err != nil || a.Zone() != "" {
			return usagef("bad -D token %q: want an IP address or ME", tok)
		}
		a = a.Unmap()
		if a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() {
			return usagef("bad -D token %q: %v cannot send probes", tok, a)
		}
		s.decoys = append(s.decoys, a)
	}
	if len(s.decoys) == 0 {
		return usagef("bad -D %q: no decoy addresses", v)
	}
	if len(s.decoys) > 128 {
		return usagef("bad -D: %d decoys, at most 128", len(s.decoys))
	}
	return nil
}

// checkPoolArg accepts a count 1-4096 or an address list.
func checkPoolArg(v string) error {
	if n, err := strconv.Atoi(v); err == nil {
		if n < 1 || n > 4096 {
			return usagef("bad --source-pool %q: want a count 1-4096 or a list of addresses", v)
		}
		return nil
	}
	if _, err := srcpool.ParseAddrs(v); err != nil {
		return usagef("bad --source-pool %q: %v", v, strings.TrimPrefix(err.Error(), "srcpool: "))
	}
	return nil
}

// wantsRaw reports whether the source flags need the SYN prober.
func (s *sourceOpts) wantsRaw() bool { return s.pool != "" || s.decoysSet || s.portSet }

// prepareSource claims the pool the flags ask for (or -S's address when it
// is not this host's), before the prober is made. The claim lasts until
// o.src.close.
func prepareSource(ctx context.Context, o *options, hosts *target.Hosts, stderr io.Writer) error {
	s := &o.src
	foreignS := o.source.IsValid() && !ownAddr(o.source)
	if !s.wantsRaw() && !foreignS {
		return nil
	}
	if o.udp && o.scanType == "" && (s.decoysSet || s.portSet) {
		return usagef("-D and -g apply to -sS probes; add -sS (UDP probes keep their own source ports)")
	}
	if o.scanType == "" && !o.udp {
		o.scanType = "syn" // never fall back to connect and drop the flags
	}
	if o.scanType == "connect" {
		switch {
		case foreignS:
			return usagef("-S %v is not an address of this host: a claimed source needs -sS", o.source)
		default:
			return usagef("--source-pool, -D and -g need -sS (raw packets), not -sT")
		}
	}
	if s.pool == "" && !foreignS {
		return nil
	}
	cfg := &srcpool.Config{Interface: o.iface}
	if hosts != nil && hosts.Len() > 0 {
		cfg.Toward = hosts.At(0)
	}
	if s.pool != "" {
		if o.source.IsValid() {
			return usagef("-S and --source-pool conflict: give one")
		}
		if n, err := strconv.Atoi(s.pool); err == nil {
			if cfg.Toward.Is6() {
				cfg.Count6 = n
			} else {
				cfg.Count = n
			}
		} else {
			cfg.Addrs, _ = srcpool.ParseAddrs(s.pool) // checked when parsed
		}
	} else {
		cfg.Addrs = []netip.Addr{o.source}
	}
	pool, err := srcpool.Claim(ctx, cfg)
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrPermission), errors.Is(err, errors.ErrUnsupported), errors.Is(err, context.Canceled):
		return err
	default:
		return usagef("%v", strings.TrimPrefix(err.Error(), "srcpool: "))
	}
	s.claimed = pool
	if foreignS {
		o.source = netip.Addr{} // the pool supplies it
	}
	if o.verbose > 0 {
		fmt.Fprintf(stderr, "scan: claimed %d source addresses on %s: %v\n", len(pool.Addrs()), pool.Interface(), pool.Addrs())
	}
	return nil
}

// synConfig is the SYN prober's configuration from the command line.
func (o *options) synConfig() *probe.SYNConfig {
	c := &probe.SYNConfig{Interface: o.iface, Source: o.source}
	s := &o.src
	c.SourcePool, c.Rotation = s.claimed, s.rotate
	if s.portSet {
		c.SourcePort, c.FixedSourcePort = s.port, true
	}
	if s.decoysSet {
		c.Decoys = s.decoys
		c.DecoyPosition = len(s.decoys)
		if s.mePos >= 0 {
			c.DecoyPosition = s.mePos
		}
	}
	return c
}

// udpRotation is the pool rotation of UDP probes: per-target unless asked
// otherwise, so that each port's tries share one source and the engine
// paces each source's ICMP budget of the host on its own.
func (s *sourceOpts) udpRotation() srcpool.Rotation {
	if s.rotateSet {
		return s.rotate
	}
	return srcpool.PerTarget
}

// close releases a claimed pool.
func (s *sourceOpts) close() {
	if s.claimed != nil {
		s.claimed.Close()
		s.claimed = nil
	}
}

// ownAddr reports whether a is an address of this host.
func ownAddr(a netip.Addr) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // cannot tell: leave -S as it was
	}
	for _, x := range addrs {
		if n, ok := x.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok && ip.Unmap() == a.Unmap() {
				return true
			}
		}
	}
	return false
}

package scanner

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Host discovery runs on the same engine as port scanning: the hosts to
// discover form the index space hosts × {the zero Port}, permuted, sharded
// and rate-limited like any scan, and a discovery prober (Protocol
// probe.HostProtocol, see probe.NewPing) probes each. Its Open replies are
// hosts that are up; silence after the retries means down.

// hostPorts is the port set of a discovery space: the zero Port alone.
var hostPorts = target.PortsOf(probe.HostProtocol, 0)

// hostProber returns the Scanner's discovery prober, if it has one.
func (s *Scanner) hostProber() (probe.Prober, error) {
	p := s.probers[probe.HostProtocol]
	if p == nil {
		return nil, errors.New("scanner: no discovery prober: add one with WithProber(probe.NewPing(…))")
	}
	return p, nil
}

// Discover finds which of hosts are up with the Scanner's discovery
// prober (nmap -sn) and yields one verdict per host, in the order they
// are reached: up hosts as their first reply arrives, down hosts when
// their last try times out. Memory stays O(window) whatever the number of
// hosts. If discovery fails, the last pair yielded carries the error;
// breaking out of the loop stops it.
func (s *Scanner) Discover(ctx context.Context, hosts *target.Hosts) iter.Seq2[result.Host, error] {
	return func(yield func(result.Host, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sc, tap, err := s.startDiscovery(ctx, hosts, s.cfg)
		if err != nil {
			yield(result.Host{}, err)
			return
		}
		for r := range sc.Results() {
			if !yield(tap.host(r), nil) {
				cancel()
				for range sc.Results() {
				}
				return
			}
		}
		if err := sc.Wait(); err != nil {
			yield(result.Host{}, err)
		}
	}
}

func (s *Scanner) startDiscovery(ctx context.Context, hosts *target.Hosts, cfg config) (*Scan, *macTap, error) {
	p, err := s.hostProber()
	if err != nil {
		return nil, nil, err
	}
	if hosts == nil || hosts.Len() == 0 {
		return nil, nil, errors.New("scanner: no hosts to discover")
	}
	sp, err := target.NewSpace(hosts, hostPorts)
	if err != nil {
		return nil, nil, err
	}
	tap := &macTap{Prober: p}
	sub := &Scanner{probers: map[target.Protocol]probe.Prober{probe.HostProtocol: tap}, cfg: cfg}
	sc, err := sub.Start(ctx, sp)
	if err != nil {
		return nil, nil, err
	}
	return sc, tap, nil
}

// macTap wraps a discovery prober to keep the MAC of each reply until the
// engine's verdict on that host comes out. Entries live while their host
// is in flight, so the map stays O(window).
type macTap struct {
	probe.Prober
	mu   sync.Mutex
	macs map[netip.Addr]net.HardwareAddr
}

func (t *macTap) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return t.Prober.Open(ctx, func(r probe.Reply) {
		if len(r.MAC) > 0 && r.State == result.Open {
			t.mu.Lock()
			if t.macs == nil {
				t.macs = map[netip.Addr]net.HardwareAddr{}
			}
			if _, ok := t.macs[r.Target.Addr]; !ok {
				t.macs[r.Target.Addr] = r.MAC
			}
			t.mu.Unlock()
		}
		deliver(r)
	})
}

// MaxInFlight passes the wrapped prober's limit on.
func (t *macTap) MaxInFlight() int {
	if l, ok := t.Prober.(probe.InFlightLimiter); ok {
		return l.MaxInFlight()
	}
	return 0
}

// host turns the engine's verdict on a host target into a result.Host.
func (t *macTap) host(r result.Result) result.Host {
	h := result.Host{
		Addr: r.AddrPort.Addr(), State: result.HostDown, Reason: r.Reason,
		ReplyTTL: r.ReplyTTL, RTT: r.RTT, Time: r.Time,
	}
	if r.State == result.Open {
		h.State = result.HostUp
	}
	t.mu.Lock()
	if m, ok := t.macs[h.Addr]; ok {
		delete(t.macs, h.Addr)
		if h.State == result.HostUp {
			h.MAC = m
		}
	}
	t.mu.Unlock()
	return h
}

// Sweep groups: live hosts are port-scanned in groups, like nmap's
// hostgroups. The first group is small so that port scanning starts
// early; groups double up to sweepMaxGroup.
const (
	sweepFirstGroup = 64
	sweepMaxGroup   = 4096
	sweepGroups     = 2                     // port-scan groups running at once
	sweepGroupDelay = 50 * time.Millisecond // longest a live host waits for its group to fill
)

// Sweep discovers the hosts of space with the Scanner's discovery prober
// and port-scans every live host on space's ports with its other
// probers. It streams: live hosts are port-scanned in groups (first 64
// hosts, doubling up to 4096, or whatever arrived within 50 ms) while
// discovery goes on, so the ports of early hosts come out before a big
// sweep ends. Each host's verdict (Record.Host) comes before its ports
// (Record.Result); hosts found down get no port scan. Warnings from the
// port stage (such as a SYN-proxy suspicion) follow as further Host
// records for the same address.
//
// Progress (WithProgress) is reported per group of the port stage.
// Memory stays O(window + groups): the target list is never
// materialised. The rate ceiling (WithRate) holds for both stages
// together; the order's Seed permutes both; shards (WithOrder) split the
// discovery; resume positions are not supported (an error), since a
// sweep's progress lives in two stages.
//
// If the sweep fails, the last pair yielded carries the error; breaking
// out of the loop stops it.
func (s *Scanner) Sweep(ctx context.Context, space *target.Space) iter.Seq2[result.Record, error] {
	return func(yield func(result.Record, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		out := make(chan sweepItem, 256)
		if err := s.startSweep(ctx, space, out); err != nil {
			yield(result.Record{}, err)
			return
		}
		var firstErr error
		for it := range out {
			if it.err != nil {
				if firstErr == nil {
					firstErr = it.err
				}
				cancel() // stop the other stages; their errors are consequences
				continue
			}
			if firstErr != nil {
				continue
			}
			if !yield(it.rec, nil) {
				cancel()
				for range out {
				}
				return
			}
		}
		if firstErr == nil {
			firstErr = ctx.Err()
		}
		if firstErr != nil {
			yield(result.Record{}, firstErr)
		}
	}
}

type sweepItem struct {
	rec result.Record
	err error
}

func (s *Scanner) startSweep(ctx context.Context, space *target.Space, out chan<- sweepItem) error {
	if space == nil {
		return errors.New("scanner: nil target space")
	}
	if s.cfg.order.Start != 0 {
		return errors.New("scanner: a sweep cannot resume from a position: resume the port scan of its live hosts instead")
	}
	portProbers := map[target.Protocol]probe.Prober{}
	for proto, p := range s.probers {
		if proto != probe.HostProtocol {
			portProbers[proto] = p
		}
	}
	if len(portProbers) == 0 {
		return errors.New("scanner: a sweep needs a port prober besides the discovery prober")
	}
	for _, proto := range space.Ports().Protocols() {
		if portProbers[proto] == nil {
			return fmt.Errorf("scanner: no prober for %s ports", proto)
		}
	}
	dcfg := s.cfg
	pcfg := s.cfg
	pcfg.order = target.IterConfig{Seed: s.cfg.order.Seed, Sequential: s.cfg.order.Sequential}
	dcfg.progressFn = nil // progress reports come from the port scan of each group
	if lim := (&engine{cfg: s.cfg}).rateLimit(); lim > 0 {
		burst := max(1, int(lim/200))
		if s.cfg.params.scanDelay > 0 {
			burst = 1
		}
		l := rate.NewLimiter(rate.Limit(lim), burst)
		dcfg.limiter, pcfg.limiter = l, l
	}
	sc, tap, err := s.startDiscovery(ctx, space.Hosts(), dcfg)
	if err != nil {
		return err
	}
	ports := &Scanner{probers: portProbers, cfg: pcfg}
	go ports.runSweep(ctx, sc, tap, space.Ports(), out)
	return nil
}

// runSweep reads the discovery stream, passes host verdicts on and
// port-scans live hosts in groups. It closes out when every stage ended.
func (s *Scanner) runSweep(ctx context.Context, disc *Scan, tap *macTap, ports *target.Ports, out chan<- sweepItem) {
	var wg sync.WaitGroup
	defer func() {
		wg.Wait()
		close(out)
	}()
	send := func(it sweepItem) bool {
		select {
		case out <- it:
			return true
		case <-ctx.Done():
			return false
		}
	}
	slots := make(chan struct{}, sweepGroups)
	size := sweepFirstGroup
	var group []netip.Addr
	// launch starts a port scan of the group when a slot is free. While
	// sweepGroups groups run, the group grows instead; only a full group
	// (sweepMaxGroup) waits for a slot, which holds discovery back.
	launch := func(wait bool) {
		if len(group) == 0 {
			return
		}
		if !wait && len(group) < sweepMaxGroup {
			select {
			case slots <- struct{}{}:
			default:
				return
			}
		} else {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		hosts := target.NewHosts(group...)
		group = group[:0]
		size = min(size*2, sweepMaxGroup)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			s.scanGroup(ctx, hosts, ports, send)
		}()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	results := disc.Results()
	for results != nil {
		select {
		case r, ok := <-results:
			if !ok {
				results = nil
				break
			}
			h := tap.host(r)
			if !send(sweepItem{rec: result.Record{Host: &h}}) {
				continue // cancelled: drain discovery
			}
			if h.State != result.HostUp {
				continue
			}
			if len(group) == 0 {
				timer.Reset(sweepGroupDelay)
			}
			group = append(group, h.Addr)
			if len(group) >= size {
				launch(false)
			}
		case <-timer.C:
			launch(false)
			if len(group) > 0 {
				timer.Reset(sweepGroupDelay) // no slot yet: look again
			}
		}
	}
	launch(true)
	if err := disc.Wait(); err != nil {
		send(sweepItem{err: fmt.Errorf("scanner: discovery: %w", err)})
	}
}

// scanGroup port-scans one group of live hosts.
func (s *Scanner) scanGroup(ctx context.Context, hosts *target.Hosts, ports *target.Ports, send func(sweepItem) bool) {
	sp, err := target.NewSpace(hosts, ports)
	if err != nil {
		send(sweepItem{err: err})
		return
	}
	sc, err := s.Start(ctx, sp)
	if err != nil {
		send(sweepItem{err: err})
		return
	}
	for r := range sc.Results() {
		send(sweepItem{rec: result.Record{Result: &r}})
	}
	if err := sc.Wait(); err != nil {
		send(sweepItem{err: err})
		return
	}
	for _, h := range sc.Hosts() {
		send(sweepItem{rec: result.Record{Host: &h}})
	}
}

package eval

import (
	"math"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// The baselines below are approximations written from the published
// descriptions of each tool, fed by the same packet stream. Zeek, Snort
// and plain TRW get connection outcomes from detect.OutcomeTracker (each
// tool has its own flow tracking; ours stands in for it); scanlogd works
// on raw packets as the real one does. Their state is unbounded maps,
// like the originals' per-source hash tables.

// contactBaseline adapts a per-contact detector to detect.Analyzer.
type contactBaseline struct {
	tr      *detect.OutcomeTracker
	on      func(c *detect.Contact, emit func(detect.Event))
	emit    func(detect.Event)
	report  func(*detect.Contact)
	entries func() int // for the memory estimate
	perEnt  int
}

func newContactBaseline(on func(*detect.Contact, func(detect.Event)), entries func() int, perEnt int) *contactBaseline {
	b := &contactBaseline{tr: detect.NewOutcomeTracker(nil), on: on, entries: entries, perEnt: perEnt}
	b.report = func(c *detect.Contact) { b.on(c, b.emit) }
	return b
}

func (b *contactBaseline) Observe(o *detect.Observation, emit func(detect.Event)) {
	b.emit = emit
	b.tr.Observe(o, b.report)
}

func (b *contactBaseline) Advance(now time.Time, emit func(detect.Event)) {
	b.emit = emit
	b.tr.Advance(now, b.report)
}

func (b *contactBaseline) MemoryBytes() int { return b.tr.MemoryBytes() + b.entries()*b.perEnt }

func scanEvent(det string, c *detect.Contact) detect.Event {
	return detect.Event{Kind: detect.KindScan, Detector: det, Time: c.End, Source: c.Src}
}

// NewZeek approximates Zeek's scan policy (policy/misc/scan.zeek): within
// fixed 5-minute epochs, a source that fails to connect to 25 distinct
// hosts on one port (address scan) or to 15 distinct ports on one host
// (port scan) is reported. Failed means rejected or unanswered.
func NewZeek() detect.Analyzer {
	type srcPort struct {
		src  netip.Addr
		port uint32
	}
	type srcDst struct{ src, dst netip.Addr }
	addr := map[srcPort]map[netip.Addr]struct{}{}
	port := map[srcDst]map[uint32]struct{}{}
	reported := map[netip.Addr]int64{}
	var epoch int64 = -1
	const span = int64(5 * time.Minute)
	on := func(c *detect.Contact, emit func(detect.Event)) {
		if !c.Outcome.Failed() {
			return
		}
		if e := c.End.UnixNano() / span; e != epoch {
			epoch = e
			clear(addr)
			clear(port)
		}
		p := uint32(c.Proto)<<16 | uint32(c.DstPort)
		ka := srcPort{c.Src, p}
		if addr[ka] == nil {
			addr[ka] = map[netip.Addr]struct{}{}
		}
		addr[ka][c.Dst] = struct{}{}
		kp := srcDst{c.Src, c.Dst}
		if port[kp] == nil {
			port[kp] = map[uint32]struct{}{}
		}
		port[kp][p] = struct{}{}
		if (len(addr[ka]) >= 25 || len(port[kp]) >= 15) && reported[c.Src] != epoch+1 {
			reported[c.Src] = epoch + 1
			emit(scanEvent("zeek", c))
		}
	}
	entries := func() int {
		n := len(reported)
		for _, m := range addr {
			n += 1 + len(m)
		}
		for _, m := range port {
			n += 1 + len(m)
		}
		return n
	}
	return newContactBaseline(on, entries, 64)
}

// NewSnortLow approximates Snort's sfPortscan at sense_level low. Low
// only looks at error responses from targets (TCP RST, ICMP
// unreachable); it never sees filtered scans. Our reading of its low
// thresholds: within a 60 s window from a source's first error, 5 or
// more errors spread over 5 or more distinct ports of one host
// (portscan) or 5 or more distinct hosts (portsweep).
func NewSnortLow() detect.Analyzer {
	type st struct {
		start  int64
		errors int
		ports  map[uint32]netip.Addr // port → last host
		hosts  map[netip.Addr]struct{}
		perDst map[netip.Addr]int
		done   bool
	}
	srcs := map[netip.Addr]*st{}
	on := func(c *detect.Contact, emit func(detect.Event)) {
		if c.Outcome != detect.OutcomeRefused && c.Outcome != detect.OutcomeUnreachable &&
			!(c.Outcome == detect.OutcomeProbe && c.Type != detect.ScanACK) {
			return
		}
		now := c.End.UnixNano()
		s := srcs[c.Src]
		if s == nil || now-s.start > int64(time.Minute) {
			s = &st{start: now, ports: map[uint32]netip.Addr{}, hosts: map[netip.Addr]struct{}{}, perDst: map[netip.Addr]int{}}
			srcs[c.Src] = s
		}
		s.errors++
		s.ports[uint32(c.Proto)<<16|uint32(c.DstPort)] = c.Dst
		s.hosts[c.Dst] = struct{}{}
		s.perDst[c.Dst]++
		if !s.done && s.errors >= 5 && (s.perDst[c.Dst] >= 5 || len(s.hosts) >= 5) {
			s.done = true
			emit(scanEvent("snort-low", c))
		}
	}
	entries := func() int {
		n := 0
		for _, s := range srcs {
			n += 1 + len(s.ports) + len(s.hosts)
		}
		return n
	}
	return newContactBaseline(on, entries, 64)
}

// scanlogd approximates Solar Designer's scanlogd: per source, TCP
// packets without ACK (SYN, FIN, NULL, Xmas) to distinct (host, port)
// pairs add weight 3 for a privileged port and 1 otherwise; a gap of more
// than 3 s resets the count; weight 21 is a scan. It never sees UDP or
// ACK scans. (The original keys ports per source; we count (host, port)
// pairs, which only helps it on horizontal scans.)
type scanlogd struct {
	srcs map[netip.Addr]*scanlogdState
}

type scanlogdState struct {
	last   int64
	weight int
	seen   map[uint64]struct{}
	done   bool
}

// NewScanlogd returns the scanlogd baseline.
func NewScanlogd() detect.Analyzer { return &scanlogd{srcs: map[netip.Addr]*scanlogdState{}} }

func (s *scanlogd) Observe(o *detect.Observation, emit func(detect.Event)) {
	if o.Proto != target.TCP || o.Flags&(detect.ACK|detect.RST) != 0 {
		return
	}
	now := o.Time.UnixNano()
	st := s.srcs[o.Src]
	if st == nil {
		st = &scanlogdState{seen: map[uint64]struct{}{}}
		s.srcs[o.Src] = st
	}
	if now-st.last > int64(3*time.Second) {
		st.weight = 0
		clear(st.seen)
	}
	st.last = now
	d := o.Dst.As16()
	k := uint64(d[12])<<56 | uint64(d[13])<<48 | uint64(d[14])<<40 | uint64(d[15])<<32 | uint64(d[7])<<16 | uint64(o.DstPort)
	if _, ok := st.seen[k]; ok {
		return
	}
	st.seen[k] = struct{}{}
	if o.DstPort < 1024 {
		st.weight += 3
	} else {
		st.weight++
	}
	if st.weight >= 21 && !st.done {
		st.done = true
		emit(detect.Event{Kind: detect.KindScan, Detector: "scanlogd", Time: o.Time, Source: o.Src})
	}
}

func (s *scanlogd) Advance(time.Time, func(detect.Event)) {}

func (s *scanlogd) MemoryBytes() int {
	n := 0
	for _, st := range s.srcs {
		n += 96 + 16*len(st.seen)
	}
	return n
}

// NewPlainTRW is TRW as first published: one walk per source over first
// contacts to hosts only (no port keying), and a source that reaches the
// benign threshold is trusted for good. θ0=0.8, θ1=0.2, α=0.01, β=0.99.
func NewPlainTRW() detect.Analyzer {
	type st struct {
		llr  float64
		done bool // reported, or judged benign for good
	}
	srcs := map[netip.Addr]*st{}
	up, lo := math.Log(0.99/0.01), math.Log(0.01/0.99)
	fail, succ := math.Log(0.8/0.2), math.Log(0.2/0.8)
	on := func(c *detect.Contact, emit func(detect.Event)) {
		if !c.NewHost {
			return
		}
		s := srcs[c.Src]
		if s == nil {
			s = &st{}
			srcs[c.Src] = s
		}
		if s.done {
			return
		}
		if c.Outcome.Failed() {
			s.llr += fail
		} else {
			s.llr += succ
		}
		switch {
		case s.llr >= up:
			s.done = true
			emit(scanEvent("plain-trw", c))
		case s.llr <= lo:
			s.done = true
		}
	}
	return newContactBaseline(on, func() int { return len(srcs) }, 48)
}

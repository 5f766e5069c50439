package detect

import (
	"net/netip"
	"time"
	"unsafe"
)

// SourceTableConfig bounds the per-source state an analyser keeps. The
// zero value and nil mean the documented defaults.
type SourceTableConfig struct {
	// Capacity is the number of sources tracked exactly. Default 8192.
	Capacity int
	// AdmitFailures is how many failed first contacts a count-min sketch
	// must attribute to a source before it gets an exact entry. Sources
	// below it cost no per-source memory. Default 2.
	AdmitFailures int
	// SketchWidth is the width of each of the count-min sketch's 4 rows
	// (8-bit counters). Default 1<<18.
	SketchWidth int
	// SketchAging halves every sketch counter this often (packet time).
	// Default 30 min.
	SketchAging time.Duration
}

func (c *SourceTableConfig) withDefaults() SourceTableConfig {
	var d SourceTableConfig
	if c != nil {
		d = *c
	}
	if d.Capacity <= 0 {
		d.Capacity = 8192
	}
	if d.AdmitFailures <= 0 {
		d.AdmitFailures = 2
	}
	if d.SketchWidth <= 0 {
		d.SketchWidth = 1 << 18
	}
	if d.SketchAging <= 0 {
		d.SketchAging = 30 * time.Minute
	}
	return d
}

// srcState is everything the analysers keep about one admitted source.
type srcState struct {
	first, last int64
	lastScan    int64 // packet time of the last KindScan, 0: none
	attempts    uint32
	fails       uint32
	succ        uint32  // successful first contacts
	wfail       float32 // failed first contacts, weighted (see failWeight)
	trw         trwState
	slow        slowState
	thr         thrState
	shape       shapeState
	sample      Sample     // first failed targets since admission
	pre         [4]preFail // recent full-weight TCP failures, for refunds
	npre        uint8
	ended       bool // KindScanEnd sent for the last KindScan
}

// preFail is a failed TCP first contact that weighed in full because the
// source did not use the host (yet). If the source goes on to use it, the
// failure was a fallback (443→80, 993→143, a closed port tried first) and
// is refunded down to weightUsedHost.
type preFail struct {
	host    uint64 // the (source, host) key of the used filter; 0: empty
	w       float32
	newHost bool
}

// engine is the shared core of every analyser in this package: outcome
// tracking, evidence-gated admission into a bounded source table, and the
// detectors switched on for it.
type engine struct {
	name     string
	tracker  *OutcomeTracker
	hash     keyHasher
	table    *srcTable[srcState]
	cm       *countMin
	okCM     *countMin // completed contacts of untracked sources
	tcfg     SourceTableConfig
	aging    int64
	halvedAt int64
	now      int64
	cooldown int64
	endIdle  int64 // quiet time after which a reported scan is closed
	endCheck int64 // packet time of the last scan-end sweep

	trw      *trwParams
	verified *bloom           // sources that completed a TCP handshake
	used     *bloom           // (source, host) pairs where the source sent data after a handshake
	deadSeen *bloom           // (source, host) pairs that failed without a reset
	dead     *countMin        // per host: distinct sources that failed there without a reset
	usedFail *countMin        // per (source, used host): failures discounted so far
	heOK     [heV4Ring]heConn // recent IPv4 connections with data
	heOKN    uint64
	heFails  [heRing]heFail // recent full-weight IPv6 TCP failures
	heN      uint64
	slow     *slowParams
	thr      *thrParams
	camp     *campaigns

	emit func(Event)
}

func newEngine(name string, oc *OutcomeConfig, tc *SourceTableConfig, cooldown time.Duration) *engine {
	t := tc.withDefaults()
	e := &engine{
		name:     name,
		tracker:  NewOutcomeTracker(oc),
		hash:     newKeyHasher(),
		cm:       newCountMin(t.SketchWidth),
		okCM:     newCountMin(t.SketchWidth),
		tcfg:     t,
		aging:    int64(t.SketchAging),
		cooldown: int64(cooldown),
		used:     newBloom(21),
		deadSeen: newBloom(20),
		dead:     newCountMin(1 << 16),
		usedFail: newCountMin(1 << 16),
	}
	if e.cooldown <= 0 {
		e.cooldown = int64(10 * time.Minute)
	}
	e.endIdle = int64(10 * time.Minute)
	e.table = newSrcTable[srcState](t.Capacity, e.weight)
	return e
}

// weight ranks entries for eviction: evidence, discounted by idleness.
func (e *engine) weight(s *srcState) float64 {
	w := float64(s.fails) + s.slow.score[len(s.slow.score)-1]
	if s.lastScan != 0 {
		w += 8 // keep reported sources so dedup holds
	}
	idle := float64(e.now-s.last) / float64(time.Hour)
	if idle > 0 {
		w /= 1 + idle
	}
	return w
}

func (e *engine) observe(o *Observation, emit func(Event)) {
	e.emit = emit
	n := o.Time.UnixNano()
	e.tick(n)
	for e.tracker.advance(n) {
		e.drain()
	}
	e.drain()
	if e.camp != nil {
		e.camp.probe(e, o)
	}
	e.tracker.observe(o)
	e.drain()
	e.emit = nil
}

func (e *engine) advance(now time.Time, emit func(Event)) {
	e.emit = emit
	n := now.UnixNano()
	e.tick(n)
	for e.tracker.advance(n) {
		e.drain()
	}
	e.drain()
	if e.camp != nil {
		e.camp.due(e, n)
	}
	if n-e.endCheck >= int64(10*time.Second) {
		e.endCheck = n
		e.closeScans(n)
	}
	e.emit = nil
}

// closeScans emits KindScanEnd for every reported source quiet for
// endIdle: the closing summary of its scan.
func (e *engine) closeScans(now int64) {
	for i := range e.table.slots {
		sl := &e.table.slots[i]
		s := &sl.val
		if sl.h == 0 || s.lastScan == 0 || s.ended || now-s.last < e.endIdle {
			continue
		}
		s.ended = true
		if e.emit == nil {
			continue
		}
		e.emit(Event{
			Kind: KindScanEnd, Detector: e.name, Time: time.Unix(0, now),
			FirstSeen: time.Unix(0, s.first), LastSeen: time.Unix(0, s.last), Source: sl.addr,
			Shape: s.shape.shape(), ScanType: s.shape.scanType(),
			Hosts: s.shape.hosts.estimate(), Ports: s.shape.ports.estimate(),
			Attempts: int(s.attempts), Sample: s.sample,
		})
	}
}

func (e *engine) tick(now int64) {
	if now > e.now {
		e.now = now
	}
	if e.halvedAt == 0 {
		e.halvedAt = now
	} else if now-e.halvedAt >= e.aging {
		e.cm.halve()
		e.okCM.halve()
		e.dead.halve()
		e.usedFail.halve()
		e.halvedAt = now
	}
}

// setTRW switches TRW on.
func (e *engine) setTRW(p *trwParams) {
	e.trw = p
	if p.ports != nil {
		e.verified = newBloom(20)
	}
}

func (e *engine) drain() {
	for i := range e.tracker.out {
		e.contact(&e.tracker.out[i])
	}
	e.tracker.out = e.tracker.out[:0]
}

func (e *engine) memoryBytes() int {
	n := e.tracker.MemoryBytes() + e.cm.bytes() + e.okCM.bytes() + e.trw.memoryBytes() +
		e.used.bytes() + e.deadSeen.bytes() + e.dead.bytes() + e.usedFail.bytes() +
		int(unsafe.Sizeof(e.heOK)) + int(unsafe.Sizeof(e.heFails)) +
		e.table.cap()*int(unsafe.Sizeof(tableSlot[srcState]{}))
	if e.camp != nil {
		n += e.camp.memoryBytes()
	}
	if e.verified != nil {
		n += e.verified.bytes()
	}
	return n
}

// contact is the per-contact path shared by all detectors.
func (e *engine) contact(c *Contact) {
	if !c.NewPort {
		return
	}
	now := c.End.UnixNano()
	if now > e.now {
		e.now = now
	}
	failed := c.Outcome.Failed()
	w, uh, nowUsed := e.failWeight(c, failed)
	switch {
	case c.Proto != 6:
	case !failed && c.Data && c.Src.Is4():
		e.heV4(c)
	case failed && c.Src.Is6() && w > weightUsedHost:
		w = e.heV6(c, w)
	}
	h := e.hash.addr(c.Src)
	if e.camp != nil {
		e.camp.decoyContact(e, h, c)
	}
	s := e.table.get(h, c.Src)
	if e.verified != nil {
		// Untracked sources teach the port profile; those that completed
		// a handshake somewhere (spoofed ones cannot) count in full.
		vh := mix64(h ^ 0x7665726966696564)
		if c.FollowUp == FollowACK {
			e.verified.testAndAdd(vh)
		}
		if s == nil {
			e.trw.ports.add(c, e.verified.contains(vh))
		}
	}
	if s == nil {
		if !failed {
			// Remember successes a real client completed (a handshake or
			// a UDP answer), so that admission does not forget them.
			if c.FollowUp == FollowACK || c.Proto == 17 {
				e.okCM.add(h)
			}
			return
		}
		est := e.cm.add(h)
		if est < e.tcfg.AdmitFailures {
			return
		}
		s, _ = e.table.insert(h, c.Src)
		s.first = c.Start.UnixNano()
		// Credit the failures that earned admission, but never more than
		// the admission bar: a sketch collision must not make evidence.
		prior := min(est-1, e.tcfg.AdmitFailures-1)
		for range e.okCM.estimate(h) {
			e.account(s, c, false, true, 1)
		}
		for range prior {
			e.account(s, c, true, true, w)
		}
	} else if failed {
		e.cm.add(h)
	}
	s.last = now
	if failed {
		s.sample.add(netip.AddrPortFrom(c.Dst, c.DstPort))
		if c.Proto == 6 && w > weightUsedHost {
			s.pre[s.npre%uint8(len(s.pre))] = preFail{host: uh, w: w, newHost: c.NewHost}
			s.npre++
		}
	} else if nowUsed {
		e.refund(s, uh)
	}
	e.account(s, c, failed, false, w)
	e.shapeAdd(s, c)
	if e.camp != nil && failed {
		e.camp.member(e, s, c)
	}
	e.decide(s, c)
}

// Weights of failed first contacts that have an innocent explanation.
const (
	// weightUsedHost: a failure on a host the source already uses (it
	// sent data there after a handshake): a closed port on a known
	// server, as clients meet with fallbacks (993→143, 443→80) and
	// typos, rather than a probe of an unknown host.
	weightUsedHost = 0.25
	// weightDeadHost: a failure without a reset on a host where several
	// other sources failed the same way: a dead box on many clients'
	// lists (a stale bookmark, a retired server, a monitored host down).
	weightDeadHost = 0.25
	// deadHostSources is how many other sources must have failed on a
	// host before it counts as known dead.
	deadHostSources = 3
	// usedHostFailures is how many failures on one host in use are
	// discounted: a handful of closed ports on a server a client uses is
	// normal (3306, 5432, 81, 8443 on a web server); beyond that it is a
	// vertical scan of a host the scanner also browses.
	usedHostFailures = 4
	// minFailShare is the least share of failures (weighted) among a
	// source's first contacts for TRW and slow-scan verdicts: scanners
	// fail far more often than not, while benign clients, whose failures
	// range up to about 30 %, keep their successes on the books even
	// after the walk has reset.
	minFailShare = 0.4
)

// failWeight is how much a failed first contact counts as evidence; it
// also records what later contacts need (hosts in use, dead hosts). It
// returns the weight, the (source, host) key of TCP contacts, and whether
// a success just made the host one the source uses.
func (e *engine) failWeight(c *Contact, failed bool) (w float32, uh uint64, nowUsed bool) {
	if c.Proto == 6 {
		uh = e.hash.tuple('u', c.Src, c.Dst, 0, 0, 0)
	}
	if !failed {
		if c.Data && c.Proto == 6 {
			nowUsed = !e.used.testAndAdd(uh)
		}
		return 0, uh, nowUsed
	}
	if c.Proto == 6 && e.used.contains(uh) && e.usedFail.add(uh) <= usedHostFailures {
		return weightUsedHost, uh, false
	}
	if c.Outcome != OutcomeTimeout && c.Outcome != OutcomeUnreachable {
		return 1, uh, false
	}
	dh := e.hash.addr(c.Dst)
	w = 1
	if e.dead.estimate(dh) >= deadHostSources {
		w = weightDeadHost
	}
	if !e.deadSeen.testAndAdd(e.hash.tuple('x', c.Src, c.Dst, 0, 0, 0)) {
		e.dead.add(dh)
	}
	return w, uh, false
}

// refund lowers the weight of s's recent failures on a host it has just
// started to use to weightUsedHost, walking its scores back.
func (e *engine) refund(s *srcState, uh uint64) {
	for i := range s.pre {
		p := &s.pre[i]
		if p.host != uh || p.w <= weightUsedHost {
			continue
		}
		p.host = 0
		e.unweigh(s, p.w-weightUsedHost, p.newHost)
	}
}

// unweigh takes d off a failure already accounted for s.
func (e *engine) unweigh(s *srcState, d float32, newHost bool) {
	s.wfail = max(s.wfail-d, 0)
	if e.trw != nil {
		back := float64(d) * e.trw.fail
		e.trw.back(&s.trw.port, back)
		if newHost {
			e.trw.back(&s.trw.host, back)
		}
	}
	if e.slow != nil {
		for j := range s.slow.score {
			s.slow.score[j] = max(s.slow.score[j]-float64(d), 0)
		}
	}
}

// Happy eyeballs (RFC 8305): a dual-stack client tries IPv6 first and
// falls back to IPv4 some 200–300 ms later. With IPv6 broken, its IPv6
// address fails at every site it visits while its IPv4 address, which
// nothing on the wire ties to it, succeeds. An IPv6 TCP failure whose
// attempt was followed within heWindow by an IPv4 connection to the same
// port that carried data weighs like a failure on a host in use. The
// rings are small: on a busy network the IPv4 connection may have left
// the ring before a timed-out IPv6 attempt is decided, and then the
// failure simply keeps its weight.
const (
	heWindow = int64(600 * time.Millisecond)
	heRing   = 64  // recent full-weight IPv6 TCP failures, for refunds
	heV4Ring = 256 // recent IPv4 connections with data (port, start)
)

type heConn struct {
	start int64
	port  uint16
}

type heFail struct {
	src     netip.Addr
	start   int64
	w       float32
	port    uint16
	newHost bool
}

// heV4 records an IPv4 connection with data on c.DstPort and refunds
// recent IPv6 failures it was the fallback of.
func (e *engine) heV4(c *Contact) {
	start := c.Start.UnixNano()
	e.heOK[e.heOKN%heV4Ring] = heConn{start: start, port: c.DstPort}
	e.heOKN++
	for i := range e.heFails {
		f := &e.heFails[i]
		if f.w <= weightUsedHost || f.port != c.DstPort || start < f.start || start-f.start > heWindow {
			continue
		}
		if s := e.table.get(e.hash.addr(f.src), f.src); s != nil {
			e.unweigh(s, f.w-weightUsedHost, f.newHost)
		}
		f.w = 0
	}
}

// heV6 weighs an IPv6 TCP failure of weight w: discounted when an IPv4
// connection with data on the same port followed its attempt, remembered
// for a later refund otherwise.
func (e *engine) heV6(c *Contact, w float32) float32 {
	start := c.Start.UnixNano()
	for _, k := range e.heOK {
		if k.port == c.DstPort && k.start >= start && k.start-start <= heWindow {
			return weightUsedHost
		}
	}
	e.heFails[e.heN%heRing] = heFail{src: c.Src, start: start, w: w, port: c.DstPort, newHost: c.NewHost}
	e.heN++
	return w
}

// failShare is the weighted share of failures among s's first contacts.
func (s *srcState) failShare() float64 {
	if s.wfail <= 0 {
		return 0
	}
	return float64(s.wfail) / (float64(s.wfail) + float64(s.succ))
}

// account feeds one (possibly synthetic) outcome, failures weighted by w,
// to the detectors' state.
func (e *engine) account(s *srcState, c *Contact, failed, synthetic bool, w float32) {
	s.attempts++
	if failed {
		s.fails++
		s.wfail += w
	} else {
		s.succ++
	}
	at := c.End.UnixNano()
	if e.trw != nil {
		// Synthetic (pre-admission) outcomes are charged at the port of
		// the admitting contact: most sources stick to few ports early.
		e.trw.update(&s.trw, c.NewHost || synthetic, failed, e.trw.theta0For(c), float64(w))
	}
	if failed && e.slow != nil {
		e.slow.update(&s.slow, at, float64(w))
	}
	if e.thr != nil && (failed || e.thr.successes) {
		s.thr.add(at)
	}
}

// decide emits one KindScan when a detector fires, at most once per
// cooldown, and never for a source that moves in lockstep with others
// (a decoy group: reported as KindDecoy instead).
func (e *engine) decide(s *srcState, c *Contact) {
	det, score := "", 0.0
	if e.trw != nil {
		if ok, sc := e.trw.fire(&s.trw, s); ok {
			det, score = "trw", sc
		}
	}
	if det == "" && e.slow != nil {
		if ok, sc := e.slow.fire(&s.slow, s, e.now); ok {
			det, score = "slow", sc
		}
	}
	if det == "" && e.thr != nil {
		if ok, sc := e.thr.fire(&s.thr, e.now); ok {
			det, score = "threshold", sc
		}
	}
	if det == "" {
		return
	}
	if det != "threshold" && s.failShare() < minFailShare {
		return
	}
	if s.lastScan != 0 && e.now-s.lastScan < e.cooldown {
		return
	}
	if e.camp != nil && e.camp.lockstep(e, c.Src) {
		return
	}
	s.lastScan = e.now
	s.ended = false
	if e.emit == nil {
		return
	}
	e.emit(Event{
		Kind: KindScan, Detector: det, Time: c.End, FirstSeen: time.Unix(0, s.first), Source: c.Src,
		Shape: s.shape.shape(), ScanType: s.shape.scanType(),
		Hosts: s.shape.hosts.estimate(), Ports: s.shape.ports.estimate(),
		Attempts: int(s.attempts), Score: score, Sample: s.sample,
	})
}

// hopDistance guesses the hops a packet travelled from its TTL, assuming
// the usual initial TTLs.
func hopDistance(ttl uint8) int {
	switch {
	case ttl <= 64:
		return 64 - int(ttl)
	case ttl <= 128:
		return 128 - int(ttl)
	}
	return 255 - int(ttl)
}

// contactFrom feeds an externally tracked contact.
func (e *engine) contactFrom(c *Contact, emit func(Event)) {
	e.emit = emit
	e.tick(c.End.UnixNano())
	e.contact(c)
	e.emit = nil
}

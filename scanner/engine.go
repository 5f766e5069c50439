package scanner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// entry is the in-flight state of one target. Entries are recycled, so
// the engine allocates O(window) of them over a whole scan; the window
// ring finds them by position (target.Iter.PosOf), so no map from target
// to entry is kept or hashed.
type entry struct {
	pos uint64 // position in the shard: the slot in the window ring; the target is it.At(pos)
	// sent keeps the send time of the last few tries (microseconds since
	// the engine started, modulo 2^32: see since), so that a reply that names its try gives an exact RTT
	// sample even after a retransmission.
	sent [4]uint32
	try  int32
	gen  uint32 // bumped on every send, expiry and finish; stale queue items are skipped
	sess *session
	// waiting is true while the entry sits in the retransmission queue,
	// that is, while it has no probe in the network.
	waiting bool
	// cleanSilent counts paced tries that met silence while the host had
	// an ICMP token to answer with (see ratelimit.go).
	cleanSilent int32
}

// sentAt is the send time of the entry's latest try.
func (ent *entry) sentAt() uint32 { return ent.sent[ent.try%int32(len(ent.sent))] }

// maxLive bounds the targets in flight, whatever --min-rate asks: each
// costs about 72 bytes (a 48-byte entry, its ring slot, a timeout queue
// item), so that the engine stays near 10 MiB at any rate. At the 1 s timeout of a scan
// with no replies it caps the rate near 131,000 probes per second; a
// shorter timeout (--max-rtt-timeout) raises that.
const maxLive = 1 << 17

type queued struct {
	e   *entry
	gen uint32
}

type session struct {
	prober  probe.Prober
	sess    probe.Session
	flusher probe.Flusher
	silence result.State
	reason  result.Reason
}

// engine is the state of one scan. Only run's goroutine touches it, except
// for the replies channel and the Scan's published stats.
type engine struct {
	cfg      config
	it       *target.Iter
	scan     *Scan
	sessions map[target.Protocol]*session
	replies  chan probe.Reply
	stop     chan struct{}

	// win is a ring of the entries in flight, indexed by position: the
	// entry of position p, if any, is win[p&(len(win)-1)]. Positions
	// below winBase are finished; live counts the entries in flight.
	win         []*entry
	winBase     uint64
	live        int
	free        []*entry
	timeouts    fifo
	retries     fifo
	outstanding int // probes in the network (in flight and not awaiting retransmission)
	exhausted   bool

	rtt        rttEstimator
	cwnd       congestion
	maxWindow  int
	maxSuccess int // highest try number that was ever answered
	lastDrop   time.Time
	lossShort  float64 // recent fraction of replies that answered a retransmission
	lossLong   float64 // the same over a long horizon: the link's usual loss
	limiter    *rate.Limiter

	hostFirst map[netip.Addr]time.Time // only with a host timeout
	hostGone  map[netip.Addr]bool

	// ICMP budgets of UDP hosts that sent ICMP errors, and those with
	// probes to pace (ratelimit.go).
	limits map[limitKey]*hostLimit
	pacing []*hostLimit

	// proxy counts, per host with an open TCP port, the ports probed since
	// and how many were open, to flag hosts that answer every SYN. Only
	// kept when a host gets enough ports for the test to mean anything.
	proxy map[netip.Addr]*proxyCount

	start       time.Time
	startPos    uint64
	st          Stats
	lastPublish time.Time
	lastSent    uint64
	lost        uint64 // lowest position whose result could not be delivered
}

func newEngine(ctx context.Context, s *Scanner, space *target.Space, it *target.Iter, sc *Scan) (*engine, error) {
	p := s.cfg.params
	e := &engine{
		cfg:      s.cfg,
		it:       it,
		scan:     sc,
		sessions: map[target.Protocol]*session{},
		replies:  make(chan probe.Reply, 4096),
		stop:     make(chan struct{}),
		win:      make([]*entry, 1024),
		winBase:  it.Pos(),
		rtt:      rttEstimator{initial: p.initialRTO, minRTO: p.minRTO, maxRTO: p.maxRTO},
		start:    time.Now(),
		startPos: it.Pos(),
		lost:     math.MaxUint64,
	}
	e.maxWindow = max(p.maxWindow, 1)
	for _, pr := range s.probers {
		if l, ok := pr.(probe.InFlightLimiter); ok && l.MaxInFlight() > 0 {
			e.maxWindow = min(e.maxWindow, l.MaxInFlight())
		}
	}
	e.cwnd = newCongestion(p.initWindow, min(max(p.minWindow, 1), e.maxWindow), e.maxWindow)
	if lim := e.rateLimit(); lim > 0 {
		burst := max(1, int(lim/200))
		if p.scanDelay > 0 {
			burst = 1
		}
		e.limiter = rate.NewLimiter(rate.Limit(lim), burst)
	}
	if s.cfg.limiter != nil {
		e.limiter = s.cfg.limiter // stages of one Sweep share one ceiling
	}
	if space.Ports().Len() >= 100 {
		e.proxy = map[netip.Addr]*proxyCount{}
	}
	if s.cfg.hostTimeout > 0 {
		e.hostFirst = map[netip.Addr]time.Time{}
		e.hostGone = map[netip.Addr]bool{}
	}
	deliver := func(r probe.Reply) {
		select {
		case e.replies <- r:
		case <-e.stop:
		}
	}
	for proto, pr := range s.probers {
		ps, err := pr.Open(ctx, deliver)
		if err != nil {
			e.closeSessions()
			return nil, fmt.Errorf("scanner: open %s prober: %w", proto, err)
		}
		st, rs := pr.Silence()
		f, _ := ps.(probe.Flusher)
		e.sessions[proto] = &session{prober: pr, sess: ps, flusher: f, silence: st, reason: rs}
	}
	e.st = Stats{Start: e.start, Total: it.Len(), Done: e.startPos, Resumed: e.startPos, Position: e.startPos}
	return e, nil
}

// rateLimit is the effective probes-per-second ceiling, 0 for none.
func (e *engine) rateLimit() float64 {
	lim := e.cfg.maxRate
	if d := e.cfg.params.scanDelay; d > 0 {
		byDelay := float64(time.Second) / float64(d)
		if lim == 0 || byDelay < lim {
			lim = byDelay
		}
	}
	return lim
}

func (e *engine) closeSessions() error {
	var errs []error
	for _, s := range e.sessions {
		if err := s.sess.Close(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run is the engine's loop: read replies, expire timeouts, send while the
// window and the rate ceiling allow, then sleep until something happens.
func (e *engine) run(ctx context.Context) (err error) {
	defer func() {
		close(e.stop)
		if cerr := e.closeSessions(); err == nil && cerr != nil {
			err = cerr
		}
		e.publish(time.Now(), true)
	}()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		// Replies first: they free window and decide ports.
	drain:
		for i := 0; i < 4096; i++ {
			select {
			case r := <-e.replies:
				if err := e.onReply(ctx, r); err != nil {
					return err
				}
			default:
				break drain
			}
		}
		now := time.Now()
		if err := e.expire(ctx, now); err != nil {
			return err
		}
		pw, err := e.sendPaced(ctx, now)
		if err != nil {
			return err
		}
		wait, busy, err := e.sendSome(ctx, now)
		if err != nil {
			return err
		}
		if pw > 0 && (wait == 0 || pw < wait) {
			wait = pw
		}
		if e.exhausted && e.live == 0 {
			return nil
		}
		if now.Sub(e.lastPublish) > 50*time.Millisecond {
			e.publish(now, false)
		}
		if busy {
			continue
		}
		for _, s := range e.sessions {
			if s.flusher != nil {
				if err := s.flusher.Flush(); err != nil {
					return fmt.Errorf("scanner: flush: %w", err)
				}
			}
		}
		if d, ok := e.nextDeadline(now); ok && (wait == 0 || d < wait) {
			wait = d
		}
		if wait <= 0 {
			wait = 50 * time.Millisecond
		}
		timer.Reset(wait)
		select {
		case r := <-e.replies:
			if err := e.onReply(ctx, r); err != nil {
				return err
			}
		case <-timer.C:
		case <-ctx.Done():
			return ctx.Err()
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// sendSome sends probes while the window, the rate ceiling and the work
// allow. It returns how long to wait before sending is possible again
// (0 if unknown) and whether it stopped only to let replies in.
func (e *engine) sendSome(ctx context.Context, now time.Time) (wait time.Duration, busy bool, err error) {
	for n := 0; ; n++ {
		if n == 256 {
			return 0, true, nil
		}
		if e.live >= maxLive && !e.hasRetry() {
			return 0, false, nil // the next timeout frees room
		}
		if e.outstanding >= e.cwnd.window() && !e.belowMinRate(now) {
			if e.cfg.minRate > 0 && e.outstanding < e.maxWindow*4 {
				wait = e.minRateWait(now)
			}
			return wait, false, nil
		}
		if e.exhausted && !e.hasRetry() {
			return 0, false, nil
		}
		if e.limiter != nil {
			r := e.limiter.ReserveN(now, 1)
			if d := r.DelayFrom(now); d > 0 {
				r.CancelAt(now)
				return d, false, nil
			}
		}
		var ent *entry
		var t target.Target
		if q, ok := e.popRetry(); ok {
			ent = q.e
			ent.waiting = false
			ent.try++
			e.st.Retransmits++
			t = e.it.At(ent.pos)
		} else {
			var ok bool
			t, ok = e.it.Next()
			if !ok {
				e.exhausted = true
				if e.limiter != nil {
					e.limiter.ReserveN(now, 1).CancelAt(now)
				}
				continue
			}
			if e.hostTimedOut(t.Addr, now) {
				e.skip(t.Addr, now)
				continue
			}
			ent = e.newEntry(t, e.it.Pos()-1, now)
		}
		if err := e.send(ctx, ent, t, now); err != nil {
			return 0, false, err
		}
	}
}

func (e *engine) newEntry(t target.Target, pos uint64, now time.Time) *entry {
	var ent *entry
	if n := len(e.free); n > 0 {
		ent = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		ent = new(entry)
	}
	ent.pos, ent.try, ent.cleanSilent = pos, 0, 0
	if pos-e.winBase >= uint64(len(e.win)) {
		e.growWindow(pos)
	}
	e.win[pos&uint64(len(e.win)-1)] = ent
	e.live++
	if e.hostFirst != nil {
		if _, seen := e.hostFirst[t.Addr]; !seen {
			e.hostFirst[t.Addr] = now
		}
	}
	return ent
}

// growWindow doubles the ring until position pos fits.
func (e *engine) growWindow(pos uint64) {
	n := len(e.win)
	for pos-e.winBase >= uint64(n) {
		n *= 2
	}
	w := make([]*entry, n)
	for _, ent := range e.win {
		if ent != nil {
			w[ent.pos&uint64(n-1)] = ent
		}
	}
	e.win = w
}

// lookup returns the entry in flight for t, or nil.
func (e *engine) lookup(t target.Target) *entry {
	pos, ok := e.it.PosOf(t)
	if !ok || pos < e.winBase || pos-e.winBase >= uint64(len(e.win)) {
		return nil
	}
	ent := e.win[pos&uint64(len(e.win)-1)]
	if ent == nil || ent.pos != pos {
		return nil
	}
	return ent
}

// mono is t as microseconds since the engine started, modulo 2^32.
func (e *engine) mono(t time.Time) uint32 { return uint32(t.Sub(e.start) / time.Microsecond) }

// since is the time from the engine clock value then to now. The clock
// wraps every 71 minutes; the difference is right within 35 minutes either
// way (a reply stamped before its probe's recorded send time gives a
// negative duration, not a huge one).
func since(now, then uint32) time.Duration { return time.Duration(int32(now-then)) * time.Microsecond }

// hasRetry reports whether a live entry waits for retransmission.
func (e *engine) hasRetry() bool {
	for {
		q, ok := e.retries.peek()
		if !ok {
			return false
		}
		if q.gen == q.e.gen {
			return true
		}
		e.retries.pop()
	}
}

func (e *engine) popRetry() (queued, bool) {
	if !e.hasRetry() {
		return queued{}, false
	}
	return e.retries.pop()
}

func (e *engine) send(ctx context.Context, ent *entry, tg target.Target, t time.Time) error {
	s := e.sessions[tg.Port.Proto]
	if s == nil {
		return fmt.Errorf("scanner: no prober for %s (target %s)", tg.Port.Proto, tg)
	}
	ent.sess = s
	ent.gen++
	ent.sent[ent.try%int32(len(ent.sent))] = e.mono(t)
	e.outstanding++
	e.timeouts.push(queued{ent, ent.gen})
	e.st.Sent++
	err := s.sess.Send(probe.Probe{Target: tg, Try: int(ent.try), Timeout: e.rtt.timeout(), Final: int(ent.try)+1 >= e.allowedTries()})
	if err == nil {
		e.limitNoteSent(tg)
		return nil
	}
	if errors.Is(err, probe.ErrTargetSkipped) {
		e.outstanding--
		reason := result.NoResponse
		if errors.Is(err, probe.ErrNoRoute) {
			reason = result.NoRoute
		}
		return e.finish(ctx, ent, result.Result{
			AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: reason,
			Tries: int(ent.try) + 1, Time: t,
		})
	}
	return fmt.Errorf("scanner: send %s: %w", tg, err)
}

// allowedTries is how many tries a silent target gets: one more
// retransmission than any port has ever needed, within the bounds.
func (e *engine) allowedTries() int {
	r := min(max(e.maxSuccess+1, e.cfg.minRetries), e.cfg.params.maxRetries)
	return r + 1
}

func (e *engine) expire(ctx context.Context, now time.Time) error {
	to := e.rtt.timeout()
	mnow := e.mono(now)
	for {
		q, ok := e.timeouts.peek()
		if !ok {
			return nil
		}
		if q.gen != q.e.gen {
			e.timeouts.pop()
			continue
		}
		if since(mnow, q.e.sentAt()) < to {
			return nil
		}
		e.timeouts.pop()
		ent := q.e
		e.outstanding--
		tg := e.it.At(ent.pos)
		if taken, err := e.limitExpire(ctx, ent, tg, now); err != nil {
			return err
		} else if taken {
			continue
		}
		if e.hostTimedOut(tg.Addr, now) {
			e.skip(tg.Addr, now)
			e.release(ent)
			continue
		}
		if int(ent.try)+1 < e.allowedTries() {
			ent.gen++ // a late reply still matches by target; the queue item is what goes stale
			ent.waiting = true
			e.retries.push(queued{ent, ent.gen})
			continue
		}
		s := ent.sess
		if err := e.finish(ctx, ent, result.Result{
			AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: s.reason,
			Tries: int(ent.try) + 1, Time: now,
		}); err != nil {
			return err
		}
	}
}

func (e *engine) nextDeadline(now time.Time) (time.Duration, bool) {
	to := e.rtt.timeout()
	for {
		q, ok := e.timeouts.peek()
		if !ok {
			return 0, false
		}
		if q.gen != q.e.gen {
			e.timeouts.pop()
			continue
		}
		d := to - since(e.mono(now), q.e.sentAt())
		if d < time.Millisecond {
			d = time.Millisecond
		}
		return d, true
	}
}

func (e *engine) onReply(ctx context.Context, r probe.Reply) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	e.limitNoteReply(probeReply{r.Target, r.State, r.Reason, e.sourceFor(r.Target)}, t)
	ent := e.lookup(r.Target)
	if ent == nil {
		e.st.Late++
		return nil
	}
	e.st.Replies++
	try := r.Try
	entTry := int(ent.try)
	if try < 0 && entTry == 0 {
		try = 0
	}
	// A reply that names its try is an unambiguous RTT sample, even one
	// that comes after a retransmission: such late replies are exactly
	// the samples that teach the estimator its timeout is too short.
	// A reply without a try after retransmissions is ambiguous (Karn).
	var rtt time.Duration
	if try >= 0 && try <= entTry && entTry-try < len(ent.sent) {
		rtt = since(e.mono(t), ent.sent[try%len(ent.sent)])
		e.rtt.sample(rtt, t)
	}
	// The target needed ent.try+1 tries to be answered, whichever try the
	// answer names: a late answer to an earlier try means the timeout was
	// too short, which calls for as many retries as a lost probe does.
	// A paced host's answers to retransmissions are its ICMP budget at
	// work, and a packet first sent on this try proves no loss: neither
	// counts as needing the tries sent, and first probes keep their speed.
	paced := e.limitPacing(r.Target, e.sourceFor(r.Target))
	if !paced && !r.FirstSend {
		e.maxSuccess = max(e.maxSuccess, entTry)
	}
	lost := 0.0
	if try > 0 && try == entTry && !paced && !r.FirstSend {
		lost = 1
	}
	// A reply to a retransmission proves an earlier try was lost. Loss that
	// stays at its usual level is the link's (netem, radio), and shrinking
	// the window would not cure it; loss that rises above it is congestion.
	// React to that once per round trip, as TCP does.
	e.lossShort += (lost - e.lossShort) / 64
	e.lossLong += (lost - e.lossLong) / 1024
	switch {
	case lost == 0:
		e.cwnd.onReply()
	case e.lossShort > 2*e.lossLong+0.1 && (e.lastDrop.IsZero() || int32(ent.sentAt()-e.mono(e.lastDrop)) > 0):
		e.cwnd.onDrop()
		e.lastDrop = t
	}
	if !ent.waiting {
		e.outstanding--
	}
	return e.finish(ctx, ent, result.Result{
		AddrPort: r.Target.AddrPort(), Proto: r.Target.Port.Proto, State: r.State, Reason: r.Reason,
		ReplyTTL: r.ReplyTTL, RTT: rtt, Tries: entTry + 1, Time: t, Source: r.Source, Service: r.Service,
	})
}

func (e *engine) finish(ctx context.Context, ent *entry, r result.Result) error {
	pos := ent.pos
	e.release(ent)
	e.proxyCheck(r)
	select {
	case e.scan.results <- r:
		return nil
	case <-ctx.Done():
		// The result never reached the reader: a resumed scan must probe
		// this target again.
		e.st.Done--
		e.lost = min(e.lost, pos)
		return ctx.Err()
	}
}

func (e *engine) release(ent *entry) {
	e.win[ent.pos&uint64(len(e.win)-1)] = nil
	e.live--
	for e.winBase < e.it.Pos() && e.win[e.winBase&uint64(len(e.win)-1)] == nil {
		e.winBase++
	}
	ent.gen++
	ent.sess = nil
	ent.waiting = false
	e.free = append(e.free, ent)
	e.st.Done++
}

func (e *engine) hostTimedOut(a netip.Addr, t time.Time) bool {
	if e.hostFirst == nil {
		return false
	}
	if e.hostGone[a] {
		return true
	}
	first, ok := e.hostFirst[a]
	return ok && t.Sub(first) > e.cfg.hostTimeout
}

// skip drops a target of a timed-out host, noting the host once.
func (e *engine) skip(a netip.Addr, t time.Time) {
	e.st.Skipped++
	if e.hostGone[a] {
		return
	}
	e.hostGone[a] = true
	e.scan.mu.Lock()
	e.scan.hosts = append(e.scan.hosts, result.Host{Addr: a, State: result.HostUnknown, Reason: result.HostTimeout, Time: t})
	e.scan.mu.Unlock()
}

func (e *engine) belowMinRate(now time.Time) bool {
	if e.cfg.minRate <= 0 {
		return false
	}
	return float64(e.st.Sent) < e.cfg.minRate*now.Sub(e.start).Seconds()
}

func (e *engine) minRateWait(now time.Time) time.Duration {
	due := e.start.Add(time.Duration(float64(e.st.Sent+1) / e.cfg.minRate * float64(time.Second)))
	return max(due.Sub(now), time.Millisecond)
}

// publish copies the counters into the Scan for Stats readers.
func (e *engine) publish(now time.Time, final bool) {
	st := e.st
	st.Elapsed = now.Sub(e.start)
	st.InFlight = e.live
	st.Window = e.cwnd.window()
	if e.rtt.samples > 0 {
		st.SRTT = e.rtt.srtt
	}
	st.Timeout = e.rtt.timeout()
	if dt := now.Sub(e.lastPublish).Seconds(); !final && !e.lastPublish.IsZero() && dt > 0 {
		st.Rate = float64(st.Sent-e.lastSent) / dt
	} else if s := st.Elapsed.Seconds(); s > 0 {
		st.Rate = float64(st.Sent) / s
	}
	if math.IsInf(st.Rate, 0) || math.IsNaN(st.Rate) {
		st.Rate = 0
	}
	st.Position = min(e.it.Pos(), e.lost, e.winBase)
	st.Finished = final
	e.lastPublish, e.lastSent = now, st.Sent
	e.scan.mu.Lock()
	e.scan.stats = st
	e.scan.mu.Unlock()
}

type proxyCount struct {
	open, probed int
	flagged      bool
}

// maxProxyHosts caps the SYN-proxy bookkeeping; hosts past it go unchecked.
const maxProxyHosts = 1 << 16

// proxyCheck flags a host whose ports nearly all answer "open": a SYN
// proxy or tarpit answering for it, not a host with that many services.
func (e *engine) proxyCheck(r result.Result) {
	if e.proxy == nil || r.Proto != target.TCP {
		return
	}
	a := r.AddrPort.Addr()
	c := e.proxy[a]
	if c == nil {
		if r.State != result.Open || len(e.proxy) >= maxProxyHosts {
			return
		}
		c = &proxyCount{}
		e.proxy[a] = c
	}
	c.probed++
	if r.State == result.Open {
		c.open++
	}
	if !c.flagged && c.probed >= 1000 && probe.SynProxySuspect(c.open, c.probed) {
		c.flagged = true
		e.scan.mu.Lock()
		e.scan.hosts = append(e.scan.hosts, result.Host{
			Addr: a, State: result.HostUp, Reason: result.SynAck, Time: r.Time,
			Warnings: []string{fmt.Sprintf("syn-proxy: %d of %d probed ports answered as open; a middlebox may be answering for this host", c.open, c.probed)},
		})
		e.scan.mu.Unlock()
	}
}

// holds reports whether ent is still the entry in flight for position pos
// (entries are recycled, so a pointer alone does not say).
func (e *engine) holds(ent *entry, pos uint64) bool {
	if pos < e.winBase || pos-e.winBase >= uint64(len(e.win)) {
		return false
	}
	return e.win[pos&uint64(len(e.win)-1)] == ent && ent.pos == pos
}

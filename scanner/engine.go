package scanner

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net/netip"
	"time"

	"golang.org/x/time/rate"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// entry is the in-flight state of one target past its first try (see
// ledger.go: first tries need none). Entries are recycled, so
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

// maxLive bounds the targets in flight when silent targets may need
// entries (a scan that may retransmit, or UDP): each entry costs about 72
// bytes (a 48-byte entry, its ring slot, a timeout queue item), so that
// the engine stays near 10 MiB at any rate. At the 1 s timeout of a scan
// with no replies it caps the rate near 131,000 probes per second; a
// shorter timeout (--max-rtt-timeout) raises that.
const maxLive = 1 << 17

// maxSpan bounds the positions from the lowest one unresolved to the next
// one to send, whatever else allows: the first tries in flight, which
// cost the ledger about half a byte each (at most 2 MiB of blocks). A
// scan that never retransmits (--max-retries 0, no UDP) is bounded by
// this alone: 2 M probes per second at a 1 s timeout.
const maxSpan = 1 << 21

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
	byProto  [256]*session // the same, for the per-probe paths (no hashing)
	replies  chan probe.Reply
	stop     chan struct{}

	// led holds the first tries (ledger.go), unless noLedger: a scan
	// with a UDP prober gives every target an entry at its first send,
	// as before the ledger (TestLabUDPSourcePool, which measures hosts'
	// ICMP budgets, failed 3 of 11 runs with the ledger against 0 of 9
	// without, for a reason not found yet).
	led      ledger
	noLedger bool
	// mayHold is true when a silent first try may need an entry:
	// the scan may retransmit, or pace UDP retransmissions.
	mayHold bool

	// win is a ring of the entries in flight, indexed by position: the
	// entry of position p, if any, is win[p&(len(win)-1)]. No entry is
	// below winBase, nor will be (entries are made from the ledger's
	// oldest block, in position order); live counts the entries.
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
	loss       lossTries
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
		loss:     newLossTries(it.Len()),
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
		e.byProto[proto] = e.sessions[proto]
	}
	e.mayHold = p.maxRetries > 0 || e.sessions[target.UDP] != nil
	e.noLedger = e.sessions[target.UDP] != nil
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
		if e.exhausted && e.live == 0 && e.led.open == 0 {
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
		if wait > 50*time.Millisecond && e.st.Sent != e.lastSent {
			// About to sleep past the publishing period (e.g. everything
			// sent, waiting for the timeout): let Stats see the sends now.
			e.publish(now, false)
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
		if e.full() && !e.hasRetry() {
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
		if q, ok := e.popRetry(); ok {
			ent := q.e
			ent.waiting = false
			ent.try++
			e.st.Retransmits++
			if err := e.send(ctx, ent, e.it.At(ent.pos), now); err != nil {
				return 0, false, err
			}
			continue
		}
		t, ok := e.it.Next()
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
		if e.noLedger {
			e.noteHost(t.Addr, now)
			if err := e.send(ctx, e.newEntry(e.it.Pos()-1), t, now); err != nil {
				return 0, false, err
			}
			continue
		}
		if err := e.sendFirst(ctx, t, e.it.Pos()-1, now); err != nil {
			return 0, false, err
		}
	}
}

// noteHost records the time of the first probe to a host, when a host
// timeout needs it.
func (e *engine) noteHost(a netip.Addr, now time.Time) {
	if e.hostFirst != nil {
		if _, seen := e.hostFirst[a]; !seen {
			e.hostFirst[a] = now
		}
	}
}

// full reports whether no new target may start: the ledger spans maxSpan
// positions, or, when silent targets may need entries, maxLive targets
// are in flight.
func (e *engine) full() bool {
	lo := e.it.Pos()
	if b := e.led.front(); b != nil {
		lo = b.start
	}
	if e.live > 0 {
		lo = min(lo, e.winBase)
	}
	if e.it.Pos()-lo >= maxSpan {
		return true
	}
	return e.mayHold && e.live+e.led.open >= maxLive
}

// blockSpan is the longest a ledger block stays open, in µs: a 64th of
// the probe timeout, at most maxBlockSpan.
func (e *engine) blockSpan() uint32 {
	return uint32(min(max(e.rtt.timeout()/64/time.Microsecond, 1), maxBlockSpan))
}

// sendFirst sends the first try of t, at position pos, recording it in the
// ledger.
func (e *engine) sendFirst(ctx context.Context, t target.Target, pos uint64, now time.Time) error {
	s := e.byProto[t.Port.Proto]
	if s == nil {
		return fmt.Errorf("scanner: no prober for %s (target %s)", t.Port.Proto, t)
	}
	e.noteHost(t.Addr, now)
	e.led.add(pos, e.mono(now), e.blockSpan())
	e.outstanding++
	e.st.Sent++
	err := s.sess.Send(probe.Probe{Target: t, Try: 0, Timeout: e.rtt.timeout(), Final: e.allowedTries() <= 1})
	if err == nil {
		e.limitNoteSent(t)
		return nil
	}
	if errors.Is(err, probe.ErrTargetSkipped) {
		b := e.led.at(e.led.tail - 1)
		e.led.resolve(b, 1<<(pos-b.start))
		e.outstanding--
		return e.finishPos(ctx, pos, result.Result{
			AddrPort: t.AddrPort(), Proto: t.Port.Proto, State: s.silence, Reason: skippedReason(err),
			Tries: 1, Time: now,
		})
	}
	return fmt.Errorf("scanner: send %s: %w", t, err)
}

// skippedReason is the reason of a target its prober skipped
// (probe.ErrTargetSkipped): no route, or none given.
func skippedReason(err error) result.Reason {
	if errors.Is(err, probe.ErrNoRoute) {
		return result.NoRoute
	}
	return result.NoResponse
}

// newEntry makes the entry of pos, whose first try has timed out (or is
// about to be sent, without the ledger). Entries are made in increasing
// order of position.
func (e *engine) newEntry(pos uint64) *entry {
	var ent *entry
	if n := len(e.free); n > 0 {
		ent = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		ent = new(entry)
	}
	ent.pos, ent.try, ent.cleanSilent = pos, 0, 0
	if e.live == 0 {
		e.winBase = pos
	}
	if pos-e.winBase >= uint64(len(e.win)) {
		e.growWindow(pos)
	}
	e.win[pos&uint64(len(e.win)-1)] = ent
	e.live++
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

// entryAt returns the entry of position pos, or nil.
func (e *engine) entryAt(pos uint64) *entry {
	if e.live == 0 || pos < e.winBase || pos-e.winBase >= uint64(len(e.win)) {
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
	s := e.byProto[tg.Port.Proto]
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
		return e.finish(ctx, ent, result.Result{
			AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: skippedReason(err),
			Tries: int(ent.try) + 1, Time: t,
		})
	}
	return fmt.Errorf("scanner: send %s: %w", tg, err)
}

// allowedTries is how many tries a silent target gets: one more
// retransmission than any port has ever needed, and as many as the loss
// seen calls for (losstries.go), within the bounds.
func (e *engine) allowedTries() int {
	r := min(max(e.maxSuccess+1, e.cfg.minRetries, e.loss.retries), e.cfg.params.maxRetries)
	return r + 1
}

func (e *engine) expire(ctx context.Context, now time.Time) error {
	to := e.rtt.timeout()
	mnow := e.mono(now)
	if err := e.expireFirst(ctx, now, mnow, to); err != nil {
		return err
	}
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
		if err := e.expireEntry(ctx, ent, e.it.At(ent.pos), now); err != nil {
			return err
		}
	}
}

// expireEntry decides what becomes of ent, whose latest try met silence:
// paced, retransmitted, skipped or finished.
func (e *engine) expireEntry(ctx context.Context, ent *entry, tg target.Target, now time.Time) error {
	if taken, err := e.limitExpire(ctx, ent, tg, now); err != nil || taken {
		return err
	}
	if e.hostTimedOut(tg.Addr, now) {
		e.skip(tg.Addr, now)
		e.release(ent)
		return nil
	}
	if int(ent.try)+1 < e.allowedTries() {
		ent.gen++ // a late reply still matches by target; the queue item is what goes stale
		ent.waiting = true
		e.retries.push(queued{ent, ent.gen})
		return nil
	}
	s := ent.sess
	return e.finish(ctx, ent, result.Result{
		AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: s.reason,
		Tries: int(ent.try) + 1, Time: now,
	})
}

// expireFirst resolves the silent first tries of the ledger's blocks
// that have timed out: finished at once when no retransmission is
// allowed and no per-target state is kept, else handed to an entry.
func (e *engine) expireFirst(ctx context.Context, now time.Time, mnow uint32, to time.Duration) error {
	for {
		e.led.trim()
		b := e.led.front()
		if b == nil {
			return nil
		}
		if since(mnow, b.last) < to {
			return nil
		}
		b.sealed = true
		for rem := b.sentMask() &^ b.done; rem != 0; rem &= rem - 1 {
			bit := rem & -rem
			e.led.resolve(b, bit)
			e.outstanding--
			pos := b.start + uint64(bits.TrailingZeros64(bit))
			if err := e.silentFirst(ctx, pos, b.first, now); err != nil {
				return err
			}
		}
	}
}

// silentFirst handles position pos, whose first try (sent at engine clock
// sent) met silence.
func (e *engine) silentFirst(ctx context.Context, pos uint64, sent uint32, now time.Time) error {
	tg := e.it.At(pos)
	s := e.byProto[tg.Port.Proto]
	if e.allowedTries() <= 1 && (e.limits == nil || !udpLimitable(tg)) {
		if e.hostTimedOut(tg.Addr, now) {
			e.skip(tg.Addr, now)
			e.st.Done++
			return nil
		}
		return e.finishPos(ctx, pos, result.Result{
			AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: s.reason,
			Tries: 1, Time: now,
		})
	}
	ent := e.newEntry(pos)
	ent.sess = s
	ent.gen++
	ent.sent[0] = sent
	return e.expireEntry(ctx, ent, tg, now)
}

func (e *engine) nextDeadline(now time.Time) (time.Duration, bool) {
	to := e.rtt.timeout()
	mnow := e.mono(now)
	var d time.Duration
	ok := false
	if b := e.led.front(); b != nil {
		d, ok = to-since(mnow, b.last), true
	}
	for {
		q, found := e.timeouts.peek()
		if !found {
			break
		}
		if q.gen != q.e.gen {
			e.timeouts.pop()
			continue
		}
		if qd := to - since(mnow, q.e.sentAt()); !ok || qd < d {
			d, ok = qd, true
		}
		break
	}
	return max(d, time.Millisecond), ok
}

func (e *engine) onReply(ctx context.Context, r probe.Reply) error {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	e.limitNoteReply(probeReply{r.Target, r.State, r.Reason, e.sourceFor(r.Target)}, t)
	pos, ok := e.it.PosOf(r.Target)
	if !ok {
		e.st.Late++
		return nil
	}
	ent := e.entryAt(pos)
	if ent == nil {
		if b, bit := e.led.find(pos); b != nil && e.led.resolve(b, bit) {
			return e.onFirstReply(ctx, r, t, pos, b)
		}
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
		e.loss.answer(entTry, e.st.Done-e.st.Resumed+1)
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
	case e.lossShort > 2*e.lossLong+0.1 && (e.lastDrop.IsZero() || int32(ent.sent[(entTry-1)%len(ent.sent)]-e.mono(e.lastDrop)) > 0):
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

// onFirstReply takes reply r, at time t, to the first try of position
// pos, which the ledger's block b held (now resolved).
func (e *engine) onFirstReply(ctx context.Context, r probe.Reply, t time.Time, pos uint64, b *block) error {
	e.st.Replies++
	// The block's first send is at most blockSpan before this try's: the
	// sample errs long by that much, never short.
	var rtt time.Duration
	if r.Try <= 0 {
		rtt = since(e.mono(t), b.first)
		e.rtt.sample(rtt, t)
	}
	e.lossShort -= e.lossShort / 64
	e.lossLong -= e.lossLong / 1024
	e.loss.answer(0, e.st.Done-e.st.Resumed+1)
	e.cwnd.onReply()
	e.outstanding--
	return e.finishPos(ctx, pos, result.Result{
		AddrPort: r.Target.AddrPort(), Proto: r.Target.Port.Proto, State: r.State, Reason: r.Reason,
		ReplyTTL: r.ReplyTTL, RTT: rtt, Tries: 1, Time: t, Source: r.Source, Service: r.Service,
	})
}

func (e *engine) finish(ctx context.Context, ent *entry, r result.Result) error {
	pos := ent.pos
	e.release(ent)
	return e.deliver(ctx, pos, r)
}

// finishPos delivers the result of position pos, which has no entry.
func (e *engine) finishPos(ctx context.Context, pos uint64, r result.Result) error {
	e.st.Done++
	return e.deliver(ctx, pos, r)
}

func (e *engine) deliver(ctx context.Context, pos uint64, r result.Result) error {
	e.proxyCheck(r)
	select { // the usual case, without the cost of a two-way select
	case e.scan.results <- r:
		return nil
	default:
	}
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
	if e.live == 0 {
		e.winBase = ent.pos + 1
	} else {
		for e.win[e.winBase&uint64(len(e.win)-1)] == nil {
			e.winBase++
		}
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
	st.InFlight = e.live + e.led.open
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
	st.Position = min(e.it.Pos(), e.lost)
	if e.live > 0 {
		st.Position = min(st.Position, e.winBase)
	}
	if lo, ok := e.led.low(); ok {
		st.Position = min(st.Position, lo)
	}
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

package scanner

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// ICMP error rate limits.
//
// A UDP port that is closed answers with an ICMP error, but hosts limit
// how many ICMP errors they send to one destination: Linux sends a burst
// of six, then one a second (net.ipv4.icmp_ratelimit; ICMPv6 has its own).
// A scan that takes silence after a few retransmissions for open|filtered
// calls most closed ports of such a host open|filtered; one that slows all
// its probes down (nmap) spends the whole scan at the host's pace.
//
// The engine instead watches each UDP host's ICMP errors:
//
//  1. Watch. First probes go out at full speed. When a silent port of a
//     host times out although the host has sent ICMP errors and has been
//     sent probes since its last one without answering (or the port would
//     now be called silent), the host may be rate-limited: its silent
//     ports are held (no verdict) and it is measured.
//  2. Drain. The engine probes a port known to answer with an ICMP error
//     every millisecond. That keeps the host's token bucket empty, so the
//     time between two ICMP errors is the time the host takes to earn
//     one. Three such gaps give the interval (their maximum). Under
//     load a receive timestamp can be late, so the estimate may come out
//     short: paced tries then start a little early, and each closed port
//     that proves it (silent once, then answering) lengthens the interval.
//     A host whose errors keep coming back at once is not limited: its
//     ports return to the usual retransmission.
//  3. Paced. Retransmissions of the held ports go out one at a time, each
//     when the host has earned a token since its last error: a closed port
//     answers it. A silent answer counts as "clean" only when no other
//     ICMP error from the host came while the probe was out (which could
//     have taken the token); a port becomes open|filtered after
//     1+min-retries clean silences; every try after a silent one waits
//     the interval plus a quarter and 20 ms, so that a short estimate
//     cannot make a closed port look silent twice. A closed port costs one
//     interval, a silent one a probe timeout or two. Replies from paced hosts do not count as
//     loss for the congestion window, so first probes keep their speed.
//
// Where the host timeout ends first, held ports are reported
// open|filtered with reason icmp-rate-limit.

type limitPhase uint8

const (
	limitWatch limitPhase = iota
	limitDrain
	limitPaced
	limitOff // measured: not limited; ordinary retransmission
)

const (
	drainPace    = time.Millisecond
	drainGaps    = 3               // counted gaps that fix the interval
	drainSpare   = 20              // events in a row with tokens to spare: not limited
	drainGiveUp  = 8 * time.Second // no interval by then: treat as not limited
	starvedAfter = 3               // drain probes between two errors that prove the bucket was empty
	suspectAfter = 4               // probes without an error after one, before a timeout makes a host suspect
	maxPacedTry  = 200             // a held port probed this often gets its verdict regardless
)

// hostLimit is the ICMP budget state of one UDP host that sent ICMP errors.
type hostLimit struct {
	addr      netip.Addr
	phase     limitPhase
	events    int       // ICMP errors received from the host
	lastErr   time.Time // when the last one arrived
	sentSince int       // probes sent to the host since then

	calib      target.Target // a port known to answer with an ICMP error
	calibTry   int
	drainStart time.Time
	drainSent  int // calibration probes since the last error
	lastCalib  time.Time
	gaps       []time.Duration
	spare      int // errors in a row that came with tokens to spare

	interval    time.Duration // wait after an ICMP error before a paced probe
	safe        time.Duration // the same, for a port that was silent before
	queue       []queued
	clean       *entry        // the paced probe out, if any
	cleanT      target.Target // its target
	cleanPos    uint64        // and position (entries are recycled)
	cleanEvents int           // events when it was sent
	active      bool          // in engine.pacing
}

// udpLimitable reports whether t's results depend on the host's ICMP budget.
func udpLimitable(t target.Target) bool { return t.Port.Proto == target.UDP }

// isICMPError reports whether a UDP reply came from an ICMP error.
func isICMPError(r result.Reason) bool {
	return r != result.UDPResponse && r != result.NoResponse && r != result.NoReason
}

// limitKey names one ICMP error budget: a host, and the source address
// the probes of its ports come from when a prober sends each target from
// a fixed one of several (probe.SourceReporter; a source pool with
// per-target rotation). Hosts limit errors per destination, so each
// source has a budget of its own. src is invalid otherwise: one budget
// per host.
type limitKey struct {
	addr, src netip.Addr
}

// sourceFor returns the fixed source of t's probes, if its session
// reports one.
func (e *engine) sourceFor(t target.Target) netip.Addr {
	s := e.byProto[t.Port.Proto]
	if s == nil {
		return netip.Addr{}
	}
	if r, ok := s.sess.(probe.SourceReporter); ok {
		return r.SourceFor(t)
	}
	return netip.Addr{}
}

func (e *engine) limitFor(a, src netip.Addr) *hostLimit {
	if e.limits == nil {
		return nil
	}
	return e.limits[limitKey{a, src}]
}

// limitNoteSent counts a probe sent to a host being watched.
func (e *engine) limitNoteSent(t target.Target) {
	if !udpLimitable(t) || e.limits == nil {
		return
	}
	if h := e.limitFor(t.Addr, e.sourceFor(t)); h != nil {
		h.sentSince++
	}
}

// limitPacing reports whether replies from t's host are paced (and so are
// no sign of loss or of the retries a port needs).
func (e *engine) limitPacing(t target.Target, src netip.Addr) bool {
	h := e.limitFor(t.Addr, src)
	return h != nil && udpLimitable(t) && (h.phase == limitDrain || h.phase == limitPaced)
}

// limitNoteReply accounts an ICMP error from a UDP target, whether or not
// its port is still in flight: every error spent one of the host's tokens.
func (e *engine) limitNoteReply(r probeReply, t time.Time) {
	if !udpLimitable(r.target) || !isICMPError(r.reason) {
		return
	}
	if e.limits == nil {
		e.limits = map[limitKey]*hostLimit{}
	}
	k := limitKey{r.target.Addr, r.src}
	h := e.limits[k]
	if h == nil {
		h = &hostLimit{addr: r.target.Addr}
		e.limits[k] = h
	}
	if h.phase == limitDrain {
		if h.events > 0 && h.drainSent >= starvedAfter && !h.lastErr.Before(h.drainStart) {
			h.gaps = append(h.gaps, t.Sub(h.lastErr))
			h.spare = 0
		} else {
			h.spare++
		}
		h.drainSent = 0
		switch {
		case len(h.gaps) >= drainGaps:
			var g time.Duration
			for _, x := range h.gaps {
				g = max(g, x)
			}
			// Gaps are the interval give or take the drain pace and the
			// host's clock tick (jiffies). A first paced try goes out after
			// the largest gap: if that is a hair early the port stays
			// silent once, which costs a timeout, not a verdict, since the
			// host's bucket keeps the token. (Being late costs nothing
			// either: the bucket banks the remainder.) A port already
			// silent waits a safe margin longer, so that it cannot look
			// silent twice for want of a token.
			h.interval = g + drainPace
			h.safe = g + g/4 + 20*drainPace
			h.phase = limitPaced
			e.st.RateLimited++
			e.st.ICMPInterval = max(e.st.ICMPInterval, h.interval)
		case h.spare >= drainSpare:
			e.limitRelease(h)
		}
	}
	if h.clean != nil && h.cleanT == r.target {
		if h.clean.cleanSilent > 0 && h.interval < h.safe {
			// A closed port that stayed silent to a paced try: that try
			// was early. Wait a little longer from now on.
			h.interval = min(h.interval+h.interval/100+2*drainPace, h.safe)
		}
		h.clean = nil
	}
	h.events++
	h.lastErr = t
	h.sentSince = 0
	if r.state == result.Closed || h.calib == (target.Target{}) {
		h.calib = r.target
	}
}

// probeReply is the part of a reply limitNoteReply needs.
type probeReply struct {
	target target.Target
	state  result.State
	reason result.Reason
	src    netip.Addr // the budget's source (limitKey), usually invalid
}

// limitRelease ends pacing for h: its held ports go back to ordinary
// retransmission.
func (e *engine) limitRelease(h *hostLimit) {
	h.phase = limitOff
	for _, q := range h.queue {
		if q.gen == q.e.gen {
			e.retries.push(q)
		}
	}
	h.queue = nil
	h.clean = nil
}

// limitExpire handles a silent try of ent. taken is false when the
// ordinary retransmission logic applies.
func (e *engine) limitExpire(ctx context.Context, ent *entry, tg target.Target, now time.Time) (taken bool, err error) {
	if !udpLimitable(tg) {
		return false, nil
	}
	h := e.limitFor(tg.Addr, e.sourceFor(tg))
	if h == nil || h.phase == limitOff {
		return false, nil
	}
	if h.phase == limitWatch {
		// A port about to be called silent makes its host suspect at
		// once: when few of a host's ports are still silent, their
		// retries alone may not reach suspectAfter before they run out
		// (TestICMPLoneSilentPort).
		final := int(ent.try)+1 >= e.allowedTries()
		if h.events == 0 || (h.sentSince < suspectAfter && !final) || h.calib == (target.Target{}) {
			return false, nil
		}
		h.phase = limitDrain
		h.drainStart = now
		h.drainSent = 0
		h.spare = 0
		h.gaps = h.gaps[:0]
	}
	if e.hostTimedOut(tg.Addr, now) {
		return true, e.limitGiveUp(ctx, ent, now)
	}
	if h.clean == ent {
		h.clean = nil
		if h.events == h.cleanEvents {
			ent.cleanSilent++
			if int(ent.cleanSilent) >= 1+e.cfg.minRetries {
				s := ent.sess
				return true, e.finish(ctx, ent, result.Result{
					AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: s.reason,
					Tries: int(ent.try) + 1, Time: now,
				})
			}
		}
	}
	if int(ent.try) >= maxPacedTry {
		return true, e.limitGiveUp(ctx, ent, now)
	}
	ent.gen++
	ent.waiting = true
	h.queue = append(h.queue, queued{ent, ent.gen})
	if !h.active {
		h.active = true
		e.pacing = append(e.pacing, h)
	}
	return true, nil
}

// limitGiveUp reports a held port as silent because of the host's budget.
func (e *engine) limitGiveUp(ctx context.Context, ent *entry, now time.Time) error {
	s := ent.sess
	tg := e.it.At(ent.pos)
	return e.finish(ctx, ent, result.Result{
		AddrPort: tg.AddrPort(), Proto: tg.Port.Proto, State: s.silence, Reason: result.ICMPRateLimit,
		Tries: int(ent.try) + 1, Time: now,
	})
}

// sendPaced sends the calibration and paced probes that are due and
// returns how long until the next one (0: none pending).
func (e *engine) sendPaced(ctx context.Context, now time.Time) (time.Duration, error) {
	var wait time.Duration
	keep := e.pacing[:0]
	for _, h := range e.pacing {
		d, more, err := e.paceHost(ctx, h, now)
		if err != nil {
			return 0, err
		}
		if !more {
			h.active = false
			continue
		}
		keep = append(keep, h)
		if d > 0 && (wait == 0 || d < wait) {
			wait = d
		}
	}
	clear(e.pacing[len(keep):])
	e.pacing = keep
	return wait, nil
}

func (e *engine) paceHost(ctx context.Context, h *hostLimit, now time.Time) (wait time.Duration, more bool, err error) {
	// Drop stale queue items.
	q := h.queue[:0]
	for _, x := range h.queue {
		if x.gen == x.e.gen {
			q = append(q, x)
		}
	}
	clear(h.queue[len(q):])
	h.queue = q
	if e.hostTimedOut(h.addr, now) {
		for _, x := range h.queue {
			if err := e.limitGiveUp(ctx, x.e, now); err != nil {
				return 0, false, err
			}
		}
		h.queue = nil
		return 0, false, nil
	}
	switch h.phase {
	case limitDrain:
		if now.Sub(h.drainStart) > drainGiveUp {
			e.limitRelease(h)
			return 0, false, nil
		}
		if d := h.lastCalib.Add(drainPace).Sub(now); d > 0 {
			return d, true, nil
		}
		if !e.allowPaced(now) {
			return drainPace, true, nil
		}
		s := e.sessions[h.calib.Port.Proto]
		if s == nil {
			e.limitRelease(h)
			return 0, false, nil
		}
		h.lastCalib = now
		h.drainSent++
		h.calibTry++
		e.st.Sent++
		e.st.Paced++
		if err := s.sess.Send(probeFor(h.calib, h.calibTry, e.rtt.timeout())); err != nil && !isSkipped(err) {
			return 0, false, err
		}
		return drainPace, true, nil
	case limitPaced:
		if h.clean != nil {
			if !e.holds(h.clean, h.cleanPos) {
				h.clean = nil
			} else {
				return 0, true, nil // its timeout wakes the engine
			}
		}
		if len(h.queue) == 0 {
			return 0, false, nil
		}
		wait := h.interval
		if h.queue[0].e.cleanSilent > 0 {
			wait = h.safe
		}
		if d := h.lastErr.Add(wait).Sub(now); d > 0 {
			return d, true, nil
		}
		if !e.allowPaced(now) {
			return time.Millisecond, true, nil
		}
		x := h.queue[0]
		h.queue[0] = queued{}
		h.queue = h.queue[1:]
		ent := x.e
		ent.waiting = false
		ent.try++
		e.st.Retransmits++
		e.st.Paced++
		tg := e.it.At(ent.pos)
		h.clean, h.cleanT, h.cleanPos = ent, tg, ent.pos
		h.cleanEvents = h.events
		if err := e.send(ctx, ent, tg, now); err != nil {
			return 0, false, err
		}
		if !e.holds(ent, h.cleanPos) {
			h.clean = nil
		}
		return 0, len(h.queue) > 0 || h.clean != nil, nil
	}
	return 0, false, nil
}

// allowPaced takes a token from the rate ceiling, if there is one.
func (e *engine) allowPaced(now time.Time) bool {
	if e.limiter == nil {
		return true
	}
	return e.limiter.AllowN(now, 1)
}

func probeFor(t target.Target, try int, timeout time.Duration) probe.Probe {
	return probe.Probe{Target: t, Try: try, Timeout: timeout}
}

func isSkipped(err error) bool { return errors.Is(err, probe.ErrTargetSkipped) }

package detect

import (
	"math"
	"time"
	"unsafe"
)

// TRWConfig configures Threshold Random Walk detection (Jung, Paxson,
// Berger, Balakrishnan, "Fast Portscan Detection Using Sequential
// Hypothesis Testing", IEEE S&P 2004). The zero value and nil mean the
// documented defaults; out-of-range values are replaced by defaults.
type TRWConfig struct {
	// Theta0 is Pr[first contact succeeds | benign source]. Default 0.8.
	Theta0 float64
	// Theta1 is Pr[first contact succeeds | scanner]; must be below
	// Theta0. Default 0.2.
	Theta1 float64
	// Alpha is the tolerated false-positive probability. Default 0.01.
	Alpha float64
	// Beta is the desired detection probability. Default 0.99.
	Beta float64
	// MinFailures is the number of failed first contacts a source must
	// have before it can be reported, however steep its walk; it keeps
	// a handful of dead peers from condemning a client. Default 4.
	MinFailures int
	// FixedTheta0 turns off per-port learning of θ0. By default the
	// benign success rate of each destination port is learnt from the
	// first contacts of sources that are not tracked (the benign mass),
	// and used instead of Theta0 when lower, but never below MinTheta0:
	// ports where ordinary clients often fail (P2P) then need more
	// failures, while probes of ports nobody uses keep the fast default.
	FixedTheta0 bool
	// MinTheta0 is the floor of a learnt θ0. Default 0.5.
	MinTheta0 float64
	// Cooldown is the minimum packet time between two KindScan events
	// for one source. Default 10 min.
	Cooldown time.Duration
	// Table bounds per-source state; nil means defaults.
	Table *SourceTableConfig
	// Outcome configures connection-outcome tracking; nil means defaults.
	Outcome *OutcomeConfig
}

func (c *TRWConfig) params() *trwParams {
	p := c.walk()
	p.learn, p.minTheta0 = true, 0.5
	if c != nil {
		p.learn = !c.FixedTheta0
		if c.MinTheta0 > 0 && c.MinTheta0 < p.theta0 {
			p.minTheta0 = c.MinTheta0
		}
	}
	if p.minTheta0 > p.theta0 {
		p.minTheta0 = p.theta0
	}
	if p.learn {
		p.ports = &portProfile{}
	}
	return p
}

func (c *TRWConfig) walk() *trwParams {
	t0, t1, a, b, mf := 0.8, 0.2, 0.01, 0.99, 4
	if c != nil {
		if c.Theta0 > 0 && c.Theta0 < 1 {
			t0 = c.Theta0
		}
		if c.Theta1 > 0 && c.Theta1 < t0 {
			t1 = c.Theta1
		}
		if c.Alpha > 0 && c.Alpha < 1 {
			a = c.Alpha
		}
		if c.Beta > a && c.Beta < 1 {
			b = c.Beta
		}
		if c.MinFailures > 0 {
			mf = c.MinFailures
		}
	}
	if t1 >= t0 {
		t0, t1 = 0.8, 0.2
	}
	return &trwParams{
		theta0:  t0,
		theta1:  t1,
		succ:    math.Log(t1 / t0),
		fail:    math.Log((1 - t1) / (1 - t0)),
		upper:   math.Log(b / a),             // η1 = β/α
		lower:   math.Log((1 - b) / (1 - a)), // η0 = (1−β)/(1−α)
		minFail: uint32(mf),
	}
}

// trwParams holds the walk in log space.
type trwParams struct {
	theta0, theta1 float64
	succ, fail     float64 // log-likelihood steps at theta0
	upper, lower   float64 // ln η1, ln η0
	minFail        uint32
	learn          bool
	minTheta0      float64
	ports          *portProfile
}

// portProfile counts first-contact outcomes per destination port of
// untracked sources, with halving to follow change. Failures of sources
// never seen completing a handshake (possibly spoofed) count only up to
// the number of verified contacts, so a spoofed flood cannot talk a port's
// θ0 down.
type portProfile struct {
	succ, fail, ufail [2][65536]uint16 // [0] TCP, [1] UDP
}

func protoIndex(c *Contact) int {
	switch c.Proto {
	case 6:
		return 0
	case 17:
		return 1
	}
	return -1
}

func (pp *portProfile) add(c *Contact, verified bool) {
	i := protoIndex(c)
	if i < 0 {
		return
	}
	s, f, u := &pp.succ[i][c.DstPort], &pp.fail[i][c.DstPort], &pp.ufail[i][c.DstPort]
	switch {
	case !c.Outcome.Failed():
		if !verified {
			return // a SYN-ACK to a spoofed source proves nothing
		}
		*s++
	case verified:
		*f++
	default:
		*u++
	}
	if *s+*f >= 4096 || *u >= 8192 {
		*s, *f, *u = *s/2, *f/2, *u/2
	}
}

// theta0 estimates Pr[success | benign] for c's port, shrunk towards the
// configured θ0 with 20 pseudo-contacts and clamped to [minTheta0, θ0].
func (p *trwParams) theta0For(c *Contact) float64 {
	i := protoIndex(c)
	if p.ports == nil || i < 0 {
		return p.theta0
	}
	s, f := float64(p.ports.succ[i][c.DstPort]), float64(p.ports.fail[i][c.DstPort])
	f += min(float64(p.ports.ufail[i][c.DstPort]), s+f)
	const k = 20
	t := (s + k*p.theta0) / (s + f + k)
	return min(max(t, p.minTheta0), p.theta0)
}

// trwState holds two walks: one over first contacts to hosts (classic
// TRW) and one over first contacts to (host, port), so that a vertical
// scan of one host moves a walk too.
type trwState struct{ host, port float64 }

func (p *trwParams) step(x *float64, failed bool, t0, w float64) {
	switch {
	case t0 != p.theta0 && failed:
		*x += w * math.Log((1-p.theta1)/(1-t0))
	case t0 != p.theta0:
		*x += math.Log(p.theta1 / t0)
	case failed:
		*x += w * p.fail
	default:
		*x += p.succ
	}
	if *x <= p.lower {
		*x = 0 // benign verdict: start over rather than trust forever
	}
}

// back takes d off a walk (a refunded failure), resetting it like a
// benign verdict when it falls to η0.
func (p *trwParams) back(x *float64, d float64) {
	*x -= d
	if *x <= p.lower {
		*x = 0
	}
}

// update steps both walks; a failure moves them by w times the usual
// step (w < 1 for failures with an innocent explanation).
func (p *trwParams) update(s *trwState, newHost, failed bool, t0, w float64) {
	if newHost {
		p.step(&s.host, failed, t0, w)
	}
	p.step(&s.port, failed, t0, w)
}

// fire reports whether either walk crossed η1; the score is the larger
// likelihood ratio.
func (p *trwParams) fire(s *trwState, st *srcState) (bool, float64) {
	x := max(s.host, s.port)
	if x < p.upper || st.wfail < float32(p.minFail) {
		return false, 0
	}
	return true, math.Exp(x)
}

// TRW is an Analyzer running Threshold Random Walk on first-contact
// outcomes, keyed on destination hosts and on (host, port). A source whose
// walk reaches the benign threshold η0 is reset, not whitelisted. Events
// have Kind KindScan and Detector "trw"; Score is the likelihood ratio.
type TRW struct{ e *engine }

var _ Analyzer = (*TRW)(nil)

// NewTRW returns a TRW analyser; cfg nil means defaults (θ0 = 0.8,
// θ1 = 0.2, α = 0.01, β = 0.99, so η1 = β/α = 99 and η0 = (1−β)/(1−α) ≈
// 0.0101: four failures in a row cross η1).
func NewTRW(cfg *TRWConfig) *TRW {
	var oc *OutcomeConfig
	var tc *SourceTableConfig
	var cd time.Duration
	if cfg != nil {
		oc, tc, cd = cfg.Outcome, cfg.Table, cfg.Cooldown
	}
	e := newEngine("trw", oc, tc, cd)
	e.setTRW(cfg.params())
	return &TRW{e: e}
}

// Observe implements Analyzer.
func (a *TRW) Observe(o *Observation, emit func(Event)) { a.e.observe(o, emit) }

// Advance implements Analyzer.
func (a *TRW) Advance(now time.Time, emit func(Event)) { a.e.advance(now, emit) }

// MemoryBytes implements Analyzer.
func (a *TRW) MemoryBytes() int { return a.e.memoryBytes() }

// ObserveContact feeds a contact whose outcome is already known (from an
// OutcomeTracker shared with other analysers), bypassing a's own tracker.
func (a *TRW) ObserveContact(c *Contact, emit func(Event)) { a.e.contactFrom(c, emit) }

func (p *trwParams) memoryBytes() int {
	if p == nil || p.ports == nil {
		return 0
	}
	return int(unsafe.Sizeof(*p.ports))
}

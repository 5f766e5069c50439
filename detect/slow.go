package detect

import (
	"math"
	"time"
)

// slowMax is the number of time scales a slow detector can keep.
const slowMax = 4

// SlowConfig configures slow-scan detection. The zero value and nil mean
// the documented defaults.
type SlowConfig struct {
	// Scales are the time constants of the exponentially decayed
	// failure scores (at most 4). Default 10 min, 1 h, 24 h.
	Scales []time.Duration
	// Thresholds are the scores, one per scale, at which a source is
	// reported. Default 12, 14, 18.
	Thresholds []float64
	// MinDistinct is the number of distinct failed (host, port) targets,
	// counted with a HyperLogLog sketch, a source needs besides a score:
	// retries of one dead service never make a scan. Default 10.
	MinDistinct int
	// Cooldown is the minimum packet time between two KindScan events
	// for one source. Default 10 min.
	Cooldown time.Duration
	// Table bounds per-source state; nil means defaults.
	Table *SourceTableConfig
	// Outcome configures connection-outcome tracking; nil means defaults.
	Outcome *OutcomeConfig
}

type slowParams struct {
	n           int
	tau         [slowMax]float64 // nanoseconds
	thr         [slowMax]float64
	minDistinct int
}

func (c *SlowConfig) params() *slowParams {
	p := &slowParams{n: 3, minDistinct: 10}
	p.tau = [slowMax]float64{float64(10 * time.Minute), float64(time.Hour), float64(24 * time.Hour)}
	p.thr = [slowMax]float64{12, 14, 18}
	if c == nil {
		return p
	}
	if len(c.Scales) > 0 {
		p.n = min(len(c.Scales), slowMax)
		for i := 0; i < p.n; i++ {
			p.tau[i] = float64(max(c.Scales[i], time.Second))
			p.thr[i] = 12
			if i < len(c.Thresholds) && c.Thresholds[i] > 1 {
				p.thr[i] = c.Thresholds[i]
			}
		}
	} else {
		for i := 0; i < len(c.Thresholds) && i < p.n; i++ {
			if c.Thresholds[i] > 1 {
				p.thr[i] = c.Thresholds[i]
			}
		}
	}
	if c.MinDistinct > 0 {
		p.minDistinct = c.MinDistinct
	}
	return p
}

// slowState holds decayed counts of failed first contacts.
type slowState struct {
	score [slowMax]float64
	at    int64
}

func (p *slowParams) update(s *slowState, at int64, w float64) {
	if s.at != 0 && at > s.at {
		dt := float64(at - s.at)
		for i := 0; i < p.n; i++ {
			s.score[i] *= math.Exp(-dt / p.tau[i])
		}
	}
	if at > s.at {
		s.at = at
	}
	for i := 0; i < p.n; i++ {
		s.score[i] += w
	}
}

// fire reports whether a decayed score (as of now) crossed its threshold;
// the event score is the largest score-to-threshold ratio.
func (p *slowParams) fire(s *slowState, st *srcState, now int64) (bool, float64) {
	best := 0.0
	for i := 0; i < p.n; i++ {
		v := s.score[i]
		if now > s.at {
			v *= math.Exp(-float64(now-s.at) / p.tau[i])
		}
		best = max(best, v/p.thr[i])
	}
	if best < 1 || st.shape.failed.estimate() < p.minDistinct {
		return false, 0
	}
	return true, best
}

// Slow is an Analyzer for slow scans: per source it keeps failed first
// contacts as exponentially decayed scores at several time scales and a
// HyperLogLog count of distinct failed targets, so a probe every few
// minutes still adds up. Events have Kind KindScan and Detector "slow".
type Slow struct{ e *engine }

var _ Analyzer = (*Slow)(nil)

// NewSlow returns a slow-scan analyser; cfg nil means defaults.
func NewSlow(cfg *SlowConfig) *Slow {
	var oc *OutcomeConfig
	var tc *SourceTableConfig
	var cd time.Duration
	if cfg != nil {
		oc, tc, cd = cfg.Outcome, cfg.Table, cfg.Cooldown
	}
	e := newEngine("slow", oc, tc, cd)
	e.slow = cfg.params()
	return &Slow{e: e}
}

// Observe implements Analyzer.
func (a *Slow) Observe(o *Observation, emit func(Event)) { a.e.observe(o, emit) }

// Advance implements Analyzer.
func (a *Slow) Advance(now time.Time, emit func(Event)) { a.e.advance(now, emit) }

// MemoryBytes implements Analyzer.
func (a *Slow) MemoryBytes() int { return a.e.memoryBytes() }

// ObserveContact feeds a contact whose outcome is already known.
func (a *Slow) ObserveContact(c *Contact, emit func(Event)) { a.e.contactFrom(c, emit) }

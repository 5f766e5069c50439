package detect

import "time"

// thrMax bounds ThresholdConfig.Count (the per-source ring of times).
const thrMax = 32

// ThresholdConfig configures the threshold-window detector. The zero value
// and nil mean the documented defaults.
type ThresholdConfig struct {
	// Count is X: distinct (host, port) first contacts that make a scan.
	// Default 20, at most 32.
	Count int
	// Window is Y: the contacts must fall within this packet time.
	// Default 60 s.
	Window time.Duration
	// CountSuccesses counts successful first contacts too; by default
	// only failed ones count (as Zeek and Snort do).
	CountSuccesses bool
	// Cooldown is the minimum packet time between two KindScan events
	// for one source. Default 10 min.
	Cooldown time.Duration
	// Table bounds per-source state; nil means defaults.
	Table *SourceTableConfig
	// Outcome configures connection-outcome tracking; nil means defaults.
	Outcome *OutcomeConfig
}

type thrParams struct {
	count     int
	window    int64
	successes bool
}

// thrState is a ring of the times of the last thrMax counted contacts.
type thrState struct {
	times [thrMax]int64
	n     uint32
}

func (s *thrState) add(at int64) {
	s.times[s.n%thrMax] = at
	s.n++
}

func (p *thrParams) fire(s *thrState, now int64) (bool, float64) {
	if int(s.n) < p.count {
		return false, 0
	}
	newest := s.times[(s.n-1)%thrMax]
	oldest := s.times[(s.n-uint32(p.count))%thrMax]
	if newest-oldest > p.window || now-newest > p.window {
		return false, 0
	}
	span := float64(max(newest-oldest, 1)) / float64(time.Second)
	return true, float64(p.count) / span // contacts per second
}

// Threshold is the classic baseline analyser: a source is a scanner when
// it makes X distinct (host, port) first contacts (by default: failed
// ones) within Y seconds. Easy to evade by going slower than X/Y; kept for
// comparison and for networks that want its predictability. Events have
// Kind KindScan and Detector "threshold"; Score is contacts per second.
type Threshold struct{ e *engine }

var _ Analyzer = (*Threshold)(nil)

// NewThreshold returns a threshold-window analyser; cfg nil means
// defaults (20 failed first contacts in 60 s).
func NewThreshold(cfg *ThresholdConfig) *Threshold {
	p := &thrParams{count: 20, window: int64(time.Minute)}
	var oc *OutcomeConfig
	var tc *SourceTableConfig
	var cd time.Duration
	if cfg != nil {
		oc, tc, cd = cfg.Outcome, cfg.Table, cfg.Cooldown
		if cfg.Count > 0 {
			p.count = min(cfg.Count, thrMax)
		}
		if cfg.Window > 0 {
			p.window = int64(cfg.Window)
		}
		p.successes = cfg.CountSuccesses
	}
	e := newEngine("threshold", oc, tc, cd)
	e.thr = p
	return &Threshold{e: e}
}

// Observe implements Analyzer.
func (a *Threshold) Observe(o *Observation, emit func(Event)) { a.e.observe(o, emit) }

// Advance implements Analyzer.
func (a *Threshold) Advance(now time.Time, emit func(Event)) { a.e.advance(now, emit) }

// MemoryBytes implements Analyzer.
func (a *Threshold) MemoryBytes() int { return a.e.memoryBytes() }

// ObserveContact feeds a contact whose outcome is already known.
func (a *Threshold) ObserveContact(c *Contact, emit func(Event)) { a.e.contactFrom(c, emit) }

package detect

import "time"

// DefaultConfig configures the analyser NewDefaultAnalyzer builds. The
// zero value and nil mean the documented defaults of each part.
type DefaultConfig struct {
	// Outcome configures connection-outcome tracking.
	Outcome *OutcomeConfig
	// Table bounds per-source state (default 8192 sources, admitted
	// after 2 failed first contacts).
	Table *SourceTableConfig
	// TRW sets the walk's parameters; its Table, Outcome and Cooldown
	// fields are ignored here.
	TRW *TRWConfig
	// Slow sets the slow-scan scales and thresholds; its Table, Outcome
	// and Cooldown fields are ignored here.
	Slow *SlowConfig
	// Campaign configures distributed and decoy detection.
	Campaign *CampaignConfig
	// Cooldown is the minimum packet time between two KindScan events
	// for one source. Default 10 min.
	Cooldown time.Duration
	// NoSlow and NoCampaign switch those parts off.
	NoSlow, NoCampaign bool
}

// DefaultAnalyzer is the recommended analyser; see NewDefaultAnalyzer.
type DefaultAnalyzer struct{ e *engine }

var _ Analyzer = (*DefaultAnalyzer)(nil)

// NewDefaultAnalyzer returns the recommended analyser: one outcome tracker
// feeding TRW (fast scans, Detector "trw"), decayed multi-scale scores
// (slow scans, Detector "slow"), distributed-campaign linking (KindDistributed,
// Detector "campaign") and decoy grouping (KindDecoy, Detector "decoy"),
// over one bounded source table. A source gets at most one KindScan per
// cooldown; members of a decoy group get none (the group's KindDecoy names
// the likely real scanner in Source, or leaves Source zero when no member
// stands out, so that no decoy is blamed). Every event carries shape and
// scan type; Hosts and Ports count from the source's admission into exact
// tracking (its second failed first contact).
//
// Memory is fixed at construction (about 16 MiB with defaults);
// MemoryBytes reports it. Sources enter the exact table only after a
// count-min sketch has seen them fail twice, so floods of spoofed
// one-packet sources cost no per-source memory and are never reported.
// Observe does not allocate in steady state. Call Advance regularly (say
// every second of packet time): timeouts expire and campaign and decoy
// events, which wait for their members to settle, are emitted from it.
func NewDefaultAnalyzer(cfg *DefaultConfig) *DefaultAnalyzer {
	var d DefaultConfig
	if cfg != nil {
		d = *cfg
	}
	e := newEngine("default", d.Outcome, d.Table, d.Cooldown)
	e.setTRW(d.TRW.params())
	if !d.NoSlow {
		e.slow = d.Slow.params()
	}
	if !d.NoCampaign {
		e.camp = newCampaigns(d.Campaign)
	}
	return &DefaultAnalyzer{e: e}
}

// Observe implements Analyzer.
func (a *DefaultAnalyzer) Observe(o *Observation, emit func(Event)) { a.e.observe(o, emit) }

// Advance implements Analyzer.
func (a *DefaultAnalyzer) Advance(now time.Time, emit func(Event)) { a.e.advance(now, emit) }

// MemoryBytes implements Analyzer.
func (a *DefaultAnalyzer) MemoryBytes() int { return a.e.memoryBytes() }

// TrackedSources is the number of sources the analyser tracks exactly
// (the pipeline reports it in Stats.TrackedSources).
func (a *DefaultAnalyzer) TrackedSources() int { return a.e.table.len() }

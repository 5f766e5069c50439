package eval

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/portsense/portsense/detect"
)

// Detector names an analyser constructor for the harness.
type Detector struct {
	Name string
	Ours bool // one of detect's analysers (the rest are baselines)
	New  func() detect.Analyzer
}

// Detectors returns ours (default, TRW alone, slow alone, threshold) and
// the baselines.
func Detectors() []Detector {
	return []Detector{
		{"ours-default", true, func() detect.Analyzer { return detect.NewDefaultAnalyzer(nil) }},
		{"ours-trw", true, func() detect.Analyzer { return detect.NewTRW(nil) }},
		{"ours-slow", true, func() detect.Analyzer { return detect.NewSlow(nil) }},
		{"ours-threshold", true, func() detect.Analyzer { return detect.NewThreshold(nil) }},
		{"zeek", false, NewZeek},
		{"snort-low", false, NewSnortLow},
		{"scanlogd", false, NewScanlogd},
		{"plain-trw", false, NewPlainTRW},
	}
}

// Result is one detector's score on one trace.
type Result struct {
	Name   string
	Events int

	Scanners, Detected int // scanner actors (campaigns and decoy scans count once)
	Fast, FastDetected int
	Slow, SlowDetected int
	Benign, FalsePos   int // benign sources, and those reported
	Flagged, TruePos   int // reported sources, and those that scan

	// Attempts to detection of fast single-source scanners: probes on
	// the wire before the event, and probes whose answer could have been
	// seen by then (sent at least one round trip before the event). An
	// outcome-based detector cannot beat the second; at line rate the
	// first is dominated by the round trip.
	AttemptsMedian, AttemptsP95 float64
	AnsweredMedian, AnsweredP95 float64
	AllAttemptsMedian           float64 // every detected scanner
	SlowAttemptsMedian          float64 // slow scanners: probes on the wire before the event
	TTDMedian, TTDP95           time.Duration

	PeakMemory    int
	DecoyScans    int
	DecoyTellable int // decoy scans whose decoys are down (Actor.DecoysSilent)
	DecoyNamed    int // KindDecoy named the real source (a decoy scan counts as detected when a KindDecoy lists its real source at all)
	DecoysBlocked int // decoy addresses reported as scanners
	FloodSources  int
	FloodReported int
	Campaigns     int
	Linked        int // one KindDistributed listed every member
	BadLinks      int // KindDistributed events listing a source of another actor
	BadLinkKinds  []string
	LinkMiss      []string // campaigns not fully linked: most members in one event / members
	Classified    int      // single-source scanners with a KindScan
	ShapeOK       int
	TypeOK        int
	Missed        []string // kinds of missed scanners, for the log
	FalseKinds    []string // kinds of benign actors reported, for the log
	Late          []string // fast single-source scanners needing more than 10 attempts

	// per-scanner values behind the medians, for pooling over traces
	fastAnswered, slowAttempts []float64
}

// Recall is the share of scanner actors detected.
func (r *Result) Recall() float64 { return ratio(r.Detected, r.Scanners) }

// FPRate is the share of benign sources reported.
func (r *Result) FPRate() float64 { return ratio(r.FalsePos, r.Benign) }

// Precision is the share of reported sources that scan.
func (r *Result) Precision() float64 { return ratio(r.TruePos, r.Flagged) }

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Run feeds tr to a fresh analyser from d and scores its events.
func Run(tr *Traffic, d Detector) Result {
	a := d.New()
	var events []detect.Event
	emit := func(e detect.Event) { events = append(events, e) }
	peak := a.MemoryBytes()
	var next time.Time
	for i := range tr.Obs {
		o := &tr.Obs[i]
		if !o.Time.Before(next) {
			a.Advance(o.Time, emit)
			next = o.Time.Truncate(time.Second).Add(time.Second)
		}
		a.Observe(o, emit)
		if i&8191 == 0 {
			peak = max(peak, a.MemoryBytes())
		}
	}
	end := tr.End
	if n := len(tr.Obs); n > 0 && tr.Obs[n-1].Time.After(end) {
		end = tr.Obs[n-1].Time
	}
	for t := next; t.Before(end.Add(10 * time.Minute)); t = t.Add(10 * time.Second) {
		a.Advance(t, emit)
	}
	peak = max(peak, a.MemoryBytes())
	r := Score(tr, events)
	r.Name, r.PeakMemory = d.Name, peak
	return r
}

// Score compares events with the trace's labels.
func Score(tr *Traffic, events []detect.Event) Result {
	r := Result{Events: len(events)}
	flagged := map[netip.Addr]time.Time{}
	flag := func(a netip.Addr, t time.Time) {
		if old, ok := flagged[a]; !ok || t.Before(old) {
			flagged[a] = t
		}
	}
	firstScan := map[netip.Addr]detect.Event{}
	named := map[netip.Addr]bool{}
	grouped := map[netip.Addr]time.Time{}
	var groups [][]netip.Addr
	for _, e := range events {
		switch e.Kind {
		case detect.KindScan:
			flag(e.Source, e.Time)
			if _, ok := firstScan[e.Source]; !ok {
				firstScan[e.Source] = e
			}
		case detect.KindDistributed:
			for _, s := range e.Sources {
				flag(s, e.Time)
			}
			groups = append(groups, e.Sources)
		case detect.KindDecoy:
			// Source is the one to block; the group as a whole counts
			// as detected even when no member could be named.
			if e.Source.IsValid() {
				flag(e.Source, e.Time)
				named[e.Source] = true
			}
			for _, s := range append([]netip.Addr{e.Source}, e.Sources...) {
				if t, ok := grouped[s]; !ok || e.Time.Before(t) {
					grouped[s] = e.Time
				}
			}
		}
	}
	owner := map[netip.Addr]*Actor{}
	for _, a := range tr.Actors {
		for _, s := range a.Sources {
			owner[s] = a
		}
		for _, s := range a.Decoys {
			owner[s] = a
		}
	}
	for _, g := range groups {
		for _, s := range g {
			if o := owner[s]; o == nil || o.Kind != "distributed" || o != owner[g[0]] {
				r.BadLinks++
				var kinds []string
				for _, m := range g {
					if o := owner[m]; o != nil {
						kinds = append(kinds, o.Kind)
					} else {
						kinds = append(kinds, "?")
					}
				}
				r.BadLinkKinds = append(r.BadLinkKinds, strings.Join(kinds, "+"))
				break
			}
		}
	}
	scannerSrc := map[netip.Addr]bool{}
	var fastAtt, fastAns, allAtt, slowAtt []float64
	var ttd []time.Duration
	for _, a := range tr.Actors {
		switch a.Role {
		case Benign:
			for _, s := range a.Sources {
				r.Benign++
				if _, ok := flagged[s]; ok {
					r.FalsePos++
					r.FalseKinds = append(r.FalseKinds, a.Kind)
				}
			}
			continue
		case Spoofed:
			for _, s := range a.Sources {
				r.FloodSources++
				if _, ok := flagged[s]; ok {
					r.FloodReported++
				}
			}
			continue
		}
		for _, s := range a.Sources {
			scannerSrc[s] = true
		}
		r.Scanners++
		if a.Fast() {
			r.Fast++
		}
		if a.Slow() {
			r.Slow++
		}
		if a.Kind == "decoy" {
			r.DecoyScans++
			if a.DecoysSilent {
				r.DecoyTellable++
			}
			if named[a.Sources[0]] {
				r.DecoyNamed++
			}
			for _, dc := range a.Decoys {
				if _, ok := flagged[dc]; ok {
					r.DecoysBlocked++
				}
			}
		}
		if a.Kind == "distributed" {
			r.Campaigns++
			best := 0
			for _, g := range groups {
				n := 0
				for _, s := range a.Sources {
					if slices.Contains(g, s) {
						n++
					}
				}
				best = max(best, n)
			}
			if best == len(a.Sources) {
				r.Linked++
			} else {
				r.LinkMiss = append(r.LinkMiss, fmt.Sprintf("%d/%d", best, len(a.Sources)))
			}
		}
		var when time.Time
		for _, s := range a.Sources {
			if t, ok := flagged[s]; ok && (when.IsZero() || t.Before(when)) {
				when = t
			}
			if t, ok := grouped[s]; ok && a.Kind == "decoy" && (when.IsZero() || t.Before(when)) {
				when = t
			}
		}
		if when.IsZero() {
			r.Missed = append(r.Missed, fmt.Sprintf("%s/%s/%s/%v", a.Kind, shapeName(a.Shape), typeName(a.Type), a.Gap))
			continue
		}
		r.Detected++
		if a.Fast() {
			r.FastDetected++
		}
		if a.Slow() {
			r.SlowDetected++
		}
		upTo := func(t time.Time) int {
			n, _ := slices.BinarySearchFunc(a.Probes, t, func(p, t time.Time) int {
				if p.After(t) {
					return 1
				}
				return -1
			})
			return n
		}
		n := upTo(when)
		allAtt = append(allAtt, float64(n))
		if a.Slow() {
			slowAtt = append(slowAtt, float64(n))
		}
		if a.Fast() && len(a.Sources) == 1 && a.Kind != "decoy" {
			fastAtt = append(fastAtt, float64(n))
			if len(a.Answers) > 0 {
				n, _ := slices.BinarySearchFunc(a.Answers, when, func(p, t time.Time) int {
					if p.After(t) {
						return 1
					}
					return -1
				})
				fastAns = append(fastAns, float64(n))
			} else {
				fastAns = append(fastAns, float64(upTo(when.Add(-a.RTT))))
			}
			if n > 10 {
				r.Late = append(r.Late, fmt.Sprintf("%s/%s/%s/%v:%d", a.Kind, shapeName(a.Shape), typeName(a.Type), a.Gap, n))
			}
		}
		if len(a.Probes) > 0 {
			ttd = append(ttd, when.Sub(a.Probes[0]))
		}
		if len(a.Sources) == 1 && a.Kind != "decoy" {
			if e, ok := firstScan[a.Sources[0]]; ok {
				r.Classified++
				if e.Shape == a.Shape {
					r.ShapeOK++
				}
				if e.ScanType == a.Type {
					r.TypeOK++
				}
			}
		}
	}
	for s := range flagged {
		r.Flagged++
		if scannerSrc[s] {
			r.TruePos++
		}
	}
	r.AttemptsMedian, r.AttemptsP95 = quantile(fastAtt, 0.5), quantile(fastAtt, 0.95)
	r.AnsweredMedian, r.AnsweredP95 = quantile(fastAns, 0.5), quantile(fastAns, 0.95)
	r.AllAttemptsMedian = quantile(allAtt, 0.5)
	r.SlowAttemptsMedian = quantile(slowAtt, 0.5)
	r.fastAnswered, r.slowAttempts = fastAns, slowAtt
	if len(ttd) > 0 {
		slices.Sort(ttd)
		r.TTDMedian, r.TTDP95 = ttd[len(ttd)/2], ttd[min(len(ttd)-1, int(0.95*float64(len(ttd))))]
	}
	slices.Sort(r.Missed)
	slices.Sort(r.FalseKinds)
	slices.Sort(r.Late)
	return r
}

func quantile(v []float64, q float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = slices.Clone(v)
	slices.Sort(v)
	return v[min(len(v)-1, int(q*float64(len(v))))]
}

func shapeName(s detect.Shape) string {
	return [...]string{"?", "horizontal", "vertical", "block"}[min(int(s), 3)]
}

func typeName(t detect.ScanType) string {
	return [...]string{"?", "syn", "connect", "fin", "null", "xmas", "ack", "udp"}[min(int(t), 7)]
}

// Table formats results as a fixed-width text table. Columns: recall over
// scanner actors (a campaign or decoy scan counts once); fast (≤ 1 s
// between probes) and slow (≥ 10 s) scanners detected; benign sources
// reported and their share; precision over reported sources; attempts to
// detection of fast single-source scanners, median/p95, as probes on the
// wire before the event and as probes answered by then (sent a round trip
// earlier); time to detection median/p95; peak MemoryBytes in MiB; decoy
// scans whose real source was named; decoy addresses reported; spoofed
// flood sources reported; campaigns with every member in one event; events
// linking sources of different actors; first events with the right shape
// and technique over single-source scanners detected.
func Table(rs []Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-15s %7s %9s %9s %11s %7s %6s %9s %9s %15s %9s %7s %7s %7s %7s %7s %9s\n",
		"detector", "recall", "fast", "slow", "FP(benign)", "FP%", "prec", "att wire", "att ansd", "TTD med/p95",
		"peakMiB", "decoyOK", "blocked", "flood", "linked", "badlink", "shape,type ok")
	for i := range rs {
		r := &rs[i]
		fmt.Fprintf(&b, "%-15s %6.1f%% %4d/%-4d %4d/%-4d %5d/%-5d %6.3f%% %6.3f %4.0f/%-4.0f %4.0f/%-4.0f %7s/%-7s %9.2f %3d/%-3d %7d %7d %3d/%-3d %7d %3d,%3d/%-3d\n",
			r.Name, 100*r.Recall(), r.FastDetected, r.Fast, r.SlowDetected, r.Slow, r.FalsePos, r.Benign,
			100*r.FPRate(), r.Precision(), r.AttemptsMedian, r.AttemptsP95, r.AnsweredMedian, r.AnsweredP95,
			short(r.TTDMedian), short(r.TTDP95), float64(r.PeakMemory)/(1<<20),
			r.DecoyNamed, r.DecoyScans, r.DecoysBlocked, r.FloodReported, r.Linked, r.Campaigns, r.BadLinks,
			r.ShapeOK, r.TypeOK, r.Classified)
	}
	lines := strings.Split(b.String(), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines, "\n")
}

func short(d time.Duration) string {
	switch {
	case d >= time.Hour:
		return fmt.Sprintf("%.1fh", d.Hours())
	case d >= time.Minute:
		return fmt.Sprintf("%.1fm", d.Minutes())
	case d >= time.Second:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

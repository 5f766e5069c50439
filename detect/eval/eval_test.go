package eval

import (
	"net/netip"
	"os"
	"sync"
	"testing"
)

// memoryCap is the bound the default analyser must stay under (its
// tables are fixed at construction; this catches accidental growth).
const memoryCap = 32 << 20

func scenario() Scenario {
	if os.Getenv("PORTSENSE_EVAL_BIG") != "" {
		return BigScenario()
	}
	return DefaultScenario()
}

func runAll(t *testing.T, tr *Traffic) map[string]Result {
	ds := Detectors()
	rs := make([]Result, len(ds))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 2)
	for i, d := range ds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			rs[i] = Run(tr, d)
		})
	}
	wg.Wait()
	t.Logf("%d observations, %d actors\n%s", len(tr.Obs), len(tr.Actors), Table(rs))
	out := map[string]Result{}
	for _, r := range rs {
		out[r.Name] = r
		if len(r.Missed) > 0 || len(r.FalseKinds) > 0 {
			t.Logf("%s: missed %v; false positives %v", r.Name, r.Missed, r.FalseKinds)
		}
	}
	return out
}

func TestHarness(t *testing.T) {
	tr := Generate(scenario())
	rs := runAll(t, tr)
	ours := rs["ours-default"]

	if ours.Fast == 0 || ours.FastDetected != ours.Fast {
		t.Errorf("fast scanners detected %d/%d, want all", ours.FastDetected, ours.Fast)
	}
	// Attempts are probes whose answer could have been seen by the time of
	// the event (an outcome-based detector cannot use the others). Probes
	// on the wire are logged too: at line rate they are set by the round
	// trip, not by the detector.
	if ours.AnsweredMedian > 5 {
		t.Errorf("median attempts to detection %.0f, want <= 5", ours.AnsweredMedian)
	}
	t.Logf("attempts to detection (fast, single source): answered median %.0f p95 %.0f; on the wire median %.0f p95 %.0f",
		ours.AnsweredMedian, ours.AnsweredP95, ours.AttemptsMedian, ours.AttemptsP95)
	if fp := ours.FPRate(); fp > 0.001 {
		t.Errorf("benign false positives %d/%d = %.3f%%, want <= 0.1%%", ours.FalsePos, ours.Benign, 100*fp)
	}
	if ours.Slow == 0 || ours.SlowDetected != ours.Slow {
		t.Errorf("slow scanners detected %d/%d, want all", ours.SlowDetected, ours.Slow)
	}
	if ours.FloodSources == 0 || ours.FloodReported != 0 {
		t.Errorf("spoofed flood: %d of %d sources reported, want none", ours.FloodReported, ours.FloodSources)
	}
	if ours.PeakMemory > memoryCap {
		t.Errorf("peak memory %d bytes, cap %d", ours.PeakMemory, memoryCap)
	}
	if ours.DecoyScans == 0 || ours.DecoysBlocked != 0 {
		t.Errorf("%d decoy addresses reported as scanners (over %d decoy scans), want none", ours.DecoysBlocked, ours.DecoyScans)
	}
	if ours.Campaigns == 0 || 10*ours.Linked < 9*ours.Campaigns {
		t.Errorf("distributed campaigns linked %d/%d, want >= 90%%", ours.Linked, ours.Campaigns)
	}

	// Ours beats every baseline: some analyser of ours has higher recall
	// at an equal or lower false-positive rate; the default analyser has
	// higher recall than each (its false positives are compared in the log).
	for _, d := range Detectors() {
		if d.Ours {
			continue
		}
		b := rs[d.Name]
		if ours.Recall() <= b.Recall() {
			t.Errorf("ours-default recall %.3f does not beat %s's %.3f", ours.Recall(), b.Name, b.Recall())
		}
		if ours.FPRate() > b.FPRate() {
			t.Logf("note: ours-default FP rate %.3f%% is above %s's %.3f%%", 100*ours.FPRate(), b.Name, 100*b.FPRate())
		}
		beaten := false
		for _, o := range Detectors() {
			if r := rs[o.Name]; o.Ours && r.Recall() > b.Recall() && r.FPRate() <= b.FPRate() {
				beaten = true
				t.Logf("%s beats %s: recall %.1f%% vs %.1f%% at FP %.3f%% vs %.3f%%",
					o.Name, b.Name, 100*r.Recall(), 100*b.Recall(), 100*r.FPRate(), 100*b.FPRate())
				break
			}
		}
		if !beaten {
			t.Errorf("no analyser of ours beats %s (recall %.3f, FP %.5f)", b.Name, b.Recall(), b.FPRate())
		}
	}
}

func TestGenerateDeterministic(t *testing.T) {
	s := DefaultScenario()
	s.WebClients, s.P2P, s.DNSClients, s.SpoofedFlood = 50, 10, 10, 100
	s.FastScanners = false
	a, b := Generate(s), Generate(s)
	if len(a.Obs) != len(b.Obs) || len(a.Obs) == 0 {
		t.Fatalf("lengths %d and %d", len(a.Obs), len(b.Obs))
	}
	for i := range a.Obs {
		if a.Obs[i] != b.Obs[i] {
			t.Fatalf("observation %d differs: %+v vs %+v", i, a.Obs[i], b.Obs[i])
		}
	}
	for i := 1; i < len(a.Obs); i++ {
		if a.Obs[i].Time.Before(a.Obs[i-1].Time) {
			t.Fatalf("observation %d out of time order", i)
		}
	}
	for _, o := range a.Obs {
		for _, ad := range []string{o.Src.String(), o.Dst.String()} {
			if !(o.Src.Is4() && inLab4(o.Src) && inLab4(o.Dst)) && !(o.Src.Is6() && inLab6(o.Src) && inLab6(o.Dst)) {
				t.Fatalf("address outside the lab ranges: %s", ad)
			}
		}
	}
}

func inLab4(a netip.Addr) bool { return netip.MustParsePrefix("198.18.0.0/15").Contains(a) }

func inLab6(a netip.Addr) bool { return netip.MustParsePrefix("2001:db8::/32").Contains(a) }

// TestCorpus scores every detector on the real captures of the corpus
// (real scanners and real benign clients in the netns lab; see
// corpus_lab_test.go). The default analyser must report every scanner and
// no benign source, name the real source of a decoy scan whose decoys are
// down, and never report a decoy or a spoofed source.
func TestCorpus(t *testing.T) {
	caps, err := LoadCorpus(os.DirFS(CorpusDir))
	if err != nil {
		t.Fatal(err)
	}
	if len(caps) == 0 {
		t.Fatal("no captures in " + CorpusDir)
	}
	var fastAns, slowAtt []float64
	for _, c := range caps {
		t.Run(c.Name, func(t *testing.T) {
			rs := runAll(t, c.Traffic)
			ours := rs["ours-default"]
			fastAns = append(fastAns, ours.fastAnswered...)
			slowAtt = append(slowAtt, ours.slowAttempts...)
			if ours.Scanners == 0 || ours.Detected != ours.Scanners {
				t.Errorf("scanners detected %d/%d, want all; missed %v", ours.Detected, ours.Scanners, ours.Missed)
			}
			if ours.FalsePos != 0 {
				t.Errorf("benign sources reported %d/%d (%v), want none", ours.FalsePos, ours.Benign, ours.FalseKinds)
			}
			if ours.FloodReported != 0 || ours.DecoysBlocked != 0 {
				t.Errorf("spoofed sources reported %d, decoys reported %d, want none", ours.FloodReported, ours.DecoysBlocked)
			}
			if ours.PeakMemory > memoryCap {
				t.Errorf("peak memory %d bytes, cap %d", ours.PeakMemory, memoryCap)
			}
			if ours.DecoyNamed < ours.DecoyTellable {
				t.Errorf("decoy scans with silent decoys: real source named in %d of %d", ours.DecoyNamed, ours.DecoyTellable)
			}
			t.Logf("decoy scans named %d/%d (%d with silent decoys)", ours.DecoyNamed, ours.DecoyScans, ours.DecoyTellable)
		})
	}
	// Probes to detection, pooled over the captures: answered probes for
	// fast single-source scanners, probes on the wire for slow ones.
	fm, sm := quantile(fastAns, 0.5), quantile(slowAtt, 0.5)
	t.Logf("probes to detection: fast (%d scanners) median %.0f p95 %.0f answered; slow (%d) median %.0f",
		len(fastAns), fm, quantile(fastAns, 0.95), len(slowAtt), sm)
	if len(fastAns) == 0 || fm > 5 {
		t.Errorf("fast scanners: median %.0f answered probes to detection over %d, want <= 5", fm, len(fastAns))
	}
	if len(slowAtt) == 0 || sm > 10 {
		t.Errorf("slow scanners: median %.0f probes to detection over %d, want <= 10", sm, len(slowAtt))
	}
}

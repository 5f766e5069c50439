package eval

import (
	"os"
	"testing"
	"time"

	"github.com/portsense/portsense/detect"
)

func TestDebugCorpus(t *testing.T) {
	if os.Getenv("CORPUS_DEBUG") == "" {
		t.Skip("CORPUS_DEBUG not set")
	}
	caps, err := LoadCorpus(os.DirFS(CorpusDir))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range caps {
		role := map[string]string{}
		for _, a := range c.Traffic.Actors {
			for _, s := range a.Sources {
				role[s.String()] = a.Kind
			}
		}
		an := detect.NewDefaultAnalyzer(nil)
		tr := detect.NewOutcomeTracker(nil)
		watch := os.Getenv("CORPUS_DEBUG")
		emit := func(e detect.Event) {
			t.Logf("%s %s %v %s: %+v", c.Name, role[e.Source.String()], e.Kind, e.Detector, e)
		}
		var next time.Time
		for i := range c.Traffic.Obs {
			o := &c.Traffic.Obs[i]
			if o.Time.After(next) {
				an.Advance(o.Time, emit)
				next = o.Time.Add(time.Second)
			}
			tr.Observe(o, func(ct *detect.Contact) {
				if ct.Src.String() == watch {
					t.Logf("%s contact %v→%v:%d %v %v new host %v port %v", c.Name, ct.Src, ct.Dst, ct.DstPort, ct.Outcome, ct.FollowUp, ct.NewHost, ct.NewPort)
				}
			})
			an.Observe(o, emit)
		}
		for k := range 60 {
			an.Advance(next.Add(time.Duration(k)*10*time.Second), emit)
		}
	}
}

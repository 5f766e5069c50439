// Command evaltable runs the detect evaluation harness and prints its
// table. -big runs the larger scenario (10^6 spoofed flood sources);
// -pcap FILE also writes the generated trace as a pcap file; -corpus DIR
// scores the detectors on the real captures in DIR instead (the shipped
// corpus: detect/eval/testdata/corpus).
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/portsense/portsense/detect/eval"
)

func main() {
	big := flag.Bool("big", false, "run the large scenario")
	seed := flag.Uint64("seed", 0, "override the scenario seed (0: keep)")
	pcapOut := flag.String("pcap", "", "also write the generated trace to this pcap file")
	only := flag.String("only", "", "run only the detector of this name")
	corpus := flag.String("corpus", "", "score the real captures in this directory instead")
	flag.Parse()
	if *corpus != "" {
		caps, err := eval.LoadCorpus(os.DirFS(*corpus))
		if err != nil {
			fmt.Fprintln(os.Stderr, "evaltable:", err)
			os.Exit(1)
		}
		for _, c := range caps {
			var rs []eval.Result
			for _, d := range eval.Detectors() {
				if *only == "" || d.Name == *only {
					r := eval.Run(c.Traffic, d)
					fmt.Fprintf(os.Stderr, "%s/%s: missed %v false %v\n", c.Name, d.Name, r.Missed, r.FalseKinds)
					rs = append(rs, r)
				}
			}
			fmt.Printf("capture %s (%d observations, %d actors): %s\n%s\n", c.Name, len(c.Traffic.Obs), len(c.Traffic.Actors), c.Note, eval.Table(rs))
		}
		return
	}
	s := eval.DefaultScenario()
	if *big {
		s = eval.BigScenario()
	}
	if *seed != 0 {
		s.Seed = *seed
	}
	t0 := time.Now()
	tr := eval.Generate(s)
	fmt.Fprintf(os.Stderr, "generated %d observations, %d actors in %v\n", len(tr.Obs), len(tr.Actors), time.Since(t0).Round(time.Millisecond))
	if *pcapOut != "" {
		f, err := os.Create(*pcapOut)
		if err == nil {
			err = eval.WritePcap(f, tr.Obs)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "evaltable:", err)
			os.Exit(1)
		}
	}
	var rs []eval.Result
	for _, d := range eval.Detectors() {
		if *only != "" && d.Name != *only {
			continue
		}
		t1 := time.Now()
		r := eval.Run(tr, d)
		fmt.Fprintf(os.Stderr, "%s: %v\n  missed %v\n  false %v\n  late %v\n  bad links %v\n  partly linked %v\n", d.Name, time.Since(t1).Round(time.Millisecond), r.Missed, r.FalseKinds, r.Late, r.BadLinkKinds, r.LinkMiss)
		rs = append(rs, r)
	}
	fmt.Print(eval.Table(rs))
}

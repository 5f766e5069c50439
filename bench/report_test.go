//go:build benchcompare && linux

package bench

import (
	"fmt"
	"strconv"
	"strings"
)

// markdown renders the whole results section of BENCHMARKS.md.
func markdown(r *report) string {
	var sb strings.Builder
	m := r.Machine
	mode := fmt.Sprintf("full (%d runs per tool and workload; medians)", r.Runs)
	if r.Quick {
		mode = "quick (1 run, ports 1-10000 and a /20: a smoke test, not a measurement)"
	}
	fmt.Fprintf(&sb, "Run %s, mode %s, %.0f s in all.\n\n", m.Date, mode, r.Elapsed)
	fmt.Fprintf(&sb, "- Machine: %d CPUs (%s), Linux %s, load average %s at the start, %s at the end\n",
		m.CPUs, m.CPUModel, m.Kernel, m.LoadStart, m.LoadEnd)
	fmt.Fprintf(&sb, "- portsense examples/scan %s (%s); %s; %s; %s\n\n",
		m.Versions[toolOurs], m.Go, m.Versions[toolNmap], m.Versions[toolMasscan], m.Versions[toolZmap])
	sb.WriteString(markdownTable(r.Workloads, r.Runs))
	sb.WriteString("\n<details><summary>Command lines</summary>\n\n")
	for _, w := range r.Workloads {
		fmt.Fprintf(&sb, "**%s**\n\n", w.Name)
		for _, t := range w.Tools {
			if t.Command != "" {
				fmt.Fprintf(&sb, "    %s\n", t.Command)
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString("</details>\n")
	return sb.String()
}

// markdownTable renders one row per tool and workload.
func markdownTable(ws []*workloadResult, runsWanted int) string {
	var sb strings.Builder
	sb.WriteString("| Workload | Tool | Median wall | Packets sent | Replies | Accuracy (worst run) | Peak RSS | portsense ÷ tool |\n")
	sb.WriteString("|---|---|--:|--:|--:|---|--:|--:|\n")
	for _, w := range ws {
		for i, t := range w.Tools {
			name := ""
			if i == 0 {
				name = w.Name
			}
			if t.Status != "ok" {
				note := t.Status
				if t.Note != "" {
					note += ": " + mdEscape(t.Note)
				}
				fmt.Fprintf(&sb, "| %s | %s | %s | | | | | |\n", name, t.Tool, note)
				continue
			}
			ratio := "n/a"
			switch {
			case t.Tool == toolOurs:
				ratio = "—"
			case t.Ratio > 0:
				ratio = fmt.Sprintf("%.2f", t.Ratio)
			}
			acc := accuracy(*t.Worst)
			if strings.Contains(w.Name, "-sV") {
				acc += fmt.Sprintf("; %d/%d services named", t.Worst.Named, t.Worst.Positives)
			}
			wall := fmt.Sprintf("%.2f s", t.MedianWall)
			if len(t.Runs) < runsWanted {
				wall += fmt.Sprintf(" (%d run%s)", len(t.Runs), map[bool]string{true: "", false: "s"}[len(t.Runs) == 1])
			}
			fmt.Fprintf(&sb, "| %s | %s | %s | %s | %s | %s | %.1f MiB | %s |\n",
				name, t.Tool, wall, thousands(t.MedianTx), thousands(t.MedianRx),
				acc, float64(t.PeakRSSKiB)/1024, ratio)
		}
	}
	return sb.String()
}

// accuracy describes a score in a few words.
func accuracy(s score) string {
	if s.OpenOnly {
		return fmt.Sprintf("found %d/%d, %d false (positives only)", s.Found, s.Positives, s.Wrong+s.Extra)
	}
	pct := 100.0
	if s.Total > 0 {
		pct = 100 * float64(s.Correct) / float64(s.Total)
	}
	return fmt.Sprintf("%.2f%% (%d missed, %d wrong)", pct, s.Missed, s.Wrong+s.Extra)
}

func thousands(n uint64) string {
	s := strconv.FormatUint(n, 10)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}

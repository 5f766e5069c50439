package eval

import (
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// CorpusDir is where the package's real-capture corpus lives, relative to
// the package directory: pcaps captured in the netns lab while real
// scanners and real benign clients ran (made by the corpus-tagged
// TestMakeCorpus; see corpus_lab_test.go), gzipped, each with a JSON label
// file naming every actor's role and addresses.
const CorpusDir = "testdata/corpus"

// Capture is one labelled real capture of the corpus.
type Capture struct {
	Name    string
	Note    string // what the capture holds
	Traffic *Traffic
}

// LoadCorpus reads every NAME.pcap.gz with its NAME.labels.json from fsys
// (for the shipped corpus: os.DirFS of CorpusDir), in name order. Each
// capture is decoded by detect's own decoder.
func LoadCorpus(fsys fs.FS) ([]Capture, error) {
	names, err := fs.Glob(fsys, "*.pcap.gz")
	if err != nil {
		return nil, err
	}
	slices.Sort(names)
	var out []Capture
	for _, n := range names {
		base := strings.TrimSuffix(n, ".pcap.gz")
		c, err := loadCapture(fsys, n, base+".labels.json")
		if err != nil {
			return nil, fmt.Errorf("eval: corpus %s: %w", path.Base(base), err)
		}
		out = append(out, c)
	}
	return out, nil
}

type labelJSON struct {
	Capture string `json:"capture"`
	Note    string `json:"note"`
	Actors  []struct {
		Role    string   `json:"role"`
		Kind    string   `json:"kind"`
		Tool    string   `json:"tool"`
		Sources []string `json:"sources"`
		Decoys  []string `json:"decoys"`
		Shape   string   `json:"shape"`
		Type    string   `json:"type"`
		Gap     string   `json:"gap"`
	} `json:"actors"`
}

func loadCapture(fsys fs.FS, pcapName, labelName string) (Capture, error) {
	lb, err := fs.ReadFile(fsys, labelName)
	if err != nil {
		return Capture{}, err
	}
	var lj labelJSON
	if err := json.Unmarshal(lb, &lj); err != nil {
		return Capture{}, fmt.Errorf("labels: %w", err)
	}
	f, err := fsys.Open(pcapName)
	if err != nil {
		return Capture{}, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return Capture{}, err
	}
	obs, err := readObservations(zr)
	if err != nil {
		return Capture{}, err
	}
	tr := &Traffic{Obs: obs}
	if len(obs) > 0 {
		tr.Start, tr.End = obs[0].Time, obs[len(obs)-1].Time
	}
	for _, la := range lj.Actors {
		a := &Actor{Kind: la.Kind}
		switch la.Role {
		case "benign":
			a.Role = Benign
		case "scanner":
			a.Role = Scanner
		case "spoofed":
			a.Role = Spoofed
		default:
			return Capture{}, fmt.Errorf("labels: actor role %q: want benign, scanner or spoofed", la.Role)
		}
		for _, s := range la.Sources {
			ad, err := netip.ParseAddr(s)
			if err != nil {
				return Capture{}, fmt.Errorf("labels: %w", err)
			}
			a.Sources = append(a.Sources, ad)
		}
		for _, s := range la.Decoys {
			ad, err := netip.ParseAddr(s)
			if err != nil {
				return Capture{}, fmt.Errorf("labels: %w", err)
			}
			a.Decoys = append(a.Decoys, ad)
		}
		if la.Gap != "" {
			if a.Gap, err = time.ParseDuration(la.Gap); err != nil {
				return Capture{}, fmt.Errorf("labels: gap: %w", err)
			}
		}
		a.Shape = parseShape(la.Shape)
		a.Type = parseType(la.Type)
		if len(a.Decoys) > 0 {
			a.DecoysSilent = !slices.ContainsFunc(obs, func(o detect.Observation) bool {
				return o.Proto == target.TCP && o.Flags&detect.RST != 0 && slices.Contains(a.Decoys, o.Src)
			})
		}
		if a.Role == Scanner {
			a.Probes, a.Answers = probeTimes(obs, a.Sources)
			a.RTT = time.Millisecond // the lab link: 1 ms ± 0.5 ms host → scanner, none back
		}
		tr.Actors = append(tr.Actors, a)
	}
	return Capture{Name: lj.Capture, Note: lj.Note, Traffic: tr}, nil
}

// readObservations decodes a pcap stream, skipping packets with nothing to
// observe, and returns the observations in time order.
func readObservations(r io.Reader) ([]detect.Observation, error) {
	src, err := detect.NewPcapSource(r)
	if err != nil {
		return nil, err
	}
	var obs []detect.Observation
	for {
		var o detect.Observation
		err := src.ReadObservation(&o)
		switch {
		case err == nil:
			obs = append(obs, o)
		case errors.Is(err, detect.ErrNotObserved), errors.Is(err, detect.ErrMalformed):
		case err == io.EOF:
			slices.SortStableFunc(obs, func(a, b detect.Observation) int { return a.Time.Compare(b.Time) })
			return obs, nil
		default:
			return nil, err
		}
	}
}

// probeTimes returns the times of a scanner's first contacts (the first
// packet from one of its sources to each (host, port, protocol), resets
// aside) and, in time order, the times their first answers came back (a
// packet of the reverse flow, or an ICMP error quoting the probe).
func probeTimes(obs []detect.Observation, srcs []netip.Addr) (probes, answers []time.Time) {
	type key struct {
		src, dst netip.Addr
		port     uint16
		proto    target.Protocol
	}
	type flow struct {
		src, dst     netip.Addr
		sport, dport uint16
		proto        target.Protocol
	}
	seen := map[key]bool{}
	pending := map[flow]bool{}
	for i := range obs {
		o := &obs[i]
		switch {
		case o.Proto == target.ICMP || o.Proto == target.ICMPv6:
			if !o.HasQuote {
				continue
			}
			q := &o.Quoted
			f := flow{q.Src, q.Dst, q.SrcPort, q.DstPort, q.Proto}
			if pending[f] {
				delete(pending, f)
				answers = append(answers, o.Time)
			}
			continue
		case slices.Contains(srcs, o.Dst):
			f := flow{o.Dst, o.Src, o.DstPort, o.SrcPort, o.Proto}
			if pending[f] {
				delete(pending, f)
				answers = append(answers, o.Time)
			}
			continue
		case !slices.Contains(srcs, o.Src):
			continue
		}
		if o.Proto == target.TCP && o.Flags&detect.RST != 0 {
			continue
		}
		k := key{o.Src, o.Dst, o.DstPort, o.Proto}
		if seen[k] {
			continue
		}
		seen[k] = true
		probes = append(probes, o.Time)
		pending[flow{o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto}] = true
	}
	return probes, answers
}

func parseShape(s string) detect.Shape {
	for sh := detect.ShapeUnknown; sh <= detect.ShapeBlock; sh++ {
		if shapeName(sh) == s {
			return sh
		}
	}
	return detect.ShapeUnknown
}

func parseType(s string) detect.ScanType {
	for t := detect.ScanTypeUnknown; t <= detect.ScanUDP; t++ {
		if typeName(t) == s {
			return t
		}
	}
	return detect.ScanTypeUnknown
}

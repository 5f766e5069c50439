package result

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
)

// GrepWriter writes nmap's greppable output format (-oG): a comment
// header, one "Status" line per host, one "Ports" line per host with
// ports, and a comment footer. Like XMLWriter it buffers the run and
// writes on Close, hosts in address order.
//
// Each port is "port/state/protocol/owner/service/rpc/version/"; owner
// and rpc are always empty. Inside fields '/' becomes '|' and tabs and
// newlines become spaces, so that the line stays splittable. States above
// ExtraPortsThreshold appear as "Ignored State: filtered (998)".
//
// Its memory stays bounded whatever the size of the scan: past some ten
// thousand port verdicts it keeps them, sorted, in an unlinked temporary
// file (about 40 bytes each) and merges them on Close.
type GrepWriter struct {
	c    collector
	w    io.Writer
	info RunInfo
}

var _ Writer = (*GrepWriter)(nil)

// NewGrepWriter returns a Writer of nmap greppable output to w.
func NewGrepWriter(w io.Writer, info RunInfo) *GrepWriter {
	return &GrepWriter{w: w, info: info}
}

// WriteResult buffers r.
func (g *GrepWriter) WriteResult(r Result) error { return g.c.addResult(r) }

// WriteHost buffers h.
func (g *GrepWriter) WriteHost(h Host) error { return g.c.addHost(h) }

// Close writes the output. Only the first call writes.
func (g *GrepWriter) Close() error {
	if !g.c.close() {
		return nil
	}
	return writeReports(&g.c, &grepReport{w: g.w, info: g.info})
}

// grepReport renders greppable output from a collector's summary.
type grepReport struct {
	w    io.Writer
	info RunInfo
	bw   *bufio.Writer
	r    run
}

func (g *grepReport) begin(s *summary, now time.Time) {
	r := resolveRun(g.info, s, now)
	g.r = r
	bw := bufio.NewWriter(g.w)
	g.bw = bw
	bw.WriteString("# " + oneLine(r.Scanner+" "+r.Version+" scan initiated "+ctime(r.Start)+" as: "+r.Args) + "\n")
	if sc := r.scannedPorts(s); len(sc) > 0 {
		bw.WriteString("# Ports scanned:")
		for _, x := range sc {
			bw.WriteString(" " + strings.ToUpper(x.proto.String()) + "(" + strconv.Itoa(x.count) + ";" + x.services + ")")
		}
		bw.WriteString("\n")
	}
}

func (g *grepReport) host(v *hostView) {
	bw := g.bw
	head := "Host: " + v.host.Addr.String() + " ()\t"
	bw.WriteString(head + "Status: " + titleCase(v.host.State.String()) + "\n")
	if len(v.shown)+len(v.extra) == 0 {
		return
	}
	bw.WriteString(head + "Ports: ")
	for j := range v.shown {
		e := &v.shown[j]
		if j > 0 {
			bw.WriteString(", ")
		}
		name := serviceName(e)
		if e.svc != nil && e.svc.Tunnel != "" {
			name = e.svc.Tunnel + "|" + name
		}
		bw.WriteString(strconv.Itoa(int(e.num)) + "/" + e.state.String() + "/" + e.proto.String() +
			"//" + grepField(name) + "//" + grepField(versionText(e.svc)) + "/")
	}
	if len(v.extra) > 0 {
		bw.WriteString("\tIgnored State: ")
		for j, x := range v.extra {
			if j > 0 {
				bw.WriteString(", ")
			}
			bw.WriteString(x.state.String() + " (" + strconv.Itoa(x.count) + ")")
		}
	}
	bw.WriteString("\n")
}

func (g *grepReport) end(s *summary) error {
	r := &g.r
	g.bw.WriteString("# " + oneLine(r.Scanner) + " done at " + ctime(r.End) + " -- " + r.summaryLine(s) + "\n")
	return g.bw.Flush()
}

func titleCase(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var grepReplacer = strings.NewReplacer("/", "|", "\t", " ", "\n", " ", "\r", " ")

func grepField(s string) string { return grepReplacer.Replace(s) }

var lineReplacer = strings.NewReplacer("\n", " ", "\r", " ", "\t", " ")

func oneLine(s string) string { return lineReplacer.Replace(s) }

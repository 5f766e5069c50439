package result

import (
	"bufio"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// TableWriter writes a human-readable report like nmap's normal output:
// per host a "Host is up" line, a "Not shown" summary of states above
// ExtraPortsThreshold, and a PORT STATE SERVICE REASON table (with a
// VERSION column when any port has product or version). It buffers the
// run and writes on Close, hosts by address; like GrepWriter it keeps its
// memory bounded by buffering large runs in a temporary file. For a
// terminal during a large scan, LiveTableWriter prints as results come.
type TableWriter struct {
	c collector
	w io.Writer
}

var _ Writer = (*TableWriter)(nil)

// NewTableWriter returns a Writer of a human-readable table to w.
func NewTableWriter(w io.Writer) *TableWriter {
	return &TableWriter{w: w}
}

// WriteResult buffers r.
func (t *TableWriter) WriteResult(r Result) error { return t.c.addResult(r) }

// WriteHost buffers h.
func (t *TableWriter) WriteHost(h Host) error { return t.c.addHost(h) }

// Close writes the report. Only the first call writes.
func (t *TableWriter) Close() error {
	if !t.c.close() {
		return nil
	}
	return writeReports(&t.c, &tableReport{w: t.w})
}

// tableReport renders the normal table from a collector's summary.
type tableReport struct {
	w     io.Writer
	bw    *bufio.Writer
	hosts int // written so far
}

func (t *tableReport) begin(*summary, time.Time) { t.bw = bufio.NewWriter(t.w) }

func (t *tableReport) host(v *hostView) {
	if t.hosts++; t.hosts > 1 {
		t.bw.WriteString("\n")
	}
	writeTableHost(t.bw, v)
}

func (t *tableReport) end(s *summary) error {
	bw := t.bw
	if s.total > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("Done: " + plural(s.total, "IP address", "IP addresses") + " (" + plural(s.up, "host up", "hosts up") + ")\n")
	return bw.Flush()
}

func writeTableHost(bw *bufio.Writer, v *hostView) {
	h := &v.host
	bw.WriteString("Scan report for " + h.Addr.String() + "\n")
	switch h.State {
	case HostUp:
		bw.WriteString("Host is up, received " + reasonTTL(h.Reason, h.ReplyTTL))
		if v.hasRTT {
			bw.WriteString(" (" + latency(v.srtt) + "s latency)")
		}
		bw.WriteString(".\n")
	case HostDown:
		bw.WriteString("Host is down, received " + reasonTTL(h.Reason, h.ReplyTTL) + ".\n")
	default:
		bw.WriteString("Host state unknown.\n")
	}
	for _, w := range h.Warnings {
		bw.WriteString("Warning: " + oneLine(w) + "\n")
	}
	if len(v.shown) == 0 && len(v.extra) > 0 {
		bw.WriteString("All " + strconv.Itoa(v.nports) + " scanned ports on " + h.Addr.String() + " are in ignored states.\n")
	}
	if len(v.extra) > 0 {
		var parts []string
		for _, g := range v.extra {
			for _, r := range g.reasons {
				parts = append(parts, strconv.Itoa(len(r.ports))+" "+g.state.String()+" "+r.proto.String()+" "+
					map[bool]string{true: "port", false: "ports"}[len(r.ports) == 1]+" ("+r.reason.String()+")")
			}
		}
		bw.WriteString("Not shown: " + strings.Join(parts, ", ") + "\n")
	}
	if len(v.shown) == 0 {
		return
	}
	rows := [][]string{{"PORT", "STATE", "SERVICE", "REASON", "VERSION"}}
	hasVersion := false
	for i := range v.shown {
		e := &v.shown[i]
		name := serviceName(e)
		if e.svc != nil && e.svc.Tunnel != "" {
			name = e.svc.Tunnel + "/" + name
		}
		ver := versionText(e.svc)
		hasVersion = hasVersion || ver != ""
		rows = append(rows, []string{e.port().String(), e.state.String(), name, reasonTTL(e.reason, e.ttl), oneLine(ver)})
	}
	cols := 4
	if hasVersion {
		cols = 5
	}
	width := make([]int, cols)
	for _, r := range rows {
		for c := range cols {
			width[c] = max(width[c], len(r[c]))
		}
	}
	for _, r := range rows {
		var line strings.Builder
		for c := range cols {
			if c == cols-1 {
				line.WriteString(r[c])
				break
			}
			line.WriteString(r[c])
			line.WriteString(strings.Repeat(" ", width[c]-len(r[c])+1))
		}
		bw.WriteString(strings.TrimRight(line.String(), " ") + "\n")
	}
}

// reasonTTL is nmap's reason column: "syn-ack ttl 64", or the bare reason
// when no reply TTL is known.
func reasonTTL(r Reason, ttl uint8) string {
	if ttl == 0 {
		return r.String()
	}
	return r.String() + " ttl " + strconv.Itoa(int(ttl))
}

// latency prints d in seconds with two significant digits ("0.00012").
func latency(d time.Duration) string {
	sec := d.Seconds()
	if sec <= 0 {
		return "0"
	}
	dec := max(0, 1-int(math.Floor(math.Log10(sec))))
	return strconv.FormatFloat(sec, 'f', dec, 64)
}

package result

import (
	"bufio"
	"cmp"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/portsense/portsense/target"
)

// LiveTableWriter writes a report for a terminal while a scan runs: every
// open port as soon as its result comes (address, port, state, service,
// reason), and on Close the count of every other verdict by state, protocol
// and reason, like nmap's "Not shown" line. It keeps no state per target or
// per host, so its memory is the same for a scan of one host or of the
// whole address space; TableWriter's per-host report suits small scans.
//
// Host verdicts are counted, and their warnings printed when they come.
type LiveTableWriter struct {
	mu     sync.Mutex
	w      *bufio.Writer
	hosts  int // hosts scanned, for the closing line; 0 if unknown
	header bool
	open   int
	counts map[liveKey]int
	// run counts the latest results of one key, not yet in counts: a
	// scan reports long runs of one kind (filtered no-response), and
	// a map update per result cost more than the rest of WriteResult.
	runKey liveKey
	run    int
	up     int
	down   int
	closed bool
	err    error
}

type liveKey struct {
	state  State
	proto  target.Protocol
	reason Reason
}

var _ Writer = (*LiveTableWriter)(nil)

// NewLiveTableWriter returns a LiveTableWriter to w. hosts, when not 0, is
// the number of hosts the scan covers, for the closing line.
func NewLiveTableWriter(w io.Writer, hosts int) *LiveTableWriter {
	return &LiveTableWriter{w: bufio.NewWriter(w), hosts: hosts, counts: map[liveKey]int{}}
}

// flushRun adds the run of one key to counts.
func (l *LiveTableWriter) flushRun() {
	if l.run > 0 {
		l.counts[l.runKey] += l.run
		l.run = 0
	}
}

// WriteResult prints r at once if it is open, else counts it.
func (l *LiveTableWriter) WriteResult(r Result) error {
	if !r.AddrPort.Addr().IsValid() {
		return errNoAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	if l.err != nil {
		return l.err
	}
	if r.State != Open {
		if k := (liveKey{r.State, r.Proto, r.Reason}); k != l.runKey {
			l.flushRun()
			l.runKey = k
		}
		l.run++
		return nil
	}
	l.open++
	if !l.header {
		l.header = true
		l.row("HOST", "PORT", "STATE", "SERVICE", "REASON")
	}
	e := portEntry{svc: r.Service, num: r.AddrPort.Port(), proto: r.Proto}
	name := serviceName(&e)
	if r.Service != nil && r.Service.Tunnel != "" {
		name = r.Service.Tunnel + "/" + name
	}
	reason := reasonTTL(r.Reason, r.ReplyTTL)
	if v := versionText(r.Service); v != "" {
		reason += "  " + oneLine(v)
	}
	l.row(r.AddrPort.Addr().String(), e.port().String(), r.State.String(), name, reason)
	l.err = l.w.Flush()
	return l.err
}

func (l *LiveTableWriter) row(cols ...string) {
	widths := [...]int{15, 9, 5, 12}
	for i, c := range cols {
		l.w.WriteString(c)
		if i < len(widths) {
			l.w.WriteString(strings.Repeat(" ", max(1, widths[i]-len(c)+1)))
		}
	}
	l.w.WriteString("\n")
}

// WriteHost counts h and prints its warnings.
func (l *LiveTableWriter) WriteHost(h Host) error {
	if !h.Addr.IsValid() {
		return errNoAddr
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ErrClosed
	}
	switch h.State {
	case HostUp:
		l.up++
	case HostDown:
		l.down++
	}
	for _, w := range h.Warnings {
		l.w.WriteString("Warning: " + h.Addr.String() + ": " + oneLine(w) + "\n")
	}
	if len(h.Warnings) > 0 {
		l.err = l.w.Flush()
	}
	return l.err
}

// Close prints the counts. Only the first call writes.
func (l *LiveTableWriter) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	l.flushRun()
	keys := make([]liveKey, 0, len(l.counts))
	for k := range l.counts {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y liveKey) int {
		if c := cmp.Compare(l.counts[y], l.counts[x]); c != 0 {
			return c
		}
		if c := cmp.Compare(x.state, y.state); c != 0 {
			return c
		}
		if c := cmp.Compare(x.proto, y.proto); c != 0 {
			return c
		}
		return cmp.Compare(x.reason, y.reason)
	})
	if l.open == 0 {
		l.w.WriteString("No open ports.\n")
	}
	if len(keys) > 0 {
		parts := make([]string, len(keys))
		for i, k := range keys {
			n := l.counts[k]
			parts[i] = strconv.Itoa(n) + " " + k.state.String() + " " + k.proto.String() + " " +
				map[bool]string{true: "port", false: "ports"}[n == 1] + " (" + k.reason.String() + ")"
		}
		l.w.WriteString("Not shown: " + strings.Join(parts, ", ") + "\n")
	}
	done := "Done: " + plural(l.open, "open port", "open ports")
	if l.hosts > 0 {
		done += " on " + plural(l.hosts, "IP address", "IP addresses") + " scanned"
	}
	if l.up+l.down > 0 {
		done += " (" + plural(l.up, "host up", "hosts up") + ", " + strconv.Itoa(l.down) + " down)"
	}
	l.w.WriteString(done + "\n")
	if err := l.w.Flush(); l.err == nil {
		l.err = err
	}
	return l.err
}

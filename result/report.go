package result

import (
	"errors"
	"io"
	"sync"
	"time"
)

// report renders the output of one buffering writer (XML, greppable, the
// table) from a collector's summary: begin before the hosts, host for
// each host in address order, end after them (it writes the rest and
// flushes).
//
// host must not change v: with several reports, they share it.
type report interface {
	begin(s *summary, now time.Time)
	host(v *hostView)
	end(s *summary) error
}

// writeReports merges what c buffered once and renders every report from
// it. An error of the merge wins over the reports' write errors.
func writeReports(c *collector, rs ...report) error {
	s := c.finish()
	now := time.Now()
	for _, r := range rs {
		r.begin(s, now)
	}
	var err error
	if len(rs) == 1 {
		err = s.each(rs[0].host)
	} else {
		err = renderApart(s, rs)
	}
	errs := make([]error, 0, len(rs))
	for _, r := range rs {
		errs = append(errs, r.end(s))
	}
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}

// ReportWriter writes several of the buffering formats of one run at
// once: nmap XML, greppable output and the normal table. Each destination
// gets exactly the bytes NewXMLWriter, NewGrepWriter and NewTableWriter
// would write there, but the run is buffered (and, past some ten thousand
// verdicts, sorted and kept on disk; see XMLWriter) once for all of them
// instead of once per format, and merged once on Close. Memory stays
// bounded whatever the size of the scan.
type ReportWriter struct {
	c  collector
	rs []report
}

var _ Writer = (*ReportWriter)(nil)

// NewReportWriter returns a Writer of nmap XML to xml, greppable output to
// grep and the normal table to table; a nil destination is left out. XML
// and greppable output are described by info, as NewXMLWriter and
// NewGrepWriter take it.
func NewReportWriter(info RunInfo, xml, grep, table io.Writer) *ReportWriter {
	w := &ReportWriter{}
	if xml != nil {
		w.rs = append(w.rs, &xmlReport{w: xml, info: info})
	}
	if grep != nil {
		w.rs = append(w.rs, &grepReport{w: grep, info: info})
	}
	if table != nil {
		w.rs = append(w.rs, &tableReport{w: table})
	}
	return w
}

// WriteResult buffers r.
func (w *ReportWriter) WriteResult(r Result) error { return w.c.addResult(r) }

// WriteHost buffers h. Verdicts on one host are folded as XMLWriter
// does.
func (w *ReportWriter) WriteHost(h Host) error { return w.c.addHost(h) }

// Close writes every output, host by host in address order. Only the
// first call writes. It returns the error of the buffer, if any, else
// the destinations' write errors.
func (w *ReportWriter) Close() error {
	if !w.c.close() {
		return nil
	}
	return writeReports(&w.c, w.rs...)
}

// reportBatch is how many hosts renderApart hands over at a time.
const reportBatch = 256

// renderApart merges the hosts of s in this goroutine and renders each
// report in its own, so that on a machine with more than one core the XML
// and greppable output of a large run take the time of the merge, not the
// sum of all three. Views go to the reports in batches, read only (the
// views buildView makes share nothing with the merge's buffers); a few
// batches are in flight at most.
func renderApart(s *summary, rs []report) error {
	chans := make([]chan []hostView, len(rs))
	var wg sync.WaitGroup
	for i, r := range rs {
		ch := make(chan []hostView, 2)
		chans[i] = ch
		wg.Go(func() {
			for vs := range ch {
				for j := range vs {
					r.host(&vs[j])
				}
			}
		})
	}
	vs := make([]hostView, 0, reportBatch)
	send := func() {
		for _, ch := range chans {
			ch <- vs
		}
		vs = make([]hostView, 0, reportBatch)
	}
	err := s.each(func(v *hostView) {
		vs = append(vs, *v)
		if len(vs) == reportBatch {
			send()
		}
	})
	if len(vs) > 0 {
		send()
	}
	for _, ch := range chans {
		close(ch)
	}
	wg.Wait()
	return err
}

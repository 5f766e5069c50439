package main

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// closeWaiter is a Writer whose Close waits until every closeWaiter of its
// group is in Close: it returns only if they are closed at the same time.
type closeWaiter struct {
	results     atomic.Int32
	closes      atomic.Int32
	in, all     *sync.WaitGroup
	err         error
	sawAllClose atomic.Bool
}

func (c *closeWaiter) WriteResult(result.Result) error { c.results.Add(1); return nil }
func (c *closeWaiter) WriteHost(result.Host) error     { return nil }
func (c *closeWaiter) Close() error {
	c.closes.Add(1)
	c.in.Done()
	done := make(chan struct{})
	go func() { c.all.Wait(); close(done) }()
	select {
	case <-done:
		c.sawAllClose.Store(true)
	case <-time.After(10 * time.Second): // a deadlock guard, not a timing assertion
	}
	return c.err
}

// closeTogether writes to every writer and closes them concurrently, once,
// joining their errors in order.
func TestCloseTogether(t *testing.T) {
	var in sync.WaitGroup
	ws := make([]*closeWaiter, 3)
	var rws []result.Writer
	for i := range ws {
		in.Add(1)
		ws[i] = &closeWaiter{in: &in, all: &in}
		rws = append(rws, ws[i])
	}
	ws[0].err = errors.New("first")
	ws[2].err = errors.New("third")
	w := closeTogether(rws)
	for range 5 {
		if err := w.WriteResult(result.Result{}); err != nil {
			t.Fatal(err)
		}
	}
	err := w.Close()
	if err == nil || err.Error() != "first\nthird" {
		t.Errorf("Close = %v, want the errors of the first and third writers, in order", err)
	}
	if err2 := w.Close(); err2 != err {
		t.Errorf("second Close = %v, want the first one's %v", err2, err)
	}
	for i, c := range ws {
		if n := c.results.Load(); n != 5 {
			t.Errorf("writer %d got %d results, want 5", i, n)
		}
		if n := c.closes.Load(); n != 1 {
			t.Errorf("writer %d closed %d times, want 1", i, n)
		}
		if !c.sawAllClose.Load() {
			t.Errorf("writer %d was closed while another was not: not concurrent", i)
		}
	}
}

// The scan's XML, greppable, normal and JSONL files, closed together,
// hold the same bytes as when each writer is closed alone.
func TestCloseTogetherSameFiles(t *testing.T) {
	dir := t.TempDir()
	info := result.RunInfo{Scanner: "portsense scan", Args: "scan", ScanType: "syn", Proto: target.TCP,
		Start: time.Unix(1796312839, 0), End: time.Unix(1796312845, 0)}
	mk := func(tag string) []result.Writer {
		open := func(ext string) *os.File {
			f, err := os.Create(filepath.Join(dir, tag+ext))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			return f
		}
		return []result.Writer{result.NewXMLWriter(open(".xml"), info), result.NewGrepWriter(open(".gnmap"), info),
			result.NewTableWriter(open(".nmap")), result.NewJSONLWriter(open(".jsonl"))}
	}
	alone, together := mk("alone"), closeTogether(mk("together"))
	t0 := time.Unix(1796312840, 0)
	for i := range 40_000 { // past one spill run of the buffering writers
		a := netip.AddrFrom4([4]byte{198, 18, 128 + byte(i>>13), byte(i >> 5)})
		st, rs := result.Filtered, result.NoResponse
		if i%997 == 0 {
			st, rs = result.Open, result.SynAck
		}
		r := result.Result{AddrPort: netip.AddrPortFrom(a, uint16(1+i%32)), Proto: target.TCP, State: st, Reason: rs,
			Tries: 1, Time: t0.Add(time.Duration(i) * time.Microsecond)}
		for _, w := range alone {
			w.WriteResult(r)
		}
		together.WriteResult(r)
	}
	for _, w := range alone {
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := together.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".xml", ".gnmap", ".nmap", ".jsonl"} {
		a, _ := os.ReadFile(filepath.Join(dir, "alone"+ext))
		b, _ := os.ReadFile(filepath.Join(dir, "together"+ext))
		if len(a) == 0 || string(a) != string(b) {
			t.Errorf("%s: %d bytes alone, %d together: differ", ext, len(a), len(b))
		}
		if ext == ".xml" && !strings.Contains(string(a), fmt.Sprintf(`<hosts up="%d"`, 40_000/32)) {
			t.Errorf("xml: unexpected summary:\n%.300s", a[len(a)-300:])
		}
	}
}

package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/portsense/portsense/target"
)

// resumeVersion is the version of the resume file format.
const resumeVersion = 1

// resumeState is the JSON resume file; see the package documentation.
type resumeState struct {
	Version    int          `json:"version"`
	ScanType   string       `json:"scan_type"`
	Hosts      string       `json:"hosts"`
	Ports      string       `json:"ports"`
	Seed       uint64       `json:"seed"`
	Shard      uint64       `json:"shard,omitempty"`  // 1-based; 0 with Shards 0 means no sharding
	Shards     uint64       `json:"shards,omitempty"` // shard count
	Sequential bool         `json:"sequential,omitempty"`
	Position   uint64       `json:"position"`
	Total      uint64       `json:"total"`
	Done       []doneTarget `json:"done,omitempty"`
	Finished   bool         `json:"finished"`
	Updated    time.Time    `json:"updated"`
}

// doneTarget is a target past Position that was already reported.
type doneTarget struct {
	Addr  netip.Addr      `json:"addr"`
	Port  uint16          `json:"port"`
	Proto target.Protocol `json:"proto"`
}

// loadResume reads a resume file. A missing file is not an error: it returns
// nil, and the scan starts afresh and creates the file.
func loadResume(path string) (*resumeState, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var st resumeState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, usagef("bad resume file %q: %v", path, err)
	}
	if st.Version != resumeVersion {
		return nil, usagef("bad resume file %q: version %d, want %d", path, st.Version, resumeVersion)
	}
	if st.Shards != 0 && (st.Shard < 1 || st.Shard > st.Shards) || st.Shards == 0 && st.Shard != 0 {
		return nil, usagef("bad resume file %q: shard %d/%d", path, st.Shard, st.Shards)
	}
	if st.Position > st.Total {
		return nil, usagef("bad resume file %q: position %d beyond total %d", path, st.Position, st.Total)
	}
	return &st, nil
}

// save writes st to path atomically, so that an interrupt while writing
// never leaves a torn file behind.
func (st *resumeState) save(path string) error {
	st.Updated = time.Now().UTC()
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".resume-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the temp file's name means nothing to the user
		}
		return fmt.Errorf("writing resume file %s: %w", path, err)
	}
	_, err = tmp.Write(append(b, '\n'))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		var pe *os.LinkError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("writing resume file %s: %w", path, err)
	}
	return nil
}

// tracker finds the resume position from the results the program actually
// received: the first position of the shard whose target has not been
// reported. Targets reported out of order, past that position, are kept
// until the position passes them (O(window) memory) and saved in the resume
// file so that the resumed run does not report them twice.
//
// It walks its own iterator over the same shard in step with the results,
// rather than trusting Stats.Position alone: a result the engine finished
// while the context was being cancelled may never reach the channel, and the
// resume point must not skip it.
type tracker struct {
	it      *target.Iter
	pending target.Target // the target at it.Pos()-1, not yet reported
	has     bool          // pending is valid
	done    map[target.Target]struct{}
	gone    map[netip.Addr]bool // hosts given up by the host timeout
}

func newTracker(space *target.Space, cfg target.IterConfig, done []target.Target) (*tracker, error) {
	it, err := space.Iter(cfg)
	if err != nil {
		return nil, err
	}
	t := &tracker{it: it, done: map[target.Target]struct{}{}, gone: map[netip.Addr]bool{}}
	for _, d := range done {
		t.done[d] = struct{}{}
	}
	t.pending, t.has = it.Next()
	t.advance()
	return t, nil
}

// report records a reported target.
func (t *tracker) report(x target.Target) {
	t.done[x] = struct{}{}
	t.advance()
}

// hostGone marks every target of a timed-out host as finished.
func (t *tracker) hostGone(a netip.Addr) {
	t.gone[a] = true
	t.advance()
}

func (t *tracker) advance() {
	for t.has {
		if _, ok := t.done[t.pending]; ok {
			delete(t.done, t.pending)
		} else if !t.gone[t.pending.Addr] {
			return
		}
		t.pending, t.has = t.it.Next()
	}
}

// position returns the resume position: every target before it is reported.
func (t *tracker) position() uint64 {
	if !t.has {
		return t.it.Pos()
	}
	return t.it.Pos() - 1
}

// doneList returns the targets past position that were reported.
func (t *tracker) doneList() []doneTarget {
	out := make([]doneTarget, 0, len(t.done))
	for x := range t.done {
		out = append(out, doneTarget{Addr: x.Addr, Port: x.Port.Num, Proto: x.Port.Proto})
	}
	return out
}

// startResume checks the resume file before the first probe: a new scan
// says that it creates the file, and writes its initial state at once, so
// that an unwritable path fails now rather than after the whole scan.
func (p *plan) startResume(stderr io.Writer) error {
	if p.state == nil || p.state.Updated != (time.Time{}) {
		return nil // no --resume, or a saved state read from the file
	}
	fmt.Fprintf(stderr, "scan: %s: no saved scan there; starting a new scan and saving its state to it\n", p.opts.resume)
	return p.state.save(p.opts.resume)
}

package detect

import (
	"errors"
	"io"
)

// A Source yields observations, one per call. Pipelines read a Source from
// a single goroutine.
//
// ReadObservation fills o with the next observation and returns nil, or:
//   - io.EOF when the source is exhausted (files, slices);
//   - ErrNoPacket when a live source saw nothing within its poll interval
//     (call again; this lets callers notice cancellation);
//   - an error wrapping ErrMalformed or ErrNotObserved for a packet that was
//     read but yields no observation (count it and call again);
//   - any other error, which is fatal for the source.
type Source interface {
	ReadObservation(o *Observation) error
}

// ErrNoPacket is returned by live sources when no packet arrived within
// their poll interval. It is not a failure: call ReadObservation again.
var ErrNoPacket = errors.New("no packet ready")

// SourceStats are counters a source keeps about packets it never delivered.
type SourceStats struct {
	// KernelDrops counts packets the kernel dropped because the capture
	// ring was full (live capture only).
	KernelDrops uint64
	// KernelPackets counts packets the kernel's filter accepted.
	KernelPackets uint64
}

// StatSource is implemented by sources that can report their own drops;
// the pipeline adds these to its counters.
type StatSource interface {
	Source
	SourceStats() (SourceStats, error)
}

// LiveSource is implemented by sources that capture live traffic. For them
// the pipeline drops observations instead of blocking when analysis lags,
// and advances analyser time from a wall-clock ticker as well.
type LiveSource interface {
	Source
	Live() bool
}

// SliceSource is a Source over already-decoded observations, for tests and
// replays. The zero value is an empty source.
type SliceSource struct {
	Obs []Observation
	i   int
}

// NewSliceSource returns a Source that yields obs in order, then io.EOF.
// The slice is not copied.
func NewSliceSource(obs []Observation) *SliceSource {
	return &SliceSource{Obs: obs}
}

// ReadObservation copies the next observation into o.
func (s *SliceSource) ReadObservation(o *Observation) error {
	if s.i >= len(s.Obs) {
		return io.EOF
	}
	*o = s.Obs[s.i]
	s.i++
	return nil
}

var _ Source = (*SliceSource)(nil)

package detect

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"sync"
	"sync/atomic"
	"time"
)

// Pipeline wires sense → analyse → respond: one goroutine reads the Source
// into batches of observations, one runs the Analyzer over them, and the
// caller's goroutine (Run, or the loop over Events) hands each
// event to the responders in order. The stages are joined by channels of
// bounded capacity, so memory stays fixed whatever the traffic.
//
// Back-pressure: when analysis lags, a file or slice source is simply read
// more slowly (the reader blocks), so no packet is lost. A live source
// (LiveSource.Live() true, or WithLive(true)) cannot be slowed down; then the
// reader drops observations it has no room for and counts them in
// Stats.Drops, and the kernel ring's own drops appear in Stats.KernelDrops.
//
// Time: the analyser's clock is packet time. Advance is called whenever
// packet time has moved WithAdvanceEvery (default 1 s) since the last call,
// and for live sources also from a wall-clock ticker of the same period, so
// timeouts fire during silence. When a source ends (io.EOF), Advance is
// called once more at the last packet time plus WithDrain (default 1 min),
// so pending "no answer" outcomes of the last probes are decided.
//
// A Pipeline runs once.
type Pipeline struct {
	src Source
	an  Analyzer
	cfg pipelineConfig

	started atomic.Bool

	packets, observations, malformed, skipped, drops atomic.Uint64
	events, absorbed                                 atomic.Uint64
	memory, tracked                                  atomic.Int64
}

type pipelineConfig struct {
	responders   []Responder
	live         int // -1 off, 0 auto, 1 on
	advanceEvery time.Duration
	drain        time.Duration
	batchSize    int
	batches      int
	eventBuffer  int
	onError      func(error) error
}

// An Option configures a Pipeline. An option given a value it cannot use
// makes NewPipeline fail with an error naming it; nothing is silently
// clamped.
type Option func(*pipelineConfig) error

// WithResponder adds responders; each event goes to all of them, in the
// order they were added. A nil responder is an error.
func WithResponder(r ...Responder) Option {
	return func(c *pipelineConfig) error {
		for i, x := range r {
			if x == nil {
				return fmt.Errorf("detect: WithResponder: responder %d is nil", i)
			}
		}
		c.responders = append(c.responders, r...)
		return nil
	}
}

// WithLive overrides whether the source is treated as live capture (drop
// rather than block when analysis lags; wall-clock Advance ticks). By default
// a source is live when it implements LiveSource and says so.
func WithLive(live bool) Option {
	return func(c *pipelineConfig) error {
		c.live = -1
		if live {
			c.live = 1
		}
		return nil
	}
}

// WithAdvanceEvery sets how often, in packet time (and wall time for live
// sources), the analyser's Advance is called. Default 1 s; d must be
// positive.
func WithAdvanceEvery(d time.Duration) Option {
	return func(c *pipelineConfig) error {
		if d <= 0 {
			return fmt.Errorf("detect: WithAdvanceEvery(%v): must be positive", d)
		}
		c.advanceEvery = d
		return nil
	}
}

// WithDrain sets how far past the last packet the final Advance reaches when
// the source ends. Default 1 minute; 0 skips the final Advance; negative is
// an error.
func WithDrain(d time.Duration) Option {
	return func(c *pipelineConfig) error {
		if d < 0 {
			return fmt.Errorf("detect: WithDrain(%v): must not be negative", d)
		}
		c.drain = d
		return nil
	}
}

// WithQueue sets how many observations may wait between reader and
// analyser, in whole batches of 256 (n is rounded up; at least 512).
// Default 4096. n below 1 is an error.
func WithQueue(n int) Option {
	return func(c *pipelineConfig) error {
		if n < 1 {
			return fmt.Errorf("detect: WithQueue(%d): must be at least 1", n)
		}
		c.batches = max(2, (n+c.batchSize-1)/c.batchSize)
		return nil
	}
}

// WithErrorHandler lets responder errors be absorbed: fn gets each error a
// responder returns; if fn returns nil the pipeline counts the error in
// Stats.ResponderErrors and goes on, otherwise it stops with fn's error.
// Without a handler the first responder error stops the pipeline.
func WithErrorHandler(fn func(error) error) Option {
	return func(c *pipelineConfig) error {
		if fn == nil {
			return errors.New("detect: WithErrorHandler: nil handler")
		}
		c.onError = fn
		return nil
	}
}

// NewPipeline returns a pipeline reading src through analyzer a, or the
// error of the first option that cannot be applied. The pipeline does not
// close src.
func NewPipeline(src Source, a Analyzer, opts ...Option) (*Pipeline, error) {
	if src == nil || a == nil {
		return nil, errors.New("detect: NewPipeline: nil source or analyser")
	}
	c := pipelineConfig{advanceEvery: time.Second, drain: time.Minute, batchSize: 256, batches: 16, eventBuffer: 64}
	for _, o := range opts {
		if err := o(&c); err != nil {
			return nil, err
		}
	}
	return &Pipeline{src: src, an: a, cfg: c}, nil
}

// Stats are a pipeline's counters. They may be read while it runs.
type Stats struct {
	Packets      uint64 // packets read: Observations + Skipped + Malformed
	Observations uint64 // packets decoded into observations
	Skipped      uint64 // well-formed packets with nothing to observe (ErrNotObserved)
	Malformed    uint64 // packets that failed to decode (ErrMalformed)
	Drops        uint64 // observations dropped because analysis lagged (live only)
	KernelDrops  uint64 // packets the capture ring dropped (StatSource)
	Events       uint64 // events delivered to the responders
	// ResponderErrors counts responder errors absorbed by the error handler.
	ResponderErrors uint64
	// MemoryBytes is the analyser's own estimate (Analyzer.MemoryBytes),
	// refreshed at every Advance.
	MemoryBytes int
	// TrackedSources is the number of sources the analyser tracks exactly,
	// when it implements SourceTracker; otherwise -1.
	TrackedSources int
}

// SourceTracker is implemented by analysers that can say how many sources
// they track exactly; the pipeline reports it in Stats.TrackedSources.
type SourceTracker interface {
	TrackedSources() int
}

// Stats returns a snapshot of the counters. For a StatSource it also asks
// the source for its kernel counters, which for AFPacketSource may wait up to
// its poll timeout.
func (p *Pipeline) Stats() Stats {
	st := Stats{
		Packets:         p.packets.Load(),
		Observations:    p.observations.Load(),
		Skipped:         p.skipped.Load(),
		Malformed:       p.malformed.Load(),
		Drops:           p.drops.Load(),
		Events:          p.events.Load(),
		ResponderErrors: p.absorbed.Load(),
		MemoryBytes:     int(p.memory.Load()),
		TrackedSources:  int(p.tracked.Load()),
	}
	if s, ok := p.src.(StatSource); ok {
		if ss, err := s.SourceStats(); err == nil {
			st.KernelDrops = ss.KernelDrops
		}
	}
	return st
}

// ErrPipelineStarted is returned when Run or Events is called twice.
var ErrPipelineStarted = errors.New("detect: pipeline already started")

// Run runs the pipeline until the source ends, ctx is cancelled, the source
// fails, or a responder fails. It returns nil when the source ended and
// every event was handled, ctx's error after cancellation, or the failure.
// When the source fails (a truncated capture file, say), what was read
// before is analysed to the end (including the final drain, see WithDrain)
// and its events reach the responders before Run returns the source's
// error. All goroutines it started have exited when it returns.
func (p *Pipeline) Run(ctx context.Context) error {
	return p.run(ctx, nil)
}

// Events runs the pipeline and yields its events (after the responders
// have seen them) on the caller's goroutine. If the pipeline fails (source,
// responder, or cancellation of ctx), the last pair carries the error and a
// zero Event. Breaking out of the loop stops the pipeline; every goroutine
// it started has exited when the loop ends.
//
//	for e, err := range p.Events(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(e.Kind, e.Source)
//	}
//
// There is no channel form: the iterator needs no goroutine of the
// caller's to drain it and cannot leak one, and a channel can be fed from
// it in three lines where one is needed.
func (p *Pipeline) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		stopped := false
		err := p.run(ctx, func(_ context.Context, e Event) error {
			if !yield(e, nil) {
				stopped = true
				return errStopped
			}
			return nil
		})
		if !stopped && err != nil {
			yield(Event{}, err)
		}
	}
}

// errStopped ends a pipeline whose event loop was left early.
var errStopped = errors.New("detect: event loop stopped")

// obsBatch is a unit of transfer between reader and analyser; batches
// circulate through a free list so the steady state allocates nothing.
type obsBatch struct {
	obs []Observation
	n   int
}

func (p *Pipeline) live() bool {
	switch p.cfg.live {
	case 1:
		return true
	case -1:
		return false
	}
	l, ok := p.src.(LiveSource)
	return ok && l.Live()
}

func (p *Pipeline) run(parent context.Context, sink func(context.Context, Event) error) error {
	if !p.started.CompareAndSwap(false, true) {
		return ErrPipelineStarted
	}
	p.tracked.Store(-1)
	ctx, cancel := context.WithCancelCause(parent)
	defer cancel(nil)

	live := p.live()
	free := make(chan *obsBatch, p.cfg.batches)
	full := make(chan *obsBatch, p.cfg.batches)
	for range p.cfg.batches {
		free <- &obsBatch{obs: make([]Observation, p.cfg.batchSize)}
	}
	events := make(chan Event, p.cfg.eventBuffer)

	var wg sync.WaitGroup
	var readErr error // written by the reader before it closes full
	wg.Go(func() {
		defer close(full)
		// A source failure does not cancel the analyser: it drains what
		// was read, and the events found before the failure are delivered
		// before Run reports it.
		readErr = p.read(ctx, live, free, full)
	})
	wg.Go(func() {
		defer close(events)
		p.analyse(ctx, live, free, full, events, func() bool { return readErr != nil })
	})

	var stop error
	for e := range events {
		if stop != nil {
			continue // draining after a failure
		}
		p.events.Add(1)
		if err := p.respond(ctx, e, sink); err != nil {
			stop = err
			cancel(err)
		}
	}
	wg.Wait()
	switch {
	case stop != nil:
		return stop
	case readErr != nil && readErr != io.EOF:
		return readErr
	case parent.Err() != nil:
		return parent.Err()
	}
	return nil
}

func (p *Pipeline) respond(ctx context.Context, e Event, sink func(context.Context, Event) error) error {
	for _, r := range p.cfg.responders {
		if err := r.Respond(ctx, e); err != nil {
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			if p.cfg.onError == nil {
				return fmt.Errorf("detect: responder: %w", err)
			}
			if err := p.cfg.onError(err); err != nil {
				return err
			}
			p.absorbed.Add(1)
		}
	}
	if sink != nil {
		return sink(ctx, e)
	}
	return nil
}

// read fills batches from the source. It returns io.EOF when the source
// ended, nil when ctx was cancelled, or the source's fatal error.
func (p *Pipeline) read(ctx context.Context, live bool, free <-chan *obsBatch, full chan<- *obsBatch) error {
	var cur *obsBatch
	var scratch Observation // where observations go when they must be dropped
	// Counters are kept locally and published per batch: two atomic adds
	// per packet would cost more than decoding it.
	var packets, observations, skipped, malformed, drops uint64
	publish := func() {
		p.packets.Add(packets)
		p.observations.Add(observations)
		p.skipped.Add(skipped)
		p.malformed.Add(malformed)
		p.drops.Add(drops)
		packets, observations, skipped, malformed, drops = 0, 0, 0, 0, 0
	}
	defer publish()
	send := func() {
		publish()
		if cur != nil && cur.n > 0 {
			full <- cur // never blocks: full holds every batch there is
			cur = nil
		}
	}
	for {
		if ctx.Err() != nil {
			return nil
		}
		if cur == nil {
			if live {
				select {
				case cur = <-free:
				default:
				}
			} else {
				select {
				case cur = <-free:
				case <-ctx.Done():
					return nil
				}
			}
			if cur != nil {
				cur.n = 0
			}
		}
		o := &scratch
		if cur != nil {
			o = &cur.obs[cur.n]
		}
		err := p.src.ReadObservation(o)
		switch {
		case err == nil:
			packets++
			observations++
			if cur == nil {
				drops++
				if drops >= 256 {
					publish()
				}
				continue
			}
			cur.n++
			// Live: hand over at once if the analyser is idle, so detection
			// latency stays low at low rates; under load batches fill up.
			if cur.n == len(cur.obs) || live && len(full) == 0 {
				send()
			}
		case errors.Is(err, ErrNoPacket):
			send()
		case errors.Is(err, ErrNotObserved):
			packets++
			skipped++
		case errors.Is(err, ErrMalformed):
			packets++
			malformed++
		case err == io.EOF:
			send()
			return io.EOF
		default:
			send() // what was read before the failure is analysed too
			return fmt.Errorf("detect: reading source: %w", err)
		}
	}
}

func (p *Pipeline) analyse(ctx context.Context, live bool, free chan<- *obsBatch, full <-chan *obsBatch, events chan<- Event, ended func() bool) {
	emit := func(e Event) {
		select {
		case events <- e:
		case <-ctx.Done():
		}
	}
	every := p.cfg.advanceEvery
	var last, next time.Time // last Advance time; packet time of the next one
	advance := func(now time.Time) {
		if now.Before(last) {
			now = last
		}
		last = now
		next = now.Add(every)
		p.an.Advance(now, emit)
		p.refresh()
	}
	var tick <-chan time.Time
	if live {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	var latest time.Time // latest packet time seen
	p.refresh()
	for {
		select {
		case b, ok := <-full:
			if !ok {
				if ended() && p.cfg.drain > 0 && !latest.IsZero() && ctx.Err() == nil {
					advance(latest.Add(p.cfg.drain))
				}
				p.refresh()
				return
			}
			for i := range b.n {
				o := &b.obs[i]
				if o.Time.After(latest) {
					latest = o.Time
				}
				if next.IsZero() {
					last, next = o.Time, o.Time.Add(every)
				} else if !o.Time.Before(next) {
					advance(o.Time)
				}
				p.an.Observe(o, emit)
			}
			free <- b // never blocks
			if ctx.Err() != nil {
				return
			}
		case now := <-tick:
			if !next.IsZero() || !latest.IsZero() {
				advance(now)
			}
		case <-ctx.Done():
			return
		}
	}
}

// refresh publishes the analyser's memory and tracking figures; it runs on
// the analyser goroutine, the only one allowed to call the analyser.
func (p *Pipeline) refresh() {
	p.memory.Store(int64(p.an.MemoryBytes()))
	if t, ok := p.an.(SourceTracker); ok {
		p.tracked.Store(int64(t.TrackedSources()))
	}
}

package scanner

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Scanner runs scans with a fixed set of probers and options. A Scanner
// holds no per-scan state: one Scanner may run several scans at once, and
// several Scanners may run in one process.
type Scanner struct {
	probers map[target.Protocol]probe.Prober
	cfg     config
}

// New returns a Scanner that probes with p (and any probers added with
// WithProber). It reports the first invalid option.
func New(p probe.Prober, opts ...Option) (*Scanner, error) {
	if p == nil {
		return nil, errors.New("scanner: nil prober")
	}
	s := &Scanner{probers: map[target.Protocol]probe.Prober{}, cfg: defaultConfig()}
	for _, o := range opts {
		if err := o(&s.cfg); err != nil {
			return nil, err
		}
	}
	for _, q := range append([]probe.Prober{p}, s.cfg.extra...) {
		proto := q.Protocol()
		if _, dup := s.probers[proto]; dup {
			return nil, fmt.Errorf("scanner: two probers for %s", proto)
		}
		s.probers[proto] = q
	}
	return s, nil
}

// Scan is one running scan. Read Results until it closes, then call Err
// (or Wait) for the reason it ended.
type Scan struct {
	results  chan result.Result
	out      <-chan result.Result // after the service stage, when there is one
	done     chan struct{}
	progress chan struct{} // closed after the last progress call
	err      error

	mu    sync.Mutex
	stats Stats
	hosts []result.Host
}

// Start begins scanning space and returns at once. Results arrive on
// Scan.Results in the order they become final. Cancelling ctx stops the
// scan promptly: Results closes and Err returns ctx's error.
func (s *Scanner) Start(ctx context.Context, space *target.Space) (*Scan, error) {
	if space == nil {
		return nil, errors.New("scanner: nil target space")
	}
	it, err := space.Iter(s.cfg.order)
	if err != nil {
		return nil, err
	}
	sc := &Scan{results: make(chan result.Result, 256), done: make(chan struct{}), progress: make(chan struct{})}
	e, err := newEngine(ctx, s, space, it, sc)
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(sc.done)
		defer close(sc.results)
		sc.err = e.run(ctx)
	}()
	if st := s.cfg.service; st != nil {
		sc.out = DetectServices(ctx, sc.results, st.d, st.parallel)
	}
	if s.cfg.progressFn != nil {
		go sc.reportProgress(s.cfg)
	} else {
		close(sc.progress)
	}
	return sc, nil
}

// All runs a scan of space and yields its results. If the scan fails, the
// last pair yielded carries the error. Breaking out of the loop stops the
// scan.
func (s *Scanner) All(ctx context.Context, space *target.Space) iter.Seq2[result.Result, error] {
	return func(yield func(result.Result, error) bool) {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		sc, err := s.Start(ctx, space)
		if err != nil {
			yield(result.Result{}, err)
			return
		}
		for r := range sc.Results() {
			if !yield(r, nil) {
				cancel()
				for range sc.Results() {
				}
				return
			}
		}
		if err := sc.Err(); err != nil {
			yield(result.Result{}, err)
		}
	}
}

// Results is the stream of final port results. It closes when the scan
// ends for any reason.
func (sc *Scan) Results() <-chan result.Result {
	if sc.out != nil {
		return sc.out
	}
	return sc.results
}

// Wait blocks until the scan ends (and the last progress report, if any,
// has returned) and returns why it ended: nil when every
// target is finished, ctx's error when cancelled, or the error that
// stopped it. The caller must keep reading Results, or Wait never returns.
func (sc *Scan) Wait() error {
	<-sc.done
	<-sc.progress
	return sc.err
}

// Err returns the reason the scan ended, or nil while it still runs.
func (sc *Scan) Err() error {
	select {
	case <-sc.done:
		return sc.err
	default:
		return nil
	}
}

// Done is closed when the scan has ended.
func (sc *Scan) Done() <-chan struct{} { return sc.done }

// Stats returns a snapshot of the scan's counters. It is safe to call at
// any time from any goroutine.
func (sc *Scan) Stats() Stats {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.stats
}

// Hosts returns host-level notes gathered so far, such as hosts given up
// by the host timeout.
func (sc *Scan) Hosts() []result.Host {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return append([]result.Host(nil), sc.hosts...)
}

func (sc *Scan) reportProgress(cfg config) {
	defer close(sc.progress)
	t := time.NewTicker(cfg.progressTick)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			cfg.progressFn(sc.Stats())
		case <-sc.done:
			cfg.progressFn(sc.Stats())
			return
		}
	}
}

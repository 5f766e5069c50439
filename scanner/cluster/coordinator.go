package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Coordinator starts, resumes and cancels distributed scans. It holds no
// scan state of its own: everything a scan needs lives in JetStream, so
// any coordinator (this process after a restart, or another one) can
// Attach to a scan and finish it.
type Coordinator struct {
	nc  *nats.Conn
	res *resources
}

// NewCoordinator returns a coordinator on nc; cfg names the cluster's
// resources (nil means defaults). It creates the streams and bucket if
// they do not exist.
func NewCoordinator(ctx context.Context, nc *nats.Conn, cfg *Config) (*Coordinator, error) {
	if nc == nil {
		return nil, errors.New("cluster: nil NATS connection")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}
	res, err := ensure(ctx, js, cfg)
	if err != nil {
		return nil, err
	}
	return &Coordinator{nc: nc, res: res}, nil
}

// Start begins scan id (1-64 letters, digits, '-' and '_') of spec and
// returns at once. The scan's tasks go to the work queue as workers drain
// it; results arrive on Scan.Results.
//
// Cancelling ctx stops only this coordinator's view of the scan (Results
// closes, Wait returns ctx's error): the workers go on, and Attach
// resumes. Use Cancel to stop the scan itself.
func (c *Coordinator) Start(ctx context.Context, id string, spec Spec) (*Scan, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	if err := spec.validate(); err != nil {
		return nil, err
	}
	spec = spec.withDefaults()
	sj, err := spec.MarshalJSON()
	if err != nil {
		return nil, err
	}
	rec := &record{Version: recordVersion, Spec: sj, Tasks: spec.Tasks(), State: stateRunning, Created: time.Now().UTC()}
	if _, err := c.res.kv.Get(ctx, id); err == nil {
		return nil, fmt.Errorf("%w: %q", ErrScanExists, id)
	}
	// The consumer comes first, so a worker that sees the record finds it.
	if err := c.ensureConsumer(ctx, id, &spec); err != nil {
		return nil, err
	}
	_, err = c.res.kv.Create(ctx, id, rec.encode())
	if errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("%w: %q", ErrScanExists, id)
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: create scan %q: %w", id, err)
	}
	return c.run(ctx, id, rec, &spec), nil
}

// Attach resumes scan id, typically after the coordinator that started it
// stopped. The Scan it returns replays the results merged so far from the
// results stream, then goes on merging, so its Results carry every target
// exactly once; finished tasks are not scanned again. Attaching to a
// finished scan replays its results; to a cancelled or failed one is an
// error.
func (c *Coordinator) Attach(ctx context.Context, id string) (*Scan, error) {
	if err := validID(id); err != nil {
		return nil, err
	}
	rec, spec, _, err := c.res.loadRecord(ctx, id)
	if err != nil {
		return nil, err
	}
	switch rec.State {
	case stateCancelled:
		return nil, fmt.Errorf("%w: %q", ErrCancelled, id)
	case stateFailed:
		return nil, fmt.Errorf("cluster: scan %q failed: %s", id, rec.Error)
	case stateRunning:
		if err := c.ensureConsumer(ctx, id, spec); err != nil {
			return nil, err
		}
	}
	return c.run(ctx, id, rec, spec), nil
}

// Cancel stops scan id everywhere: its record is marked cancelled, queued
// tasks are purged, and workers abandon the tasks they run. Every Scan
// attached to it ends with ErrCancelled.
func (c *Coordinator) Cancel(ctx context.Context, id string) error {
	if err := validID(id); err != nil {
		return err
	}
	if _, err := c.res.updateRecord(ctx, id, func(r *record) bool {
		if r.State != stateRunning {
			return false
		}
		r.State = stateCancelled
		return true
	}); err != nil {
		return err
	}
	if err := c.res.js.DeleteConsumer(ctx, c.res.n.tasks, consumerName(id)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("cluster: cancel %q: delete consumer: %w", id, err)
	}
	if err := c.res.tasks.Purge(ctx, jetstream.WithPurgeSubject(c.res.n.taskSubject(id))); err != nil {
		return fmt.Errorf("cluster: cancel %q: purge tasks: %w", id, err)
	}
	return nil
}

// Delete removes every trace of scan id: its record, result chunks,
// queued tasks and consumer. A running scan is cancelled first.
func (c *Coordinator) Delete(ctx context.Context, id string) error {
	if err := c.Cancel(ctx, id); err != nil && !errors.Is(err, ErrNoScan) {
		return err
	}
	if err := c.res.results.Purge(ctx, jetstream.WithPurgeSubject(c.res.n.resultSubject(id))); err != nil {
		return fmt.Errorf("cluster: delete %q: purge results: %w", id, err)
	}
	if err := c.res.kv.Purge(ctx, id); err != nil {
		return fmt.Errorf("cluster: delete %q: %w", id, err)
	}
	return nil
}

func (c *Coordinator) ensureConsumer(ctx context.Context, id string, s *Spec) error {
	_, err := c.res.js.CreateOrUpdateConsumer(ctx, c.res.n.tasks, jetstream.ConsumerConfig{
		Durable:       consumerName(id),
		Description:   "portsense cluster scan " + id,
		FilterSubject: c.res.n.taskSubject(id),
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       s.AckWait,
		MaxDeliver:    s.MaxDeliver,
		MaxAckPending: s.Slots,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("cluster: task consumer for %q: %w", id, err)
	}
	return nil
}

// Scan is a coordinator's handle on one distributed scan.
type Scan struct {
	id      string
	c       *Coordinator
	spec    Spec
	space   *target.Space
	tasks   uint64
	results chan result.Result
	done    chan struct{}
	err     error
	stop    context.CancelFunc
	start   time.Time

	mu          sync.Mutex
	merged      []uint64 // bitmap of tasks merged
	tasksDone   uint64
	published   uint64
	targetsDone uint64
	badChunks   uint64
	lateAttempt uint64
	redelivered uint64
	running     map[uint64]*TaskProgress
	workers     map[string]*WorkerProgress
	durations   []time.Duration // recent task durations, for stragglers
	lastErr     map[uint64]string
	progressCh  chan struct{} // kicked when a task is merged
}

func (c *Coordinator) run(ctx context.Context, id string, rec *record, spec *Spec) *Scan {
	space, _ := target.NewSpace(spec.Hosts, spec.Ports) // validated
	ctx, cancel := context.WithCancel(ctx)
	s := &Scan{
		id: id, c: c, spec: *spec, space: space, tasks: rec.Tasks,
		results: make(chan result.Result, 1024), done: make(chan struct{}), stop: cancel,
		start:     time.Now(),
		merged:    make([]uint64, (rec.Tasks+63)/64),
		published: rec.Published,
		running:   map[uint64]*TaskProgress{}, workers: map[string]*WorkerProgress{},
		lastErr: map[uint64]string{}, progressCh: make(chan struct{}, 1),
	}
	errc := make(chan error, 3)
	var wg sync.WaitGroup
	wg.Go(func() { errc <- s.merge(ctx) })
	if rec.State == stateRunning {
		wg.Go(func() { errc <- s.publish(ctx) })
		wg.Go(func() { errc <- s.listen(ctx) })
	}
	go func() {
		err := <-errc
		cancel()
		wg.Wait()
		if errors.Is(err, errFinished) {
			err = nil
		}
		s.err = err
		close(s.results)
		close(s.done)
	}()
	return s
}

// errFinished ends the merge loop when every task is merged.
var errFinished = errors.New("finished")

// ID returns the scan's ID.
func (s *Scan) ID() string { return s.id }

// Results is the merged stream: one result.Result for every target of the
// space, exactly once, in the order tasks finish. It closes when the scan
// ends, is cancelled, or this handle stops.
func (s *Scan) Results() <-chan result.Result { return s.results }

// Done is closed when the handle has stopped (see Wait).
func (s *Scan) Done() <-chan struct{} { return s.done }

// Wait waits until Results is closed and returns why: nil when every task
// is merged, ErrCancelled, the context's error, or what broke the scan.
// The caller must keep reading Results, or Wait never returns.
func (s *Scan) Wait() error {
	<-s.done
	return s.err
}

// Stop stops this handle (Results closes) without cancelling the scan.
func (s *Scan) Stop() { s.stop() }

// Spec returns the scan's spec with defaults filled in.
func (s *Scan) Spec() Spec { return s.spec }

func (s *Scan) isMerged(k uint64) bool { return s.merged[k/64]&(1<<(k%64)) != 0 }

// attempt gathers the chunks of one delivery of one task.
type attempt struct {
	chunks map[uint64][]result.Result
	final  *chunk
	first  time.Time
}

// merge reads the scan's result chunks from the start of the results
// stream and emits each task's results once, from the first delivery of
// it whose chunks are all stored. The stream is the truth: any
// coordinator replaying it picks the same winners.
func (s *Scan) merge(ctx context.Context) error {
	r := s.c.res
	cons, err := r.js.OrderedConsumer(ctx, r.n.results, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{r.n.resultSubject(s.id)},
		DeliverPolicy:  jetstream.DeliverAllPolicy,
	})
	if err != nil {
		return fmt.Errorf("cluster: read results of %q: %w", s.id, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("cluster: read results of %q: %w", s.id, err)
	}
	context.AfterFunc(ctx, it.Stop)
	defer it.Stop()
	if s.tasks == 0 {
		return s.finish(ctx)
	}
	pending := map[uint64]map[uint64]*attempt{}
	for {
		msg, err := it.Next()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return ctx.Err()
			}
			// Transient (a server restart); the ordered consumer recovers.
			time.Sleep(50 * time.Millisecond)
			continue
		}
		c, err := decodeChunk(msg.Data())
		if err != nil || c.Task >= s.tasks {
			s.mu.Lock()
			s.badChunks++
			s.mu.Unlock()
			continue
		}
		if s.isMerged(c.Task) {
			s.mu.Lock()
			s.lateAttempt++
			s.mu.Unlock()
			continue
		}
		byAttempt := pending[c.Task]
		if byAttempt == nil {
			byAttempt = map[uint64]*attempt{}
			pending[c.Task] = byAttempt
		}
		a := byAttempt[c.Attempt]
		if a == nil {
			a = &attempt{chunks: map[uint64][]result.Result{}, first: time.Now()}
			byAttempt[c.Attempt] = a
		}
		a.chunks[c.Index] = c.Results
		if c.Final {
			a.final = c
		}
		out, ok := s.complete(c.Task, a)
		if !ok {
			continue
		}
		delete(pending, c.Task)
		for _, res := range out {
			select {
			case s.results <- res:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if s.markMerged(c.Task, a.final, uint64(len(out))) {
			return s.finish(ctx)
		}
	}
}

// complete returns the results of attempt a of task k once all its chunks
// are in, checked: every target in the space and distinct.
func (s *Scan) complete(k uint64, a *attempt) ([]result.Result, bool) {
	f := a.final
	if f == nil || uint64(len(a.chunks)) < f.Chunks {
		return nil, false
	}
	var out []result.Result
	for i := range f.Chunks {
		rs, ok := a.chunks[i]
		if !ok {
			return nil, false
		}
		out = append(out, rs...)
	}
	if uint64(len(out)) != f.Count || f.Count > s.shardLen(k) {
		s.mu.Lock()
		s.badChunks++
		s.mu.Unlock()
		return nil, false
	}
	type key struct {
		ap    [18]byte
		proto target.Protocol
	}
	seen := make(map[key]struct{}, len(out))
	for _, r := range out {
		if !s.spec.Hosts.Contains(r.AddrPort.Addr()) || !s.spec.Ports.Contains(r.Port()) {
			s.mu.Lock()
			s.badChunks++
			s.mu.Unlock()
			return nil, false
		}
		var kk key
		a16 := r.AddrPort.Addr().As16()
		copy(kk.ap[:], a16[:])
		kk.ap[16], kk.ap[17] = byte(r.AddrPort.Port()>>8), byte(r.AddrPort.Port())
		kk.proto = r.Proto
		if _, dup := seen[kk]; dup {
			s.mu.Lock()
			s.badChunks++
			s.mu.Unlock()
			return nil, false
		}
		seen[kk] = struct{}{}
	}
	return out, true
}

// shardLen is the number of targets of task k.
func (s *Scan) shardLen(k uint64) uint64 {
	n := s.space.Len()
	if k >= n {
		return 0
	}
	return (n-1-k)/s.tasks + 1
}

// markMerged records task k as merged; it reports whether it was the last.
func (s *Scan) markMerged(k uint64, f *chunk, n uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.merged[k/64] |= 1 << (k % 64)
	s.tasksDone++
	s.targetsDone += n
	if f.Attempt > 1 {
		s.redelivered++
	}
	delete(s.running, k)
	w := s.worker(f.Worker)
	w.TasksDone++
	w.TargetsDone += n
	w.busy += f.Elapsed
	if w.busy > 0 {
		w.AvgRate = float64(w.TargetsDone) / w.busy.Seconds()
	}
	s.durations = append(s.durations, f.Elapsed)
	if len(s.durations) > 256 {
		s.durations = s.durations[len(s.durations)-256:]
	}
	select {
	case s.progressCh <- struct{}{}:
	default:
	}
	return s.tasksDone == s.tasks
}

func (s *Scan) worker(id string) *WorkerProgress {
	w := s.workers[id]
	if w == nil {
		w = &WorkerProgress{ID: id}
		s.workers[id] = w
	}
	return w
}

// finish marks the scan done in its record and drops its consumer.
func (s *Scan) finish(ctx context.Context) error {
	r := s.c.res
	err := retry(ctx, func() error {
		_, err := r.updateRecord(ctx, s.id, func(rec *record) bool {
			if rec.State != stateRunning {
				return false
			}
			rec.State = stateDone
			return true
		})
		return err
	})
	if err != nil {
		return err
	}
	if err := r.js.DeleteConsumer(ctx, r.n.tasks, consumerName(s.id)); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return fmt.Errorf("cluster: scan %q done, but deleting its consumer failed: %w", s.id, err)
	}
	return errFinished
}

// publish feeds tasks to the work queue, keeping at most a window of them
// ahead of the merged ones, and records how far it got in the scan's
// record so that a resumed coordinator goes on from there. It also
// watches the record (cancel from elsewhere, failure) and republishes
// tasks lost from the queue.
func (s *Scan) publish(ctx context.Context) error {
	r := s.c.res
	window := uint64(max(64, 4*s.spec.Slots))
	subj := r.n.taskSubject(s.id)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	idle := 0
	round := 0
	for {
		s.mu.Lock()
		pub, doneN := s.published, s.tasksDone
		s.mu.Unlock()
		if pub < s.tasks && pub-min(doneN, pub) < window {
			end := min(pub+max(window/4, 1), s.tasks)
			for k := pub; k < end; k++ {
				if s.isMergedLocked(k) {
					continue
				}
				if err := retry(ctx, func() error {
					_, err := r.js.Publish(ctx, subj, encodeTask(k), jetstream.WithMsgID(fmt.Sprintf("%s-%d", s.id, k)))
					return err
				}); err != nil {
					return err
				}
			}
			if err := retry(ctx, func() error {
				_, err := r.updateRecord(ctx, s.id, func(rec *record) bool {
					if rec.Published >= end {
						return false
					}
					rec.Published = end
					return true
				})
				return err
			}); err != nil {
				return err
			}
			s.mu.Lock()
			s.published = end
			s.mu.Unlock()
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.progressCh:
			continue
		case <-tick.C:
		}
		rec, _, _, err := r.loadRecord(ctx, s.id)
		if err != nil {
			if errors.Is(err, ErrNoScan) {
				return err
			}
			continue // transient
		}
		switch rec.State {
		case stateCancelled:
			return ErrCancelled
		case stateFailed:
			return fmt.Errorf("cluster: scan %q failed: %s", s.id, rec.Error)
		case stateDone:
			continue // the merger finishes
		}
		s.expireRunning()
		// Tasks lost from the queue (a purge, a crash between publishing and
		// recording): when nothing is queued or in flight for two checks in
		// a row but tasks are missing, publish them again. A task finished
		// twice costs work, never a duplicate result.
		if pub < s.tasks {
			idle = 0
			continue
		}
		ci, err := r.js.Consumer(ctx, r.n.tasks, consumerName(s.id))
		if err != nil {
			continue
		}
		info, err := ci.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			idle = 0
			continue
		}
		if idle++; idle < 4 {
			continue
		}
		idle = 0
		round++
		for k := range s.tasks {
			if s.isMergedLocked(k) {
				continue
			}
			_, _ = r.js.Publish(ctx, subj, encodeTask(k), jetstream.WithMsgID(fmt.Sprintf("%s-%d-r%d", s.id, k, round)))
		}
	}
}

func (s *Scan) isMergedLocked(k uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.isMerged(k)
}

// listen follows the workers' progress reports and the server's advisory
// for tasks that reached MaxDeliver.
func (s *Scan) listen(ctx context.Context) error {
	r := s.c.res
	ch := make(chan *nats.Msg, 256)
	sub, err := s.c.nc.ChanSubscribe(r.n.progSubject(s.id), ch)
	if err != nil {
		return fmt.Errorf("cluster: progress of %q: %w", s.id, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	adv, err := s.c.nc.ChanSubscribe("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES."+r.n.tasks+"."+consumerName(s.id), ch)
	if err != nil {
		return fmt.Errorf("cluster: advisories of %q: %w", s.id, err)
	}
	defer func() { _ = adv.Unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-ch:
			if m.Sub == adv {
				if err := s.onMaxDeliveries(ctx, m.Data); err != nil {
					return err
				}
				continue
			}
			var p progressMsg
			if json.Unmarshal(m.Data, &p) != nil || p.Task >= s.tasks {
				continue
			}
			s.onProgress(&p)
		}
	}
}

// onMaxDeliveries fails the scan when one of its tasks was delivered
// MaxDeliver times without finishing.
func (s *Scan) onMaxDeliveries(ctx context.Context, data []byte) error {
	var a struct {
		StreamSeq  uint64 `json:"stream_seq"`
		Deliveries uint64 `json:"deliveries"`
	}
	if json.Unmarshal(data, &a) != nil {
		return nil
	}
	r := s.c.res
	what := fmt.Sprintf("message %d", a.StreamSeq)
	if m, err := r.tasks.GetMsg(ctx, a.StreamSeq); err == nil {
		if k, err := decodeTask(m.Data); err == nil {
			if s.isMergedLocked(k) {
				return nil
			}
			what = fmt.Sprintf("task %d", k)
			s.mu.Lock()
			if e := s.lastErr[k]; e != "" {
				what += " (last error: " + e + ")"
			}
			s.mu.Unlock()
		}
	}
	msg := fmt.Sprintf("%s delivered %d times without finishing", what, a.Deliveries)
	_, _ = r.updateRecord(ctx, s.id, func(rec *record) bool {
		if rec.State != stateRunning {
			return false
		}
		rec.State, rec.Error = stateFailed, msg
		return true
	})
	return fmt.Errorf("cluster: scan %q failed: %s", s.id, msg)
}

func (s *Scan) onProgress(p *progressMsg) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.worker(p.Worker)
	w.LastSeen = now
	if s.isMerged(p.Task) {
		return
	}
	switch p.Event {
	case eventRun:
		t := s.running[p.Task]
		if t == nil || t.Attempt != p.Attempt {
			t = &TaskProgress{Task: p.Task, Attempt: p.Attempt, Started: now}
			s.running[p.Task] = t
		}
		t.Worker, t.Done, t.Total, t.Rate, t.LastSeen = p.Worker, p.Done, p.Total, p.Rate, now
	case eventFail:
		s.lastErr[p.Task] = p.Error
		if t := s.running[p.Task]; t != nil && t.Attempt == p.Attempt {
			delete(s.running, p.Task)
		}
	}
}

// expireRunning forgets running tasks whose worker went silent for longer
// than AckWait: the server will hand them to someone else.
func (s *Scan) expireRunning() {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, t := range s.running {
		if now.Sub(t.LastSeen) > s.spec.AckWait {
			delete(s.running, k)
		}
	}
}

// Progress is a snapshot of a distributed scan.
type Progress struct {
	Tasks          uint64 // tasks in the scan
	TasksPublished uint64 // tasks handed to the work queue so far
	TasksDone      uint64 // tasks whose results are merged
	Targets        uint64 // targets in the scan
	TargetsDone    uint64 // results merged (emitted on Results)
	Elapsed        time.Duration
	// Running are the tasks workers report running, by task number.
	Running []TaskProgress
	// Stragglers are running tasks older than three times the median time
	// of a finished task (and older than a second).
	Stragglers []TaskProgress
	// Workers are the workers seen in this scan, by ID.
	Workers []WorkerProgress
	// BadChunks counts result chunks dropped as malformed or inconsistent;
	// LateAttempts counts chunks of tasks already merged (redeliveries
	// that finished second); Redelivered counts tasks merged from a
	// delivery after the first (their first worker died, stalled or lost
	// its ack).
	BadChunks, LateAttempts, Redelivered uint64
}

// TaskProgress is one running task as its worker last reported it.
type TaskProgress struct {
	Task, Attempt uint64
	Worker        string
	Done, Total   uint64  // targets of the task finished, and in it
	Rate          float64 // the task's probes per second, recently
	Started       time.Time
	LastSeen      time.Time
}

// WorkerProgress sums up one worker's part in a scan.
type WorkerProgress struct {
	ID          string
	TasksDone   uint64    // tasks of this worker that were merged
	TargetsDone uint64    // their targets
	AvgRate     float64   // targets per second of its merged tasks
	Rate        float64   // probes per second of its running tasks, recently
	Running     int       // tasks it runs now
	LastSeen    time.Time // last progress report
	busy        time.Duration
}

// Progress returns a snapshot of the scan's progress. Safe at any time.
func (s *Scan) Progress() Progress {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := Progress{
		Tasks: s.tasks, TasksPublished: s.published, TasksDone: s.tasksDone,
		Targets: s.space.Len(), TargetsDone: s.targetsDone, Elapsed: time.Since(s.start),
		BadChunks: s.badChunks, LateAttempts: s.lateAttempt, Redelivered: s.redelivered,
	}
	ws := map[string]WorkerProgress{}
	for id, w := range s.workers {
		c := *w
		c.Rate, c.Running = 0, 0
		ws[id] = c
	}
	var median time.Duration
	if n := len(s.durations); n > 0 {
		d := slices.Clone(s.durations)
		slices.Sort(d)
		median = d[n/2]
	}
	now := time.Now()
	for _, t := range s.running {
		p.Running = append(p.Running, *t)
		w := ws[t.Worker]
		w.Rate += t.Rate
		w.Running++
		ws[t.Worker] = w
		if age := now.Sub(t.Started); median > 0 && age > 3*median && age > time.Second {
			p.Stragglers = append(p.Stragglers, *t)
		}
	}
	slices.SortFunc(p.Running, func(a, b TaskProgress) int { return cmpU64(a.Task, b.Task) })
	slices.SortFunc(p.Stragglers, func(a, b TaskProgress) int { return cmpU64(a.Task, b.Task) })
	for _, w := range ws {
		p.Workers = append(p.Workers, w)
	}
	slices.SortFunc(p.Workers, func(a, b WorkerProgress) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return p
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

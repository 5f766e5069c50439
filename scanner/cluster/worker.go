package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// WorkerConfig configures RunWorker. A nil *WorkerConfig means defaults.
type WorkerConfig struct {
	// Cluster names the cluster's resources; it must equal the
	// coordinator's. Nil means defaults.
	Cluster *Config
	// ID names the worker in progress reports and result chunks (at most
	// 128 bytes); "" means "<hostname>-<pid>".
	ID string
	// Tasks bounds the tasks this worker runs at once; 0 means 1.
	Tasks int
	// ChunkSize is the number of results per result message; 0 means 2048.
	ChunkSize int
	// Logf, when set, receives one line per notable event (task failures,
	// retries). It must be safe for concurrent use.
	Logf func(format string, args ...any)

	failTask func(task uint64) error // tests: make a task fail
}

// Progress message events.
const (
	eventRun  = "run"
	eventFail = "fail"
	eventEnd  = "end"
)

// progressMsg is a worker's progress report (core NATS, best effort).
type progressMsg struct {
	Worker  string  `json:"worker"`
	Task    uint64  `json:"task"`
	Attempt uint64  `json:"attempt"`
	Event   string  `json:"event"`
	Done    uint64  `json:"done"`
	Total   uint64  `json:"total"`
	Rate    float64 `json:"rate"`
	Error   string  `json:"error,omitempty"`
}

type worker struct {
	nc    *nats.Conn
	res   *resources
	cfg   WorkerConfig
	slots chan struct{}
}

// RunWorker serves every running scan of the cluster on nc until ctx is
// cancelled: it pulls tasks from each scan's work queue (at most
// cfg.Tasks at once), scans each task's part of the space with a local
// scanner.Scanner and the prober the scan's spec names, publishes the
// results, and acknowledges the task only after every result is stored.
// A long task is kept alive with InProgress heartbeats every AckWait/4;
// a worker that dies loses its task to another worker after AckWait, and
// the coordinator merges only one delivery of each task, so results stay
// exactly-once.
//
// On return (ctx cancelled) the tasks still running are given back to
// the queue at once (Nak). RunWorker returns nil after ctx is cancelled,
// or the error that kept it from starting.
func RunWorker(ctx context.Context, nc *nats.Conn, cfg *WorkerConfig) error {
	if nc == nil {
		return errors.New("cluster: nil NATS connection")
	}
	w := &worker{nc: nc}
	if cfg != nil {
		w.cfg = *cfg
	}
	if w.cfg.ID == "" {
		host, _ := os.Hostname()
		w.cfg.ID = host + "-" + strconv.Itoa(os.Getpid())
	}
	if len(w.cfg.ID) > maxWorkerLen {
		return fmt.Errorf("cluster: worker id of %d bytes: at most %d", len(w.cfg.ID), maxWorkerLen)
	}
	if w.cfg.Tasks < 0 || w.cfg.ChunkSize < 0 {
		return fmt.Errorf("cluster: bad worker config: tasks %d, chunk size %d: must be >= 0", w.cfg.Tasks, w.cfg.ChunkSize)
	}
	w.cfg.Tasks = max(w.cfg.Tasks, 1)
	if w.cfg.ChunkSize == 0 {
		w.cfg.ChunkSize = 2048
	}
	w.slots = make(chan struct{}, w.cfg.Tasks)
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	if err := retry(ctx, func() error {
		var err error
		w.res, err = ensure(ctx, js, w.cfg.Cluster)
		if err != nil {
			w.logf("%v", err)
		}
		return err
	}); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	serving := map[string]context.CancelFunc{}
	defer func() {
		for _, stop := range serving {
			stop()
		}
	}()
	// Scans are discovered by listing the bucket's keys every second (a
	// poll survives server restarts without watcher bookkeeping; the
	// bucket holds one small key per scan) and at once when a watcher
	// sees the bucket change.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	nudge := make(chan struct{}, 1)
	if kw, err := w.res.kv.WatchAll(ctx, jetstream.UpdatesOnly(), jetstream.MetaOnly()); err == nil {
		defer func() { _ = kw.Stop() }()
		go func() {
			for range kw.Updates() {
				select {
				case nudge <- struct{}{}:
				default:
				}
			}
		}()
	}
	for {
		keys, err := w.listScans(ctx)
		if err != nil {
			w.logf("list scans: %v", err)
		}
		if err == nil {
			live := map[string]bool{}
			for _, id := range keys {
				if _, ok := serving[id]; ok {
					live[id] = true
					continue
				}
				rec, spec, _, err := w.res.loadRecord(ctx, id)
				if err != nil {
					w.logf("scan %s: %v", id, err)
					continue
				}
				if rec.State != stateRunning {
					continue
				}
				live[id] = true
				sctx, stop := context.WithCancel(ctx)
				serving[id] = stop
				wg.Go(func() { w.serve(sctx, id, rec.Tasks, spec) })
			}
			for id, stop := range serving {
				if !live[id] {
					stop()
					delete(serving, id)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-nudge:
		}
	}
}

func (w *worker) listScans(ctx context.Context) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	l, err := w.res.kv.ListKeys(lctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return nil, nil
		}
		return nil, err
	}
	defer func() { _ = l.Stop() }()
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	return keys, nil
}

func (w *worker) logf(format string, args ...any) {
	if w.cfg.Logf != nil {
		w.cfg.Logf(format, args...)
	}
}

// serve pulls tasks of scan id until ctx ends or the scan stops running.
func (w *worker) serve(ctx context.Context, id string, tasks uint64, spec *Spec) {
	space, err := target.NewSpace(spec.Hosts, spec.Ports)
	if err != nil {
		w.logf("scan %s: %v", id, err)
		return
	}
	// Each scan's state is polled while it is served: cancel from any
	// coordinator stops the running tasks within a second.
	sctx, cancelScan := context.WithCancelCause(ctx)
	defer cancelScan(nil)
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-t.C:
			}
			rec, _, _, err := w.res.loadRecord(sctx, id)
			switch {
			case errors.Is(err, ErrNoScan):
				cancelScan(ErrNoScan)
			case err == nil && rec.State != stateRunning:
				cancelScan(ErrCancelled)
			}
		}
	}()
	var tg sync.WaitGroup
	defer tg.Wait()
	var cons jetstream.Consumer
	for sctx.Err() == nil {
		if cons == nil {
			cons, err = w.res.js.Consumer(sctx, w.res.n.tasks, consumerName(id))
			if err != nil {
				cons = nil
				sleep(sctx, 500*time.Millisecond)
				continue
			}
		}
		select {
		case w.slots <- struct{}{}:
		case <-sctx.Done():
			return
		}
		fctx, fcancel := context.WithTimeout(sctx, time.Second)
		batch, err := cons.Fetch(1, jetstream.FetchContext(fctx))
		if err != nil {
			fcancel()
			<-w.slots
			if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
				cons = nil
			}
			sleep(sctx, 200*time.Millisecond)
			continue
		}
		got := false
		msgs := batch.Messages()
		for msg := range msgs {
			got = true
			tg.Go(func() {
				defer func() { <-w.slots }()
				w.runTask(sctx, ctx, id, tasks, spec, space, msg)
			})
		}
		fcancel()
		if !got {
			<-w.slots
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// runTask scans one task and publishes its results. sctx ends when the
// scan is cancelled or the worker stops; wctx only when the worker stops.
func (w *worker) runTask(sctx, wctx context.Context, id string, tasks uint64, spec *Spec, space *target.Space, msg jetstream.Msg) {
	meta, err := msg.Metadata()
	if err != nil {
		w.logf("scan %s: task without metadata: %v", id, err)
		_ = msg.Term()
		return
	}
	k, err := decodeTask(msg.Data())
	if err == nil && k >= tasks {
		err = fmt.Errorf("cluster: task %d out of range (scan has %d)", k, tasks)
	}
	if err != nil {
		w.logf("scan %s: %v", id, err)
		_ = msg.TermWithReason(err.Error())
		return
	}
	attempt := meta.NumDelivered
	prog := progressMsg{Worker: w.cfg.ID, Task: k, Attempt: attempt}
	report := func(ev string, st scanner.Stats, e error) {
		p := prog
		p.Event, p.Done, p.Total, p.Rate = ev, st.Done, st.Total, st.Rate
		if e != nil {
			p.Error = e.Error()
		}
		b, _ := json.Marshal(p)
		_ = w.nc.Publish(w.res.n.progSubject(id), b)
	}
	results, st, err := w.scanTask(sctx, k, tasks, spec, space, msg, report)
	if err != nil {
		switch {
		case wctx.Err() != nil:
			_ = msg.Nak() // the worker stops: someone else, now
		case sctx.Err() != nil:
			// The scan was cancelled: its tasks are purged.
		default:
			w.logf("scan %s task %d attempt %d: %v", id, k, attempt, err)
			report(eventFail, st, err)
			_ = msg.NakWithDelay(time.Second)
		}
		return
	}
	// Publish the chunks, then ack. Publishing is retried with the same
	// message IDs, so a retry after a lost PubAck stores nothing twice.
	// Heartbeats go on until the ack, as publishing may wait for a server.
	hctx, stopHB := context.WithCancel(sctx)
	defer stopHB()
	go w.heartbeat(hctx, spec, msg, func() { report(eventRun, st, nil) })
	size := w.cfg.ChunkSize
	nChunks := max((len(results)+size-1)/size, 1)
	subj := w.res.n.resultSubject(id)
	var buf []byte
	for i := range nChunks {
		c := &chunk{Task: k, Attempt: attempt, Index: uint64(i), Worker: w.cfg.ID,
			Results: results[min(i*size, len(results)):min((i+1)*size, len(results))]}
		if i == nChunks-1 {
			c.Final, c.Chunks, c.Count, c.Elapsed, c.Sent = true, uint64(nChunks), uint64(len(results)), st.Elapsed, st.Sent
		}
		buf, err = appendChunk(buf[:0], c)
		if err != nil {
			w.logf("scan %s task %d: %v", id, k, err)
			report(eventFail, st, err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		msgID := fmt.Sprintf("%s.%d.%d.%d", id, k, attempt, i)
		if err := retry(sctx, func() error {
			_, err := w.res.js.Publish(sctx, subj, buf, jetstream.WithMsgID(msgID))
			return err
		}); err != nil {
			if wctx.Err() != nil {
				_ = msg.Nak()
			}
			return
		}
	}
	// A lost ack only means the task runs again; its results are already
	// stored, so the coordinator ignores the second delivery.
	_ = retry(sctx, func() error {
		actx, cancel := context.WithTimeout(sctx, 5*time.Second)
		defer cancel()
		err := msg.DoubleAck(actx)
		if errors.Is(err, jetstream.ErrMsgAlreadyAckd) || errors.Is(err, jetstream.ErrMsgNotFound) {
			return nil
		}
		var apiErr *jetstream.APIError
		if errors.As(err, &apiErr) {
			return nil // the server refused it (the task is gone): nothing to retry
		}
		return err
	})
	report(eventEnd, st, nil)
}

// heartbeat keeps msg's task alive (InProgress) every AckWait/4 and
// reports progress once a second, until ctx ends.
func (w *worker) heartbeat(ctx context.Context, spec *Spec, msg jetstream.Msg, progress func()) {
	hb := time.NewTicker(max(spec.AckWait/4, 10*time.Millisecond))
	defer hb.Stop()
	pr := time.NewTicker(time.Second)
	defer pr.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			_ = msg.InProgress()
		case <-pr.C:
			progress()
		}
	}
}

// scanTask runs the local scanner on task k and gathers its results.
func (w *worker) scanTask(ctx context.Context, k, tasks uint64, spec *Spec, space *target.Space, msg jetstream.Msg, report func(string, scanner.Stats, error)) ([]result.Result, scanner.Stats, error) {
	if w.cfg.failTask != nil {
		if err := w.cfg.failTask(k); err != nil {
			return nil, scanner.Stats{}, err
		}
	}
	p, err := spec.newProber()
	if err != nil {
		return nil, scanner.Stats{}, err
	}
	sc, err := scanner.New(p, spec.scannerOptions(k, tasks)...)
	if err != nil {
		return nil, scanner.Stats{}, err
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	scan, err := sc.Start(tctx, space)
	if err != nil {
		return nil, scanner.Stats{}, err
	}
	hctx, stopHB := context.WithCancel(ctx)
	defer stopHB()
	go w.heartbeat(hctx, spec, msg, func() { report(eventRun, scan.Stats(), nil) })
	report(eventRun, scan.Stats(), nil)
	var out []result.Result
	for r := range scan.Results() {
		out = append(out, r)
	}
	err = scan.Wait()
	return out, scan.Stats(), err
}

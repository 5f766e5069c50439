package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Errors a Scan may end with.
var (
	// ErrCancelled ends a scan that was cancelled (Coordinator.Cancel),
	// by this coordinator or another.
	ErrCancelled = errors.New("cluster: scan cancelled")
	// ErrScanExists is returned by Coordinator.Start for a scan ID already
	// in use; Attach resumes it.
	ErrScanExists = errors.New("cluster: scan already exists")
	// ErrNoScan is returned for a scan ID that the cluster does not know.
	ErrNoScan = errors.New("cluster: no such scan")
)

// Config names the JetStream resources of a cluster. The coordinators and
// workers of one cluster must use equal Configs; a nil *Config means
// defaults. The NATS connection itself (URL, credentials, TLS, reconnect
// policy) is configured with nats.go options on the *nats.Conn given to
// NewCoordinator and RunWorker.
type Config struct {
	// Prefix starts every subject and resource name; "" means
	// "portsense". Subjects: <prefix>.task.<scan> (work queue),
	// <prefix>.res.<scan> (result chunks), <prefix>.prog.<scan>
	// (progress, core NATS). Streams <prefix>_tasks and
	// <prefix>_results, key-value bucket <prefix>_scans.
	Prefix string
	// Replicas of the streams and bucket (clustered NATS); 0 means 1.
	Replicas int
	// Storage of the streams and bucket; the zero value is file storage,
	// which survives a server restart.
	Storage jetstream.StorageType
}

type names struct {
	prefix                 string
	tasks, results, bucket string
}

func (c *Config) names() (names, error) {
	p := "portsense"
	if c != nil && c.Prefix != "" {
		p = c.Prefix
	}
	if err := validID(p); err != nil {
		return names{}, fmt.Errorf("cluster: bad prefix: %w", err)
	}
	return names{prefix: p, tasks: p + "_tasks", results: p + "_results", bucket: p + "_scans"}, nil
}

func (n names) taskSubject(id string) string   { return n.prefix + ".task." + id }
func (n names) resultSubject(id string) string { return n.prefix + ".res." + id }
func (n names) progSubject(id string) string   { return n.prefix + ".prog." + id }
func consumerName(id string) string            { return "task-" + id }

// resources are the streams and bucket of a cluster.
type resources struct {
	js      jetstream.JetStream
	n       names
	tasks   jetstream.Stream
	results jetstream.Stream
	kv      jetstream.KeyValue
}

// ensure creates (or finds) the cluster's streams and bucket. It is
// idempotent: coordinators and workers all call it.
func ensure(ctx context.Context, js jetstream.JetStream, cfg *Config) (*resources, error) {
	n, err := cfg.names()
	if err != nil {
		return nil, err
	}
	var storage jetstream.StorageType
	replicas := 1
	if cfg != nil {
		storage = cfg.Storage
		if cfg.Replicas > 0 {
			replicas = cfg.Replicas
		}
	}
	r := &resources{js: js, n: n}
	r.tasks, err = findOrCreateStream(ctx, js, jetstream.StreamConfig{
		Name:        n.tasks,
		Description: "portsense cluster scan tasks (work queue)",
		Subjects:    []string{n.prefix + ".task.>"},
		Retention:   jetstream.WorkQueuePolicy,
		Storage:     storage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: task stream %s: %w", n.tasks, err)
	}
	r.results, err = findOrCreateStream(ctx, js, jetstream.StreamConfig{
		Name:        n.results,
		Description: "portsense cluster scan result chunks",
		Subjects:    []string{n.prefix + ".res.>"},
		Retention:   jetstream.LimitsPolicy,
		Storage:     storage,
		Replicas:    replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: result stream %s: %w", n.results, err)
	}
	r.kv, err = findOrCreateKV(ctx, js, jetstream.KeyValueConfig{
		Bucket:      n.bucket,
		Description: "portsense cluster scans",
		Storage:     storage,
		Replicas:    replicas,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: bucket %s: %w", n.bucket, err)
	}
	return r, nil
}

// Scan states in the record.
const (
	stateRunning   = "running"
	stateDone      = "done"
	stateCancelled = "cancelled"
	stateFailed    = "failed"
)

// record is a scan's entry in the bucket, keyed by scan ID.
type record struct {
	Version   int             `json:"version"`
	Spec      json.RawMessage `json:"spec"`
	Tasks     uint64          `json:"tasks"`
	Published uint64          `json:"published"`
	State     string          `json:"state"`
	Error     string          `json:"error,omitempty"`
	Created   time.Time       `json:"created"`
}

const recordVersion = 1

// decodeRecord parses a scan record and its spec strictly.
func decodeRecord(b []byte) (*record, *Spec, error) {
	var rec record
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&rec); err != nil {
		return nil, nil, fmt.Errorf("cluster: scan record: %w", err)
	}
	if rec.Version != recordVersion {
		return nil, nil, fmt.Errorf("cluster: scan record: unsupported version %d (this reader knows %d)", rec.Version, recordVersion)
	}
	switch rec.State {
	case stateRunning, stateDone, stateCancelled, stateFailed:
	default:
		return nil, nil, fmt.Errorf("cluster: scan record: unknown state %q", rec.State)
	}
	var s Spec
	if err := s.UnmarshalJSON(rec.Spec); err != nil {
		return nil, nil, err
	}
	if n := s.Tasks(); n != rec.Tasks {
		return nil, nil, fmt.Errorf("cluster: scan record: %d tasks, spec makes %d", rec.Tasks, n)
	}
	return &rec, &s, nil
}

func (r *record) encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// loadRecord reads scan id's record with its revision.
func (r *resources) loadRecord(ctx context.Context, id string) (*record, *Spec, uint64, error) {
	e, err := r.kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil, 0, fmt.Errorf("%w: %q", ErrNoScan, id)
	}
	if err != nil {
		return nil, nil, 0, fmt.Errorf("cluster: read scan %q: %w", id, err)
	}
	rec, s, err := decodeRecord(e.Value())
	if err != nil {
		return nil, nil, 0, err
	}
	return rec, s, e.Revision(), nil
}

// updateRecord applies fn to scan id's record and writes it back,
// retrying on a concurrent update. fn returns false to leave it as is.
func (r *resources) updateRecord(ctx context.Context, id string, fn func(*record) bool) (*record, error) {
	for {
		rec, _, rev, err := r.loadRecord(ctx, id)
		if err != nil {
			return nil, err
		}
		if !fn(rec) {
			return rec, nil
		}
		_, err = r.kv.Update(ctx, id, rec.encode(), rev)
		if err == nil {
			return rec, nil
		}
		if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			return nil, fmt.Errorf("cluster: update scan %q: %w", id, err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

// retry calls fn until it succeeds or ctx ends, backing off up to a second.
// JetStream calls fail while a server restarts; every write here is
// idempotent, so retrying is safe.
func retry(ctx context.Context, fn func() error) error {
	wait := 50 * time.Millisecond
	for {
		err := fn()
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// findOrCreateStream returns the stream cfg names, creating it when it does
// not exist. An existing stream is never updated: workers start at any
// time, and updating a stream's config while consumers are being created
// on it races inside the server (seen under -race with nats-server 2.15).
func findOrCreateStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	st, err := js.Stream(ctx, cfg.Name)
	if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		return st, err
	}
	st, err = js.CreateStream(ctx, cfg)
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		return js.Stream(ctx, cfg.Name) // another member created it first
	}
	return st, err
}

// findOrCreateKV is findOrCreateStream for the scans bucket.
func findOrCreateKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	kv, err := js.KeyValue(ctx, cfg.Bucket)
	if err == nil || !errors.Is(err, jetstream.ErrBucketNotFound) {
		return kv, err
	}
	kv, err = js.CreateKeyValue(ctx, cfg)
	if errors.Is(err, jetstream.ErrBucketExists) {
		return js.KeyValue(ctx, cfg.Bucket)
	}
	return kv, err
}

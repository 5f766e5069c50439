package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// SpecVersion is the version of the scan spec wire format that this
// package writes and the only one it reads.
const SpecVersion = 1

// Prober kinds a Spec may name.
const (
	KindConnect = "connect" // TCP connect scan, probe.Connect
	KindSYN     = "syn"     // TCP SYN scan, probe.SYN (Linux, CAP_NET_RAW)
)

// Defaults of a Spec's zero fields.
const (
	DefaultSlots      = 8
	DefaultTaskSize   = 4096
	DefaultAckWait    = 30 * time.Second
	DefaultMaxDeliver = 5
)

// Spec describes one distributed scan: what to scan and how. It is what
// crosses the wire from the coordinator to the workers (see MarshalJSON
// for the format), so it holds only values, no probers or callbacks: the
// prober is named by Prober.Kind and built by each worker.
type Spec struct {
	// Hosts and Ports make the target space; both are required. Host
	// names must be resolved before (target.HostSpec.Resolve), so that
	// every worker sees the same space.
	Hosts *target.Hosts
	Ports *target.Ports
	// Seed selects the permutation of the space (target.IterConfig.Seed).
	Seed uint64
	// Prober names the prober kind and its options.
	Prober ProberSpec
	// Timing is the timing template of every task's scanner (default T3).
	Timing scanner.Timing
	// MaxRetries and MinRetries, when not nil, override the template
	// (scanner.WithMaxRetries, scanner.WithMinRetries).
	MaxRetries, MinRetries *int
	// Rate is the scan-wide ceiling in probes per second, retransmissions
	// included; 0 means none. It is split evenly among Slots: a task runs
	// at most at Rate/Slots, and the server never lets more than Slots
	// tasks run at once, so all workers together stay below Rate.
	Rate float64
	// Slots is how many tasks may run at once across all workers (the
	// work consumer's MaxAckPending); 0 means DefaultSlots. Set it to the
	// number of workers times their Tasks bound: fewer slots leave workers
	// idle, more leave part of Rate unused.
	Slots int
	// TaskSize is the number of targets per task; 0 means DefaultTaskSize,
	// or, with a Rate, about five seconds of one slot's share of it. Aim
	// for a few seconds of work: shorter tasks cost overhead, longer ones
	// lose more when a worker dies.
	TaskSize uint64
	// AckWait is how long a task may go without a heartbeat before the
	// server hands it to another worker; 0 means DefaultAckWait. Workers
	// heartbeat every AckWait/4.
	AckWait time.Duration
	// MaxDeliver caps the deliveries of one task; 0 means
	// DefaultMaxDeliver. A task that reaches it fails the scan.
	MaxDeliver int
}

// ProberSpec names a prober and its options. Exactly the section of Kind
// may be set (Connect for "connect", SYN for "syn"); nil means defaults.
type ProberSpec struct {
	Kind    string
	Connect *ConnectSpec
	SYN     *SYNSpec
}

// ConnectSpec holds the options of a connect prober (probe.ConnectConfig).
type ConnectSpec struct {
	// MaxInFlight bounds simultaneous connection attempts on each worker;
	// 0 derives it from the worker's open-file limit.
	MaxInFlight int `json:"max_in_flight,omitempty"`
}

// SYNSpec holds the options of a SYN prober (probe.SYNConfig) that make
// sense on every worker. Interface and source address are chosen by each
// worker's routes.
type SYNSpec struct {
	SourcePort uint16 `json:"source_port,omitempty"` // first source port; 0 means probe.DefaultSYNSourcePort
	TTL        uint8  `json:"ttl,omitempty"`         // 0 means 64
	Window     uint16 `json:"window,omitempty"`      // 0 means 1024
	MSS        uint16 `json:"mss,omitempty"`         // 0 means 1460
	BatchSize  int    `json:"batch_size,omitempty"`  // 0 means 64
}

// wireSpec is the JSON form of a Spec (see Spec.MarshalJSON).
type wireSpec struct {
	Version    int        `json:"version"`
	Hosts      string     `json:"hosts"`
	Ports      string     `json:"ports"`
	Seed       uint64     `json:"seed"`
	Prober     wireProber `json:"prober"`
	Timing     string     `json:"timing"`
	MaxRetries *int       `json:"max_retries,omitempty"`
	MinRetries *int       `json:"min_retries,omitempty"`
	Rate       float64    `json:"rate,omitempty"`
	Slots      int        `json:"slots,omitempty"`
	TaskSize   uint64     `json:"task_size,omitempty"`
	AckWait    string     `json:"ack_wait,omitempty"`
	MaxDeliver int        `json:"max_deliver,omitempty"`
	Targets    uint64     `json:"targets"`
}

type wireProber struct {
	Kind    string       `json:"kind"`
	Connect *ConnectSpec `json:"connect,omitempty"`
	SYN     *SYNSpec     `json:"syn,omitempty"`
}

// MarshalJSON encodes s in the versioned wire format:
//
//	{"version":1,"hosts":"198.18.0.0/20","ports":"T:1-20","seed":7,
//	 "prober":{"kind":"connect","connect":{"max_in_flight":512}},
//	 "timing":"T4","rate":10000,"slots":8,"task_size":4096,
//	 "ack_wait":"30s","max_deliver":5,"targets":81920}
//
// hosts and ports use target.Hosts.String and target.Ports.String;
// targets (hosts × ports) lets a reader check that it rebuilt the same
// space. Optional fields are omitted when zero.
func (s Spec) MarshalJSON() ([]byte, error) {
	if err := s.validate(); err != nil {
		return nil, err
	}
	w := wireSpec{
		Version:    SpecVersion,
		Hosts:      s.Hosts.String(),
		Ports:      s.Ports.String(),
		Seed:       s.Seed,
		Prober:     wireProber{Kind: s.Prober.Kind, Connect: s.Prober.Connect, SYN: s.Prober.SYN},
		Timing:     s.Timing.String(),
		MaxRetries: s.MaxRetries,
		MinRetries: s.MinRetries,
		Rate:       s.Rate,
		Slots:      s.Slots,
		TaskSize:   s.TaskSize,
		MaxDeliver: s.MaxDeliver,
		Targets:    s.Hosts.Len() * s.Ports.Len(),
	}
	if s.AckWait != 0 {
		w.AckWait = s.AckWait.String()
	}
	return json.Marshal(w)
}

// UnmarshalJSON decodes the wire format of MarshalJSON. It rejects an
// unknown version, unknown fields, an unknown prober kind, options of
// another kind, host names, and a space whose size differs from the
// recorded targets, each with an error naming the field.
func (s *Spec) UnmarshalJSON(b []byte) error {
	var probe struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return fmt.Errorf("cluster: spec: %w", err)
	}
	if probe.Version == nil {
		return errors.New("cluster: spec: missing version")
	}
	if *probe.Version != SpecVersion {
		return fmt.Errorf("cluster: spec: unsupported version %d (this reader knows %d)", *probe.Version, SpecVersion)
	}
	var w wireSpec
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return fmt.Errorf("cluster: spec: %w", err)
	}
	if d.More() {
		return errors.New("cluster: spec: trailing data after the spec")
	}
	var out Spec
	hs, err := target.ParseHosts(w.Hosts)
	if err != nil {
		return fmt.Errorf("cluster: spec: hosts: %w", err)
	}
	if names := hs.Names(); len(names) > 0 {
		return fmt.Errorf("cluster: spec: hosts: unresolved name %q: resolve names before distributing a scan", names[0])
	}
	if out.Hosts, err = hs.Resolve(context.Background(), nil); err != nil { // no names: no lookups
		return fmt.Errorf("cluster: spec: hosts: %w", err)
	}
	if out.Ports, err = target.ParsePorts(w.Ports, target.TCP); err != nil {
		return fmt.Errorf("cluster: spec: ports: %w", err)
	}
	out.Seed = w.Seed
	out.Prober = ProberSpec{Kind: w.Prober.Kind, Connect: w.Prober.Connect, SYN: w.Prober.SYN}
	if out.Timing, err = scanner.ParseTiming(w.Timing); err != nil {
		return fmt.Errorf("cluster: spec: timing: %w", err)
	}
	out.MaxRetries, out.MinRetries = w.MaxRetries, w.MinRetries
	out.Rate, out.Slots, out.TaskSize, out.MaxDeliver = w.Rate, w.Slots, w.TaskSize, w.MaxDeliver
	if w.AckWait != "" {
		if out.AckWait, err = time.ParseDuration(w.AckWait); err != nil {
			return fmt.Errorf("cluster: spec: ack_wait: %w", err)
		}
	}
	if err := out.validate(); err != nil {
		return err
	}
	if n := out.Hosts.Len() * out.Ports.Len(); n != w.Targets {
		return fmt.Errorf("cluster: spec: targets: hosts × ports is %d, spec says %d", n, w.Targets)
	}
	*s = out
	return nil
}

// validate checks s and names the first bad field.
func (s *Spec) validate() error {
	if s.Hosts == nil || s.Hosts.Len() == 0 {
		return errors.New("cluster: spec: no hosts")
	}
	if s.Ports == nil || s.Ports.Len() == 0 {
		return errors.New("cluster: spec: no ports")
	}
	if _, err := target.NewSpace(s.Hosts, s.Ports); err != nil {
		return fmt.Errorf("cluster: spec: %w", err)
	}
	for _, p := range s.Ports.Protocols() {
		if p != target.TCP {
			return fmt.Errorf("cluster: spec: ports: protocol %s not supported by prober %q (TCP only)", p, s.Prober.Kind)
		}
	}
	switch s.Prober.Kind {
	case KindConnect:
		if s.Prober.SYN != nil {
			return errors.New("cluster: spec: prober: syn options given for kind \"connect\"")
		}
		if c := s.Prober.Connect; c != nil && c.MaxInFlight < 0 {
			return fmt.Errorf("cluster: spec: prober: connect max_in_flight %d: must be >= 0", c.MaxInFlight)
		}
	case KindSYN:
		if s.Prober.Connect != nil {
			return errors.New("cluster: spec: prober: connect options given for kind \"syn\"")
		}
		if c := s.Prober.SYN; c != nil {
			if c.BatchSize < 0 {
				return fmt.Errorf("cluster: spec: prober: syn batch_size %d: must be >= 0", c.BatchSize)
			}
			if c.SourcePort != 0 && int(c.SourcePort)+probe.SYNSourcePorts-1 > 65535 {
				return fmt.Errorf("cluster: spec: prober: syn source_port %d: needs %d ports below 65536", c.SourcePort, probe.SYNSourcePorts)
			}
		}
	case "":
		return errors.New("cluster: spec: prober: missing kind (want \"connect\" or \"syn\")")
	default:
		return fmt.Errorf("cluster: spec: prober: unknown kind %q (want \"connect\" or \"syn\")", s.Prober.Kind)
	}
	if s.Timing > scanner.T5 {
		return fmt.Errorf("cluster: spec: timing %d: want T0-T5", s.Timing)
	}
	for name, p := range map[string]*int{"max_retries": s.MaxRetries, "min_retries": s.MinRetries} {
		if p != nil && (*p < 0 || *p > 50) {
			return fmt.Errorf("cluster: spec: %s %d: want 0-50", name, *p)
		}
	}
	switch {
	case s.Rate < 0 || s.Rate != s.Rate:
		return fmt.Errorf("cluster: spec: rate %v: must be >= 0", s.Rate)
	case s.Slots < 0 || s.Slots > 1<<20:
		return fmt.Errorf("cluster: spec: slots %d: want 0-%d", s.Slots, 1<<20)
	case s.AckWait < 0 || (s.AckWait > 0 && s.AckWait < 100*time.Millisecond):
		return fmt.Errorf("cluster: spec: ack_wait %v: want 0 (default) or at least 100ms", s.AckWait)
	case s.MaxDeliver < 0:
		return fmt.Errorf("cluster: spec: max_deliver %d: must be >= 0", s.MaxDeliver)
	}
	return nil
}

// withDefaults returns s with its zero knobs filled in.
func (s Spec) withDefaults() Spec {
	if s.Slots == 0 {
		s.Slots = DefaultSlots
	}
	if s.TaskSize == 0 {
		s.TaskSize = DefaultTaskSize
		if s.Rate > 0 {
			s.TaskSize = max(uint64(s.Rate/float64(s.Slots)*5), 64)
		}
	}
	if s.AckWait == 0 {
		s.AckWait = DefaultAckWait
	}
	if s.MaxDeliver == 0 {
		s.MaxDeliver = DefaultMaxDeliver
	}
	return s
}

// Tasks returns how many tasks the scan is cut into (after defaults).
func (s Spec) Tasks() uint64 {
	d := s.withDefaults()
	n := d.Hosts.Len() * d.Ports.Len()
	return max((n+d.TaskSize-1)/d.TaskSize, 1)
}

// newProber builds the prober the spec names.
func (s *Spec) newProber() (probe.Prober, error) {
	switch s.Prober.Kind {
	case KindConnect:
		var cfg probe.ConnectConfig
		if c := s.Prober.Connect; c != nil {
			cfg.MaxInFlight = c.MaxInFlight
		}
		return probe.NewConnect(&cfg), nil
	case KindSYN:
		var cfg probe.SYNConfig
		if c := s.Prober.SYN; c != nil {
			cfg.SourcePort, cfg.TTL, cfg.Window, cfg.MSS, cfg.BatchSize = c.SourcePort, c.TTL, c.Window, c.MSS, c.BatchSize
		}
		return probe.NewSYN(&cfg)
	}
	return nil, fmt.Errorf("cluster: unknown prober kind %q", s.Prober.Kind)
}

// scannerOptions are the options of the local scanner that runs task k of
// a scan of n tasks.
func (s *Spec) scannerOptions(k, n uint64) []scanner.Option {
	d := s.withDefaults()
	opts := []scanner.Option{
		scanner.WithTiming(d.Timing),
		scanner.WithOrder(target.IterConfig{Seed: d.Seed, Shard: k, Shards: n}),
	}
	if d.MaxRetries != nil {
		opts = append(opts, scanner.WithMaxRetries(*d.MaxRetries))
	}
	if d.MinRetries != nil {
		opts = append(opts, scanner.WithMinRetries(*d.MinRetries))
	}
	if d.Rate > 0 {
		opts = append(opts, scanner.WithRate(d.Rate/float64(d.Slots)))
	}
	return opts
}

// validID checks a scan ID: 1-64 letters, digits, '-' or '_', so that it is
// one subject token and a valid consumer name.
func validID(id string) error {
	if id == "" || len(id) > 64 {
		return fmt.Errorf("cluster: bad scan id %q: want 1-64 characters", id)
	}
	if i := strings.IndexFunc(id, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_')
	}); i >= 0 {
		return fmt.Errorf("cluster: bad scan id %q: character %q not allowed (letters, digits, - and _)", id, id[i])
	}
	return nil
}

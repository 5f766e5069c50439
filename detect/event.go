package detect

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"
)

// EventKind says what an analyser found.
type EventKind uint8

// Event kinds.
const (
	KindUnknown     EventKind = iota
	KindScan                  // one source scans (fast or slow)
	KindDistributed           // several sources share one campaign
	KindDecoy                 // one real source hides among decoys
	// KindScanEnd closes a scan reported earlier: the source has been
	// quiet for the analyser's idle time. It carries the totals (probes,
	// hosts, ports), the span from FirstSeen to LastSeen, and the
	// technique. Blocking responders ignore it.
	KindScanEnd
)

var kindNames = [...]string{"unknown", "scan", "distributed", "decoy", "scan-end"}

// String returns the kind's lower-case name: "scan", "distributed",
// "decoy", "scan-end" or "unknown".
func (k EventKind) String() string { return enumName(kindNames[:], int(k)) }

// MarshalText implements encoding.TextMarshaler (the String form).
func (k EventKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the
// String form.
func (k *EventKind) UnmarshalText(b []byte) error { return enumParse(kindNames[:], "event kind", b, k) }

// Shape is the geometry of a scan over hosts × ports.
type Shape uint8

// Scan shapes.
const (
	ShapeUnknown    Shape = iota
	ShapeHorizontal       // one port (or few) over many hosts
	ShapeVertical         // many ports on one host
	ShapeBlock            // many ports over many hosts
)

var shapeNames = [...]string{"unknown", "horizontal", "vertical", "block"}

// String returns "horizontal", "vertical", "block" or "unknown".
func (s Shape) String() string { return enumName(shapeNames[:], int(s)) }

// MarshalText implements encoding.TextMarshaler (the String form).
func (s Shape) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the
// String form.
func (s *Shape) UnmarshalText(b []byte) error { return enumParse(shapeNames[:], "shape", b, s) }

// ScanType is the probe technique a scanner uses, as seen on the wire.
type ScanType uint8

// Scan techniques.
const (
	ScanTypeUnknown ScanType = iota
	ScanSYN                  // half-open: SYN, then RST after SYN-ACK
	ScanConnect              // full handshake
	ScanFIN
	ScanNULL
	ScanXmas
	ScanACK
	ScanUDP
)

var scanTypeNames = [...]string{"unknown", "syn", "connect", "fin", "null", "xmas", "ack", "udp"}

// String returns the technique's short name: "syn", "connect", "fin",
// "null", "xmas", "ack", "udp" or "unknown".
func (t ScanType) String() string { return enumName(scanTypeNames[:], int(t)) }

// MarshalText implements encoding.TextMarshaler (the String form).
func (t ScanType) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the
// String form.
func (t *ScanType) UnmarshalText(b []byte) error {
	return enumParse(scanTypeNames[:], "scan type", b, t)
}

func enumName(names []string, i int) string {
	if i >= 0 && i < len(names) {
		return names[i]
	}
	return fmt.Sprintf("%s(%d)", names[0], i)
}

func enumParse[T ~uint8](names []string, what string, b []byte, out *T) error {
	for i, n := range names {
		if n == string(b) {
			*out = T(i)
			return nil
		}
	}
	return fmt.Errorf("detect: unknown %s %q", what, b)
}

// NoteDecoyUndetermined is the Note of a KindDecoy event whose real source
// could not be told from its decoys.
const NoteDecoyUndetermined = "real source not distinguishable from the decoys " +
	"(they answer like it, or no open port was probed); no member is marked for blocking"

// SampleMax bounds Event.Sample.
const SampleMax = 8

// Sample is a bounded evidence sample: up to SampleMax failed (host, port)
// first contacts, in the order they were seen. It is a value (no slice), so
// events carry it without allocating; it encodes to JSON as a list of
// "host:port" strings.
type Sample struct {
	n       uint8
	targets [SampleMax]netip.AddrPort
}

// add appends t unless the sample is full.
func (s *Sample) add(t netip.AddrPort) {
	if int(s.n) < len(s.targets) {
		s.targets[s.n] = t
		s.n++
	}
}

// Len returns the number of targets in the sample.
func (s Sample) Len() int { return int(s.n) }

// Targets returns a copy of the sampled targets.
func (s Sample) Targets() []netip.AddrPort {
	return append([]netip.AddrPort(nil), s.targets[:s.n]...)
}

// String lists the targets: "[198.18.0.2:22 198.18.0.2:23]".
func (s Sample) String() string { return fmt.Sprint(s.Targets()) }

// MarshalJSON encodes the sample as a JSON list of "host:port" strings.
func (s Sample) MarshalJSON() ([]byte, error) { return json.Marshal(s.Targets()) }

// UnmarshalJSON decodes a list of "host:port" strings (at most SampleMax).
func (s *Sample) UnmarshalJSON(b []byte) error {
	var ts []netip.AddrPort
	if err := json.Unmarshal(b, &ts); err != nil {
		return err
	}
	if len(ts) > SampleMax {
		return fmt.Errorf("detect: sample of %d targets, at most %d", len(ts), SampleMax)
	}
	*s = Sample{}
	for _, t := range ts {
		s.add(t)
	}
	return nil
}

// Event is one finding of an analyser. Events are values; slices in them
// are owned by the receiver. Encoded with encoding/json (the enums marshal
// as their names) it is one self-contained record for a SIEM:
//
//	{"kind":"scan","detector":"trw","time":"…","first_seen":"…","source":"198.51.100.7",
//	 "shape":"vertical","scan_type":"syn","hosts":1,"ports":9,"attempts":9,
//	 "score":256,"sample":["198.18.0.2:23","198.18.0.2:3389",…]}
type Event struct {
	Kind     EventKind `json:"kind"`
	Detector string    `json:"detector"` // the analyser that fired: "trw", "threshold", "slow", …
	// Time is the packet time of the observation that completed the
	// evidence: the detection time. For KindScanEnd, the time the scan
	// was closed.
	Time time.Time `json:"time"`
	// FirstSeen is the packet time of the source's first failed first
	// contact that the analyser holds (its admission into exact
	// tracking); zero when unknown.
	FirstSeen time.Time `json:"first_seen,omitzero"`
	// LastSeen is the packet time of the source's latest first contact
	// (KindScanEnd).
	LastSeen time.Time  `json:"last_seen,omitzero"`
	Source   netip.Addr `json:"source,omitzero"` // the scanning source (for KindDecoy: the real one, when it could be told)
	// Sources lists every member of a distributed campaign, or the probable
	// decoys of a decoy scan (every member, when Source is zero). Empty
	// for KindScan.
	Sources  []netip.Addr `json:"sources,omitempty"`
	Shape    Shape        `json:"shape"`
	ScanType ScanType     `json:"scan_type"`
	Hosts    int          `json:"hosts"` // distinct destination hosts seen from Source
	Ports    int          `json:"ports"` // distinct destination ports seen from Source
	// Attempts is the number of first contacts (probes) seen from Source
	// before the event fired: probes until detection. For KindScanEnd,
	// the total.
	Attempts int     `json:"attempts"`
	Score    float64 `json:"score"` // detector-specific strength (likelihood ratio, rate, …)
	// Sample is a bounded evidence sample (at most SampleMax) of the
	// failed (host, port) first contacts behind the event, in the order
	// they were seen from FirstSeen on (the failure that admitted the
	// source; earlier ones were only counted).
	Sample Sample `json:"sample,omitzero"`
	// Note explains what the event could not establish, such as a decoy
	// scan's real source (NoteDecoyUndetermined).
	Note string `json:"note,omitempty"`
}

// Analyzer turns observations into events. An Analyzer is used from one
// goroutine; the pipeline serialises calls.
type Analyzer interface {
	// Observe takes one observation. It may call emit zero or more times
	// before returning. o is only valid during the call.
	Observe(o *Observation, emit func(Event))
	// Advance tells the analyser that packet time has reached now, so that
	// it can expire timeouts and decay scores even without traffic.
	Advance(now time.Time, emit func(Event))
	// MemoryBytes estimates the memory the analyser holds, for counters and
	// bounded-memory tests.
	MemoryBytes() int
}

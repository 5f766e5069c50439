package detect

import (
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
)

// Shape is the geometry of a scan over hosts × ports.
type Shape uint8

// Scan shapes.
const (
	ShapeUnknown    Shape = iota
	ShapeHorizontal       // one port (or few) over many hosts
	ShapeVertical         // many ports on one host
	ShapeBlock            // many ports over many hosts
)

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

// Event is one finding of an analyser. Events are values; slices in them
// are owned by the receiver.
type Event struct {
	Kind     EventKind
	Detector string     // the analyser that fired: "trw", "threshold", "slow", …
	Time     time.Time  // packet time of the observation that completed the evidence
	Source   netip.Addr // the scanning source (for KindDecoy: the likely real one)
	// Sources lists every member of a distributed campaign, or the probable
	// decoys of a decoy scan. Empty for KindScan.
	Sources  []netip.Addr
	Shape    Shape
	ScanType ScanType
	Hosts    int     // distinct destination hosts seen from Source
	Ports    int     // distinct destination ports seen from Source
	Attempts int     // first-contact attempts seen before the event fired
	Score    float64 // detector-specific strength (likelihood ratio, rate, …)
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

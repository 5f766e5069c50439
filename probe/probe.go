// Package probe defines the Prober interface that the scan engine drives, and
// the probers portsense ships: TCP connect, TCP SYN, UDP (raw packets or
// connected sockets, with the payloads of package udppayload), and host
// discovery (NewPing: ICMP echo and timestamp, TCP SYN and ACK pings, UDP
// ping, ARP and NDP on the local link, or the unprivileged connect ping), all
// on the same interface.
//
// The engine (package scanner) owns time: it decides when to send, how many
// probes are in flight, when to retransmit and when silence becomes a verdict.
// A prober owns packets: it knows how to send one probe and how to classify
// what comes back.
//
// Raw probers can send from addresses claimed with package srcpool (free
// addresses of the local subnet, answered for with ARP/NDP while the scan
// runs; SYNConfig.SourcePool, UDPConfig.SourcePool), add decoy copies
// (SYNConfig.Decoys) and use a fixed source port (SYNConfig.FixedSourcePort).
package probe

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Probe is one attempt to learn the state of one target.
type Probe struct {
	Target target.Target
	// Try counts attempts for this target from 0. Raw probers encode it in
	// the packet so that a reply names the try it answers.
	Try int
	// Timeout is how long the engine will wait for a reply before it gives
	// up on this try. Probers with blocking sends (connect) use it to bound
	// their work; raw probers ignore it.
	Timeout time.Duration
	// Final is set when the engine plans no further try for this target
	// (as far as it knows when sending). Probers that spread their
	// packets over tries, such as a ping sending its less likely methods
	// from the second try on, send everything on a final try.
	Final bool
}

// Reply is what a prober learnt about a target from a reply (or from the
// operating system, for connect). Every Reply is final for its target: the
// engine emits it as a result and stops probing that target.
type Reply struct {
	Target target.Target
	// Try is the try the reply answers, or -1 when the prober cannot tell.
	// The engine uses it for clean RTT samples (Karn's rule otherwise).
	Try      int
	State    result.State
	Reason   result.Reason
	ReplyTTL uint8     // IP TTL / hop limit of the reply, 0 if unknown
	Time     time.Time // when the reply arrived; zero means "now"
	// From is the address that sent the reply when it differs from the
	// target, such as a router sending ICMP unreachable. Usually invalid.
	From netip.Addr
	// Source is the source address of the probe the reply answers, set
	// by raw probers that send from several addresses (a source pool);
	// the engine copies it into result.Result.Source. Usually invalid.
	Source netip.Addr
	// Service names what answered, when the reply parsed as a known
	// protocol (a UDP payload's answer); nil otherwise.
	Service *result.Service
	// MAC is the link-layer source of the reply when the target is on a
	// local link (ARP and NDP replies carry it); nil otherwise. Discovery
	// probers set it; the scanner reports it in result.Host.MAC.
	MAC net.HardwareAddr
	// FirstSend says the reply answers a packet of a kind first sent on
	// Try (a prober that spreads its packets over tries, see
	// Probe.Final): the engine does not take it as a sign of loss.
	FirstSend bool
}

// Prober sends probes of one protocol and classifies their replies.
//
// A Prober is a description, safe to share between scanners; Open makes a
// Session that holds the sockets of one scan.
type Prober interface {
	// Protocol is the protocol of the targets this prober probes.
	Protocol() target.Protocol

	// Silence is the verdict for a target that never answered any try:
	// filtered/no-response for TCP, open|filtered/no-response for UDP.
	Silence() (result.State, result.Reason)

	// Open starts a probing session. The session calls deliver for every
	// reply it classifies, from any goroutine, until Close returns; deliver
	// must not block for long. Open honours ctx only while opening.
	Open(ctx context.Context, deliver func(Reply)) (Session, error)
}

// Session is an open prober: it sends probes and reports replies through
// the deliver function given to Open.
type Session interface {
	// Send sends one probe. It must not block for the length of a round
	// trip: the engine calls it from its send loop. An error is fatal to
	// the scan unless it wraps ErrTargetSkipped.
	Send(p Probe) error

	// Close stops the session, releases its sockets, and returns once
	// deliver will no longer be called.
	Close() error
}

// InFlightLimiter is implemented by probers whose probes hold a scarce
// resource while in flight, such as the file descriptor of a connect
// probe. The engine never keeps more than MaxInFlight probes of such a
// prober outstanding.
type InFlightLimiter interface {
	MaxInFlight() int
}

// SourceReporter is implemented by sessions that send every try of a
// target from one fixed source address chosen among several (a source
// pool with per-target rotation, probe/srcpool). SourceFor returns that
// address, or the invalid address when the session has no such choice.
// Hosts rate-limit ICMP errors per destination address, so the engine
// keeps one error budget per (host, source).
type SourceReporter interface {
	SourceFor(t target.Target) netip.Addr
}

// Flusher is implemented by sessions that batch probes. The engine calls
// Flush when it stops sending for a while (the window is full, the rate
// ceiling says wait, or it waits for replies), so no probe sits in a
// batch while the engine waits for its reply. Code that drives a Session
// itself must do the same: call Flush, when the session has it, before
// waiting for replies.
type Flusher interface {
	Flush() error
}

package probe

import (
	"fmt"
	"net/netip"
	"runtime"
	"time"

	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Source ports of SYN probes. A probe's try is encoded in its source port
// as SourcePort + Try%SYNSourcePorts, so a reply names the try it answers
// (exactly for tries below SYNSourcePorts, modulo it above). The default
// range 61440-61455 lies above Linux's ephemeral range (32768-60999), so
// the kernel's own connections do not collide with it.
const (
	DefaultSYNSourcePort = 61440
	SYNSourcePorts       = 16
)

// maxDecoys bounds SYNConfig.Decoys (nmap allows 128).
const maxDecoys = 128

// sourcePorts returns how many source ports the probes use.
func (c *SYNConfig) sourcePorts() uint16 {
	if c.FixedSourcePort {
		return 1
	}
	return SYNSourcePorts
}

// SYNConfig configures the SYN prober. A nil *SYNConfig means defaults:
// interface and source address by route, source ports 61440-61455, a
// random cookie key per session, TTL 64.
type SYNConfig struct {
	// Interface forces the outgoing interface by name (nmap -e); empty
	// picks it per target from the kernel's routes.
	Interface string
	// Source forces the source address for targets of its family (nmap
	// -S); invalid picks it by route. Replies must reach this host.
	Source netip.Addr
	// SourcePort is the first of the SYNSourcePorts source ports; 0 means
	// DefaultSYNSourcePort.
	SourcePort uint16
	// Key is the SipHash key of the sequence-number cookies; the zero key
	// means a fresh random key for every session.
	Key [16]byte
	// TTL is the IPv4 TTL / IPv6 hop limit of probes; 0 means 64.
	TTL uint8
	// Window and MSS are the TCP window and MSS option of probes; 0 means
	// 1024 and 1460.
	Window, MSS uint16
	// BatchSize is how many probes Send queues before one send call;
	// 0 means 64, 1 sends every probe at once.
	BatchSize int
	// FlushDelay bounds how long a probe may wait in a partial batch; 0
	// means 200µs.
	FlushDelay time.Duration
	// SendWorkers is how many goroutines hand full batches to the kernel
	// (each on its own socket) while Send fills the next one; 0 means
	// GOMAXPROCS up to 4 (none on one CPU), a negative value none: Send
	// then makes the sendmmsg calls itself.
	SendWorkers int
	// ResolveTimeout bounds each ARP/NDP try for a next hop missing from
	// the kernel's neighbour table (three tries); 0 means 300ms.
	ResolveTimeout time.Duration

	// SourcePool, when set, gives the source addresses of probes:
	// addresses claimed on the pool's interface (see probe/srcpool),
	// picked per probe or per target by Rotation, and recorded in every
	// reply (Reply.Source, result.Result.Source). Targets of a family the
	// pool has addresses of but routed through another interface are
	// skipped (ErrTargetSkipped); targets of a family it has none of are
	// probed from the routed source as without a pool. The caller owns
	// the pool and closes it after the scan; Source is ignored for the
	// pool's families.
	SourcePool *srcpool.Pool
	// Rotation spreads probes over SourcePool: srcpool.PerProbe (the
	// zero value) or srcpool.PerTarget.
	Rotation srcpool.Rotation

	// FixedSourcePort sends every probe from SourcePort itself (nmap -g,
	// --source-port) instead of SourcePort plus the try. Replies then
	// cannot name their try (Reply.Try is -1), so RTT samples follow
	// Karn's rule. SourcePort must be set.
	FixedSourcePort bool

	// Decoys are addresses (nmap -D) from which a copy of every probe is
	// also sent, so the target sees the scan coming from all of them;
	// replies to them are not expected and never counted (their cookies
	// differ). Only decoys of the target's family are used. Every decoy
	// is the user's responsibility: spoofing someone else's address
	// makes the target answer them.
	Decoys []netip.Addr
	// DecoyPosition is where the real probe goes among the decoys' copies
	// (nmap's ME): 0 sends it first, len(Decoys) last; a negative value
	// picks a random position once per session.
	DecoyPosition int

	// NoTxRing sends probes with sendmmsg(2) instead of memory-mapped
	// transmit rings (PACKET_TX_RING), the default: with a ring each batch
	// is written in place and handed to the kernel with one empty send,
	// without message headers to copy. A whole dark scan of the
	// side-by-side benchmark took ~13 % less CPU with the ring
	// (BenchmarkSYNSend: ringN against batchN). Where a ring cannot be set
	// up (an old kernel, a sandbox) Open uses sendmmsg by itself; NoTxRing
	// is for comparisons and kernels whose rings misbehave.
	NoTxRing bool
}

// SYN is the TCP SYN ("half-open") prober, nmap's -sS, for IPv4 and IPv6 on
// Linux. It writes raw packets through an AF_PACKET socket and reads
// replies through another one with a BPF filter, so it needs CAP_NET_RAW.
//
//   - SYN-ACK: open, syn-ack (the kernel, which has no socket for the
//     port, answers it with a reset, so no connection is left half-open)
//   - RST: closed, reset
//   - ICMP/ICMPv6 unreachable quoting the probe: filtered, with the reason
//     from the type and code (admin-prohibited, host-unreach, …)
//   - silence: filtered, no-response (Silence; the engine decides)
//
// Every probe's sequence number is a keyed SipHash cookie of (source,
// destination, source port, destination port); a SYN-ACK or RST whose
// acknowledgement number is not cookie+1, or an ICMP error whose quoted
// sequence number is not the cookie, is counted as forged and dropped.
//
// Sessions implement Flusher: Send queues probes and sends them in batches
// (BatchSize), a partial batch at the latest after FlushDelay; the engine
// calls Flush before it waits. Their Stats method reports counters.
type SYN struct {
	cfg SYNConfig
}

var _ Prober = (*SYN)(nil)

// Protocol returns target.TCP.
func (s *SYN) Protocol() target.Protocol { return target.TCP }

// Silence returns filtered, no-response.
func (s *SYN) Silence() (result.State, result.Reason) { return result.Filtered, result.NoResponse }

// SYNStats are the counters of a SYN session.
type SYNStats struct {
	Sent      uint64 // probes handed to the kernel
	Skipped   uint64 // probes not sent: no route, no neighbour, wrong family or protocol
	Received  uint64 // packets that passed the socket filter
	Dropped   uint64 // packets that passed the filter but were lost: receive buffer full
	Forged    uint64 // replies whose cookie did not match: dropped
	Ignored   uint64 // packets that were not a classifiable reply (undecodable, other flags, foreign ports)
	Delivered uint64 // replies passed to deliver
	Decoys    uint64 // decoy copies queued (included in Sent once sent)
}

func (c *SYNConfig) withDefaults() (SYNConfig, error) {
	var d SYNConfig
	if c != nil {
		d = *c
	}
	if d.SourcePort == 0 {
		d.SourcePort = DefaultSYNSourcePort
	}
	if int(d.SourcePort)+int(d.sourcePorts())-1 > 65535 {
		return d, fmt.Errorf("probe: source port %d too high: SYN needs %d ports from it", d.SourcePort, SYNSourcePorts)
	}
	if d.FixedSourcePort && c != nil && c.SourcePort == 0 {
		return d, fmt.Errorf("probe: a fixed source port needs SourcePort")
	}
	if d.DecoyPosition > len(d.Decoys) {
		return d, fmt.Errorf("probe: decoy position %d beyond the %d decoys", d.DecoyPosition, len(d.Decoys))
	}
	if len(d.Decoys) > maxDecoys {
		return d, fmt.Errorf("probe: %d decoys: at most %d", len(d.Decoys), maxDecoys)
	}
	d.Decoys = append([]netip.Addr(nil), d.Decoys...)
	for i, a := range d.Decoys {
		a = a.Unmap()
		if !a.IsValid() || a.IsUnspecified() || a.IsMulticast() || a.IsLoopback() || a.Zone() != "" {
			return d, fmt.Errorf("probe: decoy address %v cannot send probes", d.Decoys[i])
		}
		d.Decoys[i] = a
	}
	if d.Rotation > srcpool.PerTarget {
		return d, fmt.Errorf("probe: unknown source rotation %d", d.Rotation)
	}
	if d.Source.IsValid() {
		d.Source = d.Source.Unmap()
		if d.Source.IsUnspecified() || d.Source.IsMulticast() {
			return d, fmt.Errorf("probe: source address %v cannot send probes", d.Source)
		}
	}
	if d.TTL == 0 {
		d.TTL = 64
	}
	if d.Window == 0 {
		d.Window = 1024
	}
	if d.MSS == 0 {
		d.MSS = 1460
	}
	if d.BatchSize <= 0 {
		d.BatchSize = 64
	}
	if d.BatchSize > 1024 {
		d.BatchSize = 1024
	}
	if n := runtime.GOMAXPROCS(0); d.SendWorkers == 0 && n > 1 {
		d.SendWorkers = min(n, 4)
	}
	if d.SendWorkers < 0 {
		d.SendWorkers = 0
	}
	if d.SendWorkers > 16 {
		d.SendWorkers = 16
	}
	if d.FlushDelay <= 0 {
		d.FlushDelay = 200 * time.Microsecond
	}
	if d.ResolveTimeout <= 0 {
		d.ResolveTimeout = 300 * time.Millisecond
	}
	return d, nil
}

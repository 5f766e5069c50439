// Package scanner is portsense's scan engine. It drives a probe.Prober over
// a target.Space and streams a result.Result for every target as soon as
// the target's state is final.
//
// The engine owns time; probers own packets. For each scan it keeps:
//
//   - an RTT estimate (smoothed RTT and variance, RFC 6298 style) and a
//     probe timeout of srtt + 4·rttvar, never below the largest sample of
//     the last second or two (a scan takes thousands of samples per round
//     trip, so the variance alone forgets a stall at once), clamped to the
//     template's bounds. Probers report which try a reply answers, so even
//     replies that come after a retransmission are exact samples;
//   - an nmap-like congestion window: slow start, then linear growth. A
//     reply to a retransmission proves a loss; when the loss rate rises
//     above the link's usual level the window shrinks, once per round
//     trip. Steady random loss does not shrink it;
//   - retransmission: a silent target is probed again up to one more time
//     than any target has needed so far (counting a late answer to an
//     earlier try as needing the tries sent), within WithMinRetries and
//     WithMaxRetries; then it takes the prober's Silence verdict
//     (filtered/no-response for TCP);
//   - per UDP host, its ICMP error budget: a host that rate-limits its
//     errors (Linux: six, then one a second) is detected from the answer
//     pattern, its interval measured, and only the retransmissions of its
//     silent ports are paced to it while first probes keep full speed (see
//     Stats.RateLimited and result.ICMPRateLimit; ratelimit.go explains);
//   - a hard probes-per-second ceiling (WithRate, golang.org/x/time/rate),
//     an optional floor (WithMinRate), a delay between probes
//     (WithScanDelay) and a per-host timeout (WithHostTimeout).
//
// In-flight state is O(window), never O(targets). A first try needs no
// per-target state: targets are sent in position order, so a ledger of
// blocks of up to 64 consecutive positions, each with its send time and a
// bitmap of the positions resolved, times them out and matches their
// replies (half a byte per probe in flight). A reply finds its position
// with target.Iter.PosOf, which inverts the probe order, so no map keyed
// by target is hashed. Only a silent first try that will be retransmitted
// gets an entry (a scan with a UDP prober, whose ICMP pacing needs
// per-target state, gives every target one): 48 bytes, recycled (no
// allocation per probe once the scan runs), found by position in a ring;
// queues are FIFOs
// in send order (every probe waits the same timeout, so send order is
// deadline order), and the target order comes from target.Iter, which
// needs O(1) memory however large the space. When silent targets may be
// retransmitted, at most 131,072 targets are in flight whatever
// WithMinRate asks, which bounds the entries near 10 MiB; a scan that
// never retransmits (WithMaxRetries(0), TCP) keeps up to 2 M first tries
// in flight in about 1 MiB.
//
// Timing templates T0–T5 set these knobs with nmap's meanings (T3 is the
// default). Options apply in order, so later options override a template.
//
// A Scan is a handle on one running scan: Results closes when the scan
// ends; Wait returns why (nil, the context's error, or the error that
// stopped it); Stats is a snapshot at any time, also delivered
// periodically with WithProgress; Stats.Position is where to resume a
// stopped scan (target.IterConfig.Start). A Scanner holds no per-scan
// state, so scans may run concurrently, in one process, with no globals.
//
// # Host discovery
//
// A discovery prober (probe.NewPing; its Protocol is probe.HostProtocol)
// added to a Scanner lets it find live hosts the way nmap does before a
// port scan. Discover is a ping scan (nmap -sn): the same engine walks the
// space hosts × {the zero Port}, so discovery has the same timing, rate
// ceiling, permutation and O(window) memory; it yields a result.Host per
// host (up or down, reason, reply TTL, RTT, MAC for on-link hosts). Sweep
// discovers and port-scans live hosts in groups while discovery goes on,
// yielding host verdicts and port results as result.Record values. Start
// on a space of ports is a scan of every host without discovery (nmap
// -Pn); writers report such hosts as up, "user-set".
//
// # Version detection
//
// WithServiceDetection adds a version detection stage (a ServiceDetector
// such as probe/service's Detector) that names the service of every open
// TCP port, a bounded number at once, before its result is delivered;
// DetectServices is the same stage for any stream of results.
package scanner

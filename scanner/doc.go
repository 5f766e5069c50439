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
// In-flight state is O(window): entries are recycled, queues are FIFOs in
// send order (every probe waits the same timeout, so send order is
// deadline order), and the target order comes from target.Iter, which
// needs O(1) memory however large the space.
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
package scanner

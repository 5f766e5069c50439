// Package result holds the verdicts of a scan and writes them out.
//
// A [Result] is the verdict on one port of one host: its [State] (nmap's
// six states), the [Reason] for it, reply TTL, round-trip time, tries and
// optional [Service] information. A [Host] is the verdict on a host: up,
// down or unknown, and why. Both are plain values.
//
// # Writers
//
// A [Writer] consumes a stream of results and hosts in any order. The
// package has seven:
//
//   - [JSONLWriter]: JSON Lines, one record per line, written at once;
//     [JSONLReader] reads it back and [Merge] joins shards of a scan.
//   - [XMLWriter]: nmap's XML (-oX), valid against nmap.dtd, for ndiff
//     and nmap tooling.
//   - [GrepWriter]: nmap's greppable output (-oG).
//   - [TableWriter]: a human-readable report like nmap's normal output.
//   - [LiveTableWriter]: a terminal report for scans of any size: open
//     ports as they come, every other verdict counted.
//   - [ReportWriter]: XML, greppable output and the table of one run at
//     once, buffering the run once for all of them.
//   - [Multi]: several writers at once.
//
// XML, greppable and table output buffer the run and write it sorted on
// Close. Their memory is bounded whatever the size of the scan: past
// 32,768 port verdicts they keep them, sorted, in an unlinked temporary
// file (40 bytes each) and merge them on Close, one host at a time. They summarise the ports of a host that
// share a state other than open when there are more than
// [ExtraPortsThreshold] of them, and name a port without service
// information from the port table (target.ServiceName). In XML a
// Service's Fingerprint becomes the servicefp attribute and its TLS
// details the output of an "ssl-cert" script element, as nmap writes them. They keep the
// [Service] a Result points to until Close: do not change it after
// writing. Every writer is safe for concurrent use.
//
// # JSON schema
//
// Each JSON object (a line in JSON Lines) is a port or a host record.
// Fields marked optional are left out when zero; readers ignore fields
// they do not know, so the schema may grow. A port record:
//
//	{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp",
//	"state":"open","reason":"syn-ack","ttl":64,"rtt_us":123.456,
//	"tries":1,"time":"2026-11-27T16:16:53.123456789Z",
//	"service":{"name":"ssh","product":"OpenSSH","version":"9.2p1",
//	"extrainfo":"protocol 2.0","method":"probed","conf":10,
//	"cpe":["cpe:/a:openbsd:openssh:9.2p1"]}}
//
// A host record:
//
//	{"type":"host","addr":"2001:db8::1","state":"up","reason":"echo-reply",
//	"ttl":64,"rtt_us":98,"time":"2026-11-27T16:16:53Z",
//	"warnings":["syn-proxy: every probed port answered SYN-ACK"]}
//
// The fields:
//
//   - type: "port" or "host" (required).
//   - addr: IPv4 or IPv6 address as net/netip writes it, zone included
//     (required).
//   - port: 0–65535, and proto: "tcp", "udp", "icmp", "icmpv6" or
//     "proto-N" (both required for ports).
//   - state: a [State] name ("open", "open|filtered", …) for ports, a
//     [HostState] name ("up", "down", "unknown") for hosts (required).
//   - reason: a [Reason] name ("syn-ack", "no-response", …); "unknown"
//     when absent.
//   - ttl: reply TTL or hop limit, 1–255 (optional).
//   - rtt_us: round-trip time in microseconds, a decimal with up to three
//     fraction digits so that nanoseconds survive (optional).
//   - tries: probes sent (optional).
//   - source: the source address of the deciding probe, when the prober
//     recorded it (a source pool; optional).
//   - time: when the verdict was reached, RFC 3339 with nanoseconds,
//     always written in UTC (optional; other offsets are read).
//   - service: as [Service]; name, method and conf are always written,
//     the rest when not empty: product, version, extrainfo, tunnel, cpe,
//     fingerprint (the first bytes of an unnamed service, hex-escaped) and
//     tls, an object as [TLSInfo]: version, cipher, alpn, subject, issuer,
//     sans, notafter (RFC 3339).
//   - mac: the link-layer address of an on-link host, as
//     "02:00:5e:10:00:01" (optional, hosts only).
//   - warnings: strings about the host (optional).
//
// Decoding checks every field and reports the line and field at fault:
//
//	result: line 3: bad state "opne"
package result

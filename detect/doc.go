// Package detect recognises port scans in network traffic and responds to
// them. It is built as three stages joined by a Pipeline:
//
//	sense  ──observations──▶  analyse  ──events──▶  respond
//	Source                     Analyzer               Responder…
//
// # Sense
//
// A Source yields Observations: one packet each, reduced to what scan
// detection needs (addresses, ports, protocol, TCP flags, TTL, ICMP type and
// code, and the header an ICMP error quotes). The Decoder fills an
// Observation in place from Ethernet, raw IP, BSD loopback or Linux cooked
// captures without allocating, walking IPv6 extension headers; only first
// fragments are observed. It is a view over the decoder the probers use
// too (internal/wire), so scanning and detecting read the same wire. The
// zero Decoder reads raw IP; NewDecoder takes a file's link type. Sources:
//
//   - PcapSource reads pcap and pcapng files (OpenPcap, NewPcapSource), the
//     format told by its magic number, with readers of its own (no
//     gopacket in the program);
//   - AFPacketSource captures live on Linux through an AF_PACKET TPACKET_V3
//     ring (internal/afpacket), with a BPF filter (DefaultFilter) so the
//     kernel passes only IP TCP, UDP and ICMP headers; it takes a context,
//     and Close wakes a blocked read at once; elsewhere it returns
//     errors.ErrUnsupported. A program that only reads files links none of
//     it (the linker drops it: 0 bytes, no init);
//   - SliceSource replays observations already decoded, for tests.
//
// Packets that do not decode are reported as errors wrapping ErrMalformed or
// ErrNotObserved, which the pipeline counts; every other source error ends
// the pipeline and is returned, never dropped.
//
// # Analyse
//
// An Analyzer turns observations into Events (KindScan, KindDistributed,
// KindDecoy) with shape, scan type and the evidence behind them. The
// analysers keep their clock in packet time: the pipeline calls Advance as
// packet time moves, and from a wall-clock ticker for live capture.
// NewDefaultAnalyzer combines connection-outcome tracking, Threshold Random
// Walk, slow-scan scores and campaign linking over bounded memory.
//
// # Respond
//
// Responders receive every event in order: Callback wraps a function;
// AlertLogger logs through log/slog under a rate limit; Blocklist is an
// expiring in-memory blocklist with an allowlist and a capacity; NFTBlocker
// (Linux) drops blocked sources in the kernel through an nftables table of
// its own, managed over netlink. Blocking responders block the source of a
// scan and every member of a distributed campaign, never the probable decoys
// of a decoy scan, and never an address in their Allowlist.
//
// # Pipeline
//
// NewPipeline(src, analyzer, WithResponder(...)) wires the stages with
// bounded channels; Run blocks until the source ends or the context is
// cancelled, Events exposes the event stream instead. File sources are read
// only as fast as analysis goes; live sources, which cannot wait, drop what
// does not fit and count it (Stats.Drops, Stats.KernelDrops).
package detect

// Package portsense is an embeddable library that scans ports and detects
// port scans. This package holds only documentation: the code lives in the
// packages below.
//
// # A tour
//
// A scan starts from a target space: hosts × ports as the integers [0, N).
//
//	spec, _ := target.ParseHosts("198.18.0.0/24", "2001:db8::1")
//	hosts, _ := spec.Resolve(ctx, nil)            // names, if any, resolve here
//	ports, _ := target.ParsePorts("22,80,443,8000-8100", target.TCP)
//	space, _ := target.NewSpace(hosts, ports)
//
// A prober knows how to send one probe and classify its reply; the scanner
// owns time: how many probes are in flight, when to retransmit, when
// silence becomes "filtered".
//
//	s, _ := scanner.New(probe.NewConnect(nil), scanner.WithTiming(scanner.T4))
//	scan, _ := s.Start(ctx, space)
//	for r := range scan.Results() {
//		fmt.Println(r) // 198.18.0.7:22/tcp open syn-ack
//	}
//	err := scan.Wait()
//
// Results are plain values (package result) that the writers in package
// result turn into JSON Lines, nmap XML, greppable text or a table.
//
// The other half watches traffic for scans: package detect reads packets
// from an interface or a pcap file, decodes each once into an Observation,
// runs analysers (threshold windows, Threshold Random Walk, slow-scan
// scores, distributed and decoy campaign linking) and hands their events to
// responders (callbacks, an expiring blocklist, nftables).
//
// # Packages
//
//   - target: host and port specs, service names, the top-ports list, the
//     permuted index space, shards and resume.
//   - result: states, reasons, Result and Host values, and their encoders.
//   - probe: the Prober interface and the connect, SYN, UDP and host
//     discovery (ping) probers; probe/udppayload holds the UDP payloads,
//     probe/srcpool claimed source addresses.
//   - probe/service: version detection (-sV) with an embedded rule
//     database of its own, on a net.Conn or as a scanner stage.
//   - scanner: the scan engine.
//   - detect: sense → analyse → respond.
//
// Under them, scanning and detecting share one packet path: internal/afpacket
// is the one place that opens AF_PACKET sockets (TPACKET_V3 ring, recvmmsg
// and sendmmsg batches, BPF with labels), internal/wire the one
// allocation-free decoder (link headers, IPv4/IPv6 with extension headers,
// TCP, UDP, ICMP with quotes, ARP, NDP) with the one ICMP classification
// table, and internal/packet builds the probes.
//
// # Privileges
//
// Connect scans, UDP scans through connected sockets, target parsing,
// outputs and pcap analysis need no privileges. SYN scans, raw UDP scans
// and live capture open raw sockets and need root or CAP_NET_RAW; the
// nftables responder also needs CAP_NET_ADMIN. Without
// them these return an error that says so (wrapping os.ErrPermission);
// they never fall back silently to something else.
//
// # Platforms
//
// Everything builds everywhere Go does. Raw sockets, AF_PACKET capture and
// nftables are Linux only: elsewhere their constructors return an error
// wrapping errors.ErrUnsupported, while connect scans and pcap analysis
// work.
//
// # Safety
//
// Scan only what you may scan. The tests send packets only to loopback and
// to network namespaces they build themselves (internal/netlab), addressed
// from 198.18.0.0/15 and 2001:db8::/32, from a namespace with no route out.
package portsense

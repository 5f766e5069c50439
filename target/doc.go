// Package target describes what a scan covers: hosts, ports, and the
// index space of their product with its pseudorandom order, shards and
// resume positions.
//
// # Host specs
//
// ParseHosts and ReadHosts take host specs the way nmap does: IPv4 and IPv6
// literals, prefixes ("198.18.0.0/24", "2001:db8::/120"), IPv4 octet
// patterns ("198.18.0-3.1-254", "198.18.*.1", "198.18.0.1,5,9"), dash ranges
// ("198.18.0.10-198.18.0.50", "2001:db8::1-2001:db8::ff") and host names,
// separated by commas, spaces or newlines; list files may carry '#'
// comments. HostSpec.Exclude removes hosts with the same syntax. Names stay
// unresolved until HostSpec.Resolve looks them up through a Resolver (such
// as *net.Resolver). The result, Hosts, is a sorted set of disjoint address
// ranges, IPv4 first, with overlaps merged; Hosts.At(i) gives the i-th
// address in O(log ranges) without allocating.
//
// # Port specs
//
// ParsePorts takes nmap port lists: "22,80,1000-2000", "-" (1-65535),
// "-100", "60000-", port 0 only when written, protocol prefixes
// ("T:80,U:53", each applying until the next) and service names from
// portsense's own table (ServicePort, ServiceName). Top returns the n most
// common ports from portsense's own curated list.
//
// # Index space, order, shards and resume
//
// A Space numbers every (host, port) pair 0..N-1: index i is port i/H on
// host i%H, for H hosts. An Order is a keyed bijection on [0, N) (a
// cycle-walking Feistel network chosen by a 64-bit seed); it maps positions
// to indices so a scan visits targets in a pseudorandom order that spreads
// load across hosts and ports, without storing any per-target state.
//
// An Iter walks positions of the permuted order. Shard k of n takes
// positions k, k+n, k+2n, …, so the n shards of one seed partition the
// space exactly and each can run on a different machine. Iter.Pos counts
// the positions consumed; saving it and passing it back as IterConfig.Start
// resumes the shard exactly where it stopped. Memory is O(1) in N and
// Iter.Next does not allocate, so a /8 × 65,536 ports space (2^40 targets)
// is walked in constant memory. Sizes that do not fit in a uint64 are
// reported as errors wrapping ErrTooLarge.
package target

package netlab

import (
	"net/netip"
	"time"
)

// Environment variables understood by the package.
const (
	// EnvRequired, set to "1", turns every lab skip into a test failure.
	EnvRequired = "PORTSENSE_LAB_REQUIRED"

	// envChild marks the re-executed test process; its value is the
	// network namespace of the parent, which the child must not share.
	envChild = "PORTSENSE_NETLAB_CHILD"
	// envUnavailable carries the reason the parent could not re-execute,
	// so that New can explain the skip.
	envUnavailable = "PORTSENSE_NETLAB_UNAVAILABLE"
)

// Lab address space. Everything a lab routes lies inside these prefixes.
var (
	labSpace4 = netip.MustParsePrefix("198.18.0.0/15")
	labSpace6 = netip.MustParsePrefix("2001:db8::/32")
)

// HostConfig describes a target host added with [Lab.AddHost].
// The zero value is a host on the next free subnet with a clean link.
//
// Every host answers every probe it rejects with an ICMP error: its ICMP
// rate limits are off, unlike a real host's (see the package doc), unless
// ICMPRateLimit is set.
type HostConfig struct {
	// Subnet is the link index 1..250: the link gets 198.18.<N>.0/24 and
	// 2001:db8:<N>::/64 (same digits in the IPv6 group). The scanner side
	// is .1 / ::1, the host .2 / ::2. 0 picks the next free subnet.
	Subnet int

	// Loss (0..1) drops that fraction of the IP packets the host sends
	// (replies, resets, ICMP errors) at its side of the link, so a probe's
	// round trip sees Loss once. ARP and neighbour discovery are spared.
	// It uses an nftables netdev egress rule.
	//
	// Delay and Jitter hold every frame the host sends for Delay plus a
	// uniform draw from [-Jitter, +Jitter] (never below zero), in a
	// userspace delay bridge on the link (see the package doc); frames may
	// be reordered. Needs no netem. Hosts without them have a plain veth.
	Loss          float64
	Delay, Jitter time.Duration

	// Both applies Loss, Delay and Jitter on the scanner's side of the link
	// too, so probes are lost and delayed as well (round-trip loss
	// 1-(1-Loss)²).
	Both bool

	// ICMPRateLimit leaves the kernel's ICMP error rate limits of a new
	// namespace in place, as on a real host (Linux: a burst of six errors
	// to one destination, then one a second; ICMPv6 by its own sysctl).
	// By default a lab host answers every rejected probe.
	ICMPRateLimit bool
}

// Host is one target namespace joined to the scanner namespace by a veth pair.
// Its exported fields are read-only.
type Host struct {
	Name   string     // namespace name, "psl-<pid>-<n>"
	Addr4  netip.Addr // host address 198.18.N.2
	Addr6  netip.Addr // host address 2001:db8:N::2
	Local4 netip.Addr // scanner-side address 198.18.N.1
	Local6 netip.Addr // scanner-side address 2001:db8:N::1
	Ifname string     // scanner-side veth interface name
	Subnet int        // the link index N

	lab  *Lab
	impl hostImpl
}

// BridgeStats counts what a host's delay bridge did. All fields are zero for
// a host without Delay or Jitter (no bridge).
type BridgeStats struct {
	Forwarded  uint64 // frames passed on, both directions
	Dropped    uint64 // frames dropped: a delay queue was full, or a frame was truncated
	SendErrors uint64 // frames the kernel refused to send
	// SocketDrops counts frames lost before the bridge read them: its
	// sockets' receive buffers overflowed (PACKET_STATISTICS).
	SocketDrops uint64
	MaxQueued   int // most frames waiting in one direction's queue at once
}

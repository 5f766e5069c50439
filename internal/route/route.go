// Package route answers, for a raw prober, how to reach a target: the
// outgoing interface, the source address and the next hop's hardware
// address. It asks the kernel (netlink RTM_GETROUTE, the same lookup as
// `ip route get`), reads the neighbour table, and resolves missing
// neighbours itself with ARP or IPv6 neighbour discovery.
package route

import (
	"errors"
	"net"
	"net/netip"
)

// ErrNoRoute is wrapped by Get (and so by Cache.Hop and Cache.TryHop) when
// the routing table has no usable route to the destination: none at all,
// or an unreachable, blackhole or prohibit route.
var ErrNoRoute = errors.New("route: no route")

// Route is the kernel's answer for one destination.
type Route struct {
	Dst     netip.Addr   // the destination asked about
	Prefix  netip.Prefix // the routing-table entry that matched (invalid if unknown)
	Ifindex int
	Ifname  string
	Src     netip.Addr // preferred source address
	Gateway netip.Addr // next-hop router; invalid when the destination is on-link
	// Local is set when the destination is an address of this host: the
	// packets go through the loopback interface.
	Local bool
	// NoLink is set when the interface has no link-layer address
	// (loopback, tun, point-to-point): no neighbour to resolve.
	NoLink bool
	HWAddr net.HardwareAddr // the interface's own hardware address
}

// NextHop is the address whose hardware address frames must carry: the
// gateway, or the destination itself when it is on-link.
func (r Route) NextHop() netip.Addr {
	if r.Gateway.IsValid() {
		return r.Gateway
	}
	return r.Dst
}

// Hop is everything a sender needs to put a packet for one destination on
// the wire.
type Hop struct {
	Ifindex int
	Src     netip.Addr
	HWLen   uint8   // 0 for links without addresses
	HW      [8]byte // next hop's hardware address
	// Local is set when the destination is this host, reached through
	// the loopback interface. Linux drops IPv4 packets to 127.0.0.0/8
	// that a packet socket injects on lo (martian destination), so
	// senders use a raw IP socket for such hops.
	Local bool
}

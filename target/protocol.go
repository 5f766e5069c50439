package target

import (
	"fmt"
	"net/netip"
	"strconv"
)

// Protocol is an IP protocol number that a port belongs to.
// The zero value is invalid.
type Protocol uint8

// The protocols portsense scans or observes.
const (
	ICMP   Protocol = 1
	TCP    Protocol = 6
	UDP    Protocol = 17
	ICMPv6 Protocol = 58
)

// String returns the lower-case name nmap uses ("tcp", "udp", …).
func (p Protocol) String() string {
	switch p {
	case ICMP:
		return "icmp"
	case TCP:
		return "tcp"
	case UDP:
		return "udp"
	case ICMPv6:
		return "icmpv6"
	}
	return "proto-" + strconv.Itoa(int(p))
}

// MarshalText implements encoding.TextMarshaler.
func (p Protocol) MarshalText() ([]byte, error) {
	if p == 0 {
		return nil, fmt.Errorf("target: invalid protocol 0")
	}
	return []byte(p.String()), nil
}

// UnmarshalText implements encoding.TextUnmarshaler; it accepts the names
// String returns.
func (p *Protocol) UnmarshalText(b []byte) error {
	switch string(b) {
	case "icmp":
		*p = ICMP
	case "tcp":
		*p = TCP
	case "udp":
		*p = UDP
	case "icmpv6":
		*p = ICMPv6
	default:
		return fmt.Errorf("target: unknown protocol %q", b)
	}
	return nil
}

// Port is a transport port together with its protocol, such as tcp/80.
type Port struct {
	Proto Protocol
	Num   uint16
}

// String formats p as "80/tcp", the way nmap prints ports.
func (p Port) String() string {
	return strconv.Itoa(int(p.Num)) + "/" + p.Proto.String()
}

// Target is one element of a scan: an address and a port on it.
// For host-level probes (ping, ARP) Port is the zero Port.
type Target struct {
	Addr netip.Addr
	Port Port
}

// AddrPort returns the target's address and port number.
func (t Target) AddrPort() netip.AddrPort {
	return netip.AddrPortFrom(t.Addr, t.Port.Num)
}

// String formats t as "198.18.0.1:80/tcp" or "[2001:db8::1]:80/tcp".
func (t Target) String() string {
	return t.AddrPort().String() + "/" + t.Port.Proto.String()
}

package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sizes of the packets the discovery builders write.
const (
	ARPLen          = 28          // an Ethernet/IPv4 ARP packet, without link header
	NeighborSolLen  = 40 + 24 + 8 // IPv6 header, neighbour solicitation, source link-layer address option
	ICMPEchoLen4    = 20 + 8      // IPv4 header and echo header, before the payload
	ICMPEchoLen6    = 40 + 8      // IPv6 header and echo header, before the payload
	BroadcastHWAddr = "\xff\xff\xff\xff\xff\xff"
)

// ARPRequest writes an ARP request (who has target? tell src at srcHW)
// into b and returns its length (ARPLen), or 0 when b is too short or the
// addresses are not IPv4. Send it on a Datagram packet socket to EtherType
// 0x0806 and the broadcast hardware address (or the target's, to
// re-check a known neighbour).
func ARPRequest(b []byte, srcHW [6]byte, src, target netip.Addr) int {
	src, target = src.Unmap(), target.Unmap()
	if len(b) < ARPLen || !src.Is4() || !target.Is4() {
		return 0
	}
	b = b[:ARPLen]
	binary.BigEndian.PutUint16(b[0:], 1)      // hardware: Ethernet
	binary.BigEndian.PutUint16(b[2:], 0x0800) // protocol: IPv4
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 1) // request
	copy(b[8:14], srcHW[:])
	s, t := src.As4(), target.As4()
	copy(b[14:18], s[:])
	clear(b[18:24]) // target hardware address: unknown
	copy(b[24:28], t[:])
	return ARPLen
}

// SolicitedNode returns the solicited-node multicast group of an IPv6
// address (ff02::1:ffXX:XXXX, RFC 4291), where neighbour solicitations
// for it are sent.
func SolicitedNode(a netip.Addr) netip.Addr {
	t := a.As16()
	return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 1, 12: 0xff, 13: t[13], 14: t[14], 15: t[15]})
}

// MulticastHW returns the Ethernet address of an IPv6 multicast group
// (33:33 and its low 32 bits, RFC 2464).
func MulticastHW(group netip.Addr) [6]byte {
	g := group.As16()
	return [6]byte{0x33, 0x33, g[12], g[13], g[14], g[15]}
}

// NeighborSolicitation writes an IPv6 neighbour solicitation for target
// from src (at srcHW) into b: IPv6 header with hop limit 255 to target's
// solicited-node group, the ICMPv6 message with its checksum, and the
// source link-layer address option. It returns its length
// (NeighborSolLen), or 0 when b is too short or an address is not IPv6.
// Send it on a Datagram packet socket to EtherType 0x86dd and
// MulticastHW(SolicitedNode(target)).
func NeighborSolicitation(b []byte, srcHW [6]byte, src, target netip.Addr) int {
	if len(b) < NeighborSolLen || !src.Is6() || src.Is4In6() || !target.Is6() || target.Is4In6() {
		return 0
	}
	b = b[:NeighborSolLen]
	clear(b)
	dst := SolicitedNode(target)
	ip6(b, src, dst, 58, 255, 32)
	m := b[40:]
	m[0] = 135
	t := target.As16()
	copy(m[8:24], t[:])
	m[24], m[25] = 1, 1 // source link-layer address, 8 bytes
	copy(m[26:32], srcHW[:])
	binary.BigEndian.PutUint16(m[2:], fold(pseudo6(src, dst, 58, len(m))+sum(0, m)))
	return NeighborSolLen
}

// ICMPEcho writes an ICMP echo request (IPv4) or ICMPv6 echo request
// (IPv6) from src to dst with the given identifier, sequence number, TTL
// (hop limit) and payload into b, checksums included, and returns its
// length, or 0 when b is too short or the addresses are of different
// families.
func ICMPEcho(b []byte, src, dst netip.Addr, id, seq uint16, ttl uint8, payload []byte) int {
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return 0
	}
	hl := 20
	if src.Is6() {
		hl = 40
	}
	n := hl + 8 + len(payload)
	if len(b) < n || n > 0xffff {
		return 0
	}
	b = b[:n]
	m := b[hl:]
	clear(m[:8])
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	copy(m[8:], payload)
	if src.Is4() {
		ip4(b, src, dst, 1, ttl, n)
		binary.BigEndian.PutUint16(b[4:], seq) // IP ID: the sequence number
		binary.BigEndian.PutUint16(b[10:], 0)
		binary.BigEndian.PutUint16(b[10:], Checksum(b[:20]))
		m[0] = 8
		binary.BigEndian.PutUint16(m[2:], Checksum(m))
		return n
	}
	ip6(b, src, dst, 58, ttl, len(m))
	m[0] = 128
	binary.BigEndian.PutUint16(m[2:], fold(pseudo6(src, dst, 58, len(m))+sum(0, m)))
	return n
}

// ip4 writes an IPv4 header without options and without checksum.
func ip4(b []byte, src, dst netip.Addr, proto, ttl uint8, total int) {
	clear(b[:20])
	b[0] = 0x45
	binary.BigEndian.PutUint16(b[2:], uint16(total))
	b[8], b[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(b[12:16], s[:])
	copy(b[16:20], d[:])
}

// ip6 writes an IPv6 header.
func ip6(b []byte, src, dst netip.Addr, next, hops uint8, payload int) {
	clear(b[:40])
	b[0] = 6 << 4
	binary.BigEndian.PutUint16(b[4:], uint16(payload))
	b[6], b[7] = next, hops
	s, d := src.As16(), dst.As16()
	copy(b[8:24], s[:])
	copy(b[24:40], d[:])
}

// pseudo6 is the partial sum of the IPv6 pseudo-header.
func pseudo6(src, dst netip.Addr, next uint8, n int) uint32 {
	s, d := src.As16(), dst.As16()
	return sum(sum(0, s[:]), d[:]) + uint32(n) + uint32(next)
}

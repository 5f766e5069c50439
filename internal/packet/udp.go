package packet

import (
	"encoding/binary"
	"net/netip"
)

// UDPHeaderLen4 and UDPHeaderLen6 are the IP and UDP header bytes of a UDP
// probe; the payload follows.
const (
	UDPHeaderLen4 = 20 + 8
	UDPHeaderLen6 = 40 + 8
)

// UDP writes a UDP datagram from src:sport to dst:dport with the given TTL
// (hop limit) and payload into b, checksums included, and returns its
// length, or 0 when b is too short, the datagram too long or the addresses
// of different families. cookie goes where an ICMP error quotes it: the
// IPv4 identification (low 16 bits) or the IPv6 flow label (low 20 bits).
// It does not allocate.
func UDP(b []byte, src, dst netip.Addr, sport, dport uint16, ttl uint8, cookie uint32, payload []byte) int {
	src, dst = src.Unmap(), dst.Unmap()
	if src.Is4() != dst.Is4() || !src.IsValid() || !dst.IsValid() {
		return 0
	}
	hl := 20
	if src.Is6() {
		hl = 40
	}
	ul := 8 + len(payload)
	n := hl + ul
	if len(b) < n || n > 0xffff {
		return 0
	}
	b = b[:n]
	u := b[hl:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(ul))
	binary.BigEndian.PutUint16(u[6:], 0)
	copy(u[8:], payload)
	var ps uint32
	if src.Is4() {
		ip4(b, src, dst, 17, ttl, n)
		binary.BigEndian.PutUint16(b[4:], uint16(cookie))
		binary.BigEndian.PutUint16(b[10:], Checksum(b[:20]))
		s, d := src.As4(), dst.As4()
		ps = sum(sum(0, s[:]), d[:]) + 17 + uint32(ul)
	} else {
		ip6(b, src, dst, 17, ttl, ul)
		binary.BigEndian.PutUint32(b[0:], 6<<28|cookie&0xfffff)
		ps = pseudo6(src, dst, 17, ul)
	}
	c := fold(sum(ps, u))
	if c == 0 {
		c = 0xffff // zero means "no checksum" (and is not allowed over IPv6)
	}
	binary.BigEndian.PutUint16(u[6:], c)
	return n
}

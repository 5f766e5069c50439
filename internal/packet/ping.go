package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sizes of the host-discovery probes built below (ICMP echo, ARP and
// neighbour solicitation are in discovery.go).
const (
	ICMPTimestampLen = 20 + 20 // IPv4 header and timestamp request
	TCPPingLen4      = 20 + 20 // IPv4 header and a TCP header without options
	TCPPingLen6      = 40 + 20
	UDPPingLen4      = 20 + 8 // IPv4 header and UDP header, before the payload
	UDPPingLen6      = 40 + 8
)

// ICMPTimestamp writes an ICMP timestamp request (type 13) from src to
// dst with the given identifier, sequence number, TTL and originate
// timestamp into b, checksums included, and returns its length
// (ICMPTimestampLen), or 0 when b is too short or an address is not IPv4.
func ICMPTimestamp(b []byte, src, dst netip.Addr, id, seq uint16, ttl uint8, originate uint32) int {
	src, dst = src.Unmap(), dst.Unmap()
	if len(b) < ICMPTimestampLen || !src.Is4() || !dst.Is4() {
		return 0
	}
	b = b[:ICMPTimestampLen]
	pingIP4(b, src, dst, 1, ttl, ICMPTimestampLen, seq)
	m := b[20:]
	clear(m)
	m[0] = 13
	binary.BigEndian.PutUint16(m[4:], id)
	binary.BigEndian.PutUint16(m[6:], seq)
	binary.BigEndian.PutUint32(m[8:], originate)
	binary.BigEndian.PutUint16(m[2:], Checksum(m))
	return ICMPTimestampLen
}

// TCPPing writes a TCP segment without options or payload (a SYN or ACK
// ping) from src:sport to dst:dport with the given flags, sequence and
// acknowledgement numbers, window and TTL (hop limit) into b, checksums
// included. It returns its length, or 0 when b is too short or the
// addresses are of different families.
func TCPPing(b []byte, src, dst netip.Addr, sport, dport uint16, seq, ack uint32, flags uint8, window uint16, ttl uint8) int {
	src, dst = src.Unmap(), dst.Unmap()
	hl, ok := pingHeaderLen(src, dst)
	if !ok || len(b) < hl+20 {
		return 0
	}
	n := hl + 20
	b = b[:n]
	t := b[hl:]
	clear(t)
	binary.BigEndian.PutUint16(t[0:], sport)
	binary.BigEndian.PutUint16(t[2:], dport)
	binary.BigEndian.PutUint32(t[4:], seq)
	binary.BigEndian.PutUint32(t[8:], ack)
	t[12] = 5 << 4
	t[13] = flags
	binary.BigEndian.PutUint16(t[14:], window)
	pingTransport(b, src, dst, 6, ttl, uint16(seq), 16)
	return n
}

// UDPPing writes a UDP datagram from src:sport to dst:dport with payload
// into b, checksums included, and returns its length, or 0 when b is too
// short or the addresses are of different families.
func UDPPing(b []byte, src, dst netip.Addr, sport, dport uint16, ttl uint8, ipid uint16, payload []byte) int {
	src, dst = src.Unmap(), dst.Unmap()
	hl, ok := pingHeaderLen(src, dst)
	n := hl + 8 + len(payload)
	if !ok || len(b) < n || n > 0xffff {
		return 0
	}
	b = b[:n]
	u := b[hl:]
	binary.BigEndian.PutUint16(u[0:], sport)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], uint16(len(u)))
	binary.BigEndian.PutUint16(u[6:], 0)
	copy(u[8:], payload)
	pingTransport(b, src, dst, 17, ttl, ipid, 6)
	if binary.BigEndian.Uint16(u[6:]) == 0 {
		binary.BigEndian.PutUint16(u[6:], 0xffff) // a computed 0 is sent as all ones
	}
	return n
}

func pingHeaderLen(src, dst netip.Addr) (int, bool) {
	switch {
	case !src.IsValid() || !dst.IsValid() || src.Is4() != dst.Is4():
		return 0, false
	case src.Is4():
		return 20, true
	}
	return 40, true
}

// pingTransport writes the IP header of b (its transport segment already
// in place after it) and the transport checksum at offset csum of the
// segment.
func pingTransport(b []byte, src, dst netip.Addr, proto, ttl uint8, ipid uint16, csum int) {
	var seg []byte
	var ps uint32
	if src.Is4() {
		pingIP4(b, src, dst, proto, ttl, len(b), ipid)
		seg = b[20:]
		s, d := src.As4(), dst.As4()
		ps = sum(sum(0, s[:]), d[:]) + uint32(proto) + uint32(len(seg))
	} else {
		seg = b[40:]
		clear(b[:40])
		b[0] = 6 << 4
		binary.BigEndian.PutUint16(b[4:], uint16(len(seg)))
		b[6], b[7] = proto, ttl
		s, d := src.As16(), dst.As16()
		copy(b[8:24], s[:])
		copy(b[24:40], d[:])
		ps = sum(sum(0, s[:]), d[:]) + uint32(proto) + uint32(len(seg))
	}
	binary.BigEndian.PutUint16(seg[csum:], 0)
	binary.BigEndian.PutUint16(seg[csum:], fold(sum(ps, seg)))
}

// pingIP4 writes an IPv4 header without options, checksum included.
func pingIP4(b []byte, src, dst netip.Addr, proto, ttl uint8, total int, id uint16) {
	h := b[:20]
	clear(h)
	h[0] = 0x45
	binary.BigEndian.PutUint16(h[2:], uint16(total))
	binary.BigEndian.PutUint16(h[4:], id)
	h[8], h[9] = ttl, proto
	s, d := src.As4(), dst.As4()
	copy(h[12:16], s[:])
	copy(h[16:20], d[:])
	binary.BigEndian.PutUint16(h[10:], Checksum(h))
}

// Package packet builds the packets raw probers send: TCP SYN probes from
// prebuilt templates, ARP requests, IPv6 neighbour solicitations and ICMP
// echo requests, without allocating. Replies are decoded by
// internal/wire, the one decoder.
//
// Buffers hold network-layer packets: they start at the IPv4 or IPv6
// header (or the ARP header), as an AF_PACKET SOCK_DGRAM socket sends and
// receives them.
package packet

import "encoding/binary"

// sum adds b to a one's-complement partial sum as big-endian 16-bit words.
// An odd trailing byte is padded with zero.
func sum(s uint32, b []byte) uint32 {
	for len(b) >= 2 {
		s += uint32(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	return s
}

// fold folds a partial sum to 16 bits and complements it.
func fold(s uint32) uint16 {
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// Checksum returns the Internet checksum (RFC 1071) of b.
func Checksum(b []byte) uint16 { return fold(sum(0, b)) }

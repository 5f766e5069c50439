package packet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Sizes of the SYN probes built by SYN: IP header, 20-byte TCP header and a
// 4-byte MSS option (many stacks drop a SYN without one).
const (
	SYNLen4 = 20 + 24
	SYNLen6 = 40 + 24
)

// SYN builds TCP SYN probes from one source address. It keeps a template
// and the checksum partial sums of every constant field, so that Build only
// adds the destination, ports and sequence number.
type SYN struct {
	src    netip.Addr
	v6     bool
	n      int
	tmpl   [SYNLen6]byte
	ipSum  uint32 // IPv4 header words that never change
	tcpSum uint32 // pseudo-header source + protocol + length and constant TCP words
}

// NewSYN returns a SYN builder for probes from src with the given TTL (hop
// limit), TCP window and MSS option.
func NewSYN(src netip.Addr, ttl uint8, window, mss uint16) (*SYN, error) {
	if !src.IsValid() {
		return nil, fmt.Errorf("packet: invalid source address")
	}
	src = src.Unmap()
	s := &SYN{src: src, v6: src.Is6()}
	var tcp []byte
	if s.v6 {
		s.n = SYNLen6
		h := s.tmpl[:40]
		h[0] = 6 << 4
		binary.BigEndian.PutUint16(h[4:], 24) // payload length
		h[6] = 6                              // next header TCP
		h[7] = ttl
		a := src.As16()
		copy(h[8:24], a[:])
		tcp = s.tmpl[40:SYNLen6]
		s.tcpSum = sum(0, a[:])
	} else {
		s.n = SYNLen4
		h := s.tmpl[:20]
		h[0] = 0x45
		binary.BigEndian.PutUint16(h[2:], SYNLen4)
		h[8] = ttl
		h[9] = 6
		a := src.As4()
		copy(h[12:16], a[:])
		s.ipSum = sum(0, h) // dst, id and checksum are still zero
		tcp = s.tmpl[20:SYNLen4]
		s.tcpSum = sum(0, a[:])
	}
	tcp[12] = 6 << 4 // data offset: 6 words
	tcp[13] = 0x02   // SYN
	binary.BigEndian.PutUint16(tcp[14:], window)
	tcp[20], tcp[21] = 2, 4 // MSS option
	binary.BigEndian.PutUint16(tcp[22:], mss)
	s.tcpSum += 6 + 24 // pseudo-header protocol and TCP length
	s.tcpSum = sum(s.tcpSum, tcp)
	return s, nil
}

// Len is the length of the packets Build writes.
func (s *SYN) Len() int { return s.n }

// Is6 reports whether s builds IPv6 packets.
func (s *SYN) Is6() bool { return s.v6 }

// Build writes a SYN to dst:dport from sport with sequence number seq into
// b and returns its length, or 0 when b is shorter than Len or dst is not
// of the template's family. It does not allocate.
func (s *SYN) Build(b []byte, dst netip.Addr, sport, dport uint16, seq uint32) int {
	if len(b) < s.n {
		return 0
	}
	b = b[:s.n]
	copy(b, s.tmpl[:s.n])
	var tcp []byte
	var ps uint32
	if s.v6 {
		if !dst.Is6() || dst.Is4In6() {
			return 0
		}
		a := dst.As16()
		copy(b[24:40], a[:])
		ps = sum(s.tcpSum, a[:])
		tcp = b[40:]
	} else {
		if !dst.Is4() {
			return 0
		}
		a := dst.As4()
		copy(b[16:20], a[:])
		id := uint16(seq)
		binary.BigEndian.PutUint16(b[4:], id)
		ip := s.ipSum + uint32(id) + uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
		binary.BigEndian.PutUint16(b[10:], fold(ip))
		ps = s.tcpSum + uint32(binary.BigEndian.Uint16(a[0:])) + uint32(binary.BigEndian.Uint16(a[2:]))
		tcp = b[20:]
	}
	binary.BigEndian.PutUint16(tcp[0:], sport)
	binary.BigEndian.PutUint16(tcp[2:], dport)
	binary.BigEndian.PutUint32(tcp[4:], seq)
	ps += uint32(sport) + uint32(dport) + seq>>16 + seq&0xffff
	binary.BigEndian.PutUint16(tcp[16:], fold(ps))
	return s.n
}

// Src is the source address of the packets s builds.
func (s *SYN) Src() netip.Addr { return s.src }

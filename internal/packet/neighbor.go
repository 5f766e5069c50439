package packet

import (
	"encoding/binary"
	"net/netip"
)

// Sizes of the neighbour-answer builders' packets.
const (
	NeighborAdvLen = 40 + 24 + 8 // IPv6 header, neighbour advertisement, target link-layer address option
	DADSolLen      = 40 + 24     // IPv6 header, neighbour solicitation without options
)

// Neighbour advertisement flags (RFC 4861 4.4), for NeighborAdvertisement.
const (
	NARouter    uint8 = 0x80
	NASolicited uint8 = 0x40
	NAOverride  uint8 = 0x20
)

// ARPReply writes an ARP reply (src is at srcHW) to the asker dst at
// dstHW into b and returns its length (ARPLen), or 0 when b is too short
// or the addresses are not IPv4. Send it on a Datagram packet socket to
// EtherType 0x0806 and dstHW. An RFC 5227 probe asks from 0.0.0.0: answer
// it with dst 0.0.0.0 to the broadcast address.
func ARPReply(b []byte, srcHW [6]byte, src netip.Addr, dstHW [6]byte, dst netip.Addr) int {
	src, dst = src.Unmap(), dst.Unmap()
	if len(b) < ARPLen || !src.Is4() || !dst.Is4() {
		return 0
	}
	b = b[:ARPLen]
	binary.BigEndian.PutUint16(b[0:], 1)
	binary.BigEndian.PutUint16(b[2:], 0x0800)
	b[4], b[5] = 6, 4
	binary.BigEndian.PutUint16(b[6:], 2) // reply
	copy(b[8:14], srcHW[:])
	s, d := src.As4(), dst.As4()
	copy(b[14:18], s[:])
	copy(b[18:24], dstHW[:])
	copy(b[24:28], d[:])
	return ARPLen
}

// NeighborAdvertisement writes an IPv6 neighbour advertisement from src to
// dst saying that target is at targetHW, with flags (NASolicited,
// NAOverride, NARouter), hop limit 255 and the target link-layer address
// option, checksummed, into b. It returns its length (NeighborAdvLen), or
// 0 when b is too short or an address is not IPv6. An answer to a
// solicitation goes from target to the solicitation's source with
// NASolicited|NAOverride; an answer to duplicate address detection (a
// solicitation from ::) goes to ff02::1 without NASolicited.
func NeighborAdvertisement(b []byte, targetHW [6]byte, src, dst, target netip.Addr, flags uint8) int {
	if len(b) < NeighborAdvLen || !v6(src) || !v6(dst) || !v6(target) {
		return 0
	}
	b = b[:NeighborAdvLen]
	clear(b)
	ip6(b, src, dst, 58, 255, 32)
	m := b[40:]
	m[0] = 136
	m[4] = flags & (NARouter | NASolicited | NAOverride)
	t := target.As16()
	copy(m[8:24], t[:])
	m[24], m[25] = 2, 1 // target link-layer address, 8 bytes
	copy(m[26:32], targetHW[:])
	binary.BigEndian.PutUint16(m[2:], fold(pseudo6(src, dst, 58, len(m))+sum(0, m)))
	return NeighborAdvLen
}

// DADSolicitation writes the neighbour solicitation of IPv6 duplicate
// address detection (RFC 4862 5.4.2) for target into b: from the
// unspecified address :: to target's solicited-node group, hop limit 255,
// without a source link-layer address option (forbidden from ::). It
// returns its length (DADSolLen), or 0 when b is too short or target is
// not IPv6. Send it to MulticastHW(SolicitedNode(target)); a node that
// owns target answers with an advertisement to ff02::1, and a node doing
// detection for the same address sends this same solicitation.
func DADSolicitation(b []byte, target netip.Addr) int {
	if len(b) < DADSolLen || !v6(target) {
		return 0
	}
	b = b[:DADSolLen]
	clear(b)
	src := netip.IPv6Unspecified()
	dst := SolicitedNode(target)
	ip6(b, src, dst, 58, 255, 24)
	m := b[40:]
	m[0] = 135
	t := target.As16()
	copy(m[8:24], t[:])
	binary.BigEndian.PutUint16(m[2:], fold(pseudo6(src, dst, 58, len(m))+sum(0, m)))
	return DADSolLen
}

func v6(a netip.Addr) bool { return a.Is6() && !a.Is4In6() }

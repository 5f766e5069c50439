// Package cookie computes the keyed SYN cookies that raw probers put into
// the TCP sequence number, so that replies can be validated without state.
//
// The hash is SipHash-2-4 (Aumasson and Bernstein) with a 128-bit key over
// (source address, destination address, source port, destination port).
// An off-path party who does not know the key cannot guess the 32-bit
// cookie, so a forged SYN-ACK or RST is rejected with probability 1-2^-32.
package cookie

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// Key is a SipHash key. The zero key is valid but predictable: callers
// should fill it from crypto/rand.
type Key [16]byte

// Hasher computes cookies with one key. The zero Hasher uses the zero key.
// A Hasher is a small value, safe for concurrent use.
type Hasher struct {
	k0, k1 uint64
}

// New returns a Hasher for key.
func New(key Key) Hasher {
	return Hasher{
		k0: binary.LittleEndian.Uint64(key[0:8]),
		k1: binary.LittleEndian.Uint64(key[8:16]),
	}
}

// TCP returns the 32-bit cookie for a probe from src:sport to dst:dport.
// src and dst must be of the same family; mixed or invalid addresses still
// hash (to a value no real reply will carry).
func (h Hasher) TCP(src, dst netip.Addr, sport, dport uint16) uint32 {
	var m [36]byte
	n := 0
	if src.Is4() && dst.Is4() {
		s, d := src.As4(), dst.As4()
		copy(m[0:4], s[:])
		copy(m[4:8], d[:])
		n = 8
	} else {
		s, d := src.As16(), dst.As16()
		copy(m[0:16], s[:])
		copy(m[16:32], d[:])
		n = 32
	}
	binary.BigEndian.PutUint16(m[n:], sport)
	binary.BigEndian.PutUint16(m[n+2:], dport)
	v := h.Sum64(m[:n+4])
	return uint32(v) ^ uint32(v>>32)
}

// Sum64 returns SipHash-2-4 of msg under the Hasher's key.
func (h Hasher) Sum64(msg []byte) uint64 {
	v0 := h.k0 ^ 0x736f6d6570736575
	v1 := h.k1 ^ 0x646f72616e646f6d
	v2 := h.k0 ^ 0x6c7967656e657261
	v3 := h.k1 ^ 0x7465646279746573
	n := len(msg)
	for len(msg) >= 8 {
		m := binary.LittleEndian.Uint64(msg)
		v3 ^= m
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
		v0 ^= m
		msg = msg[8:]
	}
	b := uint64(n) << 56
	for i := len(msg) - 1; i >= 0; i-- {
		b |= uint64(msg[i]) << (8 * uint(i))
	}
	v3 ^= b
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0, v1, v2, v3 = round(v0, v1, v2, v3)
	v0 ^= b
	v2 ^= 0xff
	for range 4 {
		v0, v1, v2, v3 = round(v0, v1, v2, v3)
	}
	return v0 ^ v1 ^ v2 ^ v3
}

func round(v0, v1, v2, v3 uint64) (uint64, uint64, uint64, uint64) {
	v0 += v1
	v1 = bits.RotateLeft64(v1, 13)
	v1 ^= v0
	v0 = bits.RotateLeft64(v0, 32)
	v2 += v3
	v3 = bits.RotateLeft64(v3, 16)
	v3 ^= v2
	v0 += v3
	v3 = bits.RotateLeft64(v3, 21)
	v3 ^= v0
	v2 += v1
	v1 = bits.RotateLeft64(v1, 17)
	v1 ^= v2
	v2 = bits.RotateLeft64(v2, 32)
	return v0, v1, v2, v3
}

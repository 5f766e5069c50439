package target

import "math/bits"

// feistelRounds is the number of Feistel rounds; it must be even so the
// two halves end up with their original widths.
const feistelRounds = 4

// Order is a keyed pseudorandom bijection on [0, n): At maps each index
// to a distinct index, chosen by a 64-bit seed. It is a small value type:
// copying it is cheap and At never allocates.
//
// It is an unbalanced Feistel network on the smallest power of two
// covering n (at least 4), applied repeatedly until the result falls in
// [0, n) ("cycle walking"). Because the domain is less than 2n, the expected
// number of walks is below 2. A Feistel network was chosen over a cyclic
// group (zmap-style multiplicative group modulo a prime) because it gives
// random access: At(i) costs the same for every i, which makes shards and
// resume exact and cheap, and it needs no prime search or modular
// exponentiation for arbitrary n.
//
// The order only has to look random and spread probes; it is not a cipher
// and does not hide the order from someone who sees many probes.
//
// Every seed, including 0, gives a permutation that looks random; use
// IdentityOrder for no permutation. The zero Order is the identity on an
// empty domain.
type Order struct {
	n        uint64
	identity bool
	hiBits   uint // width of the high half (the low half gets the rest)
	loBits   uint
	keys     [feistelRounds]uint64
}

// NewOrder returns the permutation of [0, n) selected by seed.
func NewOrder(n, seed uint64) Order {
	o := Order{n: n}
	if n <= 1 {
		o.identity = true
		return o
	}
	w := uint(bits.Len64(n - 1))
	w = max(w, 2)
	o.loBits = w / 2
	o.hiBits = w - o.loBits
	s := seed
	for i := range o.keys {
		s += 0x9e3779b97f4a7c15
		o.keys[i] = mix64(s)
	}
	return o
}

// IdentityOrder returns the order that maps every i in [0, n) to itself.
func IdentityOrder(n uint64) Order { return Order{n: n, identity: true} }

// Len returns n, the size of the domain.
func (o Order) Len() uint64 { return o.n }

// At returns the permuted index of i. i must be below o.Len(); for larger
// i the result is unspecified (but At does not panic).
func (o Order) At(i uint64) uint64 {
	if o.identity || i >= o.n {
		return i
	}
	x := o.encrypt(i)
	for x >= o.n {
		x = o.encrypt(x)
	}
	return x
}

// encrypt applies the Feistel network to x, which must fit in
// hiBits+loBits bits. Each round maps (h, l) of widths (a, b) to
// (l, h ^ F(l)) of widths (b, a); after an even number of rounds the
// widths are back where they started.
func (o *Order) encrypt(x uint64) uint64 {
	a, b := o.hiBits, o.loBits
	h := x >> b
	l := x & (1<<b - 1)
	for r := range feistelRounds {
		f := mix64(l^o.keys[r]) & (1<<a - 1)
		h, l = l, h^f
		a, b = b, a
	}
	return h<<b | l
}

// mix64 is the SplitMix64 finaliser, a fast bijective 64-bit mixer.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

package detect

import (
	"hash/maphash"
	"net/netip"
)

// keyHasher hashes addresses and flow tuples with a per-instance maphash
// seed, so an outsider cannot aim packets at one bucket of our tables.
type keyHasher struct{ seed maphash.Seed }

func newKeyHasher() keyHasher { return keyHasher{seed: maphash.MakeSeed()} }

// nonzero keeps 0 free as the "empty slot" marker.
func nonzero(h uint64) uint64 {
	if h == 0 {
		return 1
	}
	return h
}

func putAddr(b []byte, a netip.Addr) {
	a16 := a.As16()
	copy(b, a16[:])
	if a.Is4() {
		b[16] = 4
	} else {
		b[16] = 6
	}
}

// addr hashes one address.
func (k keyHasher) addr(a netip.Addr) uint64 {
	var b [17]byte
	putAddr(b[:], a)
	return nonzero(maphash.Bytes(k.seed, b[:]))
}

// tuple hashes (tag, a, b, x, y): tag separates key spaces that share one
// filter (host contacts, port contacts, flows).
func (k keyHasher) tuple(tag byte, a, b netip.Addr, x, y uint16, proto uint8) uint64 {
	var buf [40]byte
	putAddr(buf[0:17], a)
	putAddr(buf[17:34], b)
	buf[34] = byte(x)
	buf[35] = byte(x >> 8)
	buf[36] = byte(y)
	buf[37] = byte(y >> 8)
	buf[38] = proto
	buf[39] = tag
	return nonzero(maphash.Bytes(k.seed, buf[:]))
}

// mix64 is a cheap finaliser used to derive further hashes from one keyed
// hash (the keyed part already defeats collision attacks).
func mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// tableWays is the associativity of srcTable: a key may live in any slot
// of its bucket, and a full bucket evicts its least-evidence slot.
const tableWays = 8

type tableSlot[V any] struct {
	h    uint64 // 0: empty
	addr netip.Addr
	val  V
}

// srcTable is a fixed-capacity, set-associative map from a source address
// to per-source state. It never grows; inserting into a full bucket evicts
// the slot whose weight is lowest.
type srcTable[V any] struct {
	slots  []tableSlot[V]
	mask   uint64 // bucket index mask
	n      int
	weight func(*V) float64
}

// newSrcTable rounds capacity up to a power of two of at least tableWays.
func newSrcTable[V any](capacity int, weight func(*V) float64) *srcTable[V] {
	nb := 1
	for nb*tableWays < capacity {
		nb <<= 1
	}
	return &srcTable[V]{
		slots:  make([]tableSlot[V], nb*tableWays),
		mask:   uint64(nb - 1),
		weight: weight,
	}
}

func (t *srcTable[V]) bucket(h uint64) []tableSlot[V] {
	i := int((h>>7)&t.mask) * tableWays
	return t.slots[i : i+tableWays : i+tableWays]
}

// get returns the state of a, or nil.
func (t *srcTable[V]) get(h uint64, a netip.Addr) *V {
	b := t.bucket(h)
	for i := range b {
		if b[i].h == h && b[i].addr == a {
			return &b[i].val
		}
	}
	return nil
}

// insert returns a zeroed slot for a (a must not be present). When the
// bucket is full it evicts the lowest-weight slot and reports its address.
func (t *srcTable[V]) insert(h uint64, a netip.Addr) (v *V, evicted netip.Addr) {
	b := t.bucket(h)
	victim := -1
	var vw float64
	for i := range b {
		if b[i].h == 0 {
			victim = i
			break
		}
		w := t.weight(&b[i].val)
		if victim < 0 || w < vw {
			victim, vw = i, w
		}
	}
	s := &b[victim]
	if s.h != 0 {
		evicted = s.addr
	} else {
		t.n++
	}
	var zero V
	s.h, s.addr, s.val = h, a, zero
	return &s.val, evicted
}

// remove clears the slot of a, if present.
func (t *srcTable[V]) remove(h uint64, a netip.Addr) {
	b := t.bucket(h)
	for i := range b {
		if b[i].h == h && b[i].addr == a {
			var zero tableSlot[V]
			b[i] = zero
			t.n--
			return
		}
	}
}

// len reports the number of occupied slots.
func (t *srcTable[V]) len() int { return t.n }

// cap reports the fixed number of slots.
func (t *srcTable[V]) cap() int { return len(t.slots) }

package scanner

import "math/bits"

// The ledger of first tries.
//
// Positions are sent in increasing order, so the send time of a target's
// first try is monotone in its position. The engine therefore keeps no
// per-target state for a first try: the ledger records runs of
// consecutive positions sent close together as blocks of at most 64, each
// with the engine clock of its first and latest send and a 64-bit map of
// the positions already resolved (answered, skipped, given up, or handed
// to an entry for retransmission). A reply finds its position with
// target.Iter.PosOf and its block by binary search; a block times out as
// a whole, its latest send plus the probe timeout, and only its silent
// positions that may be retransmitted (or need other per-target state,
// such as UDP ICMP pacing) become entries.
//
// A block closes after 64 positions, a gap in the positions (a skipped
// target), or when its first send is older than blockSpan: so a silent
// first try is judged at most that much after its own timeout, and the
// RTT sample of an answered first try, taken from the block's first send,
// overstates the round trip by at most that much. At 1 M probes per
// second blocks are full after 64 µs, and a second of timeout is ~16,000
// blocks, 512 KiB, where an entry per target cost 72 MiB.

// blockMax is the most positions one block holds.
const blockMax = 64

// maxBlockSpan bounds blockSpan: the time from a block's first send to its
// last, in µs of the engine clock.
const maxBlockSpan = 250

// block is a run of consecutive positions whose first tries were sent
// between first and last.
type block struct {
	start       uint64 // first position
	done        uint64 // bit i set: position start+i is resolved
	first, last uint32 // engine clock (µs) of the first and latest send
	n           uint8  // positions sent in the block
	sealed      bool   // takes no more positions
}

// sentMask has a bit set for each position sent in the block.
func (b *block) sentMask() uint64 {
	if b.n >= 64 {
		return ^uint64(0)
	}
	return 1<<b.n - 1
}

// resolved reports whether every position of b is resolved.
func (b *block) resolved() bool { return b.done == b.sentMask() }

// ledger is a ring of blocks in position order.
type ledger struct {
	ring       []block // its length is a power of two
	head, tail uint64  // the live blocks are head … tail-1 (ring index & mask)
	open       int     // positions sent and not resolved
}

func (l *ledger) at(i uint64) *block { return &l.ring[i&uint64(len(l.ring)-1)] }

// empty reports whether the ledger holds no block.
func (l *ledger) empty() bool { return l.head == l.tail }

// front returns the oldest block, or nil.
func (l *ledger) front() *block {
	if l.empty() {
		return nil
	}
	return l.at(l.head)
}

// add records the first try of pos, sent at engine clock now; a block
// whose first send is span or more µs before now takes no more positions.
func (l *ledger) add(pos uint64, now, span uint32) {
	if !l.empty() {
		b := l.at(l.tail - 1)
		if !b.sealed && b.n < blockMax && b.start+uint64(b.n) == pos && now-b.first < span {
			b.n++
			b.last = now
			l.open++
			return
		}
		b.sealed = true
	}
	if int(l.tail-l.head) == len(l.ring) {
		l.grow()
	}
	*l.at(l.tail) = block{start: pos, n: 1, first: now, last: now}
	l.tail++
	l.open++
}

// grow doubles the ring.
func (l *ledger) grow() {
	n := max(2*len(l.ring), 64)
	r := make([]block, n)
	for i := l.head; i < l.tail; i++ {
		r[i&uint64(n-1)] = *l.at(i)
	}
	l.ring = r
}

// find returns the block that holds pos and pos's bit in it, or nil.
func (l *ledger) find(pos uint64) (*block, uint64) {
	lo, hi := l.head, l.tail
	if lo == hi || pos < l.at(lo).start {
		return nil, 0
	}
	// Full blocks are the rule: guess, then search.
	if g := lo + (pos-l.at(lo).start)/blockMax; g < hi {
		if b := l.at(g); b.start <= pos && pos-b.start < uint64(b.n) {
			return b, 1 << (pos - b.start)
		}
	}
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		if l.at(mid).start <= pos {
			lo = mid
		} else {
			hi = mid
		}
	}
	b := l.at(lo)
	if pos-b.start >= uint64(b.n) {
		return nil, 0
	}
	return b, 1 << (pos - b.start)
}

// resolve marks the position of bit in b resolved. It reports false when
// it already was.
func (l *ledger) resolve(b *block, bit uint64) bool {
	if b.done&bit != 0 {
		return false
	}
	b.done |= bit
	l.open--
	return true
}

// trim drops resolved blocks from the front.
func (l *ledger) trim() {
	for l.head < l.tail && l.at(l.head).resolved() {
		l.head++
	}
}

// low returns the lowest unresolved position, and false when every
// position in the ledger is resolved.
func (l *ledger) low() (uint64, bool) {
	for i := l.head; i < l.tail; i++ {
		b := l.at(i)
		if !b.resolved() {
			return b.start + uint64(bits.TrailingZeros64(^b.done)), true
		}
	}
	return 0, false
}

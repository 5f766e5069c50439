package detect

import (
	"math"
	"math/bits"
)

// hllP is the HyperLogLog precision: 2^6 = 64 one-byte registers give a
// standard error near 13 % for large counts; small counts (the ones that
// decide shape and slow-scan alarms) go through linear counting and are
// nearly exact.
const (
	hllP = 6
	hllM = 1 << hllP
)

// hllExact is how many distinct keys an hll counts exactly (by 32-bit
// fingerprint) before relying on its registers: the small counts that
// decide shapes must not depend on the hash seed.
const hllExact = 8

// hll is a small HyperLogLog distinct counter over pre-hashed keys.
type hll struct {
	reg   [hllM]uint8
	small [hllExact]uint32
	ns    uint8
}

// add inserts a 64-bit (well-mixed) hash.
func (s *hll) add(h uint64) {
	h = mix64(h)
	if s.ns <= hllExact {
		fp := uint32(h>>32) | 1
		found := false
		for i := 0; i < int(min(s.ns, hllExact)); i++ {
			if s.small[i] == fp {
				found = true
				break
			}
		}
		if !found {
			if s.ns < hllExact {
				s.small[s.ns] = fp
			}
			s.ns++ // ns == hllExact+1: overflowed, use the registers
		}
	}
	idx := h >> (64 - hllP)
	rest := h<<hllP | 1<<(hllP-1) // guard bit bounds the rank
	r := uint8(bits.LeadingZeros64(rest)) + 1
	if r > s.reg[idx] {
		s.reg[idx] = r
	}
}

// estimate returns the approximate number of distinct hashes added.
func (s *hll) estimate() int {
	if s.ns <= hllExact {
		return int(s.ns)
	}
	var sum float64
	zeros := 0
	for _, r := range s.reg {
		sum += 1 / float64(uint64(1)<<r)
		if r == 0 {
			zeros++
		}
	}
	m := float64(hllM)
	e := 0.709 * m * m / sum // alpha for m=64
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return max(int(e+0.5), hllExact+1)
}

// countMin is a count-min sketch with conservative update and saturating
// 8-bit counters. Halving all counters periodically ages old evidence out.
type countMin struct {
	rows  [cmDepth][]uint8
	mask  uint64
	width int
}

const cmDepth = 4

func newCountMin(width int) *countMin {
	w := 1
	for w < width {
		w <<= 1
	}
	c := &countMin{mask: uint64(w - 1), width: w}
	for i := range c.rows {
		c.rows[i] = make([]uint8, w)
	}
	return c
}

func (c *countMin) index(h uint64, row int) uint64 {
	return mix64(h+uint64(row)*0x9e3779b97f4a7c15) & c.mask
}

// add counts one event for key hash h and returns the new estimate.
func (c *countMin) add(h uint64) int {
	est := c.estimate(h)
	if est == 255 {
		return est
	}
	for r := range c.rows {
		i := c.index(h, r)
		if int(c.rows[r][i]) == est { // conservative update
			c.rows[r][i]++
		}
	}
	return est + 1
}

// estimate returns an upper bound on the count of h.
func (c *countMin) estimate(h uint64) int {
	m := 255
	for r := range c.rows {
		if v := int(c.rows[r][c.index(h, r)]); v < m {
			m = v
		}
	}
	return m
}

// halve ages every counter.
func (c *countMin) halve() {
	for r := range c.rows {
		row := c.rows[r]
		for i := range row {
			row[i] >>= 1
		}
	}
}

func (c *countMin) bytes() int { return cmDepth * c.width }

// bloom remembers keys over two generations (current and previous), so
// that memory is fixed and old keys fade out when a generation fills or
// its time window ends.
type bloom struct {
	cur, prev []uint64
	mask      uint64 // bit index mask
	n, limit  int    // inserts into cur, and the rotation limit
	start     int64  // packet time the current generation began
}

func newBloom(bitsLog2 uint) *bloom {
	words := 1 << (bitsLog2 - 6)
	nbits := uint64(words) * 64
	return &bloom{
		cur:   make([]uint64, words),
		prev:  make([]uint64, words),
		mask:  nbits - 1,
		limit: int(nbits / 12), // ~1.5 % false positives at k=3
	}
}

func (b *bloom) has(set []uint64, h uint64) bool {
	h2 := mix64(h) | 1
	for i := uint64(0); i < 3; i++ {
		bit := (h + i*h2) & b.mask
		if set[bit>>6]&(1<<(bit&63)) == 0 {
			return false
		}
	}
	return true
}

// testAndAdd reports whether h was present in either generation and adds
// it to the current one.
func (b *bloom) testAndAdd(h uint64) bool {
	if b.has(b.cur, h) {
		return true
	}
	seen := b.has(b.prev, h)
	h2 := mix64(h) | 1
	for i := uint64(0); i < 3; i++ {
		bit := (h + i*h2) & b.mask
		b.cur[bit>>6] |= 1 << (bit & 63)
	}
	b.n++
	if b.n >= b.limit {
		b.rotate(b.start)
	}
	return seen
}

// contains reports whether h is in either generation.
func (b *bloom) contains(h uint64) bool { return b.has(b.cur, h) || b.has(b.prev, h) }

func (b *bloom) rotate(now int64) {
	b.cur, b.prev = b.prev, b.cur
	clear(b.cur)
	b.n = 0
	b.start = now
}

func (b *bloom) bytes() int { return 16 * len(b.cur) }

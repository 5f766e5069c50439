package detect

import (
	"net/netip"
	"testing"
)

func TestHLLSmallExact(t *testing.T) {
	var s hll
	for i := range 8 {
		s.add(uint64(i) * 0x9e3779b97f4a7c15)
		s.add(uint64(i) * 0x9e3779b97f4a7c15) // duplicates do not count
		if got := s.estimate(); got != i+1 {
			t.Fatalf("after %d distinct: estimate %d", i+1, got)
		}
	}
}

func TestHLLLarge(t *testing.T) {
	for _, n := range []int{20, 100, 1000, 20000} {
		var s hll
		for i := range n {
			s.add(mix64(uint64(i) + 1))
		}
		got := s.estimate()
		if lo, hi := n*6/10, n*14/10; got < lo || got > hi {
			t.Errorf("n=%d: estimate %d outside [%d, %d]", n, got, lo, hi)
		}
	}
}

func TestCountMin(t *testing.T) {
	c := newCountMin(1 << 12)
	for i := range 2000 {
		c.add(uint64(i))
	}
	for range 5 {
		c.add(424242)
	}
	if got := c.estimate(424242); got < 5 || got > 7 {
		t.Errorf("estimate %d, want about 5 (never below)", got)
	}
	for i := range 2000 {
		if c.estimate(uint64(i)) < 1 {
			t.Fatalf("key %d underestimated", i)
		}
	}
	c.halve()
	if got := c.estimate(424242); got < 2 || got > 3 {
		t.Errorf("after halving: %d", got)
	}
	for range 300 {
		c.add(7)
	}
	if c.estimate(7) != 255 {
		t.Errorf("counter does not saturate: %d", c.estimate(7))
	}
}

func TestBloomGenerations(t *testing.T) {
	b := newBloom(12)
	if b.testAndAdd(1) {
		t.Fatal("new key reported present")
	}
	if !b.testAndAdd(1) || !b.contains(1) {
		t.Fatal("key lost")
	}
	b.rotate(1)
	if !b.contains(1) {
		t.Fatal("key lost after one rotation")
	}
	b.rotate(2)
	if b.contains(1) {
		t.Fatal("key survived two rotations")
	}
}

func TestSrcTableEvictsLeastEvidence(t *testing.T) {
	type v struct{ w float64 }
	tb := newSrcTable[v](8, func(x *v) float64 { return x.w }) // one bucket
	kh := newKeyHasher()
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, 0, byte(i)}) }
	for i := range 8 {
		s, ev := tb.insert(kh.addr(addr(i)), addr(i))
		if ev.IsValid() {
			t.Fatalf("eviction before the table is full")
		}
		s.w = float64(10 + i)
	}
	tb.get(kh.addr(addr(3)), addr(3)).w = 1 // the weakest
	_, ev := tb.insert(kh.addr(addr(100)), addr(100))
	if ev != addr(3) {
		t.Fatalf("evicted %v, want %v", ev, addr(3))
	}
	if tb.get(kh.addr(addr(3)), addr(3)) != nil || tb.len() != 8 || tb.cap() != 8 {
		t.Fatalf("table state wrong: len %d cap %d", tb.len(), tb.cap())
	}
	tb.remove(kh.addr(addr(100)), addr(100))
	if tb.len() != 7 {
		t.Fatalf("len %d after remove", tb.len())
	}
}

package target

import (
	"net/netip"
	"slices"
)

// Index returns the position of a in h's order (the i with h.At(i) == a)
// and whether a is in h. Zones are ignored. It never allocates.
func (h *Hosts) Index(a netip.Addr) (uint64, bool) {
	if h == nil || !a.IsValid() {
		return 0, false
	}
	t := span{lo: u128Of(a), v6: !a.Is4()}
	k, found := slices.BinarySearchFunc(h.spans, t, cmpSpan)
	if !found {
		if k == 0 {
			return 0, false
		}
		k--
		if s := h.spans[k]; s.v6 != t.v6 || s.hi.less(t.lo) {
			return 0, false
		}
	}
	var before uint64
	if k > 0 {
		before = h.ends[k-1]
	}
	return before + t.lo.sub(h.spans[k].lo).lo, true
}

// Index returns the position of port in p's order (the i with p.At(i) ==
// port) and whether port is in p.
func (p *Ports) Index(port Port) (uint64, bool) {
	if p == nil {
		return 0, false
	}
	k, found := slices.BinarySearchFunc(p.spans, portSpan{proto: port.Proto, lo: port.Num}, cmpPortSpan)
	if !found {
		if k == 0 {
			return 0, false
		}
		k--
		if s := p.spans[k]; s.proto != port.Proto || s.hi < port.Num {
			return 0, false
		}
	}
	var before uint64
	if k > 0 {
		before = p.ends[k-1]
	}
	return before + uint64(port.Num-p.spans[k].lo), true
}

// Index returns the natural-order index of t in s (the i with s.At(i) ==
// t) and whether t is in s.
func (s *Space) Index(t Target) (uint64, bool) {
	h, ok := s.hosts.Index(t.Addr)
	if !ok {
		return 0, false
	}
	p, ok := s.ports.Index(t.Port)
	if !ok {
		return 0, false
	}
	return p*s.nh + h, true
}

// Inverse returns the i with o.At(i) == x, for x below o.Len().
func (o Order) Inverse(x uint64) uint64 {
	if o.identity || x >= o.n {
		return x
	}
	i := o.decrypt(x)
	for i >= o.n {
		i = o.decrypt(i)
	}
	return i
}

// decrypt undoes encrypt.
func (o *Order) decrypt(x uint64) uint64 {
	// After an even number of rounds the halves have their original
	// widths (hi a, lo b); undo the rounds last to first.
	a, b := o.hiBits, o.loBits
	h := x >> b
	l := x & (1<<b - 1)
	for r := feistelRounds - 1; r >= 0; r-- {
		// Round r mapped (h', l') of widths (w1, w2) to (l', h'^F(l'))
		// of widths (w2, w1); so now h = l' (width w2 = a) and l =
		// h'^F(l') (width w1 = b).
		hp := l ^ (mix64(h^o.keys[r]) & (1<<b - 1))
		h, l = hp, h
		a, b = b, a
	}
	return h<<b | l
}

// PosOf returns the position of t in the iterator's shard: the value of
// Pos() just before Next returned t. ok is false when t is not in the
// shard. It lets a scanner find the in-flight state of a reply's target
// without keeping a map from target to state. It never allocates.
func (it *Iter) PosOf(t Target) (pos uint64, ok bool) {
	i, ok := it.space.Index(t)
	if !ok {
		return 0, false
	}
	j := it.order.Inverse(i)
	if j < it.shard || (j-it.shard)%it.shards != 0 {
		return 0, false
	}
	pos = (j - it.shard) / it.shards
	return pos, pos < it.n
}

// At returns the target at position pos of the iterator's shard, without
// moving the iterator. It panics if pos >= Len().
func (it *Iter) At(pos uint64) Target {
	return it.space.At(it.order.At(it.shard + pos*it.shards))
}

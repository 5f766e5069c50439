package target

import (
	"fmt"
	"iter"
	"math/bits"
	"net/netip"
	"slices"
	"strings"
)

// span is an inclusive address range within one family.
type span struct {
	lo, hi u128
	v6     bool
}

func cmpSpan(a, b span) int {
	if a.v6 != b.v6 {
		if b.v6 {
			return -1
		}
		return 1
	}
	return a.lo.cmp(b.lo)
}

// normalize sorts spans and merges overlapping or adjacent ones in place.
func normalize(ss []span) []span {
	if len(ss) < 2 {
		return ss
	}
	slices.SortFunc(ss, cmpSpan)
	out := ss[:1]
	for _, s := range ss[1:] {
		last := &out[len(out)-1]
		if s.v6 == last.v6 && (last.hi == u128Max || !last.hi.inc().less(s.lo)) {
			if last.hi.less(s.hi) {
				last.hi = s.hi
			}
			continue
		}
		out = append(out, s)
	}
	return out
}

// subtract returns a minus b; both must be normalized.
func subtract(a, b []span) []span {
	var out []span
	j := 0
	for _, s := range a {
		// Skip exclusions entirely before s.
		for j < len(b) && (b[j].v6 != s.v6 && !b[j].v6 || b[j].v6 == s.v6 && b[j].hi.less(s.lo)) {
			j++
		}
		cur := s
		alive := true
		for k := j; k < len(b) && b[k].v6 == s.v6 && !cur.hi.less(b[k].lo); k++ {
			e := b[k]
			if e.hi.less(cur.lo) {
				continue
			}
			if cur.lo.less(e.lo) {
				out = append(out, span{cur.lo, e.lo.dec(), s.v6})
			}
			if !e.hi.less(cur.hi) {
				alive = false
				break
			}
			cur.lo = e.hi.inc()
		}
		if alive {
			out = append(out, cur)
		}
	}
	return out
}

// Hosts is an immutable set of addresses kept as sorted, disjoint ranges,
// IPv4 before IPv6. Its addresses are numbered 0..Len()-1 in that order.
// The zero value and nil are empty sets.
type Hosts struct {
	spans []span
	ends  []uint64 // ends[k] = number of addresses in spans[0..k]
}

// newHosts builds Hosts from normalized spans.
func newHosts(ss []span) (*Hosts, error) {
	h := &Hosts{spans: ss, ends: make([]uint64, len(ss))}
	var total uint64
	for k, s := range ss {
		d := s.hi.sub(s.lo)
		if d.hi != 0 || d.lo == ^uint64(0) {
			return nil, fmt.Errorf("target: %s holds more than 2^64-1 addresses: %w", s.String(), ErrTooLarge)
		}
		var carry uint64
		total, carry = bits.Add64(total, d.lo+1, 0)
		if carry != 0 {
			return nil, fmt.Errorf("target: host set holds more than 2^64-1 addresses: %w", ErrTooLarge)
		}
		h.ends[k] = total
	}
	return h, nil
}

// NewHosts returns the set of the given addresses. Invalid addresses are
// skipped and zones are dropped.
func NewHosts(addrs ...netip.Addr) *Hosts {
	ss := make([]span, 0, len(addrs))
	for _, a := range addrs {
		if !a.IsValid() {
			continue
		}
		u := u128Of(a)
		ss = append(ss, span{u, u, !a.Is4()})
	}
	h, err := newHosts(normalize(ss))
	if err != nil { // cannot happen: at most len(addrs) addresses
		panic(err)
	}
	return h
}

// MustParseHosts parses spec as ParseHosts does and resolves it without a
// resolver. It panics if spec is malformed or names a host; it is meant for
// tests and examples.
func MustParseHosts(spec string) *Hosts {
	s, err := ParseHosts(spec)
	if err != nil {
		panic(err)
	}
	if len(s.names()) > 0 {
		panic("target: MustParseHosts: " + spec + " contains host names")
	}
	h, err := s.resolveLiterals(nil)
	if err != nil {
		panic(err)
	}
	return h
}

// Len returns the number of addresses in h.
func (h *Hosts) Len() uint64 {
	if h == nil || len(h.ends) == 0 {
		return 0
	}
	return h.ends[len(h.ends)-1]
}

// At returns the i-th address of h in sorted order. It panics if i >= h.Len().
func (h *Hosts) At(i uint64) netip.Addr {
	if i >= h.Len() {
		panic(fmt.Sprintf("target: Hosts.At(%d) out of range [0,%d)", i, h.Len()))
	}
	// Smallest k with ends[k] > i.
	lo, hi := 0, len(h.ends)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if h.ends[m] > i {
			hi = m
		} else {
			lo = m + 1
		}
	}
	var before uint64
	if lo > 0 {
		before = h.ends[lo-1]
	}
	s := &h.spans[lo]
	return s.lo.add64(i - before).addr(s.v6)
}

// Contains reports whether a is in h. Zones are ignored.
func (h *Hosts) Contains(a netip.Addr) bool {
	if h == nil || !a.IsValid() {
		return false
	}
	t := span{lo: u128Of(a), v6: !a.Is4()}
	k, found := slices.BinarySearchFunc(h.spans, t, cmpSpan)
	if found {
		return true
	}
	if k == 0 {
		return false
	}
	s := h.spans[k-1]
	return s.v6 == t.v6 && !s.hi.less(t.lo)
}

// All yields the addresses of h in sorted order.
func (h *Hosts) All() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		if h == nil {
			return
		}
		for _, s := range h.spans {
			for u := s.lo; ; u = u.inc() {
				if !yield(u.addr(s.v6)) {
					return
				}
				if u == s.hi {
					break
				}
			}
		}
	}
}

// Ranges yields the first and last address of each of h's disjoint,
// sorted ranges.
func (h *Hosts) Ranges() iter.Seq2[netip.Addr, netip.Addr] {
	return func(yield func(netip.Addr, netip.Addr) bool) {
		if h == nil {
			return
		}
		for _, s := range h.spans {
			if !yield(s.lo.addr(s.v6), s.hi.addr(s.v6)) {
				return
			}
		}
	}
}

// String returns h in a compact form that ParseHosts accepts, such as
// "198.18.0.0/24,198.18.1.10-198.18.1.50,2001:db8::1". The empty set is "".
func (h *Hosts) String() string {
	if h == nil {
		return ""
	}
	var b strings.Builder
	for k, s := range h.spans {
		if k > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.String())
	}
	return b.String()
}

// String formats s as an address, a prefix or a dash range.
func (s span) String() string {
	lo := s.lo.addr(s.v6)
	if s.lo == s.hi {
		return lo.String()
	}
	// A prefix: hi-lo+1 is a power of two and lo is aligned to it.
	d := s.hi.sub(s.lo)
	if d.and(d.inc()) == (u128{}) && s.lo.and(d) == (u128{}) {
		n := bits.OnesCount64(d.hi) + bits.OnesCount64(d.lo)
		return netip.PrefixFrom(lo, lo.BitLen()-n).String()
	}
	return lo.String() + "-" + s.hi.addr(s.v6).String()
}

package target

import (
	"errors"
	"fmt"
	"iter"
	"math/bits"
)

// Space is the index space of a scan: every (host, port) pair numbered
// 0..Len()-1. Index i is port number i / H and host number i % H, where H
// is the number of hosts; consecutive indices therefore walk across hosts
// before moving to the next port, which spreads even an unpermuted scan
// over many hosts. A Space holds only its Hosts and Ports; its memory does
// not grow with Len.
type Space struct {
	hosts *Hosts
	ports *Ports
	nh    uint64
	n     uint64
}

// NewSpace returns the space hosts × ports. Both must be non-empty and the
// product must fit in a uint64 (otherwise the error wraps ErrTooLarge).
func NewSpace(h *Hosts, p *Ports) (*Space, error) {
	if h.Len() == 0 {
		return nil, errors.New("target: empty host set")
	}
	if p.Len() == 0 {
		return nil, errors.New("target: empty port set")
	}
	hi, n := bits.Mul64(h.Len(), p.Len())
	if hi != 0 {
		return nil, fmt.Errorf("target: %d hosts × %d ports: %w", h.Len(), p.Len(), ErrTooLarge)
	}
	return &Space{hosts: h, ports: p, nh: h.Len(), n: n}, nil
}

// Len returns the number of targets in s.
func (s *Space) Len() uint64 { return s.n }

// Hosts returns the hosts of s.
func (s *Space) Hosts() *Hosts { return s.hosts }

// Ports returns the ports of s.
func (s *Space) Ports() *Ports { return s.ports }

// At returns target i in natural order (see Space). It panics if
// i >= s.Len().
func (s *Space) At(i uint64) Target {
	if i >= s.n {
		panic(fmt.Sprintf("target: Space.At(%d) out of range [0,%d)", i, s.n))
	}
	return Target{Addr: s.hosts.At(i % s.nh), Port: s.ports.At(i / s.nh)}
}

// IterConfig selects which part of a Space an Iter walks, and in what order.
type IterConfig struct {
	// Seed selects the pseudorandom order (see Order). Scans that must be
	// split or resumed have to use the same Seed everywhere.
	Seed uint64
	// Shard and Shards select shard Shard of Shards: the positions
	// Shard, Shard+Shards, Shard+2*Shards, … of the permuted order. The
	// shards of one Seed partition the space exactly. 0/0 means the whole
	// space.
	Shard, Shards uint64
	// Start is the resume position: how many positions of this shard were
	// already consumed (a value saved from Iter.Pos).
	Start uint64
	// Sequential walks the natural order instead of a permutation.
	Sequential bool
}

// Iter walks one shard of a Space. It is not safe for concurrent use; give
// each goroutine its own shard.
type Iter struct {
	space  *Space
	order  Order
	shard  uint64
	shards uint64
	pos    uint64
	n      uint64
}

// Iter returns an iterator over the shard of s that cfg selects, starting
// at cfg.Start.
func (s *Space) Iter(cfg IterConfig) (*Iter, error) {
	shards := cfg.Shards
	if shards == 0 {
		if cfg.Shard != 0 {
			return nil, fmt.Errorf("target: shard %d given without a shard count", cfg.Shard)
		}
		shards = 1
	}
	if cfg.Shard >= shards {
		return nil, fmt.Errorf("target: shard %d out of range 0-%d", cfg.Shard, shards-1)
	}
	var n uint64
	if cfg.Shard < s.n {
		n = (s.n-1-cfg.Shard)/shards + 1
	}
	if cfg.Start > n {
		return nil, fmt.Errorf("target: resume position %d beyond shard length %d", cfg.Start, n)
	}
	it := &Iter{space: s, shard: cfg.Shard, shards: shards, pos: cfg.Start, n: n}
	if cfg.Sequential {
		it.order = IdentityOrder(s.n)
	} else {
		it.order = NewOrder(s.n, cfg.Seed)
	}
	return it, nil
}

// Next returns the next target of the shard, or false when it is done.
func (it *Iter) Next() (Target, bool) {
	if it.pos >= it.n {
		return Target{}, false
	}
	i := it.order.At(it.shard + it.pos*it.shards)
	it.pos++
	return it.space.At(i), true
}

// Pos returns how many positions of the shard have been consumed; pass it
// as IterConfig.Start to resume after the last target Next returned.
func (it *Iter) Pos() uint64 { return it.pos }

// Len returns the total number of positions in the shard.
func (it *Iter) Len() uint64 { return it.n }

// All yields the targets of the shard cfg selects. It yields nothing when
// cfg is invalid; use Iter to see the error.
func (s *Space) All(cfg IterConfig) iter.Seq[Target] {
	return func(yield func(Target) bool) {
		it, err := s.Iter(cfg)
		if err != nil {
			return
		}
		for {
			t, ok := it.Next()
			if !ok || !yield(t) {
				return
			}
		}
	}
}

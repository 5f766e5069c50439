package detect

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrAllowlisted is wrapped by Block errors for addresses the allowlist
// protects. Blocking responders skip these addresses without failing.
var ErrAllowlisted = errors.New("address is allowlisted")

// Allowlist is a set of prefixes that are never blocked.
type Allowlist []netip.Prefix

// Contains reports whether a falls in one of the prefixes. IPv4-mapped
// IPv6 addresses match IPv4 prefixes.
func (l Allowlist) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range l {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func (l Allowlist) check(a netip.Addr) error {
	if !a.IsValid() {
		return fmt.Errorf("detect: block: invalid address")
	}
	if l.Contains(a) {
		return fmt.Errorf("detect: block %v: %w", a, ErrAllowlisted)
	}
	return nil
}

// BlocklistConfig configures NewBlocklist. A nil *BlocklistConfig means
// defaults.
type BlocklistConfig struct {
	// TTL is how long an address stays blocked when Block gets ttl 0, and
	// for addresses blocked by Respond. Default 10 minutes.
	TTL time.Duration
	// Capacity caps the number of blocked addresses; when full, the entry
	// that expires soonest is evicted. Default 65,536.
	Capacity int
	// Allow lists prefixes that are never blocked.
	Allow Allowlist
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Blocklist is an expiring in-memory set of blocked addresses, safe for
// concurrent use. Used as a Responder it blocks the source of every event
// (and every member of a distributed campaign, but never probable decoys).
// Callers consult it with Blocked, e.g. in an accept loop.
type Blocklist struct {
	ttl   time.Duration
	cap   int
	allow Allowlist
	now   func() time.Time

	mu      sync.Mutex
	entries map[netip.Addr]*blockEntry
	byExp   expHeap
	evicted uint64
	refused uint64
}

type blockEntry struct {
	addr netip.Addr
	exp  time.Time
	i    int // index in the heap
}

var _ Responder = (*Blocklist)(nil)
var _ Blocker = (*Blocklist)(nil)

// NewBlocklist returns an empty Blocklist.
func NewBlocklist(cfg *BlocklistConfig) *Blocklist {
	var c BlocklistConfig
	if cfg != nil {
		c = *cfg
	}
	if c.TTL <= 0 {
		c.TTL = 10 * time.Minute
	}
	if c.Capacity <= 0 {
		c.Capacity = 1 << 16
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Blocklist{ttl: c.TTL, cap: c.Capacity, allow: append(Allowlist(nil), c.Allow...), now: c.Now,
		entries: make(map[netip.Addr]*blockEntry)}
}

// Block blocks addr until ttl from now (ttl 0: the configured TTL). Blocking
// an address again extends its expiry, never shortens it. Allowlisted
// addresses are refused with an error wrapping ErrAllowlisted.
func (b *Blocklist) Block(addr netip.Addr, ttl time.Duration) error {
	addr = addr.Unmap()
	if err := b.allow.check(addr); err != nil {
		if errors.Is(err, ErrAllowlisted) {
			b.mu.Lock()
			b.refused++
			b.mu.Unlock()
		}
		return err
	}
	if ttl <= 0 {
		ttl = b.ttl
	}
	now := b.now()
	exp := now.Add(ttl)
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	if e, ok := b.entries[addr]; ok {
		if exp.After(e.exp) {
			e.exp = exp
			heap.Fix(&b.byExp, e.i)
		}
		return nil
	}
	if len(b.entries) >= b.cap {
		e := heap.Pop(&b.byExp).(*blockEntry)
		delete(b.entries, e.addr)
		b.evicted++
	}
	e := &blockEntry{addr: addr, exp: exp}
	heap.Push(&b.byExp, e)
	b.entries[addr] = e
	return nil
}

// Blocked reports whether addr is currently blocked.
func (b *Blocklist) Blocked(addr netip.Addr) bool {
	addr = addr.Unmap()
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[addr]
	return ok && now.Before(e.exp)
}

// Unblock removes addr; it reports whether it was blocked.
func (b *Blocklist) Unblock(addr netip.Addr) bool {
	addr = addr.Unmap()
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.entries[addr]
	if ok {
		heap.Remove(&b.byExp, e.i)
		delete(b.entries, addr)
	}
	return ok && b.now().Before(e.exp)
}

// Len returns the number of addresses currently blocked.
func (b *Blocklist) Len() int {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	return len(b.entries)
}

// BlocklistStats are a Blocklist's counters.
type BlocklistStats struct {
	Blocked int    // addresses blocked now
	Evicted uint64 // entries evicted early because the list was full
	Refused uint64 // Block calls refused by the allowlist
}

// Stats returns the blocklist's counters.
func (b *Blocklist) Stats() BlocklistStats {
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	b.expire(now)
	return BlocklistStats{Blocked: len(b.entries), Evicted: b.evicted, Refused: b.refused}
}

// Respond blocks the addresses e names for the configured TTL. Allowlisted
// addresses are skipped silently (and counted in Stats).
func (b *Blocklist) Respond(_ context.Context, e Event) error {
	var err error
	for a := range e.BlockTargets() {
		if berr := b.Block(a, 0); berr != nil && !errors.Is(berr, ErrAllowlisted) && err == nil {
			err = berr
		}
	}
	return err
}

// expire drops entries whose time has come. Called with mu held.
func (b *Blocklist) expire(now time.Time) {
	for len(b.byExp) > 0 && !now.Before(b.byExp[0].exp) {
		e := heap.Pop(&b.byExp).(*blockEntry)
		delete(b.entries, e.addr)
	}
}

// expHeap orders entries by expiry, soonest first.
type expHeap []*blockEntry

func (h expHeap) Len() int           { return len(h) }
func (h expHeap) Less(i, j int) bool { return h[i].exp.Before(h[j].exp) }
func (h expHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].i, h[j].i = i, j
}
func (h *expHeap) Push(x any) {
	e := x.(*blockEntry)
	e.i = len(*h)
	*h = append(*h, e)
}
func (h *expHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}

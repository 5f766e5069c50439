package route

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// ErrNoNeighbor is wrapped by Cache.Hop when the next hop's hardware
// address cannot be found (no entry and no answer to ARP/NDP).
var ErrNoNeighbor = errors.New("route: next hop did not answer ARP or neighbour discovery")

// Limits that keep a Cache's memory bounded during huge scans.
const (
	maxRoutes     = 256
	maxNeighbours = 1 << 16
)

// CacheConfig configures a Cache. The zero value looks everything up.
type CacheConfig struct {
	Ifindex int        // force this outgoing interface; 0 = by route
	Src4    netip.Addr // force this IPv4 source; invalid = by route
	Src6    netip.Addr // force this IPv6 source; invalid = by route
	// ResolveTimeout bounds each ARP/NDP try (three tries); 0 = 300 ms.
	// A failed resolution is remembered for the Cache's life.
	ResolveTimeout time.Duration
	// Resolved, when set, is called from a background goroutine once
	// each resolution that TryHop started has ended (in an address or a
	// failure, both cached by then). It may call TryHop. TryHop blocks
	// only to start a resolution while maxResolving are in flight, and
	// Resolved runs after the resolution's slot is freed.
	Resolved func(NextHop)
}

// ErrPending is returned by Cache.TryHop while the next hop is being
// resolved in the background.
var ErrPending = errors.New("route: next hop being resolved")

// maxResolving bounds the ARP/NDP resolutions in flight at once.
const maxResolving = 256

// NextHop names a neighbour: an interface and an address on its link.
type NextHop struct {
	Ifindex int
	Addr    netip.Addr
}

type neighbour struct {
	hw   [8]byte
	n    uint8
	err  error
	done chan struct{} // closed once hw or err is set
}

// Cache remembers routes (by the table entry that matched) and neighbours
// for one scan, so that the kernel is asked once per prefix and next hop,
// not once per probe. It is safe for concurrent use. Close stops the
// resolutions in flight.
type Cache struct {
	cfg  CacheConfig
	sem  chan struct{}
	stop chan struct{}
	wg   sync.WaitGroup

	mu     sync.Mutex
	routes []Route
	neigh  map[NextHop]*neighbour
	table4 []netip.Prefix // every route's prefix, read on first use
	table6 []netip.Prefix
}

// NewCache returns an empty Cache; cfg nil means defaults.
func NewCache(cfg *CacheConfig) *Cache {
	c := &Cache{
		neigh: map[NextHop]*neighbour{},
		sem:   make(chan struct{}, maxResolving),
		stop:  make(chan struct{}),
	}
	if cfg != nil {
		c.cfg = *cfg
	}
	return c
}

// Close cancels resolutions in flight and waits for them to end.
func (c *Cache) Close() {
	c.mu.Lock()
	select {
	case <-c.stop:
	default:
		close(c.stop)
	}
	c.mu.Unlock()
	c.wg.Wait()
}

// Hop returns how to send to dst. Cached answers cost no allocation; a
// miss asks the kernel and may wait for ARP/NDP resolution (bounded by
// ctx and the resolve timeout).
func (c *Cache) Hop(ctx context.Context, dst netip.Addr) (Hop, error) {
	h, nh, err := c.TryHop(dst)
	if err != ErrPending {
		return h, err
	}
	c.mu.Lock()
	n := c.neigh[nh]
	c.mu.Unlock()
	if n != nil {
		select {
		case <-n.done:
		case <-ctx.Done():
			return Hop{}, ctx.Err()
		}
	}
	h, _, err = c.TryHop(dst)
	return h, err
}

// TryHop is Hop without waiting on the wire: when the next hop must be
// resolved with ARP/NDP it returns the next hop and ErrPending, and (for
// the first such call) starts the resolution in the background, which
// calls CacheConfig.Resolved when done.
func (c *Cache) TryHop(dst netip.Addr) (Hop, NextHop, error) {
	dst = dst.Unmap()
	c.mu.Lock()
	r, err := c.route(dst)
	if err != nil {
		c.mu.Unlock()
		return Hop{}, NextHop{}, err
	}
	h := Hop{Ifindex: r.Ifindex, Src: r.Src, Local: r.Local}
	if r.NoLink {
		c.mu.Unlock()
		return h, NextHop{}, nil
	}
	k := NextHop{r.Ifindex, r.Gateway}
	if !k.Addr.IsValid() {
		k.Addr = dst
	}
	n, ok := c.neigh[k]
	if ok {
		select {
		case <-n.done:
			c.mu.Unlock()
			if n.err != nil {
				return Hop{}, k, n.err
			}
			h.HW, h.HWLen = n.hw, n.n
			return h, k, nil
		default:
			c.mu.Unlock()
			return Hop{}, k, ErrPending
		}
	}
	// Ask the kernel's table first; it is quick.
	n = &neighbour{done: make(chan struct{})}
	if hw, found, err := Neighbor(r.Ifindex, k.Addr); err != nil || found {
		n.err = err
		n.n = uint8(copy(n.hw[:], hw))
		close(n.done)
		c.put(k, n)
		c.mu.Unlock()
		if err != nil {
			return Hop{}, k, err
		}
		h.HW, h.HWLen = n.hw, n.n
		return h, k, nil
	}
	c.put(k, n)
	c.mu.Unlock()

	select {
	case c.sem <- struct{}{}:
	case <-c.stop:
		n.err = fmt.Errorf("%w: %v: cache closed", ErrNoNeighbor, k.Addr)
		close(n.done)
		return Hop{}, k, n.err
	}
	c.wg.Add(1)
	go c.resolve(r, k, n)
	return Hop{}, k, ErrPending
}

// put stores n, keeping the table bounded. Called with c.mu held.
func (c *Cache) put(k NextHop, n *neighbour) {
	if len(c.neigh) >= maxNeighbours {
		clear(c.neigh)
	}
	c.neigh[k] = n
}

func (c *Cache) resolve(r Route, k NextHop, n *neighbour) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-c.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	hw, err := Resolve(ctx, r.Ifindex, r.HWAddr, r.Src, k.Addr, c.cfg.ResolveTimeout)
	cancel()
	<-c.sem
	c.mu.Lock()
	if err != nil {
		n.err = fmt.Errorf("%w: %v on %s: %v", ErrNoNeighbor, k.Addr, r.Ifname, err)
	} else {
		n.n = uint8(copy(n.hw[:], hw))
	}
	close(n.done)
	c.mu.Unlock()
	if c.cfg.Resolved != nil {
		c.cfg.Resolved(k)
	}
}

func (c *Cache) route(dst netip.Addr) (Route, error) {
	best := -1
	for i := range c.routes {
		if c.routes[i].Prefix.Contains(dst) && (best < 0 || c.routes[i].Prefix.Bits() > c.routes[best].Prefix.Bits()) {
			best = i
		}
	}
	if best >= 0 {
		return c.routes[best], nil
	}
	r, err := Get(dst, c.cfg.Ifindex)
	if err != nil {
		return Route{}, err
	}
	if dst.Is4() && c.cfg.Src4.IsValid() {
		r.Src = c.cfg.Src4
	}
	if dst.Is6() && c.cfg.Src6.IsValid() {
		r.Src = c.cfg.Src6
	}
	r.Prefix = c.reusable(dst, r)
	r.Dst = netip.Addr{}
	if len(c.routes) >= maxRoutes {
		c.routes = c.routes[:0]
	}
	c.routes = append(c.routes, r)
	return r, nil
}

// reusable returns the largest prefix around dst for which the answer r
// holds: the matching table entry, cut down so that it overlaps no more
// specific route of any table (such as this host's own addresses, which
// the local table routes through lo).
func (c *Cache) reusable(dst netip.Addr, r Route) netip.Prefix {
	exact := netip.PrefixFrom(dst, dst.BitLen())
	if r.Local || !r.Prefix.IsValid() {
		return exact
	}
	table := &c.table4
	if dst.Is6() {
		table = &c.table6
	}
	if *table == nil {
		t, err := Prefixes(dst)
		if err != nil {
			return exact
		}
		*table = append(t, netip.Prefix{}) // non-nil even when empty
	}
	p := r.Prefix
	for _, q := range *table {
		if !q.IsValid() || q.Bits() <= r.Prefix.Bits() || !r.Prefix.Contains(q.Addr()) {
			continue
		}
		if q.Contains(dst) {
			return exact
		}
		// The longest common prefix of dst and q, plus one bit, separates them.
		n := commonBits(dst, q.Addr()) + 1
		if n > p.Bits() {
			p, _ = dst.Prefix(n)
		}
	}
	return p
}

func commonBits(a, b netip.Addr) int {
	x, y := a.As16(), b.As16()
	n := 0
	for i := range x {
		d := x[i] ^ y[i]
		if d == 0 {
			n += 8
			continue
		}
		for d&0x80 == 0 {
			n++
			d <<= 1
		}
		break
	}
	if a.Is4() {
		n -= 96
	}
	return n
}

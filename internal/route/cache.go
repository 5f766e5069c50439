package route

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
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
	ResolveTimeout time.Duration
}

type neighKey struct {
	ifindex int
	addr    netip.Addr
}

type neighbour struct {
	hw  [8]byte
	n   uint8
	err error
}

// Cache remembers routes (by the table entry that matched) and neighbours
// for one scan, so that the kernel is asked once per prefix and next hop,
// not once per probe. It is not safe for concurrent use.
type Cache struct {
	cfg    CacheConfig
	routes []Route
	neigh  map[neighKey]neighbour
	table4 []netip.Prefix // every route's prefix, read on first use
	table6 []netip.Prefix
}

// NewCache returns an empty Cache; cfg nil means defaults.
func NewCache(cfg *CacheConfig) *Cache {
	c := &Cache{neigh: map[neighKey]neighbour{}}
	if cfg != nil {
		c.cfg = *cfg
	}
	return c
}

// Hop returns how to send to dst. Cached answers cost no allocation; a
// miss asks the kernel and may block for ARP/NDP resolution.
func (c *Cache) Hop(ctx context.Context, dst netip.Addr) (Hop, error) {
	dst = dst.Unmap()
	r, err := c.route(dst)
	if err != nil {
		return Hop{}, err
	}
	h := Hop{Ifindex: r.Ifindex, Src: r.Src, Local: r.Local}
	if r.NoLink {
		return h, nil
	}
	nh := r.Gateway
	if !nh.IsValid() {
		nh = dst
	}
	k := neighKey{r.Ifindex, nh}
	n, ok := c.neigh[k]
	if !ok {
		n = c.lookupNeighbour(ctx, r, nh)
		if len(c.neigh) >= maxNeighbours {
			clear(c.neigh)
		}
		c.neigh[k] = n
	}
	if n.err != nil {
		return Hop{}, n.err
	}
	h.HW, h.HWLen = n.hw, n.n
	return h, nil
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

func (c *Cache) lookupNeighbour(ctx context.Context, r Route, nh netip.Addr) neighbour {
	var n neighbour
	hw, ok, err := Neighbor(r.Ifindex, nh)
	if err == nil && !ok {
		hw, err = Resolve(ctx, r.Ifindex, r.HWAddr, r.Src, nh, c.cfg.ResolveTimeout)
		if err != nil {
			err = fmt.Errorf("%w: %v on %s: %v", ErrNoNeighbor, nh, r.Ifname, err)
		}
	}
	if err != nil {
		n.err = err
		return n
	}
	n.n = uint8(copy(n.hw[:], hw))
	return n
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

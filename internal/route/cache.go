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
	h := Hop{Ifindex: r.Ifindex, Src: r.Src}
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
	// An on-link or routed answer holds for the whole prefix; a local
	// (this host) answer only for the address itself.
	if r.Local || !r.Prefix.IsValid() {
		r.Prefix = netip.PrefixFrom(dst, dst.BitLen())
	}
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

package route

import "net/netip"

// Route returns the kernel's route to dst from the cache (asking the
// kernel on a miss, as Hop does) without resolving any neighbour. Its Dst
// is dst; Gateway is invalid when dst is on-link. Discovery probers use it
// to send ARP or NDP to on-link targets themselves.
func (c *Cache) Route(dst netip.Addr) (Route, error) {
	dst = dst.Unmap()
	c.mu.Lock()
	r, err := c.route(dst)
	c.mu.Unlock()
	r.Dst = dst
	return r, err
}

package probe

import (
	"net/netip"

	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/target"
)

// poolSourceFor is the per-target source of t in pool: a keyed hash of
// the target picks the address, so every try of a port leaves from the
// same one. It returns the invalid address without a pool, with
// per-probe rotation, or when the pool has no address of t's family.
func poolSourceFor(pool *srcpool.Pool, rot srcpool.Rotation, h cookie.Hasher, t target.Target) netip.Addr {
	dst := t.Addr.Unmap()
	if pool == nil || rot != srcpool.PerTarget || pool.Len(dst.Is6()) == 0 {
		return netip.Addr{}
	}
	return pool.Source(dst.Is6(), uint64(h.TCP(netip.Addr{}, dst, 0, t.Port.Num)))
}

//go:build linux

package nft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/detect"
)

// Blocker blocks addresses with nftables, talking netlink directly
// (github.com/google/nftables; no nft binary). It owns one table:
//
//	table inet portsense {
//		set block4 { type ipv4_addr; flags timeout; size 65536; }
//		set block6 { type ipv6_addr; flags timeout; size 65536; }
//		chain input {
//			type filter hook input priority -10;
//			meta nfproto ipv4 ip saddr @block4 drop
//			meta nfproto ipv6 ip6 saddr @block6 drop
//		}
//	}
//
// Block adds an element with a timeout, so the kernel itself lifts the block;
// Close deletes the table. The netlink socket is opened by New in
// the calling thread's network namespace and used for the blocker's life, so
// a blocker created inside a namespace keeps acting there. Blocker is
// safe for concurrent use. It needs CAP_NET_ADMIN.
type Blocker struct {
	cfg   Config
	table *nftables.Table
	set4  *nftables.Set
	set6  *nftables.Set

	mu     sync.Mutex
	conn   *nftables.Conn
	exp    map[netip.Addr]time.Time // what we asked the kernel for
	closed bool
}

var _ detect.Responder = (*Blocker)(nil)
var _ detect.Blocker = (*Blocker)(nil)

// New creates the blocker's table, sets and chain, replacing a
// stale table of the same name in one transaction.
func New(cfg *Config) (*Blocker, error) {
	c := cfg.withDefaults()
	conn, err := nftables.New(nftables.AsLasting())
	if err != nil {
		return nil, fmt.Errorf("nft: netlink: %w", err)
	}
	n := &Blocker{cfg: c, conn: conn, exp: make(map[netip.Addr]time.Time)}
	n.table = &nftables.Table{Name: c.Table, Family: nftables.TableFamilyINet}
	// Add-then-delete makes the delete succeed whether or not a stale table
	// exists; the second add starts from nothing. All in one batch.
	conn.AddTable(n.table)
	conn.DelTable(n.table)
	conn.AddTable(n.table)
	n.set4 = &nftables.Set{Table: n.table, Name: nftSet4, KeyType: nftables.TypeIPAddr, HasTimeout: true, Size: uint32(c.Capacity)}
	n.set6 = &nftables.Set{Table: n.table, Name: nftSet6, KeyType: nftables.TypeIP6Addr, HasTimeout: true, Size: uint32(c.Capacity)}
	for _, s := range []*nftables.Set{n.set4, n.set6} {
		if err := conn.AddSet(s, nil); err != nil {
			conn.CloseLasting()
			return nil, fmt.Errorf("nft: set %s: %w", s.Name, err)
		}
	}
	ch := conn.AddChain(&nftables.Chain{
		Name:     nftChain,
		Table:    n.table,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookInput,
		Priority: nftables.ChainPriorityRef(nftables.ChainPriority(*c.Priority)),
	})
	conn.AddRule(&nftables.Rule{Table: n.table, Chain: ch, Exprs: dropFrom(unix.NFPROTO_IPV4, 12, 4, n.set4)})
	conn.AddRule(&nftables.Rule{Table: n.table, Chain: ch, Exprs: dropFrom(unix.NFPROTO_IPV6, 8, 16, n.set6)})
	if err := conn.Flush(); err != nil {
		conn.CloseLasting()
		return nil, fmt.Errorf("nft: creating table inet %s: %w", c.Table, nftError(err))
	}
	return n, nil
}

// dropFrom builds "meta nfproto <family> <saddr> @set drop": the source
// address is off bytes into the network header, size bytes long.
func dropFrom(family byte, off, size uint32, set *nftables.Set) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{family}},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: size},
		&expr.Lookup{SourceRegister: 1, SetName: set.Name, SetID: set.ID},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictDrop},
	}
}

// Block adds addr to the blocker's set for ttl (0: the configured TTL).
// Blocking an address again extends its timeout, never shortens it.
// Allowlisted addresses are refused with an error wrapping ErrAllowlisted.
func (n *Blocker) Block(addr netip.Addr, ttl time.Duration) error {
	addr = addr.Unmap()
	if n.cfg.Allow.Contains(addr) {
		return fmt.Errorf("nft: block %v: %w", addr, detect.ErrAllowlisted)
	}
	if ttl <= 0 {
		ttl = n.cfg.TTL
	}
	// The kernel keeps timeouts in milliseconds; round up so a tiny ttl
	// still blocks.
	ttl = (ttl + time.Millisecond - 1).Truncate(time.Millisecond)
	now := time.Now()
	exp := now.Add(ttl)
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return fmt.Errorf("nft: block %v: %w", addr, net.ErrClosed)
	}
	set, key := n.set4, addr.AsSlice()
	if addr.Is6() {
		set = n.set6
	}
	el := []nftables.SetElement{{Key: key, Timeout: ttl}}
	old, had := n.exp[addr]
	if had && now.Before(old) {
		if !exp.After(old) {
			return nil // already blocked at least that long
		}
		// Adding an existing element does not refresh its timeout:
		// replace it in one transaction.
		if err := n.conn.SetDeleteElements(set, el); err != nil {
			return fmt.Errorf("nft: block %v: %w", addr, err)
		}
	}
	if err := n.conn.SetAddElements(set, el); err != nil {
		return fmt.Errorf("nft: block %v: %w", addr, err)
	}
	err := n.conn.Flush()
	if err != nil && had && errors.Is(err, syscall.ENOENT) {
		// The kernel expired it just now: add it afresh.
		if err = n.conn.SetAddElements(set, el); err == nil {
			err = n.conn.Flush()
		}
	}
	if err != nil {
		return fmt.Errorf("nft: block %v: %w", addr, nftError(err))
	}
	n.exp[addr] = exp
	n.gc(now)
	return nil
}

// gc forgets expired entries once the map has grown past the capacity.
func (n *Blocker) gc(now time.Time) {
	if len(n.exp) <= n.cfg.Capacity {
		return
	}
	for a, t := range n.exp {
		if !now.Before(t) {
			delete(n.exp, a)
		}
	}
}

// Blocked reports whether this blocker has addr blocked (by its own record
// of what it asked the kernel; elements added by others are not seen).
func (n *Blocker) Blocked(addr netip.Addr) bool {
	addr = addr.Unmap()
	n.mu.Lock()
	defer n.mu.Unlock()
	t, ok := n.exp[addr]
	return ok && time.Now().Before(t)
}

// Respond blocks the addresses e names (Event.BlockTargets)
// for the configured TTL. Allowlisted addresses are skipped silently.
func (n *Blocker) Respond(_ context.Context, e detect.Event) error {
	var err error
	for a := range e.BlockTargets() {
		if berr := n.Block(a, 0); berr != nil && !errors.Is(berr, detect.ErrAllowlisted) && err == nil {
			err = berr
		}
	}
	return err
}

// Close deletes the blocker's table, lifting every block, and closes the
// netlink socket.
func (n *Blocker) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.conn.DelTable(n.table)
	err := n.conn.Flush()
	if cerr := n.conn.CloseLasting(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("nft: deleting table inet %s: %w", n.cfg.Table, nftError(err))
	}
	return nil
}

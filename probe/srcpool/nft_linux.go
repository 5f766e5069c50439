//go:build linux

package srcpool

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// tablePrefix starts the name of every table a Pool adds:
// "portsense_src_<pid>_<n>".
const tablePrefix = "portsense_src_"

var tableSeq atomic.Uint64

// firewall is a Pool's nftables table. It drops packets to the claimed
// addresses before routing (prerouting, raw priority), so the kernel
// neither answers them with resets or ICMP errors nor forwards them, and
// drops whatever the kernel would send from them (output). Packet
// sockets see incoming packets before the prerouting hook.
type firewall struct {
	table  *nftables.Table
	s4, s6 *nftables.Set
}

// addFirewall installs the table for addrs.
func addFirewall(addrs []netip.Addr) (*firewall, error) {
	c, err := nftables.New()
	if err != nil {
		return nil, nftErr(err)
	}
	removeStaleTables(c)
	t := c.AddTable(&nftables.Table{
		Family: nftables.TableFamilyINet,
		Name:   fmt.Sprintf("%s%d_%d", tablePrefix, os.Getpid(), tableSeq.Add(1)),
	})
	var e4, e6 []nftables.SetElement
	for _, a := range addrs {
		if a.Is4() {
			b := a.As4()
			e4 = append(e4, nftables.SetElement{Key: b[:]})
		} else {
			b := a.As16()
			e6 = append(e6, nftables.SetElement{Key: b[:]})
		}
	}
	s4 := &nftables.Set{Table: t, Name: "claimed4", KeyType: nftables.TypeIPAddr}
	s6 := &nftables.Set{Table: t, Name: "claimed6", KeyType: nftables.TypeIP6Addr}
	if err := c.AddSet(s4, e4); err != nil {
		return nil, nftErr(err)
	}
	if err := c.AddSet(s6, e6); err != nil {
		return nil, nftErr(err)
	}
	for _, ch := range []struct {
		name string
		hook *nftables.ChainHook
		// offsets of the address to match in the IPv4 and IPv6 header
		off4, off6 uint32
	}{
		{"prerouting", nftables.ChainHookPrerouting, 16, 24}, // destination
		{"output", nftables.ChainHookOutput, 12, 8},          // source
	} {
		chain := c.AddChain(&nftables.Chain{
			Name: ch.name, Table: t, Type: nftables.ChainTypeFilter,
			Hooknum: ch.hook, Priority: nftables.ChainPriorityRaw,
		})
		for _, f := range []struct {
			proto byte
			off   uint32
			n     uint32
			set   *nftables.Set
		}{{unix.NFPROTO_IPV4, ch.off4, 4, s4}, {unix.NFPROTO_IPV6, ch.off6, 16, s6}} {
			c.AddRule(&nftables.Rule{Table: t, Chain: chain, Exprs: []expr.Any{
				&expr.Meta{Key: expr.MetaKeyNFPROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{f.proto}},
				&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: f.off, Len: f.n},
				&expr.Lookup{SourceRegister: 1, SetName: f.set.Name, SetID: f.set.ID},
				&expr.Counter{},
				&expr.Verdict{Kind: expr.VerdictDrop},
			}})
		}
	}
	if err := c.Flush(); err != nil {
		return nil, nftErr(err)
	}
	return &firewall{table: t, s4: s4, s6: s6}, nil
}

// add puts addrs into the table's sets.
func (f *firewall) add(addrs []netip.Addr) error {
	c, err := nftables.New()
	if err != nil {
		return nftErr(err)
	}
	var e4, e6 []nftables.SetElement
	for _, a := range addrs {
		if a.Is4() {
			b := a.As4()
			e4 = append(e4, nftables.SetElement{Key: b[:]})
		} else {
			b := a.As16()
			e6 = append(e6, nftables.SetElement{Key: b[:]})
		}
	}
	if len(e4) > 0 {
		if err := c.SetAddElements(f.s4, e4); err != nil {
			return nftErr(err)
		}
	}
	if len(e6) > 0 {
		if err := c.SetAddElements(f.s6, e6); err != nil {
			return nftErr(err)
		}
	}
	if err := c.Flush(); err != nil {
		return nftErr(err)
	}
	return nil
}

// remove deletes the table.
func (f *firewall) remove() error {
	c, err := nftables.New()
	if err != nil {
		return nftErr(err)
	}
	c.DelTable(f.table)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("srcpool: remove nftables table %s: %w", f.table.Name, err)
	}
	return nil
}

func nftErr(err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("srcpool: nftables table (needs CAP_NET_ADMIN; Config.NoFirewall skips it): %w: %w", os.ErrPermission, err)
	}
	return fmt.Errorf("srcpool: nftables table: %w", err)
}

// removeStaleTables deletes the tables of processes that are gone.
func removeStaleTables(c *nftables.Conn) {
	ts, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return
	}
	n := 0
	for _, t := range ts {
		if pid, ok := tablePID(t.Name); ok && !pidAlive(pid) {
			c.DelTable(t)
			n++
		}
	}
	if n > 0 {
		_ = c.Flush()
	}
}

// tablePID reads the pid from "portsense_src_<pid>_<n>".
func tablePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, tablePrefix)
	if !ok {
		return 0, false
	}
	p, n, ok := strings.Cut(rest, "_")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if _, err2 := strconv.ParseUint(n, 10, 64); err != nil || err2 != nil || pid <= 0 {
		return 0, false
	}
	return pid, true
}

func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

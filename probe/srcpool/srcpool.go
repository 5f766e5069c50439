// Package srcpool claims source addresses for raw probers: addresses of
// the scanner's own subnet that no one uses, checked before use and
// answered for while the scan runs, so that replies to probes from them
// come back to the scanner ("dynamic source addresses", and nmap's -S
// done safely).
//
// [Claim] takes explicit addresses, N free addresses of the subnet, or
// both. Before it claims an address it checks that no one uses it: the
// address must lie in a subnet of the interface and not belong to this
// host, the kernel's neighbour table must not know it, and it must stay
// silent to RFC 5227 ARP probes (IPv4) or to the neighbour solicitations
// of IPv6 duplicate address detection (RFC 4862). An address that answers
// is never used: an explicit one fails Claim with [ErrInUse], a candidate
// of the subnet is skipped. Nobody else's address is claimed and no other
// host's neighbour cache is poisoned.
//
// While the Pool is open it answers ARP requests and neighbour
// solicitations for its addresses with the interface's hardware address,
// defends them against other hosts' probes, and stops using an address
// that another host starts to announce (Stats.Conflicts). Packets to its
// addresses still reach the host's kernel, which must neither answer them
// (with a reset or an ICMP error) nor forward them: Claim adds an
// nftables table of its own ("portsense_src_<pid>_<n>", family inet) that
// drops them before routing, and drops anything the kernel would send
// from them. Packet sockets see the packets before that hook, so probers
// still read the replies. The host's own rules are not touched.
//
// [Pool.Close] stops answering and removes the table; call it with defer
// so that cancel and panic paths release the claim too. A table left by a
// process that died is removed by the next Claim on the machine.
//
// Probers (probe.SYNConfig.SourcePool) pick a source per probe or per
// target with [Pool.Source] and record it in every result.
//
// Claiming needs CAP_NET_RAW (packet sockets) and CAP_NET_ADMIN (the
// nftables table) and Linux; elsewhere Claim returns an error wrapping
// errors.ErrUnsupported.
package srcpool

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"
)

// Errors of Claim, matched with errors.Is. Each comes wrapped with the
// address or interface concerned.
var (
	// ErrInUse: another host (or this one) uses the address; it answered
	// an ARP probe or duplicate address detection, is in the kernel's
	// neighbour table, or is an address of this host.
	ErrInUse = errors.New("address already in use")
	// ErrNotLocal: the address is not in a subnet of the interface, so
	// replies to it would not come over the link.
	ErrNotLocal = errors.New("address not in a local subnet")
	// ErrNoLinkLayer: the interface has no Ethernet-style link layer
	// (loopback, tun, point-to-point), so there is no ARP or neighbour
	// discovery to answer.
	ErrNoLinkLayer = errors.New("interface has no link layer for ARP and neighbour discovery")
	// ErrExhausted: the subnet holds fewer free addresses than asked for.
	ErrExhausted = errors.New("not enough free addresses in the subnet")
)

// Config says which addresses to claim. At least one of Addrs, Count and
// Count6 must be set.
type Config struct {
	// Interface is the link the addresses live on, by name. Empty picks
	// the interface the kernel routes Toward (or the first of Addrs)
	// through.
	Interface string
	// Toward is an address the scan will probe (the first target, say):
	// when Interface is empty, the pool is on the interface that reaches
	// it.
	Toward netip.Addr
	// Addrs are explicit addresses to claim; each must be free, or Claim
	// fails with ErrInUse.
	Addrs []netip.Addr
	// Count is how many more free IPv4 addresses of the interface's
	// first IPv4 subnet to claim, tried from the top of the subnet down.
	Count int
	// Count6 is how many free IPv6 addresses of the interface's first
	// global IPv6 subnet to claim, with random interface identifiers.
	Count6 int
	// Probes is how many ARP probes / DAD solicitations each address gets
	// (0 means 3); ProbeInterval the gap between them (0 means 100ms);
	// ProbeWait how long to listen after the last (0 means 300ms). RFC
	// 5227 itself waits 1-2 s between probes: raise these on a busy or
	// lossy link.
	Probes        int
	ProbeInterval time.Duration
	ProbeWait     time.Duration
	// NoFirewall skips the nftables table. The kernel then sees the
	// replies to claimed addresses: with forwarding on it may forward
	// them or send redirects.
	NoFirewall bool
}

// Rotation says how a prober spreads its probes over a pool's addresses.
type Rotation uint8

const (
	// PerProbe takes the next address for every probe (round robin), so
	// consecutive probes to one host come from different sources.
	PerProbe Rotation = iota
	// PerTarget gives each target (address and port) one source for all
	// its tries, picked by a hash of the target.
	PerTarget
)

// String returns "per-probe" or "per-target".
func (r Rotation) String() string {
	switch r {
	case PerProbe:
		return "per-probe"
	case PerTarget:
		return "per-target"
	}
	return fmt.Sprintf("rotation(%d)", uint8(r))
}

// ParseRotation reads "per-probe" or "per-target" (also "probe",
// "target").
func ParseRotation(s string) (Rotation, error) {
	switch strings.ToLower(s) {
	case "per-probe", "probe":
		return PerProbe, nil
	case "per-target", "target":
		return PerTarget, nil
	}
	return 0, fmt.Errorf("srcpool: bad rotation %q: want per-probe or per-target", s)
}

// Stats count what an open Pool did.
type Stats struct {
	ARPReplies uint64 // ARP requests answered
	NAReplies  uint64 // neighbour solicitations answered
	Conflicts  uint64 // claimed addresses another host announced (then no longer used)
}

// addrSet is one family's claimed addresses and whether each is still
// usable. It is fixed after Claim, so Source reads it without a lock.
type addrSet struct {
	addrs []netip.Addr
	lost  []atomic.Bool
	next  atomic.Uint64
}

// pick returns address n mod len, skipping lost ones.
func (s *addrSet) pick(n uint64) netip.Addr {
	k := uint64(len(s.addrs))
	if k == 0 {
		return netip.Addr{}
	}
	for i := range k {
		j := (n + i) % k
		if !s.lost[j].Load() {
			return s.addrs[j]
		}
	}
	return netip.Addr{}
}

func (s *addrSet) index(a netip.Addr) int {
	for i, x := range s.addrs {
		if x == a {
			return i
		}
	}
	return -1
}

// checkConfig validates what can be checked without the system.
func checkConfig(c *Config) error {
	if c == nil {
		return errors.New("srcpool: nil config")
	}
	if len(c.Addrs) == 0 && c.Count <= 0 && c.Count6 <= 0 {
		return errors.New("srcpool: no addresses asked for: set Addrs, Count or Count6")
	}
	if c.Count < 0 || c.Count6 < 0 || c.Probes < 0 || c.ProbeInterval < 0 || c.ProbeWait < 0 {
		return errors.New("srcpool: negative count, probes or duration")
	}
	if c.Count > maxCount || c.Count6 > maxCount || len(c.Addrs) > maxCount {
		return fmt.Errorf("srcpool: at most %d addresses per family", maxCount)
	}
	seen := map[netip.Addr]bool{}
	for _, a := range c.Addrs {
		if err := checkAddr(a); err != nil {
			return err
		}
		if seen[a.Unmap()] {
			return fmt.Errorf("srcpool: address %v given twice", a)
		}
		seen[a.Unmap()] = true
	}
	return nil
}

// maxCount bounds a pool; each address costs an ARP/NDP probe round.
const maxCount = 4096

// checkAddr refuses addresses that can never be a unicast source.
func checkAddr(a netip.Addr) error {
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return errors.New("srcpool: invalid address")
	case a.Zone() != "":
		return fmt.Errorf("srcpool: address %v: zones are not supported", a)
	case a.IsUnspecified(), a.IsMulticast(), a.IsLoopback(), a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return fmt.Errorf("srcpool: address %v cannot be a probe source", a)
	case a.Is6() && a.IsLinkLocalUnicast():
		return fmt.Errorf("srcpool: link-local address %v: use a global address of the link", a)
	}
	return nil
}

// ParseAddrs reads a comma-separated list of addresses, such as
// "198.18.1.200,198.18.1.201,2001:db8:1::99", for Config.Addrs. Each
// token is checked as a unicast source address.
func ParseAddrs(s string) ([]netip.Addr, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("srcpool: empty address list")
	}
	var out []netip.Addr
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		a, err := netip.ParseAddr(tok)
		if err != nil {
			return nil, fmt.Errorf("srcpool: bad address %q: want an IP address", tok)
		}
		if err := checkAddr(a); err != nil {
			return nil, fmt.Errorf("srcpool: bad address %q: %s", tok, strings.TrimPrefix(err.Error(), "srcpool: "))
		}
		out = append(out, a.Unmap())
	}
	return out, nil
}

// topDown yields up to n candidate host addresses of the IPv4 prefix p
// from the top down, skipping the network and broadcast addresses (for
// prefixes up to /30) and skip.
func topDown(p netip.Prefix, skip func(netip.Addr) bool) func(yield func(netip.Addr) bool) {
	return func(yield func(netip.Addr) bool) {
		p = p.Masked()
		if !p.Addr().Is4() || p.Bits() > 32 {
			return
		}
		base := p.Addr().As4()
		b := uint32(base[0])<<24 | uint32(base[1])<<16 | uint32(base[2])<<8 | uint32(base[3])
		size := uint64(1) << (32 - p.Bits())
		lo, hi := uint64(0), size-1
		if p.Bits() <= 30 {
			lo, hi = 1, size-2
		}
		for i := hi + 1; i > lo; i-- {
			v := b + uint32(i-1)
			a := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
			if skip != nil && skip(a) {
				continue
			}
			if !yield(a) {
				return
			}
		}
	}
}

// Pool is a set of claimed source addresses on one interface. Its methods
// are safe for concurrent use. Close releases the claim.
type Pool struct {
	ifindex int
	ifname  string
	hw      [6]byte
	v4, v6  addrSet

	arpReplies, naReplies, conflicts atomic.Uint64

	impl poolImpl
}

// Addrs returns the claimed addresses, IPv4 first, in claim order.
func (p *Pool) Addrs() []netip.Addr {
	out := make([]netip.Addr, 0, len(p.v4.addrs)+len(p.v6.addrs))
	out = append(out, p.v4.addrs...)
	return append(out, p.v6.addrs...)
}

// Interface returns the name of the pool's interface.
func (p *Pool) Interface() string { return p.ifname }

// Ifindex returns the index of the pool's interface.
func (p *Pool) Ifindex() int { return p.ifindex }

// HardwareAddr returns the hardware address the pool answers with: the
// interface's.
func (p *Pool) HardwareAddr() [6]byte { return p.hw }

// Len returns how many addresses of the family (IPv6 when v6) the pool
// holds, lost ones included.
func (p *Pool) Len(v6 bool) int {
	if v6 {
		return len(p.v6.addrs)
	}
	return len(p.v4.addrs)
}

// Contains reports whether a is one of the pool's addresses.
func (p *Pool) Contains(a netip.Addr) bool {
	a = a.Unmap()
	return p.v4.index(a) >= 0 || p.v6.index(a) >= 0
}

// Source returns the pool's address number n (mod the family's count) of
// the family (IPv6 when v6), skipping addresses lost to a conflict; it
// returns the invalid address when the pool has none of the family left.
// It does not allocate. Probers call it with a counter (PerProbe) or a
// hash of the target (PerTarget).
func (p *Pool) Source(v6 bool, n uint64) netip.Addr {
	if v6 {
		return p.v6.pick(n)
	}
	return p.v4.pick(n)
}

// Next returns the next address of the family in round-robin order (the
// PerProbe rotation), or the invalid address when none is left.
func (p *Pool) Next(v6 bool) netip.Addr {
	s := &p.v4
	if v6 {
		s = &p.v6
	}
	return s.pick(s.next.Add(1) - 1)
}

// Stats returns what the pool did so far.
func (p *Pool) Stats() Stats {
	return Stats{
		ARPReplies: p.arpReplies.Load(),
		NAReplies:  p.naReplies.Load(),
		Conflicts:  p.conflicts.Load(),
	}
}

// finish fixes the address sets after claiming.
func (p *Pool) finish(addrs []netip.Addr) {
	for _, a := range addrs {
		if a.Is4() {
			p.v4.addrs = append(p.v4.addrs, a)
		} else {
			p.v6.addrs = append(p.v6.addrs, a)
		}
	}
	p.v4.lost = make([]atomic.Bool, len(p.v4.addrs))
	p.v6.lost = make([]atomic.Bool, len(p.v6.addrs))
}

// markLost stops using a, announced by another host.
func (p *Pool) markLost(a netip.Addr) {
	s := &p.v4
	if a.Is6() {
		s = &p.v6
	}
	if i := s.index(a); i >= 0 && i < len(s.lost) {
		if !s.lost[i].Swap(true) {
			p.conflicts.Add(1)
		}
	}
}

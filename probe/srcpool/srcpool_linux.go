//go:build linux

package srcpool

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
)

// poolImpl is the Linux state of a Pool: the sockets its responders read,
// the addresses being probed or claimed, and the firewall table.
type poolImpl struct {
	arp, nd *afpacket.Conn // nd is nil without IPv6 addresses
	wg      sync.WaitGroup
	fw      *firewall

	mu       sync.Mutex
	probing  map[netip.Addr]bool // candidates being checked
	conflict map[netip.Addr]bool // candidates someone answered for
	claimed  map[netip.Addr]bool // addresses answered for
	gone     map[netip.Addr]bool // claimed addresses another host announced
	closed   bool

	closeOnce sync.Once
	closeErr  error
}

// Multicast hardware address of ff02::1 (all nodes).
var allNodesHW = [6]byte{0x33, 0x33, 0, 0, 0, 1}

// Claim checks and claims the addresses cfg asks for and starts answering
// ARP and neighbour discovery for them; see the package doc. ctx bounds
// the checking; once Claim returns the Pool lives until Close. Errors
// wrap ErrInUse, ErrNotLocal, ErrNoLinkLayer or ErrExhausted with the
// address or interface concerned, or os.ErrPermission (naming the
// capability) when the process may not open packet sockets or change
// nftables.
func Claim(ctx context.Context, cfg *Config) (_ *Pool, err error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	c := *cfg
	if c.Probes == 0 {
		c.Probes = 3
	}
	if c.ProbeInterval == 0 {
		c.ProbeInterval = 100 * time.Millisecond
	}
	if c.ProbeWait == 0 {
		c.ProbeWait = 300 * time.Millisecond
	}
	ifi, err := pickInterface(&c)
	if err != nil {
		return nil, err
	}
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 || ifi.Flags&net.FlagPointToPoint != 0 {
		return nil, fmt.Errorf("srcpool: interface %s: %w", ifi.Name, ErrNoLinkLayer)
	}
	if ifi.Flags&net.FlagUp == 0 {
		return nil, fmt.Errorf("srcpool: interface %s is down", ifi.Name)
	}
	pfx4, pfx6, err := ifacePrefixes(ifi)
	if err != nil {
		return nil, err
	}
	own, err := ownAddrs()
	if err != nil {
		return nil, err
	}
	for _, a := range c.Addrs {
		if err := checkLocal(ifi, a.Unmap(), pfx4, pfx6, own); err != nil {
			return nil, err
		}
	}
	need6 := c.Count6 > 0 || slices.ContainsFunc(c.Addrs, func(a netip.Addr) bool { return a.Unmap().Is6() })
	if c.Count > 0 && len(pfx4) == 0 {
		return nil, fmt.Errorf("srcpool: interface %s has no IPv4 subnet to take %d addresses from: %w", ifi.Name, c.Count, ErrNotLocal)
	}
	if c.Count6 > 0 && len(pfx6) == 0 {
		return nil, fmt.Errorf("srcpool: interface %s has no global IPv6 subnet to take %d addresses from: %w", ifi.Name, c.Count6, ErrNotLocal)
	}

	p := &Pool{ifindex: ifi.Index, ifname: ifi.Name}
	copy(p.hw[:], ifi.HardwareAddr)
	p.impl.probing = map[netip.Addr]bool{}
	p.impl.conflict = map[netip.Addr]bool{}
	p.impl.claimed = map[netip.Addr]bool{}
	p.impl.gone = map[netip.Addr]bool{}
	defer func() {
		if err != nil {
			p.Close()
		}
	}()
	// The table first (empty), so that missing rights fail the claim
	// before any packet is sent.
	if !c.NoFirewall {
		if p.impl.fw, err = addFirewall(nil); err != nil {
			return nil, err
		}
	}
	if p.impl.arp, err = afpacket.Listen(ifi, afpacket.Datagram, afpacket.ProtoARP, &afpacket.Config{IgnoreOutgoing: true}); err != nil {
		return nil, fmt.Errorf("srcpool: answering ARP on %s: %w", ifi.Name, err)
	}
	p.impl.wg.Add(1)
	go p.readARP()
	if need6 {
		filter, ferr := ndFilter()
		if ferr != nil {
			return nil, ferr
		}
		if p.impl.nd, err = afpacket.Listen(ifi, afpacket.Datagram, afpacket.ProtoIPv6, &afpacket.Config{Filter: filter, IgnoreOutgoing: true}); err != nil {
			return nil, fmt.Errorf("srcpool: answering neighbour discovery on %s: %w", ifi.Name, err)
		}
		p.impl.wg.Add(1)
		go p.readND()
	}

	var got []netip.Addr
	if len(c.Addrs) > 0 {
		addrs := make([]netip.Addr, len(c.Addrs))
		for i, a := range c.Addrs {
			addrs[i] = a.Unmap()
			if known(ifi.Index, addrs[i]) {
				return nil, fmt.Errorf("srcpool: %v: %w (in the kernel's neighbour table on %s)", addrs[i], ErrInUse, ifi.Name)
			}
		}
		free, err := p.check(ctx, &c, addrs)
		if err != nil {
			return nil, err
		}
		for _, a := range addrs {
			if !slices.Contains(free, a) {
				return nil, fmt.Errorf("srcpool: %v: %w (it answered %s on %s)", a, ErrInUse, probeName(a), ifi.Name)
			}
		}
		got = append(got, free...)
	}
	tried := map[netip.Addr]bool{}
	skip := func(a netip.Addr) bool {
		return tried[a] || own[a] || slices.Contains(got, a) || known(ifi.Index, a)
	}
	if c.Count > 0 {
		cands := topDown(pfx4[0], skip)
		more, err := p.claimCount(ctx, &c, c.Count, func(n int) []netip.Addr {
			var out []netip.Addr
			for a := range cands {
				tried[a] = true
				out = append(out, a)
				if len(out) == n {
					break
				}
			}
			return out
		})
		if err != nil {
			return nil, fmt.Errorf("srcpool: %d addresses of %v on %s: %w", c.Count, pfx4[0], ifi.Name, err)
		}
		got = append(got, more...)
	}
	if c.Count6 > 0 {
		budget := 16 * c.Count6
		more, err := p.claimCount(ctx, &c, c.Count6, func(n int) []netip.Addr {
			var out []netip.Addr
			for ; budget > 0 && len(out) < n; budget-- {
				a := randomIn(pfx6[0])
				if !skip(a) {
					tried[a] = true
					out = append(out, a)
				}
			}
			return out
		})
		if err != nil {
			return nil, fmt.Errorf("srcpool: %d addresses of %v on %s: %w", c.Count6, pfx6[0], ifi.Name, err)
		}
		got = append(got, more...)
	}
	if p.impl.fw != nil {
		if err = p.impl.fw.add(got); err != nil {
			return nil, err
		}
	}
	p.impl.mu.Lock()
	p.finish(got)
	for a := range p.impl.gone {
		p.markLost(a)
	}
	p.impl.mu.Unlock()
	return p, nil
}

// claimCount claims n addresses from the candidates next hands out.
func (p *Pool) claimCount(ctx context.Context, c *Config, n int, next func(int) []netip.Addr) ([]netip.Addr, error) {
	var got []netip.Addr
	for len(got) < n {
		want := n - len(got)
		cands := next(want + want/4 + 1)
		if len(cands) == 0 {
			return got, fmt.Errorf("%w: found %d of %d", ErrExhausted, len(got), n)
		}
		free, err := p.check(ctx, c, cands)
		if err != nil {
			return nil, err
		}
		if len(free) > want {
			p.unclaim(free[want:])
			free = free[:want]
		}
		got = append(got, free...)
	}
	return got, nil
}

// check probes cands (RFC 5227 / DAD) and claims and returns those no one
// answered for, in the order of cands.
func (p *Pool) check(ctx context.Context, c *Config, cands []netip.Addr) ([]netip.Addr, error) {
	im := &p.impl
	im.mu.Lock()
	for _, a := range cands {
		im.probing[a] = true
		delete(im.conflict, a)
	}
	im.mu.Unlock()
	var joined []netip.Addr
	defer func() {
		im.mu.Lock()
		for _, a := range cands {
			delete(im.probing, a)
		}
		im.mu.Unlock()
	}()
	for _, a := range cands {
		if a.Is6() {
			hw := packet.MulticastHW(packet.SolicitedNode(a))
			if err := im.nd.JoinMulticast(p.ifindex, hw[:]); err != nil {
				return nil, fmt.Errorf("srcpool: join %v: %w", packet.SolicitedNode(a), err)
			}
			joined = append(joined, a)
		}
	}
	var buf [packet.DADSolLen]byte
	for i := range c.Probes {
		if i > 0 {
			if err := sleep(ctx, c.ProbeInterval); err != nil {
				return nil, err
			}
		}
		for _, a := range cands {
			if err := p.sendProbe(buf[:], a); err != nil {
				return nil, err
			}
		}
	}
	if err := sleep(ctx, c.ProbeWait); err != nil {
		return nil, err
	}
	var free []netip.Addr
	im.mu.Lock()
	for _, a := range cands {
		if !im.conflict[a] {
			free = append(free, a)
			im.claimed[a] = true
		}
	}
	im.mu.Unlock()
	for _, a := range joined {
		if !slices.Contains(free, a) {
			hw := packet.MulticastHW(packet.SolicitedNode(a))
			_ = im.nd.LeaveMulticast(p.ifindex, hw[:])
		}
	}
	return free, nil
}

// unclaim gives addresses back (claimed but not needed).
func (p *Pool) unclaim(addrs []netip.Addr) {
	p.impl.mu.Lock()
	for _, a := range addrs {
		delete(p.impl.claimed, a)
	}
	p.impl.mu.Unlock()
	for _, a := range addrs {
		if a.Is6() {
			hw := packet.MulticastHW(packet.SolicitedNode(a))
			_ = p.impl.nd.LeaveMulticast(p.ifindex, hw[:])
		}
	}
}

// sendProbe sends one ARP probe (from 0.0.0.0) or DAD solicitation (from
// ::) for a.
func (p *Pool) sendProbe(buf []byte, a netip.Addr) error {
	if a.Is4() {
		n := packet.ARPRequest(buf, p.hw, netip.IPv4Unspecified(), a)
		to := afpacket.Addr{Ifindex: p.ifindex, Protocol: afpacket.ProtoARP, HWLen: 6}
		copy(to.HW[:], packet.BroadcastHWAddr)
		if _, err := p.impl.arp.WritePacket(buf[:n], &to); err != nil {
			return fmt.Errorf("srcpool: ARP probe for %v: %w", a, err)
		}
		return nil
	}
	n := packet.DADSolicitation(buf, a)
	hw := packet.MulticastHW(packet.SolicitedNode(a))
	to := afpacket.Addr{Ifindex: p.ifindex, Protocol: afpacket.ProtoIPv6, HWLen: 6}
	copy(to.HW[:], hw[:])
	if _, err := p.impl.nd.WritePacket(buf[:n], &to); err != nil {
		return fmt.Errorf("srcpool: duplicate address detection for %v: %w", a, err)
	}
	return nil
}

// readARP answers ARP requests for claimed addresses and notes conflicts.
func (p *Pool) readARP() {
	defer p.impl.wg.Done()
	var (
		buf  [1500]byte
		out  [packet.ARPLen]byte
		from afpacket.Addr
		r    wire.Packet
	)
	for {
		n, err := p.impl.arp.ReadPacket(buf[:], &from)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if r.DecodeNetwork(wire.EtherTypeARP, buf[:n]) != nil || !r.HasLinkAddr || r.LinkAddr == p.hw {
			continue
		}
		sender, tgt := r.Src, r.Dst
		im := &p.impl
		im.mu.Lock()
		// Someone uses or probes an address we check, or announces one we hold.
		if im.probing[sender] || sender.IsUnspecified() && im.probing[tgt] {
			if im.probing[sender] {
				im.conflict[sender] = true
			} else {
				im.conflict[tgt] = true
			}
		}
		if im.claimed[sender] {
			im.gone[sender] = true
			p.markLost(sender)
		}
		answer := r.ARPOp == wire.ARPRequest && im.claimed[tgt] && !p.lost(tgt)
		im.mu.Unlock()
		if !answer {
			continue
		}
		m := packet.ARPReply(out[:], p.hw, tgt, r.LinkAddr, sender)
		to := afpacket.Addr{Ifindex: p.ifindex, Protocol: afpacket.ProtoARP, HWLen: 6}
		copy(to.HW[:], r.LinkAddr[:])
		if _, err := p.impl.arp.WritePacket(out[:m], &to); err == nil {
			p.arpReplies.Add(1)
		}
	}
}

// lost reports whether a claimed address was lost to a conflict.
func (p *Pool) lost(a netip.Addr) bool {
	s := &p.v4
	if a.Is6() {
		s = &p.v6
	}
	i := s.index(a)
	return i >= 0 && i < len(s.lost) && s.lost[i].Load()
}

// readND answers neighbour solicitations for claimed addresses and notes
// conflicts.
func (p *Pool) readND() {
	defer p.impl.wg.Done()
	var (
		buf  [1500]byte
		out  [packet.NeighborAdvLen]byte
		from afpacket.Addr
		r    wire.Packet
	)
	for {
		n, err := p.impl.nd.ReadPacket(buf[:], &from)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if r.DecodeIP(buf[:n]) != nil || r.Proto != wire.ProtoICMPv6 || r.TTL != 255 {
			continue
		}
		var srcHW [6]byte
		copy(srcHW[:], from.HW[:6])
		if srcHW == p.hw {
			continue
		}
		kind := r.ICMPClass().Kind
		tgt := r.NDTarget
		im := &p.impl
		im.mu.Lock()
		switch kind {
		case wire.ICMPNeighborAdvert:
			if im.probing[tgt] {
				im.conflict[tgt] = true
			}
			if im.claimed[tgt] {
				im.gone[tgt] = true
				p.markLost(tgt)
			}
		case wire.ICMPNeighborSolicit:
			if im.probing[tgt] && r.Src.IsUnspecified() {
				im.conflict[tgt] = true
			}
		}
		answer := kind == wire.ICMPNeighborSolicit && im.claimed[tgt] && !p.lost(tgt)
		im.mu.Unlock()
		if !answer {
			continue
		}
		to := afpacket.Addr{Ifindex: p.ifindex, Protocol: afpacket.ProtoIPv6, HWLen: 6}
		var m int
		if r.Src.IsUnspecified() {
			// Another node's duplicate address detection: defend (RFC 4862 5.4.3).
			m = packet.NeighborAdvertisement(out[:], p.hw, tgt, netip.MustParseAddr("ff02::1"), tgt, packet.NAOverride)
			copy(to.HW[:], allNodesHW[:])
		} else {
			m = packet.NeighborAdvertisement(out[:], p.hw, tgt, r.Src, tgt, packet.NASolicited|packet.NAOverride)
			copy(to.HW[:], srcHW[:])
		}
		if _, err := p.impl.nd.WritePacket(out[:m], &to); err == nil {
			p.naReplies.Add(1)
		}
	}
}

// Close stops answering for the pool's addresses and removes its nftables
// table. It is safe to call more than once and from a deferred call on a
// panic path.
func (p *Pool) Close() error {
	im := &p.impl
	im.closeOnce.Do(func() {
		im.mu.Lock()
		im.closed = true
		clear(im.claimed)
		im.mu.Unlock()
		var errs []error
		for _, c := range []*afpacket.Conn{im.arp, im.nd} {
			if c != nil {
				c.Close() // leaves its multicast groups too
			}
		}
		im.wg.Wait()
		if im.fw != nil {
			errs = append(errs, im.fw.remove())
		}
		im.closeErr = errors.Join(errs...)
	})
	return im.closeErr
}

// ndFilter passes ICMPv6 neighbour solicitations and advertisements
// without extension headers (as RFC 4861 sends them).
func ndFilter() ([]bpf.RawInstruction, error) {
	return bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 6, Size: 1}, // next header
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 58, SkipTrue: 4},
		bpf.LoadAbsolute{Off: 40, Size: 1}, // ICMPv6 type
		bpf.JumpIf{Cond: bpf.JumpLessThan, Val: 135, SkipTrue: 2},
		bpf.JumpIf{Cond: bpf.JumpGreaterThan, Val: 136, SkipTrue: 1},
		bpf.RetConstant{Val: 1500},
		bpf.RetConstant{Val: 0},
	})
}

// pickInterface finds the pool's interface: by name, by route toward
// c.Toward, or as the one whose subnet holds the first explicit address.
func pickInterface(c *Config) (*net.Interface, error) {
	if c.Interface != "" {
		ifi, err := net.InterfaceByName(c.Interface)
		if err != nil {
			return nil, fmt.Errorf("srcpool: interface %q: %w", c.Interface, err)
		}
		return ifi, nil
	}
	if c.Toward.IsValid() {
		r, err := route.Get(c.Toward, 0)
		if err != nil {
			return nil, fmt.Errorf("srcpool: interface toward %v: %w", c.Toward, err)
		}
		if r.Local {
			return nil, fmt.Errorf("srcpool: %v is this host: probes to it never leave by a link: %w", c.Toward, ErrNoLinkLayer)
		}
		return net.InterfaceByIndex(r.Ifindex)
	}
	if len(c.Addrs) == 0 {
		return nil, errors.New("srcpool: set Interface or Toward to take addresses of a subnet")
	}
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("srcpool: list interfaces: %w", err)
	}
	a := c.Addrs[0].Unmap()
	for i := range ifs {
		p4, p6, err := ifacePrefixes(&ifs[i])
		if err != nil {
			continue
		}
		for _, p := range append(p4, p6...) {
			if p.Contains(a) {
				return &ifs[i], nil
			}
		}
	}
	return nil, fmt.Errorf("srcpool: %v: %w of any interface", a, ErrNotLocal)
}

// ifacePrefixes returns the interface's IPv4 subnets and global IPv6
// subnets.
func ifacePrefixes(ifi *net.Interface) (p4, p6 []netip.Prefix, err error) {
	addrs, err := ifi.Addrs()
	if err != nil {
		return nil, nil, fmt.Errorf("srcpool: addresses of %s: %w", ifi.Name, err)
	}
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, _ := n.Mask.Size()
		p := netip.PrefixFrom(ip.Unmap(), ones).Masked()
		switch {
		case p.Addr().Is4():
			p4 = append(p4, p)
		case !ip.IsLinkLocalUnicast() && ones <= 120:
			p6 = append(p6, p)
		}
	}
	return p4, p6, nil
}

// ownAddrs returns every address of this host.
func ownAddrs() (map[netip.Addr]bool, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, fmt.Errorf("srcpool: own addresses: %w", err)
	}
	m := map[netip.Addr]bool{}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			if ip, ok := netip.AddrFromSlice(n.IP); ok {
				m[ip.Unmap()] = true
			}
		}
	}
	return m, nil
}

// checkLocal refuses an explicit address outside the interface's subnets,
// a subnet's network or broadcast address, and this host's addresses.
func checkLocal(ifi *net.Interface, a netip.Addr, p4, p6 []netip.Prefix, own map[netip.Addr]bool) error {
	if own[a] {
		return fmt.Errorf("srcpool: %v: %w (an address of this host)", a, ErrInUse)
	}
	ps := p4
	if a.Is6() {
		ps = p6
	}
	for _, p := range ps {
		if !p.Contains(a) {
			continue
		}
		if a.Is4() && p.Bits() <= 30 && (a == p.Addr() || a == lastAddr(p)) {
			return fmt.Errorf("srcpool: %v is the network or broadcast address of %v", a, p)
		}
		return nil
	}
	return fmt.Errorf("srcpool: %v: %w of interface %s (its subnets: %v)", a, ErrNotLocal, ifi.Name, ps)
}

// lastAddr returns the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v |= uint32(1)<<(32-p.Bits()) - 1
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// known reports whether the kernel's neighbour table has a usable entry
// for a on the interface: someone answered for it recently.
func known(ifindex int, a netip.Addr) bool {
	_, ok, err := route.Neighbor(ifindex, a)
	return err == nil && ok
}

// randomIn returns a random address of an IPv6 prefix.
func randomIn(p netip.Prefix) netip.Addr {
	var r [16]byte
	_, _ = rand.Read(r[:])
	b := p.Masked().Addr().As16()
	for i := range 16 {
		bits := p.Bits() - 8*i
		switch {
		case bits >= 8:
		case bits <= 0:
			b[i] = r[i]
		default:
			m := byte(0xff) >> bits
			b[i] = b[i]&^m | r[i]&m
		}
	}
	return netip.AddrFrom16(b)
}

func probeName(a netip.Addr) string {
	if a.Is4() {
		return "an ARP probe"
	}
	return "duplicate address detection"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

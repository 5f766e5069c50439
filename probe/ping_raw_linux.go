package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// rawPingAvailable reports whether the process may open packet sockets.
func rawPingAvailable() error {
	c, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, nil)
	if err != nil {
		return err
	}
	return c.Close()
}

// rawPing is the discovery prober of raw packets (see NewPing).
type rawPing struct {
	cfg     PingConfig
	syn     SYNConfig
	methods [PingConnect + 1]bool
}

func newRawPing(c PingConfig) (Prober, error) {
	syn, err := c.SYN.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &rawPing{cfg: c, syn: syn}
	for _, m := range c.Methods {
		if m == PingConnect {
			return nil, errors.New("probe: the connect ping cannot be combined with raw ping methods")
		}
		p.methods[m] = true
	}
	for _, l := range [][]uint16{c.SYNPorts, c.ACKPorts, c.UDPPorts} {
		if len(l) > 64 {
			return nil, fmt.Errorf("probe: %d ping ports: at most 64 per method", len(l))
		}
	}
	if syn.Interface != "" {
		if _, err := net.InterfaceByName(syn.Interface); err != nil {
			return nil, fmt.Errorf("probe: interface %q: %w", syn.Interface, err)
		}
	}
	return p, nil
}

func (p *rawPing) Protocol() target.Protocol { return HostProtocol }

func (p *rawPing) Silence() (result.State, result.Reason) { return result.Filtered, result.NoResponse }

// Ping source port ranges.
const (
	pingSYNBase = DefaultPingSourcePort
	pingACKBase = DefaultPingSourcePort + PingSourcePorts
	pingUDPBase = DefaultPingSourcePort + 2*PingSourcePorts
)

// Cookie kinds of the ICMP pings: the destination-port argument of the
// keyed hash, so that an echo cookie never validates a timestamp reply.
const (
	cookieEcho      = 1
	cookieTimestamp = 2
)

// pingBatch is how many packets one sendmmsg call takes.
const pingBatch = 128

func (p *rawPing) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, errors.New("probe: nil deliver function")
	}
	key := p.syn.Key
	if key == ([16]byte{}) {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("probe: cookie key: %w", err)
		}
	}
	cc := &route.CacheConfig{ResolveTimeout: p.syn.ResolveTimeout}
	if p.syn.Interface != "" {
		ifi, err := net.InterfaceByName(p.syn.Interface)
		if err != nil {
			return nil, fmt.Errorf("probe: interface %q: %w", p.syn.Interface, err)
		}
		cc.Ifindex = ifi.Index
	}
	if p.syn.Source.Is4() {
		cc.Src4 = p.syn.Source
	} else if p.syn.Source.Is6() {
		cc.Src6 = p.syn.Source
	}
	filter, err := pingFilter(pingSYNBase, pingACKBase+PingSourcePorts-1, pingUDPBase, pingUDPBase+PingSourcePorts-1)
	if err != nil {
		return nil, err
	}
	rx, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoAll,
		&afpacket.Config{Filter: filter, IgnoreOutgoing: true, ReadBuffer: 8 << 20})
	if err != nil {
		return nil, fmt.Errorf("probe: ping: %w", err)
	}
	rd, err := rx.NewBatchReader(64, 512)
	if err != nil {
		rx.Close()
		return nil, err
	}
	tx, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, &afpacket.Config{WriteBuffer: 4 << 20})
	if err != nil {
		rx.Close()
		return nil, fmt.Errorf("probe: ping: %w", err)
	}
	wr, err := tx.NewBatchWriter(pingBatch, 128)
	if err != nil {
		rx.Close()
		tx.Close()
		return nil, err
	}
	s := &rawPingSession{
		p: p, hash: cookie.New(key), deliver: deliver,
		rx: rx, rd: rd, tx: tx, wr: wr,
		pending: map[route.NextHop][]pendingPing{},
		done:    make(chan struct{}),
		start:   time.Now(),
	}
	cc.Resolved = s.resolved
	s.routes = route.NewCache(cc)
	go s.receive()
	return s, nil
}

type pendingPing struct {
	dst   netip.Addr
	try   int
	final bool
}

// rawPingSession sends the ping packets of every method for each host and
// classifies what comes back.
type rawPingSession struct {
	p       *rawPing
	hash    cookie.Hasher
	deliver func(Reply)
	rx      *afpacket.Conn
	rd      *afpacket.BatchReader
	routes  *route.Cache
	done    chan struct{}
	start   time.Time
	local   sync.WaitGroup // deliveries of this host's own addresses

	mu      sync.Mutex // the send side
	tx      *afpacket.Conn
	wr      *afpacket.BatchWriter
	pending map[route.NextHop][]pendingPing
	err     error
	closed  bool

	sent, skipped, received, forged, ignored, delivered atomic.Uint64
}

var _ Flusher = (*rawPingSession)(nil)

// Send sends every method's packets for one host.
func (s *rawPingSession) Send(pr Probe) error {
	if pr.Target.Port != (target.Port{}) {
		s.skipped.Add(1)
		return fmt.Errorf("%w: ping probes hosts, not port %v", ErrTargetSkipped, pr.Target.Port)
	}
	dst := pr.Target.Addr.Unmap()
	if !dst.IsValid() {
		s.skipped.Add(1)
		return fmt.Errorf("%w: invalid address", ErrTargetSkipped)
	}
	try := max(pr.Try, 0)
	rt, err := s.routes.Route(dst)
	if err != nil {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: %v", ErrTargetSkipped, dst, err)
	}
	if rt.Local {
		// This host's own address: up, as nmap says, without a packet.
		if try == 0 {
			s.local.Add(1)
			go func() {
				defer s.local.Done()
				s.deliver(Reply{Target: target.Target{Addr: dst}, Try: 0, State: result.Open,
					Reason: result.LocalhostResponse, Time: time.Now()})
			}()
		}
		return nil
	}
	m := &s.p.methods
	onLink := !rt.Gateway.IsValid() && !rt.NoLink && len(rt.HWAddr) == 6
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("probe: send on closed ping session")
	}
	if err := s.takeErr(); err != nil {
		return err
	}
	if m[PingARP] {
		if onLink {
			return s.sendNeighbour(rt, dst)
		}
		if !m[PingEcho] && !m[PingTimestamp] && !m[PingSYN] && !m[PingACK] && !m[PingUDP] {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v is not on a local link: ARP/NDP cannot reach it", ErrTargetSkipped, dst)
		}
	}
	hop, nh, err := s.routes.TryHop(dst)
	if err == route.ErrPending {
		s.pending[nh] = append(s.pending[nh], pendingPing{dst, try, pr.Final})
		return nil
	}
	if err != nil {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: %v", ErrTargetSkipped, dst, err)
	}
	return s.sendRouted(hop, dst, try, pr.Final)
}

// sendNeighbour sends an ARP request (IPv4) or a neighbour solicitation
// (IPv6) for dst on its link. Called with s.mu held.
func (s *rawPingSession) sendNeighbour(rt route.Route, dst netip.Addr) error {
	b, err := s.slot()
	if err != nil {
		return err
	}
	hw := [6]byte(rt.HWAddr)
	a := afpacket.Addr{Ifindex: rt.Ifindex, HWLen: 6}
	var n int
	if dst.Is4() {
		n = packet.ARPRequest(b, hw, rt.Src, dst)
		a.Protocol = afpacket.ProtoARP
		copy(a.HW[:], packet.BroadcastHWAddr)
	} else {
		n = packet.NeighborSolicitation(b, hw, rt.Src, dst)
		a.Protocol = afpacket.ProtoIPv6
		mhw := packet.MulticastHW(packet.SolicitedNode(dst))
		copy(a.HW[:], mhw[:])
	}
	return s.commit(n, &a, dst)
}

// sendRouted sends the IP methods' packets to dst through hop. The first
// try of a target that will get another sends one packet of the first
// method only (in nmap's order: echo, SYN, ACK, timestamp, UDP), which
// most live hosts answer; later tries send every method, so each method
// reaches every silent host and the verdicts are those of sending all
// at once, for a fraction of the packets. Replies to the other methods
// on the second try say FirstSend, so the engine does not mistake them
// for loss. Called with s.mu held.
func (s *rawPingSession) sendRouted(hop route.Hop, dst netip.Addr, try int, final bool) error {
	m := s.p.methods
	synPorts, ackPorts, udpPorts := s.p.cfg.SYNPorts, s.p.cfg.ACKPorts, s.p.cfg.UDPPorts
	if try == 0 && !final {
		m = [PingConnect + 1]bool{}
		m[s.firstMethod(dst)] = true
		synPorts, ackPorts, udpPorts = firstPort(synPorts), firstPort(ackPorts), firstPort(udpPorts)
	}
	src := hop.Src
	if src.Is4() != dst.Is4() {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: source %v is of another address family", ErrTargetSkipped, dst, src)
	}
	a := afpacket.Addr{Ifindex: hop.Ifindex, Protocol: afpacket.ProtoIPv4, HWLen: hop.HWLen, HW: hop.HW}
	if dst.Is6() {
		a.Protocol = afpacket.ProtoIPv6
	}
	ttl := s.p.syn.TTL
	t4 := uint16(try % PingSourcePorts)
	var firstErr error
	send := func(build func(b []byte) int) {
		b, err := s.slot()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			return
		}
		if err := s.commit(build(b), &a, dst); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if m[PingEcho] {
		c := s.hash.TCP(src, dst, 0, cookieEcho)
		send(func(b []byte) int {
			return packet.ICMPEcho(b, src, dst, uint16(c>>16), uint16(c)&^0xf|t4, ttl, nil)
		})
	}
	if m[PingTimestamp] && dst.Is4() {
		c := s.hash.TCP(src, dst, 0, cookieTimestamp)
		ms := uint32(time.Now().UTC().Sub(time.Now().UTC().Truncate(24*time.Hour)) / time.Millisecond)
		send(func(b []byte) int {
			return packet.ICMPTimestamp(b, src, dst, uint16(c>>16), uint16(c)&^0xf|t4, ttl, ms)
		})
	}
	if m[PingSYN] {
		sport := pingSYNBase + t4
		for _, dport := range synPorts {
			seq := s.hash.TCP(src, dst, sport, dport)
			send(func(b []byte) int {
				return packet.TCPPing(b, src, dst, sport, dport, seq, 0, wire.FlagSYN, s.p.syn.Window, ttl)
			})
		}
	}
	if m[PingACK] {
		sport := pingACKBase + t4
		for _, dport := range ackPorts {
			ack := s.hash.TCP(src, dst, sport, dport)
			send(func(b []byte) int {
				return packet.TCPPing(b, src, dst, sport, dport, ack^0x5ca1ab1e, ack, wire.FlagACK, s.p.syn.Window, ttl)
			})
		}
	}
	if m[PingUDP] {
		sport := pingUDPBase + t4
		for _, dport := range udpPorts {
			id := uint16(s.hash.TCP(src, dst, sport, dport))
			send(func(b []byte) int { return packet.UDPPing(b, src, dst, sport, dport, ttl, id, nil) })
		}
	}
	return firstErr
}

// firstMethod is the method of a first, non-final try to dst.
func (s *rawPingSession) firstMethod(dst netip.Addr) PingMethod {
	for _, m := range []PingMethod{PingEcho, PingSYN, PingACK, PingTimestamp, PingUDP} {
		if s.p.methods[m] && (m != PingTimestamp || dst.Is4()) {
			return m
		}
	}
	return 0
}

func firstPort(p []uint16) []uint16 {
	if len(p) > 1 {
		return p[:1]
	}
	return p
}

// staged reports whether method m, answered on try, was first sent on
// that try (the second), rather than retransmitted.
func (s *rawPingSession) staged(m PingMethod, dst netip.Addr, try int, port uint16, ports []uint16) bool {
	if try != 1 {
		return false
	}
	return m != s.firstMethod(dst) || len(ports) > 0 && port != ports[0]
}

// slot returns the writer's next buffer, flushing a full batch first.
// Called with s.mu held.
func (s *rawPingSession) slot() ([]byte, error) {
	if s.wr.Full() {
		if err := s.flushLocked(); err != nil {
			return nil, err
		}
	}
	return s.wr.Slot(), nil
}

func (s *rawPingSession) commit(n int, a *afpacket.Addr, dst netip.Addr) error {
	if n == 0 || !s.wr.Commit(n, a) {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: cannot build the probe", ErrTargetSkipped, dst)
	}
	return nil
}

func (s *rawPingSession) flushLocked() error {
	n, err := s.wr.Flush()
	s.sent.Add(uint64(n))
	if err != nil {
		return fmt.Errorf("probe: ping send: %w", err)
	}
	return nil
}

// Flush sends the queued packets.
func (s *rawPingSession) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	err := s.flushLocked()
	if e := s.takeErr(); err == nil {
		err = e
	}
	return err
}

func (s *rawPingSession) takeErr() error {
	err := s.err
	s.err = nil
	return err
}

// resolved sends the pings that waited for next hop nh.
func (s *rawPingSession) resolved(nh route.NextHop) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.pending[nh]
	delete(s.pending, nh)
	if s.closed {
		return
	}
	// A host retried while its next hop resolved waits with several tries:
	// send its latest only, so that the answer names a try the engine
	// still has a send time for (a clean RTT sample), and once.
	latest := make(map[netip.Addr]int, len(q))
	for i, p := range q {
		latest[p.dst] = i
	}
	for i, p := range q {
		if latest[p.dst] != i {
			continue
		}
		hop, _, err := s.routes.TryHop(p.dst)
		if err != nil {
			s.skipped.Add(1)
			continue
		}
		if err := s.sendRouted(hop, p.dst, p.try, p.final); err != nil && s.err == nil && !errors.Is(err, ErrTargetSkipped) {
			s.err = err
		}
	}
	if err := s.flushLocked(); err != nil && s.err == nil {
		s.err = err
	}
}

// Stats returns the session's counters so far.
func (s *rawPingSession) Stats() PingStats {
	st := PingStats{
		Sent: s.sent.Load(), Skipped: s.skipped.Load(), Received: s.received.Load(),
		Forged: s.forged.Load(), Ignored: s.ignored.Load(), Delivered: s.delivered.Load(),
	}
	if s.rx != nil {
		if rs, err := s.rx.Stats(); err == nil {
			st.Dropped = rs.Drops
		}
	}
	return st
}

// Close sends what is queued, closes the sockets and waits for the
// receiver.
func (s *rawPingSession) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	ferr := s.flushLocked()
	s.closed = true
	err := s.tx.Close()
	clear(s.pending)
	s.mu.Unlock()
	s.routes.Close()
	if e := s.rx.Close(); err == nil {
		err = e
	}
	<-s.done
	s.local.Wait()
	if ferr != nil {
		return ferr
	}
	return err
}

func (s *rawPingSession) receive() {
	defer close(s.done)
	var p wire.Packet
	for {
		pkts, err := s.rd.Read()
		if err != nil {
			return // closed; no other read error is recoverable either
		}
		now := time.Now()
		for i := range pkts {
			s.received.Add(1)
			s.handle(&p, &pkts[i], now)
		}
	}
}

// handle classifies one received packet and delivers it when it answers
// one of our pings.
func (s *rawPingSession) handle(p *wire.Packet, pk *afpacket.Packet, now time.Time) {
	if p.DecodeNetwork(pk.Addr.Protocol, pk.Data) != nil {
		s.ignored.Add(1)
		return
	}
	r := Reply{Try: -1, State: result.Open, Time: now, ReplyTTL: p.TTL}
	switch {
	case p.EtherType == wire.EtherTypeARP:
		if p.ARPOp != wire.ARPReply || !p.HasLinkAddr || !s.p.methods[PingARP] || !s.ours(p.Src, p.Dst) {
			s.ignored.Add(1)
			return
		}
		r.Target.Addr, r.Reason, r.ReplyTTL = p.Src, result.ARPResponse, 0
		r.MAC = net.HardwareAddr(slices.Clone(p.LinkAddr[:]))
	case p.Proto == wire.ProtoICMP || p.Proto == wire.ProtoICMPv6:
		if !s.icmp(p, &r) {
			return
		}
	case p.Proto == wire.ProtoTCP:
		if !s.tcp(p, &r) {
			return
		}
	case p.Proto == wire.ProtoUDP:
		if p.DstPort-pingUDPBase >= PingSourcePorts || !slices.Contains(s.p.cfg.UDPPorts, p.SrcPort) {
			s.ignored.Add(1)
			return
		}
		r.Target.Addr, r.Reason, r.Try = p.Src, result.UDPResponse, int(p.DstPort-pingUDPBase)
		r.FirstSend = s.staged(PingUDP, p.Src, r.Try, p.SrcPort, s.p.cfg.UDPPorts)
	default:
		s.ignored.Add(1)
		return
	}
	if r.MAC == nil && pk.Addr.HWLen == 6 && r.Target.Addr.IsValid() && s.routes != nil {
		// Any reply from an on-link host names its MAC too.
		if rt, err := s.routes.Route(r.Target.Addr); err == nil && !rt.Gateway.IsValid() && !rt.NoLink {
			r.MAC = net.HardwareAddr(slices.Clone(pk.Addr.HW[:6]))
		}
	}
	s.delivered.Add(1)
	s.deliver(r)
}

// ours reports whether an ARP or neighbour-discovery answer about host
// was sent to the address we solicit host from (not a gratuitous or
// multicast announcement).
func (s *rawPingSession) ours(host, to netip.Addr) bool {
	if s.routes == nil {
		return false
	}
	rt, err := s.routes.Route(host)
	return err == nil && rt.Src == to
}

// icmp classifies echo and timestamp replies, neighbour advertisements and
// port-unreachable errors quoting a UDP ping.
func (s *rawPingSession) icmp(p *wire.Packet, r *Reply) bool {
	v6 := p.Proto == wire.ProtoICMPv6
	cl := wire.ClassifyICMP(v6, p.ICMPType, p.ICMPCode)
	switch cl.Kind {
	case wire.ICMPEchoReply, wire.ICMPTimestampReply:
		kind, reason, m := uint16(cookieEcho), result.EchoReply, PingEcho
		if cl.Kind == wire.ICMPTimestampReply {
			kind, reason, m = cookieTimestamp, result.TimestampReply, PingTimestamp
		}
		c := s.hash.TCP(p.Dst, p.Src, 0, kind)
		if p.ICMPID != uint16(c>>16) || p.ICMPSeq&^0xf != uint16(c)&^0xf {
			s.forged.Add(1)
			return false
		}
		r.Target.Addr, r.Reason, r.Try = p.Src, reason, int(p.ICMPSeq&0xf)
		r.FirstSend = s.staged(m, p.Src, r.Try, 0, nil)
		return true
	case wire.ICMPNeighborAdvert:
		if !s.p.methods[PingARP] || p.TTL != 255 || !p.NDTarget.IsValid() || p.NDFlags&wire.NDSolicited == 0 ||
			!s.ours(p.NDTarget, p.Dst) {
			s.ignored.Add(1)
			return false
		}
		r.Target.Addr, r.Reason, r.ReplyTTL = p.NDTarget, result.NDResponse, 0
		if p.HasLinkAddr {
			r.MAC = net.HardwareAddr(slices.Clone(p.LinkAddr[:]))
		}
		return true
	case wire.ICMPUnreachable:
		q := &p.Quote
		// Port unreachable for a UDP ping: only the destination host sends
		// it, so the host is up (nmap's udp ping). Its source may be another
		// address of that host (Linux answers for an AnyIP address of IPv6
		// from an assigned one), so the quote names the target.
		if !p.HasQuote || cl.Reason != result.PortUnreach || q.Proto != target.UDP || q.Src != p.Dst ||
			q.SrcPort-pingUDPBase >= PingSourcePorts || !slices.Contains(s.p.cfg.UDPPorts, q.DstPort) {
			s.ignored.Add(1)
			return false
		}
		r.Target.Addr, r.Reason, r.Try = q.Dst, result.PortUnreach, int(q.SrcPort-pingUDPBase)
		r.FirstSend = s.staged(PingUDP, q.Dst, r.Try, q.DstPort, s.p.cfg.UDPPorts)
		return true
	}
	s.ignored.Add(1)
	return false
}

// tcp classifies the answers to SYN pings (SYN-ACK or RST acknowledging
// the cookie) and ACK pings (RST whose sequence number is the cookie).
func (s *rawPingSession) tcp(p *wire.Packet, r *Reply) bool {
	switch {
	case p.DstPort-pingSYNBase < PingSourcePorts:
		if p.Flags&wire.FlagACK == 0 || p.Ack-1 != s.hash.TCP(p.Dst, p.Src, p.DstPort, p.SrcPort) {
			s.forged.Add(1)
			return false
		}
		switch {
		case p.Flags&(wire.FlagSYN|wire.FlagRST) == wire.FlagSYN:
			r.Reason = result.SynAck
		case p.Flags&wire.FlagRST != 0:
			r.Reason = result.Reset
		default:
			s.ignored.Add(1)
			return false
		}
		r.Try = int(p.DstPort - pingSYNBase)
		r.FirstSend = s.staged(PingSYN, p.Src, r.Try, p.SrcPort, s.p.cfg.SYNPorts)
	case p.DstPort-pingACKBase < PingSourcePorts:
		if p.Flags&wire.FlagRST == 0 || p.Seq != s.hash.TCP(p.Dst, p.Src, p.DstPort, p.SrcPort) {
			s.forged.Add(1)
			return false
		}
		r.Reason, r.Try = result.Reset, int(p.DstPort-pingACKBase)
		r.FirstSend = s.staged(PingACK, p.Src, r.Try, p.SrcPort, s.p.cfg.ACKPorts)
	default:
		s.ignored.Add(1)
		return false
	}
	r.Target.Addr = p.Src
	return true
}

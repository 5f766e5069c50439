package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/probe/udppayload"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

const (
	udpBatch     = 64
	udpSlot      = packet.UDPHeaderLen6 + udppayload.MaxSize
	udpReadSlot  = 2048 // headers and the start of a reply's payload, enough to name the service
	udpFlushWait = 200 * time.Microsecond
)

// checkUDPRaw fails, naming CAP_NET_RAW, when packet sockets are not allowed.
func checkUDPRaw(cfg *UDPConfig) error {
	if cfg.Interface != "" {
		if _, err := net.InterfaceByName(cfg.Interface); err != nil {
			return fmt.Errorf("probe: interface %q: %w", cfg.Interface, err)
		}
	}
	c, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, nil)
	if err != nil {
		return fmt.Errorf("probe: UDP scan: %w", err)
	}
	return c.Close()
}

// openUDPRaw opens a packet socket to send on and one, filtered to UDP
// replies to our source ports and ICMP errors quoting UDP, to receive on.
func openUDPRaw(ctx context.Context, cfg UDPConfig, tab *udppayload.Table, deliver func(Reply)) (Session, error) {
	key := cfg.Key
	if key == ([16]byte{}) {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("probe: cookie key: %w", err)
		}
	}
	cc := &route.CacheConfig{}
	if cfg.Interface != "" {
		ifi, err := net.InterfaceByName(cfg.Interface)
		if err != nil {
			return nil, fmt.Errorf("probe: interface %q: %w", cfg.Interface, err)
		}
		cc.Ifindex = ifi.Index
	}
	if cfg.Source.Is4() {
		cc.Src4 = cfg.Source
	} else if cfg.Source.Is6() {
		cc.Src6 = cfg.Source
	}
	filter, err := afpacket.ReplyFilter(wire.ProtoUDP, cfg.SourcePort, cfg.SourcePort+UDPSourcePorts-1)
	if err != nil {
		return nil, err
	}
	txc, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, &afpacket.Config{WriteBuffer: 4 << 20})
	if err != nil {
		return nil, fmt.Errorf("probe: UDP scan: %w", err)
	}
	tx, err := txc.NewBatchWriter(udpBatch, udpSlot)
	if err != nil {
		txc.Close()
		return nil, fmt.Errorf("probe: UDP scan: %w", err)
	}
	rxc, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoAll,
		&afpacket.Config{Filter: filter, IgnoreOutgoing: true, ReadBuffer: 8 << 20})
	if err != nil {
		txc.Close()
		return nil, fmt.Errorf("probe: UDP scan: %w", err)
	}
	rx, err := rxc.NewBatchReader(64, udpReadSlot)
	if err != nil {
		txc.Close()
		rxc.Close()
		return nil, fmt.Errorf("probe: UDP scan: %w", err)
	}
	s := &UDPSession{
		cfg:      cfg,
		payloads: tab,
		hash:     cookie.New(key),
		deliver:  deliver,
		txc:      txc,
		tx:       tx,
		rxc:      rxc,
		rx:       rx,
		pending:  map[route.NextHop][]pendingProbe{},
		done:     make(chan struct{}),
	}
	cc.Resolved = s.resolved
	s.routes = route.NewCache(cc)
	s.timer = time.AfterFunc(time.Hour, s.timerFlush)
	s.timer.Stop()
	go s.receive()
	return s, nil
}

// UDPSession is an open raw UDP prober. Probes are stateless: a probe's
// try is its source port (UDPConfig.SourcePort + try%UDPSourcePorts) and a
// keyed SipHash cookie of (source, destination, source port, destination
// port) rides in its IPv4 identification or IPv6 flow label, so an ICMP
// error is accepted only when the probe it quotes carries the right
// cookie. A UDP reply is matched by its addresses and ports.
type UDPSession struct {
	cfg      UDPConfig
	payloads *udppayload.Table
	hash     cookie.Hasher
	deliver  func(Reply)
	rxc      *afpacket.Conn
	rx       *afpacket.BatchReader
	done     chan struct{}
	routes   *route.Cache

	mu      sync.Mutex
	txc     *afpacket.Conn
	tx      *afpacket.BatchWriter
	pending map[route.NextHop][]pendingProbe
	lo4     *afpacket.RawIPv4
	lo4buf  [udpSlot]byte
	timer   *time.Timer
	err     error
	closed  bool

	sent, skipped, received, forged, ignored, delivered atomic.Uint64
}

// UDPStats are the counters of a raw UDP session.
type UDPStats struct {
	Sent      uint64 // datagrams handed to the kernel
	Skipped   uint64 // probes not sent: no route, no neighbour, wrong family or protocol
	Received  uint64 // packets that passed the socket filter
	Dropped   uint64 // packets lost to a full receive buffer
	Forged    uint64 // ICMP errors quoting a probe whose cookie did not match: dropped
	Ignored   uint64 // packets that were not a classifiable reply
	Delivered uint64 // replies passed to deliver
}

var _ Session = (*UDPSession)(nil)
var _ Flusher = (*UDPSession)(nil)

// Send queues the datagrams for p (one per payload of its port) and sends
// the batch when it is full. Targets without a route or whose next hop
// does not answer ARP/NDP are skipped (the error wraps ErrTargetSkipped).
func (s *UDPSession) Send(p Probe) error {
	if err := checkUDPTarget(p); err != nil {
		s.skipped.Add(1)
		return err
	}
	dst := p.Target.Addr.Unmap()
	try := max(p.Try, 0)
	sport := s.cfg.SourcePort + uint16(try%UDPSourcePorts)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("probe: send on closed UDP session")
	}
	if err := s.takeErr(); err != nil {
		return err
	}
	hop, nh, err := s.routes.TryHop(dst)
	if err == route.ErrPending {
		q := s.pending[nh]
		if len(q) < maxPendingPerHop {
			s.pending[nh] = append(q, pendingProbe{dst, sport, p.Target.Port.Num})
			return nil
		}
		hop, err = s.routes.Hop(context.Background(), dst)
	}
	if err != nil {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: %v", ErrTargetSkipped, dst, err)
	}
	return s.enqueue(hop, dst, sport, p.Target.Port.Num)
}

func (s *UDPSession) resolved(nh route.NextHop) {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.pending[nh]
	delete(s.pending, nh)
	if s.closed {
		return
	}
	for _, p := range q {
		hop, _, err := s.routes.TryHop(p.dst)
		if err != nil {
			s.skipped.Add(1)
			continue
		}
		if err := s.enqueue(hop, p.dst, p.sport, p.dport); err != nil && s.err == nil && !errors.Is(err, ErrTargetSkipped) {
			s.err = err
		}
	}
	if s.tx.Len() > 0 {
		if err := s.flushLocked(); err != nil && s.err == nil {
			s.err = err
		}
	}
}

// enqueue builds the probe's datagrams into the batch. Called with s.mu held.
func (s *UDPSession) enqueue(hop route.Hop, dst netip.Addr, sport, dport uint16) error {
	if pool := s.cfg.SourcePool; pool != nil && pool.Len(dst.Is6()) > 0 {
		if hop.Local || hop.Ifindex != pool.Ifindex() {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v: not reached through the source pool's interface %s", ErrTargetSkipped, dst, pool.Interface())
		}
		var src netip.Addr
		if s.cfg.Rotation == srcpool.PerTarget {
			src = poolSourceFor(pool, srcpool.PerTarget, s.hash, target.Target{Addr: dst, Port: target.Port{Proto: target.UDP, Num: dport}})
		} else {
			src = pool.Next(dst.Is6())
		}
		if !src.IsValid() {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v: every pool address was lost to a conflict", ErrTargetSkipped, dst)
		}
		hop.Src = src
	}
	if hop.Src.Is4() != dst.Is4() {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: source %v is of another address family", ErrTargetSkipped, dst, hop.Src)
	}
	c := s.hash.TCP(hop.Src, dst, sport, dport)
	for _, d := range s.payloads.Datagrams(dport) {
		if hop.Local && dst.Is4() {
			if err := s.sendLocal4(hop.Src, dst, sport, dport, c, d); err != nil {
				return err
			}
			continue
		}
		if s.tx.Full() {
			if err := s.flushLocked(); err != nil {
				return err
			}
		}
		n := packet.UDP(s.tx.Slot(), hop.Src, dst, sport, dport, s.cfg.TTL, c, d)
		if n == 0 {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v: datagram does not fit", ErrTargetSkipped, dst)
		}
		a := afpacket.Addr{Ifindex: hop.Ifindex, Protocol: afpacket.ProtoIPv4, HWLen: hop.HWLen, HW: hop.HW}
		if dst.Is6() {
			a.Protocol = afpacket.ProtoIPv6
		}
		s.tx.Commit(n, &a)
	}
	switch {
	case s.tx.Full():
		return s.flushLocked()
	case s.tx.Len() > 0:
		s.timer.Reset(udpFlushWait)
	}
	return nil
}

// sendLocal4 sends to an IPv4 address of this host through a raw IP
// socket (packet sockets cannot).
func (s *UDPSession) sendLocal4(src, dst netip.Addr, sport, dport uint16, c uint32, d []byte) error {
	if s.lo4 == nil {
		lo4, err := afpacket.ListenRawIPv4()
		if err != nil {
			return fmt.Errorf("probe: UDP scan of this host: %w", err)
		}
		s.lo4 = lo4
	}
	n := packet.UDP(s.lo4buf[:], src, dst, sport, dport, s.cfg.TTL, c, d)
	if n == 0 {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: datagram does not fit", ErrTargetSkipped, dst)
	}
	if err := s.lo4.Send(s.lo4buf[:n], dst); err != nil {
		return fmt.Errorf("probe: UDP send: %w", err)
	}
	s.sent.Add(1)
	return nil
}

// Flush sends every queued datagram now.
func (s *UDPSession) Flush() error {
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

func (s *UDPSession) flushLocked() error {
	s.timer.Stop()
	n, err := s.tx.Flush()
	s.sent.Add(uint64(n))
	if err != nil {
		return fmt.Errorf("probe: UDP send: %w", err)
	}
	return nil
}

func (s *UDPSession) takeErr() error {
	err := s.err
	s.err = nil
	return err
}

func (s *UDPSession) timerFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.tx.Len() == 0 {
		return
	}
	if err := s.flushLocked(); err != nil && s.err == nil {
		s.err = err
	}
}

// Stats returns the session's counters so far.
func (s *UDPSession) Stats() UDPStats {
	st, _ := s.rxc.Stats()
	return UDPStats{
		Sent: s.sent.Load(), Skipped: s.skipped.Load(), Received: s.received.Load(), Dropped: st.Drops,
		Forged: s.forged.Load(), Ignored: s.ignored.Load(), Delivered: s.delivered.Load(),
	}
}

// Close sends what is queued, closes the sockets and returns once deliver
// will not be called again.
func (s *UDPSession) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	ferr := s.flushLocked()
	s.closed = true
	s.timer.Stop()
	err := s.txc.Close()
	if s.lo4 != nil {
		s.lo4.Close()
	}
	clear(s.pending)
	s.mu.Unlock()
	s.routes.Close()
	if e := s.rxc.Close(); err == nil {
		err = e
	}
	<-s.done
	if ferr != nil {
		return ferr
	}
	return err
}

func (s *UDPSession) receive() {
	defer close(s.done)
	var r wire.Packet
	for {
		pkts, err := s.rx.Read()
		if err != nil {
			return
		}
		now := time.Now()
		for i := range pkts {
			s.received.Add(1)
			s.handle(&r, pkts[i].Data, now)
		}
	}
}

// handle classifies one received packet.
func (s *UDPSession) handle(r *wire.Packet, b []byte, now time.Time) {
	rep, ok := s.classify(r, b, now)
	if !ok {
		return
	}
	s.delivered.Add(1)
	s.deliver(rep)
}

func (s *UDPSession) classify(r *wire.Packet, b []byte, now time.Time) (Reply, bool) {
	if r.DecodeIP(b) != nil {
		s.ignored.Add(1)
		return Reply{}, false
	}
	lo := s.cfg.SourcePort
	switch r.Proto {
	case wire.ProtoUDP:
		if r.DstPort-lo >= UDPSourcePorts || r.SrcPort == 0 {
			s.ignored.Add(1)
			return Reply{}, false
		}
		t := target.Target{Addr: r.Src, Port: target.Port{Proto: target.UDP, Num: r.SrcPort}}
		rep := Reply{
			Target: t, Try: int(r.DstPort - lo), State: result.Open, Reason: result.UDPResponse,
			ReplyTTL: r.TTL, Time: now, Service: udpService(s.payloads, r.SrcPort, r.Payload),
		}
		if s.cfg.SourcePool != nil {
			rep.Source = r.Dst
		}
		return rep, true
	case wire.ProtoICMP, wire.ProtoICMPv6:
		v6 := r.Proto == wire.ProtoICMPv6
		q := &r.Quote
		reason, ok := icmpReason(v6, r.ICMPType, r.ICMPCode)
		if !ok || !r.HasQuote || q.Proto != target.UDP || !q.HasPorts() || q.SrcPort-lo >= UDPSourcePorts {
			s.ignored.Add(1)
			return Reply{}, false
		}
		c := s.hash.TCP(q.Src, q.Dst, q.SrcPort, q.DstPort)
		if (!v6 && q.IPID != uint16(c)) || (v6 && q.FlowLabel != c&0xfffff) {
			s.forged.Add(1)
			return Reply{}, false
		}
		st := result.Filtered
		if reason == result.PortUnreach {
			st = result.Closed
		}
		rep := Reply{
			Target: target.Target{Addr: q.Dst, Port: target.Port{Proto: target.UDP, Num: q.DstPort}},
			Try:    int(q.SrcPort - lo), State: st, Reason: reason, ReplyTTL: r.TTL, Time: now,
		}
		if r.Src != q.Dst {
			rep.From = r.Src
		}
		if s.cfg.SourcePool != nil {
			rep.Source = q.Src
		}
		return rep, true
	}
	s.ignored.Add(1)
	return Reply{}, false
}

// SourceFor returns the source address every try to t is sent from with
// a source pool and per-target rotation (probe.SourceReporter), else the
// invalid address.
func (s *UDPSession) SourceFor(t target.Target) netip.Addr {
	return poolSourceFor(s.cfg.SourcePool, s.cfg.Rotation, s.hash, t)
}

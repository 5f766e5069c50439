package probe

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// NewSYN returns a SYN prober; nil cfg means defaults. It fails with an
// error wrapping os.ErrPermission, naming CAP_NET_RAW, when the process may
// not open packet sockets; it never falls back to connect.
func NewSYN(cfg *SYNConfig) (*SYN, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Interface != "" {
		if _, err := net.InterfaceByName(c.Interface); err != nil {
			return nil, fmt.Errorf("probe: interface %q: %w", c.Interface, err)
		}
	}
	tx, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, nil)
	if err != nil {
		return nil, fmt.Errorf("probe: SYN scan: %w", err)
	}
	tx.Close()
	return &SYN{cfg: c}, nil
}

// Open opens the sockets of one scan: a packet socket to send on and one,
// filtered to replies to the SYN source ports, to receive on.
func (s *SYN) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, errors.New("probe: nil deliver function")
	}
	cfg := s.cfg
	key := cfg.Key
	if key == ([16]byte{}) {
		if _, err := rand.Read(key[:]); err != nil {
			return nil, fmt.Errorf("probe: cookie key: %w", err)
		}
	}
	cc := &route.CacheConfig{ResolveTimeout: cfg.ResolveTimeout}
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
	filter, err := afpacket.ReplyFilter(wire.ProtoTCP, cfg.SourcePort, cfg.SourcePort+cfg.sourcePorts()-1)
	if err != nil {
		return nil, err
	}
	// With workers, batches rotate: one fills while others are sent.
	nsend := 1
	if cfg.SendWorkers > 0 {
		nsend = cfg.SendWorkers + 2
	}
	var (
		conns   []*afpacket.Conn
		senders []*afpacket.BatchWriter
	)
	closeAll := func() {
		for _, c := range conns {
			c.Close()
		}
	}
	for range nsend {
		// One socket per batch, so that workers send in parallel.
		c, tx, err := openSender(!cfg.NoTxRing, cfg.BatchSize)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("probe: SYN scan: %w", err)
		}
		// SO_SNDBUF 4 MiB within the system limit (wmem_max), not forced
		// past it: a larger buffer lets a burst outrun the receiving side.
		if rc, err := c.SyscallConn(); err == nil {
			_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20) })
		}
		conns = append(conns, c)
		senders = append(senders, tx)
	}
	// Replies are read on every interface: loopback targets answer on lo,
	// routed ones on their interface. 256 bytes hold any header we read.
	rxc, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoAll,
		&afpacket.Config{Filter: filter, IgnoreOutgoing: true, ReadBuffer: 8 << 20})
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("probe: SYN scan: %w", err)
	}
	conns = append(conns, rxc)
	rx, err := rxc.NewBatchReader(64, 256)
	if err != nil {
		closeAll()
		return nil, fmt.Errorf("probe: SYN scan: %w", err)
	}
	ss := &SYNSession{
		cfg:     cfg,
		pool:    cfg.SourcePool,
		realPos: cfg.DecoyPosition,
		hash:    cookie.New(key),
		pending: map[route.NextHop][]pendingProbe{},
		senders: senders,
		conns:   conns,
		tx:      senders[0],
		rxc:     rxc,
		rx:      rx,
		deliver: deliver,
		done:    make(chan struct{}),
	}
	if cfg.SendWorkers > 0 {
		ss.free = make(chan *afpacket.BatchWriter, nsend)
		ss.work = make(chan *afpacket.BatchWriter, nsend)
		for _, t := range senders[1:] {
			ss.free <- t
		}
		for range cfg.SendWorkers {
			ss.workers.Add(1)
			go ss.sendWorker()
		}
	}
	if ss.realPos < 0 {
		ss.realPos = mrand.IntN(len(cfg.Decoys) + 1)
	}
	cc.Resolved = ss.resolved
	ss.routes = route.NewCache(cc)
	ss.timer = time.AfterFunc(time.Hour, ss.timerFlush)
	ss.timer.Stop()
	go ss.receive()
	return ss, nil
}

// openSender opens a send socket and its batch writer: through a
// transmit ring when ring is set and the kernel sets one up, else with
// sendmmsg.
func openSender(ring bool, batch int) (*afpacket.Conn, *afpacket.BatchWriter, error) {
	if ring {
		c, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, &afpacket.Config{TxRing: true})
		if err != nil {
			return nil, nil, err // as the plain socket would: no privilege to fall back to
		}
		if tx, err := c.NewBatchWriter(batch, packet.SYNLen6); err == nil {
			return c, tx, nil
		}
		c.Close() // no ring on this kernel: sendmmsg
	}
	c, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, &afpacket.Config{SendOnly: true})
	if err != nil {
		return nil, nil, err
	}
	tx, err := c.NewBatchWriter(batch, packet.SYNLen6)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, tx, nil
}

// SYNSession is an open SYN prober. Send and Flush may be called from
// several goroutines, though the engine uses one.
type SYNSession struct {
	cfg     SYNConfig
	pool    *srcpool.Pool // source addresses, or nil
	realPos int           // position of the real probe among the decoys' copies
	hash    cookie.Hasher
	deliver func(Reply)
	rxc     *afpacket.Conn
	rx      *afpacket.BatchReader
	done    chan struct{}

	routes *route.Cache // safe for concurrent use

	mu      sync.Mutex                       // guards everything below, the send side
	pending map[route.NextHop][]pendingProbe // probes waiting for ARP/NDP
	tx      *afpacket.BatchWriter            // the batch being filled
	lo4     *afpacket.RawIPv4                // opened on first use, for IPv4 targets on this host
	lo4buf  [packet.SYNLen4]byte
	tmpls   []*packet.SYN // one per source address
	timer   *time.Timer
	err     error // a failed background flush, reported by the next Send or Flush
	closed  bool

	// Asynchronous sending (SendWorkers > 0): full batches go to work,
	// workers send them and put them back on free.
	senders  []*afpacket.BatchWriter
	conns    []*afpacket.Conn // the senders' sockets and the receiver's
	free     chan *afpacket.BatchWriter
	work     chan *afpacket.BatchWriter
	inflight sync.WaitGroup // batches handed to workers, not yet sent
	workers  sync.WaitGroup
	errMu    sync.Mutex
	asyncErr error // first error of a worker

	sent, skipped, received, forged, ignored, delivered, decoys atomic.Uint64
}

var _ Session = (*SYNSession)(nil)
var _ interface{ Flush() error } = (*SYNSession)(nil) // probe.Flusher

// maxPendingPerHop bounds the probes held for one next hop while ARP/NDP
// resolves it; beyond it Send waits for the resolution.
const maxPendingPerHop = 1024

// pendingProbe is a probe held until its next hop is resolved.
type pendingProbe struct {
	dst          netip.Addr
	sport, dport uint16
}

// Send queues a SYN for p and sends the batch when it is full. A target
// with no route or a next hop known not to answer ARP/NDP is skipped (the
// error wraps ErrTargetSkipped). Send does not allocate once the route and
// neighbour of the target are cached. A next hop missing from the
// kernel's neighbour table is resolved in the background: its probes wait
// (up to ~1 s) and go out once it answers, or are counted as skipped if it
// never does. Send waits for the resolution only when more than
// maxPendingPerHop (1024) probes wait for the same next hop.
func (s *SYNSession) Send(p Probe) error {
	if p.Target.Port.Proto != target.TCP {
		s.skipped.Add(1)
		return fmt.Errorf("%w: SYN probes TCP ports, not %v", ErrTargetSkipped, p.Target.Port.Proto)
	}
	dst := p.Target.Addr.Unmap()
	if !dst.IsValid() {
		s.skipped.Add(1)
		return fmt.Errorf("%w: invalid address", ErrTargetSkipped)
	}
	try := p.Try
	if try < 0 {
		try = 0
	}
	sport := s.cfg.SourcePort + uint16(try%int(s.cfg.sourcePorts()))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("probe: send on closed SYN session")
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
		// Enough is waiting: wait for the answer here rather than drop.
		// The resolution marks itself done before it calls resolved, which
		// needs s.mu, so waiting with s.mu held cannot deadlock.
		hop, err = s.routes.Hop(context.Background(), dst)
	}
	if err != nil {
		s.skipped.Add(1)
		if errors.Is(err, route.ErrNoRoute) {
			return fmt.Errorf("%w: %v: %v", ErrNoRoute, dst, err)
		}
		return fmt.Errorf("%w: %v: %v", ErrTargetSkipped, dst, err)
	}
	return s.enqueue(hop, dst, sport, p.Target.Port.Num)
}

// resolved sends the probes that waited for nh, now resolved or failed.
func (s *SYNSession) resolved(nh route.NextHop) {
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
		if err := s.flushLocked(false); err != nil && s.err == nil {
			s.err = err
		}
	}
}

// enqueue builds the probe (and its decoys' copies) into the send
// batch. Called with s.mu held.
func (s *SYNSession) enqueue(hop route.Hop, dst netip.Addr, sport, dport uint16) error {
	src := hop.Src
	if s.pool != nil && s.pool.Len(dst.Is6()) > 0 {
		if hop.Local || hop.Ifindex != s.pool.Ifindex() {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v: not reached through the source pool's interface %s", ErrTargetSkipped, dst, s.pool.Interface())
		}
		if s.cfg.Rotation == srcpool.PerTarget {
			src = poolSourceFor(s.pool, srcpool.PerTarget, s.hash, target.Target{Addr: dst, Port: target.Port{Proto: target.TCP, Num: dport}})
		} else {
			src = s.pool.Next(dst.Is6())
		}
		if !src.IsValid() {
			s.skipped.Add(1)
			return fmt.Errorf("%w: %v: every pool address was lost to a conflict", ErrTargetSkipped, dst)
		}
	}
	if len(s.cfg.Decoys) == 0 {
		return s.emit(hop, src, dst, sport, dport, false)
	}
	// All copies go into one batch, so that parallel send workers cannot
	// reorder them (unless there are more copies than a batch holds).
	if copies := len(s.cfg.Decoys) + 1; s.tx.Len() > 0 && s.tx.Len()+copies > s.cfg.BatchSize && !(hop.Local && dst.Is4()) {
		if err := s.flushLocked(false); err != nil {
			return err
		}
	}
	pos := 0
	for _, d := range s.cfg.Decoys {
		if pos == s.realPos {
			if err := s.emit(hop, src, dst, sport, dport, false); err != nil {
				return err
			}
		}
		pos++
		if d.Is4() != dst.Is4() {
			continue
		}
		if err := s.emit(hop, d, dst, sport, dport, true); err != nil {
			return err
		}
	}
	if s.realPos >= len(s.cfg.Decoys) {
		return s.emit(hop, src, dst, sport, dport, false)
	}
	return nil
}

// decoyMark changes the cookie of decoy copies, so that a reply to a
// decoy that comes back to us never passes as the answer to a probe.
const decoyMark = 0x5a5a_a5a5

// emit builds one SYN from src into the send batch (or sends it through
// the raw IPv4 socket for this host). Called with s.mu held.
func (s *SYNSession) emit(hop route.Hop, src, dst netip.Addr, sport, dport uint16, decoy bool) error {
	tmpl, err := s.template(src)
	if err != nil {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: %v", ErrTargetSkipped, dst, err)
	}
	seq := s.hash.TCP(src, dst, sport, dport)
	if decoy {
		seq ^= decoyMark
		s.decoys.Add(1)
	}
	if hop.Local && dst.Is4() {
		return s.sendLocal4(tmpl, dst, sport, dport, seq)
	}
	if s.tx.Full() {
		if err := s.flushLocked(false); err != nil {
			return err
		}
	}
	n := tmpl.Build(s.tx.Slot(), dst, sport, dport, seq)
	if n == 0 {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: source %v is of another address family", ErrTargetSkipped, dst, src)
	}
	d := afpacket.Addr{Ifindex: hop.Ifindex, Protocol: afpacket.ProtoIPv4, HWLen: hop.HWLen, HW: hop.HW}
	if tmpl.Is6() {
		d.Protocol = afpacket.ProtoIPv6
	}
	s.tx.Commit(n, &d)
	switch {
	case s.tx.Full():
		return s.flushLocked(false)
	case s.tx.Len() == 1:
		s.timer.Reset(s.cfg.FlushDelay)
	}
	return nil
}

// sendLocal4 sends an IPv4 probe to this host through a raw IP socket,
// unbatched: such scans are small.
func (s *SYNSession) sendLocal4(tmpl *packet.SYN, dst netip.Addr, sport, dport uint16, seq uint32) error {
	if s.lo4 == nil {
		lo4, err := afpacket.ListenRawIPv4()
		if err != nil {
			return fmt.Errorf("probe: SYN scan of this host: %w", err)
		}
		s.lo4 = lo4
	}
	n := tmpl.Build(s.lo4buf[:], dst, sport, dport, seq)
	if n == 0 {
		s.skipped.Add(1)
		return fmt.Errorf("%w: %v: source of another address family", ErrTargetSkipped, dst)
	}
	if err := s.lo4.Send(s.lo4buf[:n], dst); err != nil {
		return fmt.Errorf("probe: SYN send: %w", err)
	}
	s.sent.Add(1)
	return nil
}

// template returns the packet template for src, making it on first use.
func (s *SYNSession) template(src netip.Addr) (*packet.SYN, error) {
	for _, t := range s.tmpls {
		if t.Src() == src {
			return t, nil
		}
	}
	t, err := packet.NewSYN(src, s.cfg.TTL, s.cfg.Window, s.cfg.MSS)
	if err != nil {
		return nil, err
	}
	s.tmpls = append(s.tmpls, t)
	return t, nil
}

// Flush sends every queued probe now and returns once the kernel has them.
// The engine calls it (through Flusher) before it waits, so that no probe
// sits in a partial batch.
func (s *SYNSession) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	err := s.flushLocked(true)
	if e := s.takeErr(); err == nil {
		err = e
	}
	return err
}

// takeErr returns and clears the first error of a background send.
// Called with s.mu held.
func (s *SYNSession) takeErr() error {
	if err := s.err; err != nil {
		s.err = nil
		return err
	}
	s.errMu.Lock()
	defer s.errMu.Unlock()
	err := s.asyncErr
	s.asyncErr = nil
	return err
}

// flushLocked sends the batch being filled: itself, or through a worker
// (then waiting for every batch in flight when wait is set). Called with
// s.mu held.
func (s *SYNSession) flushLocked(wait bool) error {
	s.timer.Stop()
	if s.work == nil {
		n, err := s.tx.Flush()
		s.sent.Add(uint64(n))
		if err != nil {
			return fmt.Errorf("probe: SYN send: %w", err)
		}
		return nil
	}
	if s.tx.Len() > 0 {
		s.inflight.Add(1)
		s.work <- s.tx
		s.tx = <-s.free // waits while every other batch is being sent
	}
	if wait {
		s.inflight.Wait()
	}
	return nil
}

// sendWorker sends the batches Send filled.
func (s *SYNSession) sendWorker() {
	defer s.workers.Done()
	for tx := range s.work {
		n, err := tx.Flush()
		s.sent.Add(uint64(n))
		if err != nil {
			s.errMu.Lock()
			if s.asyncErr == nil {
				s.asyncErr = fmt.Errorf("probe: SYN send: %w", err)
			}
			s.errMu.Unlock()
		}
		s.free <- tx // before Done, so that a Flush finds every batch free
		s.inflight.Done()
	}
}

func (s *SYNSession) timerFlush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.tx.Len() == 0 {
		return
	}
	if err := s.flushLocked(false); err != nil && s.err == nil {
		s.err = err
	}
}

// Stats returns the session's counters so far.
func (s *SYNSession) Stats() SYNStats {
	var dropped uint64
	if s.rxc != nil {
		st, _ := s.rxc.Stats() // no lock; final counters after Close
		dropped = st.Drops
	}
	return SYNStats{
		Sent:      s.sent.Load(),
		Skipped:   s.skipped.Load(),
		Received:  s.received.Load(),
		Dropped:   dropped,
		Forged:    s.forged.Load(),
		Ignored:   s.ignored.Load(),
		Delivered: s.delivered.Load(),
		Decoys:    s.decoys.Load(),
	}
}

// Close sends what is queued, closes the sockets and returns once deliver
// will not be called again.
func (s *SYNSession) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	ferr := s.flushLocked(true)
	if ferr == nil {
		ferr = s.takeErr()
	}
	// A Send that skipped its target after taking a slot left it
	// uncommitted; with a transmit ring that slot keeps the ring mapped
	// past the socket's Close until the writer lets go of it.
	s.tx.Reset()
	s.closed = true
	s.timer.Stop()
	if s.work != nil {
		close(s.work)
		s.workers.Wait()
	}
	var err error
	for _, c := range s.conns[:len(s.conns)-1] { // the senders' sockets
		if e := c.Close(); err == nil {
			err = e
		}
	}
	if s.lo4 != nil {
		s.lo4.Close()
	}
	clear(s.pending)
	s.mu.Unlock()
	s.routes.Close() // after unlocking: resolutions end by calling resolved
	if e := s.rxc.Close(); err == nil {
		err = e
	}
	<-s.done
	if ferr != nil {
		return ferr
	}
	return err
}

func (s *SYNSession) receive() {
	defer close(s.done)
	var r wire.Packet
	for {
		pkts, err := s.rx.Read()
		if err != nil {
			return // closed; no other read error is recoverable either
		}
		now := time.Now()
		for i := range pkts {
			s.received.Add(1)
			s.handle(&r, pkts[i].Data, now)
		}
	}
}

// handle classifies one received packet and delivers it if its cookie
// matches.
func (s *SYNSession) handle(r *wire.Packet, b []byte, now time.Time) {
	if r.DecodeIP(b) != nil {
		s.ignored.Add(1)
		return
	}
	lo := s.cfg.SourcePort
	switch r.Proto {
	case wire.ProtoTCP:
		if r.DstPort-lo >= s.cfg.sourcePorts() || r.Flags&wire.FlagACK == 0 {
			s.ignored.Add(1)
			return
		}
		var rep Reply
		switch {
		case r.Flags&(wire.FlagSYN|wire.FlagRST) == wire.FlagSYN:
			rep.State, rep.Reason = result.Open, result.SynAck
		case r.Flags&wire.FlagRST != 0:
			rep.State, rep.Reason = result.Closed, result.Reset
		default:
			s.ignored.Add(1)
			return
		}
		if r.Ack-1 != s.hash.TCP(r.Dst, r.Src, r.DstPort, r.SrcPort) {
			s.forged.Add(1)
			return
		}
		rep.Target = target.Target{Addr: r.Src, Port: target.Port{Proto: target.TCP, Num: r.SrcPort}}
		rep.Try = s.try(r.DstPort - lo)
		if s.pool != nil {
			rep.Source = r.Dst
		}
		rep.ReplyTTL = r.TTL
		rep.Time = now
		s.delivered.Add(1)
		s.deliver(rep)
	case wire.ProtoICMP, wire.ProtoICMPv6:
		q := &r.Quote
		reason, ok := icmpReason(r.Proto == wire.ProtoICMPv6, r.ICMPType, r.ICMPCode)
		if !ok || !r.HasQuote || q.Proto != target.TCP || q.TransportLen < 8 || q.SrcPort-lo >= s.cfg.sourcePorts() {
			s.ignored.Add(1)
			return
		}
		if q.Seq != s.hash.TCP(q.Src, q.Dst, q.SrcPort, q.DstPort) {
			s.forged.Add(1)
			return
		}
		rep := Reply{
			Target:   target.Target{Addr: q.Dst, Port: target.Port{Proto: target.TCP, Num: q.DstPort}},
			Try:      s.try(q.SrcPort - lo),
			State:    result.Filtered,
			Reason:   reason,
			ReplyTTL: r.TTL,
			Time:     now,
		}
		if r.Src != q.Dst {
			rep.From = r.Src
		}
		if s.pool != nil {
			rep.Source = q.Src
		}
		s.delivered.Add(1)
		s.deliver(rep)
	default:
		s.ignored.Add(1)
	}
}

// try maps a reply's source-port offset to the try it answers; -1 with a
// fixed source port.
func (s *SYNSession) try(off uint16) int {
	if s.cfg.sourcePorts() == 1 {
		return -1
	}
	return int(off)
}

// SourceFor returns the source address every try to t is sent from with
// a source pool and per-target rotation (probe.SourceReporter), else the
// invalid address.
func (s *SYNSession) SourceFor(t target.Target) netip.Addr {
	return poolSourceFor(s.pool, s.cfg.Rotation, s.hash, t)
}

package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/portsense/portsense/probe/udppayload"
	"github.com/portsense/portsense/result"
)

// udpSockSession probes with one connected UDP socket per try.
type udpSockSession struct {
	cfg      UDPConfig
	payloads *udppayload.Table
	deliver  func(Reply)
	ctx      context.Context
	cancel   context.CancelFunc
	slots    chan struct{}
	wg       sync.WaitGroup
	once     sync.Once
	bufs     sync.Pool
}

func openUDPSockets(cfg UDPConfig, tab *udppayload.Table, n int, deliver func(Reply)) *udpSockSession {
	ctx, cancel := context.WithCancel(context.Background())
	s := &udpSockSession{cfg: cfg, payloads: tab, deliver: deliver, ctx: ctx, cancel: cancel, slots: make(chan struct{}, n)}
	s.bufs.New = func() any { b := make([]byte, 65536); return &b }
	return s
}

// Send starts the try on its own goroutine; it blocks only while the
// session already has its maximum of sockets open.
func (s *udpSockSession) Send(p Probe) error {
	if err := checkUDPTarget(p); err != nil {
		return err
	}
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return errors.New("probe: udp: session closed")
	}
	timeout := attemptTimeout(p)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		r, ok := s.try(p, timeout)
		if ok && s.ctx.Err() == nil {
			s.deliver(r)
		}
	}()
	return nil
}

func (s *udpSockSession) try(p Probe, timeout time.Duration) (Reply, bool) {
	dst := netip.AddrPortFrom(p.Target.Addr.Unmap(), p.Target.Port.Num)
	var laddr *net.UDPAddr
	if s.cfg.Source.IsValid() && s.cfg.Source.Is4() == dst.Addr().Is4() {
		laddr = net.UDPAddrFromAddrPort(netip.AddrPortFrom(s.cfg.Source, 0))
	}
	conn, err := net.DialUDP("udp", laddr, net.UDPAddrFromAddrPort(dst))
	if err != nil {
		if st, reason, ok := udpErrnoVerdict(err); ok {
			return Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, Time: time.Now()}, true
		}
		return Reply{}, false
	}
	defer conn.Close()
	setRecvErr(conn, dst.Addr().Is4())
	stop := context.AfterFunc(s.ctx, func() { conn.SetReadDeadline(time.Now()) })
	defer stop()
	reply := func(err error) (Reply, bool) {
		if r, from, ok := udpICMPError(conn); ok {
			st := result.Filtered
			if r == result.PortUnreach {
				st = result.Closed
			}
			return Reply{Target: p.Target, Try: p.Try, State: st, Reason: r, Time: time.Now(), From: from}, true
		}
		if st, reason, ok := udpErrnoVerdict(err); ok {
			return Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, Time: time.Now()}, true
		}
		return Reply{}, false
	}
	for _, d := range s.payloads.Datagrams(dst.Port()) {
		if _, err := conn.Write(d); err != nil {
			return reply(err)
		}
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	bp := s.bufs.Get().(*[]byte)
	defer s.bufs.Put(bp)
	n, err := conn.Read(*bp)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return Reply{}, false
		}
		return reply(err)
	}
	return Reply{Target: p.Target, Try: p.Try, State: result.Open, Reason: result.UDPResponse, Time: time.Now(),
		Service: udpService(s.payloads, dst.Port(), (*bp)[:n])}, true
}

// udpErrnoVerdict maps the errno a connected UDP socket reports for an
// ICMP error.
func udpErrnoVerdict(err error) (result.State, result.Reason, bool) {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return result.Closed, result.PortUnreach, true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return result.Filtered, result.HostUnreach, true
	case errors.Is(err, syscall.ENETUNREACH):
		return result.Filtered, result.NetUnreach, true
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		return result.Filtered, result.AdminProhibited, true
	}
	return 0, 0, false
}

func (s *udpSockSession) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

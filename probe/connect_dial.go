//go:build !linux

package probe

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/portsense/portsense/result"
)

func openConnectSession(cfg ConnectConfig, n int, deliver func(Reply)) (Session, error) {
	sctx, cancel := context.WithCancel(context.Background())
	return &connectSession{
		cfg:     cfg,
		deliver: deliver,
		ctx:     sctx,
		cancel:  cancel,
		slots:   make(chan struct{}, n),
	}, nil
}

// connectOnce dials dst once through the net package. ok is false when
// the attempt timed out or was cancelled: silence, not a verdict.
func connectOnce(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (result.State, result.Reason, netip.Addr, bool) {
	d := net.Dialer{Timeout: timeout}
	if src.IsValid() {
		d.LocalAddr = &net.TCPAddr{IP: src.AsSlice()}
	}
	conn, err := d.DialContext(ctx, "tcp", dst.String())
	if err == nil {
		self := conn.LocalAddr().String() == conn.RemoteAddr().String()
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.SetLinger(0)
		}
		conn.Close()
		if self {
			// TCP simultaneous open with itself: nothing listens there.
			return result.Closed, result.ConnRefused, netip.Addr{}, true
		}
		return result.Open, result.SynAck, netip.Addr{}, true
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return result.Closed, result.ConnRefused, netip.Addr{}, true
	case errors.Is(err, syscall.EHOSTUNREACH):
		return result.Filtered, result.HostUnreach, netip.Addr{}, true
	case errors.Is(err, syscall.ENETUNREACH):
		return result.Filtered, result.NetUnreach, netip.Addr{}, true
	}
	return 0, 0, netip.Addr{}, false
}

func fdBudget() int { return 512 }

type connectSession struct {
	cfg     ConnectConfig
	deliver func(Reply)
	ctx     context.Context
	cancel  context.CancelFunc
	slots   chan struct{}
	wg      sync.WaitGroup
	closeMu sync.Once
}

func (s *connectSession) Send(p Probe) error {
	if err := checkConnectTarget(p); err != nil {
		return err
	}
	select {
	case s.slots <- struct{}{}:
	case <-s.ctx.Done():
		return errors.New("probe: connect: session closed")
	}
	timeout := attemptTimeout(p)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() { <-s.slots }()
		st, reason, from, ok := connectOnce(s.ctx, s.cfg.Source, p.Target.AddrPort(), timeout)
		if !ok || s.ctx.Err() != nil {
			return
		}
		s.deliver(Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, Time: time.Now(), From: from})
	}()
	return nil
}

func (s *connectSession) Close() error {
	s.closeMu.Do(func() {
		s.cancel()
		s.wg.Wait()
	})
	return nil
}

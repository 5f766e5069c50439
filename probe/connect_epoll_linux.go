package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// epollSession runs connect probes without a goroutine, file or timer per
// probe: Send opens a non-blocking socket and starts connect(2) on the
// engine's goroutine; one poller goroutine waits for all attempts on one
// epoll set (itself parked in the runtime's poller, so no thread blocks in
// epoll_wait), reads each verdict (SO_ERROR, then the error queue for
// ICMP), and closes the socket. Attempts that outlive their deadline are closed
// unanswered; the engine turns that silence into its own verdict.
type epollSession struct {
	cfg     ConnectConfig
	deliver func(Reply)
	limit   int
	epfd    int
	wakefd  int // eventfd: wakes the poller for Close and for failures found in Send
	// ep wraps epfd for the runtime's poller: an epoll set is readable
	// when it has events, so the poller goroutine parks like any network
	// reader instead of blocking a thread in epoll_wait.
	ep   *os.File
	epRC syscall.RawConn

	mu       sync.Mutex
	attempts map[uint64]*attempt // by id, the epoll user data: ids, unlike fds, are never reused
	queue    []*attempt          // in deadline order (all attempts of a session live alike)
	head     int
	failed   []Reply // verdicts Send found at once, for the poller to deliver
	nextID   uint64
	closed   bool

	done chan struct{}
}

type attempt struct {
	id       uint64
	fd       int
	t        target.Target
	try      int
	deadline time.Time
	finished bool
}

func openConnectSession(cfg ConnectConfig, n int, deliver func(Reply)) (Session, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("probe: connect: epoll: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("probe: connect: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setEventID(&ev, 0) // id 0 is the wake-up fd
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("probe: connect: epoll: %w", err)
	}
	if err := unix.SetNonblock(epfd, true); err != nil {
		unix.Close(epfd)
		unix.Close(wakefd)
		return nil, fmt.Errorf("probe: connect: epoll: %w", err)
	}
	ep := os.NewFile(uintptr(epfd), "epoll")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		unix.Close(wakefd)
		return nil, fmt.Errorf("probe: connect: epoll: %w", err)
	}
	s := &epollSession{
		cfg: cfg, deliver: deliver, limit: n, epfd: epfd, wakefd: wakefd, ep: ep, epRC: rc,
		attempts: map[uint64]*attempt{}, nextID: 1, done: make(chan struct{}),
	}
	go s.poll()
	return s, nil
}

func (s *epollSession) Send(p Probe) error {
	if err := checkConnectTarget(p); err != nil {
		return err
	}
	addr := p.Target.Addr.Unmap()
	family, level, opt := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
	if addr.Is6() {
		family, level, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("probe: connect: session closed")
	}
	// The engine keeps at most limit/2 targets in flight; should stragglers
	// still fill the budget, the oldest attempt gives way.
	for len(s.attempts) >= s.limit {
		s.expireOldestLocked()
	}
	s.mu.Unlock()

	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		if isResourceErr(err) {
			return nil // silence; the engine retries later
		}
		return fmt.Errorf("probe: connect: socket: %w", err)
	}
	_ = unix.SetsockoptInt(fd, level, opt, 1)
	if s.cfg.Source.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(s.cfg.Source.Unmap(), 0))); err != nil {
			unix.Close(fd)
			return fmt.Errorf("probe: connect: bind %s: %w", s.cfg.Source, err)
		}
	}
	err = unix.Connect(fd, sockaddr(netip.AddrPortFrom(addr, p.Target.Port.Num)))
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		st, reason, from, ok := classifyConnErr(fd, err)
		unix.Close(fd)
		if ok {
			s.mu.Lock()
			s.failed = append(s.failed, Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, Time: time.Now(), From: from})
			s.mu.Unlock()
			s.wake()
		}
		return nil
	}
	// Even a connect that finished at once is reported by the poller:
	// deliver must never run on the engine's goroutine.
	s.mu.Lock()
	a := &attempt{id: s.nextID, fd: fd, t: p.Target, try: p.Try, deadline: time.Now().Add(attemptTimeout(p))}
	s.nextID++
	s.attempts[a.id] = a
	s.queue = append(s.queue, a)
	s.mu.Unlock()
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT}
	setEventID(&ev, a.id)
	if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &ev); err != nil {
		s.mu.Lock()
		s.finishLocked(a)
		s.mu.Unlock()
		return fmt.Errorf("probe: connect: epoll: %w", err)
	}
	return nil
}

func (s *epollSession) wake() {
	var one = [8]byte{1}
	unix.Write(s.wakefd, one[:])
}

// finishLocked forgets a and closes its socket (which also removes it from
// the epoll set).
func (s *epollSession) finishLocked(a *attempt) {
	if a.finished {
		return
	}
	a.finished = true
	delete(s.attempts, a.id)
	unix.Close(a.fd)
}

func (s *epollSession) expireOldestLocked() {
	for s.head < len(s.queue) {
		a := s.queue[s.head]
		s.queue[s.head] = nil
		s.head++
		if !a.finished {
			s.finishLocked(a)
			break
		}
	}
	s.compactLocked()
}

func (s *epollSession) compactLocked() {
	if s.head > 1024 && s.head*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// expireLocked closes attempts past their deadline and returns how long
// until the next deadline (or a default wait).
func (s *epollSession) expireLocked(now time.Time) time.Duration {
	for s.head < len(s.queue) {
		a := s.queue[s.head]
		if !a.finished && a.deadline.After(now) {
			s.compactLocked()
			return a.deadline.Sub(now)
		}
		s.queue[s.head] = nil
		s.head++
		s.finishLocked(a)
	}
	s.compactLocked()
	return 100 * time.Millisecond
}

func (s *epollSession) poll() {
	defer close(s.done)
	events := make([]unix.EpollEvent, 256)
	var replies []Reply
	for {
		s.mu.Lock()
		wait := s.expireLocked(time.Now())
		closed := s.closed
		s.mu.Unlock()
		if closed {
			return
		}
		s.ep.SetReadDeadline(time.Now().Add(wait))
		n := 0
		err := s.epRC.Read(func(fd uintptr) bool {
			n, _ = unix.EpollWait(int(fd), events, 0)
			return n > 0 // nothing ready: park until the set is readable
		})
		if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		now := time.Now()
		replies = replies[:0]
		s.mu.Lock()
		for _, ev := range events[:max(n, 0)] {
			id := eventID(&ev)
			if id == 0 {
				var b [8]byte
				unix.Read(s.wakefd, b[:])
				replies = append(replies, s.failed...)
				s.failed = s.failed[:0]
				continue
			}
			a := s.attempts[id]
			if a == nil {
				continue // expired meanwhile
			}
			if r, ok := verdict(a, now); ok {
				replies = append(replies, r)
			}
			s.finishLocked(a)
		}
		s.mu.Unlock()
		for _, r := range replies {
			s.deliver(r)
		}
	}
}

// verdict reads the outcome of a finished connect.
func verdict(a *attempt, now time.Time) (Reply, bool) {
	r := Reply{Target: a.t, Try: a.try, Time: now}
	n, err := unix.GetsockoptInt(a.fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if err == nil && n == 0 {
		if _, err := unix.Getpeername(a.fd); err != nil {
			return r, false // woken but not connected: say nothing
		}
		// Close with a reset, not a FIN: no TIME_WAIT left behind.
		_ = unix.SetsockoptLinger(a.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		r.State, r.Reason = result.Open, result.SynAck
		return r, true
	}
	if err == nil {
		err = unix.Errno(n)
	}
	st, reason, from, ok := classifyConnErr(a.fd, err)
	r.State, r.Reason, r.From = st, reason, from
	return r, ok
}

func (s *epollSession) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.wake()
	<-s.done
	s.mu.Lock()
	for _, a := range s.attempts {
		s.finishLocked(a)
	}
	s.queue, s.failed = nil, nil
	s.mu.Unlock()
	unix.Close(s.wakefd)
	return s.ep.Close()
}

// The epoll user data is 64 bits that x/sys/unix spells Fd and Pad.
func setEventID(ev *unix.EpollEvent, id uint64) {
	ev.Fd, ev.Pad = int32(uint32(id)), int32(uint32(id>>32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

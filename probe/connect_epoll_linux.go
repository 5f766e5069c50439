package probe

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// epollSession spreads connect probes over a few shards, one per CPU up
// to four: each shard has its own epoll set, a sender goroutine that opens
// sockets and starts connect(2), and a poller goroutine that reads
// verdicts and closes sockets. No goroutine, file or timer is made per
// probe, and the kernel's work (on a fast link, connect(2) includes the
// peer's answer) spreads over the CPUs. Send collects probes in batches
// and hands each full batch to the next shard; Flush hands over a partial
// one.
type epollSession struct {
	shards []*connectShard
	next   int
	batch  []Probe // the engine's goroutine only
	closed bool
}

var _ Flusher = (*epollSession)(nil)

// sendBatch is how many probes Send collects before handing them to a
// shard.
const sendBatch = 32

func openConnectSession(cfg ConnectConfig, n int, deliver func(Reply)) (Session, error) {
	nshards := min(max(runtime.GOMAXPROCS(0), 1), 4, max(n/64, 1))
	s := &epollSession{batch: make([]Probe, 0, sendBatch)}
	for range nshards {
		sh, err := newConnectShard(cfg, max(n/nshards, 1), deliver)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.shards = append(s.shards, sh)
	}
	return s, nil
}

func (s *epollSession) Send(p Probe) error {
	if err := checkConnectTarget(p); err != nil {
		return err
	}
	if s.closed {
		return errors.New("probe: connect: session closed")
	}
	s.batch = append(s.batch, p)
	if len(s.batch) >= sendBatch {
		s.handOver()
	}
	return nil
}

// Flush hands the probes collected so far to a shard; the engine calls it
// before it waits.
func (s *epollSession) Flush() error {
	if len(s.batch) > 0 && !s.closed {
		s.handOver()
	}
	return nil
}

func (s *epollSession) handOver() {
	sh := s.shards[s.next]
	s.next = (s.next + 1) % len(s.shards)
	sh.work <- s.batch
	select {
	case b := <-sh.spare:
		s.batch = b[:0]
	default:
		s.batch = make([]Probe, 0, sendBatch)
	}
}

// Close stops every shard. Send and Close come from the same goroutine.
func (s *epollSession) Close() error {
	s.closed = true
	var errs []error
	for _, sh := range s.shards {
		errs = append(errs, sh.Close())
	}
	return errors.Join(errs...)
}

// connectShard is one shard of a connect session: its sender goroutine
// opens non-blocking sockets and starts connect(2); its poller goroutine
// waits for all the shard's attempts on one epoll set (itself parked in
// the runtime's poller, so no thread blocks in epoll_wait), reads each
// verdict (SO_ERROR, then the error queue for ICMP) and closes the socket.
// Attempts that outlive their deadline are closed unanswered; the engine
// turns that silence into its own verdict.
//
// A socket whose attempt ended cleanly (refused by a reset with nothing in
// its error queue, or connected) is not closed but disconnected
// (connect(2) with AF_UNSPEC, which resets an established connection) and
// kept for the next probe of its family, still in the epoll set: a probe
// then costs connect, epoll_ctl and the verdict's reads instead of also
// socket, setsockopt and close, which halves the kernel's work per closed
// port. Sockets that saw an ICMP error, timed out or connected to
// themselves are closed, so no stale error can reach a later probe.
type connectShard struct {
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
	failed   []Reply // verdicts found at once, for the poller to deliver
	nextID   uint64
	closed   bool
	free     [2][]int // disconnected sockets for reuse, by family (0 IPv4, 1 IPv6)
	maxFree  int      // per family; 0 disables reuse
	created  int      // sockets made (the sender's alone; tests read it after Close)

	work    chan []Probe // batches for the sender
	spare   chan []Probe // emptied batches, for reuse
	senders sync.WaitGroup

	done chan struct{}
}

type attempt struct {
	id       uint64
	fd       int
	t        target.Target
	try      int
	deadline time.Time
	finished bool
	// reuse is set by the poller when the attempt ended cleanly and its
	// socket may serve another probe after a disconnect.
	reuse reuseKind
}

type reuseKind uint8

const (
	reuseNo      reuseKind = iota
	reuseRefused           // refused by a reset: the socket is closed already
	reuseReset             // connected: the disconnect resets the connection
)

// maxFreeSockets bounds the disconnected sockets a shard keeps per family.
const maxFreeSockets = 256

func newConnectShard(cfg ConnectConfig, n int, deliver func(Reply)) (*connectShard, error) {
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
	s := &connectShard{
		cfg: cfg, deliver: deliver, limit: n, epfd: epfd, wakefd: wakefd, ep: ep, epRC: rc,
		attempts: map[uint64]*attempt{}, nextID: 1, done: make(chan struct{}),
		// Kept sockets are descriptors too: they count against the
		// shard's budget with its attempts, and an eighth of it per
		// family at most.
		maxFree: min(maxFreeSockets, n/8),
		// A short queue: when the sender falls behind, Send waits, so the
		// engine's clock for a probe starts close to its real send time.
		work: make(chan []Probe, 2), spare: make(chan []Probe, 4),
	}
	if cfg.Source.IsValid() {
		s.maxFree = 0 // every probe gets a new socket bound to the source
	}
	s.senders.Add(1)
	go s.sender()
	go s.poll()
	return s, nil
}

// sender opens sockets and starts connects for batches of probes. A few
// senders run at once so that the kernel's work for connect(2), which on
// a fast link includes the peer's answer, spreads over the CPUs.
func (s *connectShard) sender() {
	defer s.senders.Done()
	for b := range s.work {
		for _, p := range b {
			s.start(p)
		}
		select {
		case s.spare <- b:
		default:
		}
	}
}

// start opens a non-blocking socket, starts connecting it and registers
// it with the poller. A verdict known at once (no route, say) goes to the
// poller to deliver.
func (s *connectShard) start(p Probe) {
	addr := p.Target.Addr.Unmap()
	fam := 0
	family, level, opt := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
	if addr.Is6() {
		fam = 1
		family, level, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	fd, reused := s.takeFree(fam)
	if !reused {
		var err error
		fd, err = unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return // out of descriptors: silence, the engine retries later
		}
		s.created++
		_ = unix.SetsockoptInt(fd, level, opt, 1)
		if s.cfg.Source.IsValid() {
			if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(s.cfg.Source.Unmap(), 0))); err != nil {
				unix.Close(fd)
				return // an unusable source address: silence
			}
		}
	}
	err := unix.Connect(fd, sockaddr(netip.AddrPortFrom(addr, p.Target.Port.Num)))
	if err != nil && !errors.Is(err, unix.EINPROGRESS) {
		st, reason, from, ok := classifyConnErr(fd, err)
		if reason == result.NetUnreach && errors.Is(err, unix.ENETUNREACH) {
			// At once, with no ICMP error queued: the local routing
			// table has no route, nothing went out.
			reason = result.NoRoute
		}
		unix.Close(fd)
		if ok {
			s.mu.Lock()
			s.failed = append(s.failed, Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, Time: time.Now(), From: from})
			s.mu.Unlock()
			s.wake()
		}
		return
	}
	// Registered under the lock, so that neither the poller nor another
	// sender can see the attempt half made. Even a connect that finished
	// at once is reported by the poller.
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		unix.Close(fd)
		return
	}
	// The engine keeps the attempts within budget; should stragglers still
	// fill it, a kept socket, else the oldest attempt, gives way. Kept
	// sockets count: they hold descriptors too.
	for len(s.attempts)+s.keptLocked() >= s.limit {
		if !s.dropKeptLocked() {
			s.expireOldestLocked()
		}
	}
	a := &attempt{id: s.nextID, fd: fd, t: p.Target, try: p.Try, deadline: time.Now().Add(attemptTimeout(p))}
	ev := unix.EpollEvent{Events: unix.EPOLLOUT | unix.EPOLLONESHOT}
	setEventID(&ev, a.id)
	// A kept socket is still in the set, its one-shot spent: arming it
	// anew with the new id reports the new attempt only (epoll reads the
	// socket's readiness when it reports, not when the old event fired).
	op := unix.EPOLL_CTL_ADD
	if reused {
		op = unix.EPOLL_CTL_MOD
	}
	if err := unix.EpollCtl(s.epfd, op, fd, &ev); err != nil {
		unix.Close(fd)
		return
	}
	s.nextID++
	s.attempts[a.id] = a
	s.queue = append(s.queue, a)
}

func (s *connectShard) keptLocked() int { return len(s.free[0]) + len(s.free[1]) }

// dropKeptLocked closes one kept socket, if there is one.
func (s *connectShard) dropKeptLocked() bool {
	for i, l := range s.free {
		if len(l) > 0 {
			unix.Close(l[len(l)-1])
			s.free[i] = l[:len(l)-1]
			return true
		}
	}
	return false
}

// takeFree returns a kept socket of the family, if there is one.
func (s *connectShard) takeFree(fam int) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.free[fam]
	if len(l) == 0 {
		return -1, false
	}
	fd := l[len(l)-1]
	s.free[fam] = l[:len(l)-1]
	return fd, true
}

// unspec is a socket address of family AF_UNSPEC: connect(2) with it
// dissolves a TCP socket's association (resetting an established
// connection) and leaves the socket ready to connect again.
var unspec [16]byte

// recycle disconnects a finished attempt's socket and keeps it for a later
// probe of the family of t, or closes it when it may not or cannot be kept.
func (s *connectShard) recycle(a *attempt) {
	fd := a.fd
	if a.reuse == reuseNo || s.maxFree == 0 {
		unix.Close(fd)
		return
	}
	if _, _, e := unix.Syscall(unix.SYS_CONNECT, uintptr(fd), uintptr(unsafe.Pointer(&unspec[0])), uintptr(len(unspec))); e != 0 {
		unix.Close(fd)
		return
	}
	if a.reuse == reuseReset {
		// Clear what resetting the connection left (ECONNRESET), so that
		// it cannot pass for the next probe's answer. A refused socket
		// was closed already: its disconnect leaves no error.
		if n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); err != nil || n != 0 && n != int(unix.ECONNRESET) {
			unix.Close(fd)
			return
		}
	}
	t := a.t
	fam := 0
	if t.Addr.Unmap().Is6() {
		fam = 1
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.free[fam]) >= s.maxFree || len(s.attempts)+s.keptLocked() >= s.limit {
		unix.Close(fd)
		return
	}
	s.free[fam] = append(s.free[fam], fd)
}

func (s *connectShard) wake() {
	var one = [8]byte{1}
	unix.Write(s.wakefd, one[:])
}

// finishLocked forgets a and closes its socket (which also removes it from
// the epoll set).
func (s *connectShard) finishLocked(a *attempt) {
	if a.finished {
		return
	}
	a.finished = true
	delete(s.attempts, a.id)
	unix.Close(a.fd)
}

func (s *connectShard) expireOldestLocked() {
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

func (s *connectShard) compactLocked() {
	if s.head > 1024 && s.head*2 > len(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
}

// expireLocked closes attempts past their deadline and returns how long
// until the next deadline (or a default wait).
func (s *connectShard) expireLocked(now time.Time) time.Duration {
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

func (s *connectShard) poll() {
	defer close(s.done)
	events := make([]unix.EpollEvent, 256)
	var replies []Reply
	var ready []*attempt
	for {
		// Collect what is ready before expiring anything: an attempt whose
		// answer is waiting must not be closed as unanswered because this
		// goroutine ran late.
		n, err := unix.EpollWait(s.epfd, events, 0)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return
		}
		if n < len(events) {
			// Everything ready at this moment is in hand: now expire.
			s.mu.Lock()
			wait := s.expireLocked(time.Now())
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return
			}
			if n <= 0 {
				s.ep.SetReadDeadline(time.Now().Add(wait))
				err := s.epRC.Read(func(fd uintptr) bool {
					n, _ = unix.EpollWait(int(fd), events, 0)
					return n > 0 // nothing ready: park until the set is readable
				})
				if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
					return
				}
			}
		}
		now := time.Now()
		replies, ready = replies[:0], ready[:0]
		// Take the finished attempts under the lock; read their verdicts
		// and close them outside it, so that senders are not held up.
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
			a.finished = true
			delete(s.attempts, a.id)
			ready = append(ready, a)
		}
		s.mu.Unlock()
		for _, a := range ready {
			if r, ok := verdict(a, now); ok {
				replies = append(replies, r)
			}
			s.recycle(a)
		}
		clear(ready)
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
		peer, err := unix.Getpeername(a.fd)
		if err != nil {
			return r, false // woken but not connected: say nothing
		}
		// Close with a reset, not a FIN: no TIME_WAIT left behind. (A
		// kept socket is disconnected instead, which also resets.)
		_ = unix.SetsockoptLinger(a.fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
		r.State, r.Reason = result.Open, result.SynAck
		if selfConnected(a.fd, peer) {
			r.State, r.Reason = result.Closed, result.ConnRefused
			return r, true
		}
		a.reuse = reuseReset
		return r, true
	}
	if err == nil {
		err = unix.Errno(n)
	}
	st, reason, from, ok := classifyConnErr(a.fd, err)
	r.State, r.Reason, r.From = st, reason, from
	// Refused by a reset: nothing was in the error queue (an ICMP error
	// would have named the reason), the socket is clean.
	if ok && reason == result.ConnRefused {
		a.reuse = reuseRefused
	}
	return r, ok
}

func (s *connectShard) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		<-s.done
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// Send and Close come from the same goroutine: no Send races this.
	close(s.work)
	s.senders.Wait()
	s.wake()
	<-s.done
	s.mu.Lock()
	for _, a := range s.attempts {
		s.finishLocked(a)
	}
	for i, l := range s.free {
		for _, fd := range l {
			unix.Close(fd)
		}
		s.free[i] = nil
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

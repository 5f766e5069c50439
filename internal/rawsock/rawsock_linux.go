package rawsock

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func socketErr(op string, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		return fmt.Errorf("rawsock: %s: %w: %w", op, ErrPermission, os.ErrPermission)
	}
	return fmt.Errorf("rawsock: %s: %w", op, err)
}

// Sender batches packets and sends them with sendmmsg(2) on an AF_PACKET
// SOCK_DGRAM socket. It is not safe for concurrent use.
type Sender struct {
	fd    int
	f     *os.File
	rc    syscall.RawConn
	slot  int
	bufs  []byte
	iov   []unix.Iovec
	addr  []unix.RawSockaddrLinklayer
	hdr   []unix.Mmsghdr
	n     int // packets queued
	sent  int // packets of the queue already sent
	err   error
	write func(fd uintptr) bool
}

// NewSender opens a send-only packet socket with room for batch packets of
// at most slot bytes each.
func NewSender(batch, slot int) (*Sender, error) {
	if batch < 1 || slot < 1 {
		return nil, fmt.Errorf("rawsock: bad batch %d or slot %d", batch, slot)
	}
	// Protocol 0: the socket receives nothing.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, socketErr("open send socket", err)
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	s := &Sender{
		fd:   fd,
		f:    os.NewFile(uintptr(fd), "packet-send"),
		slot: slot,
		bufs: make([]byte, batch*slot),
		iov:  make([]unix.Iovec, batch),
		addr: make([]unix.RawSockaddrLinklayer, batch),
		hdr:  make([]unix.Mmsghdr, batch),
	}
	if s.rc, err = s.f.SyscallConn(); err != nil {
		s.f.Close()
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	for i := range s.hdr {
		s.iov[i].Base = &s.bufs[i*slot]
		s.hdr[i].Hdr.Iov = &s.iov[i]
		s.hdr[i].Hdr.Iovlen = 1
		s.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&s.addr[i]))
		s.hdr[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	}
	s.write = s.sendmmsg
	return s, nil
}

// Slot returns the buffer of the next packet; fill it and call Commit. It
// returns nil when the batch is full: Flush first.
func (s *Sender) Slot() []byte {
	if s.n == len(s.hdr) {
		return nil
	}
	return s.bufs[s.n*s.slot : (s.n+1)*s.slot : (s.n+1)*s.slot]
}

// Commit queues the first n bytes of the current Slot for d.
func (s *Sender) Commit(n int, d *Dest) {
	if s.n == len(s.hdr) || n <= 0 || n > s.slot {
		return
	}
	a := &s.addr[s.n]
	a.Family = unix.AF_PACKET
	a.Protocol = htons(d.Proto)
	a.Ifindex = int32(d.Ifindex)
	a.Halen = d.HWLen
	a.Addr = d.HW
	s.iov[s.n].SetLen(n)
	s.n++
}

// Len is the number of queued packets.
func (s *Sender) Len() int { return s.n }

// Full reports whether the batch is full.
func (s *Sender) Full() bool { return s.n == len(s.hdr) }

// Flush sends every queued packet, waiting while the socket buffer is full.
// It returns the number of packets sent. A packet the kernel rejects for
// its destination (no such device, link down) is skipped and reported in
// the error after the rest are sent.
func (s *Sender) Flush() (int, error) {
	if s.n == 0 {
		return 0, nil
	}
	s.sent, s.err = 0, nil
	var firstErr error
	for s.sent < s.n {
		if err := s.rc.Write(s.write); err != nil {
			s.n, s.sent = 0, 0
			return 0, fmt.Errorf("rawsock: send: %w", err)
		}
		if s.err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("rawsock: send to ifindex %d: %w", s.addr[s.sent].Ifindex, s.err)
			}
			s.sent++ // drop the packet that failed
			s.err = nil
		}
	}
	n := s.sent
	s.n, s.sent = 0, 0
	return n, firstErr
}

// sendmmsg is the RawConn write callback: false means "wait until
// writable".
func (s *Sender) sendmmsg(fd uintptr) bool {
	for s.sent < s.n {
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&s.hdr[s.sent])), uintptr(s.n-s.sent), 0, 0, 0)
		switch e {
		case 0:
			s.sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.ENOBUFS:
			// The device queue is full: back off briefly and retry.
			time.Sleep(50 * time.Microsecond)
		default:
			s.err = e
			return true
		}
	}
	return true
}

// Close closes the socket.
func (s *Sender) Close() error { return s.f.Close() }

// Packet is one received packet.
type Packet struct {
	Data    []byte // network-layer bytes, possibly truncated to the buffer size
	Ifindex int
}

// Receiver reads network-layer packets with recvmmsg(2) from a packet
// socket bound to every interface (or one), after a BPF filter, ignoring
// packets this host sends.
type Receiver struct {
	fd   int
	f    *os.File
	rc   syscall.RawConn
	slot int
	bufs []byte
	iov  []unix.Iovec
	addr []unix.RawSockaddrLinklayer
	hdr  []unix.Mmsghdr
	pkts []Packet
	got  int
	err  error
	read func(fd uintptr) bool
	// drops accumulates PACKET_STATISTICS drops (reading resets them).
	drops atomic.Uint64
}

// NewReceiver opens a packet socket on ifindex (0: every interface) that
// delivers only packets admitted by filter, reading up to batch packets of
// up to slot bytes at a time.
func NewReceiver(ifindex int, filter []bpf.RawInstruction, batch, slot int) (*Receiver, error) {
	if batch < 1 || slot < 1 || len(filter) == 0 {
		return nil, fmt.Errorf("rawsock: bad batch %d, slot %d or empty filter", batch, slot)
	}
	// Open with protocol 0 so nothing queues before the filter is attached.
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, socketErr("open receive socket", err)
	}
	fail := func(op string, err error) (*Receiver, error) {
		unix.Close(fd)
		return nil, socketErr(op, err)
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: (*unix.SockFilter)(unsafe.Pointer(&filter[0]))}
	if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
		return fail("attach filter", err)
	}
	// Best effort (Linux 4.20+); outgoing packets are also dropped by pkttype below.
	_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, 8<<20)
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, 8<<20)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifindex}); err != nil {
		return fail("bind receive socket", err)
	}
	r := &Receiver{
		fd:   fd,
		f:    os.NewFile(uintptr(fd), "packet-recv"),
		slot: slot,
		bufs: make([]byte, batch*slot),
		iov:  make([]unix.Iovec, batch),
		addr: make([]unix.RawSockaddrLinklayer, batch),
		hdr:  make([]unix.Mmsghdr, batch),
		pkts: make([]Packet, 0, batch),
	}
	if r.rc, err = r.f.SyscallConn(); err != nil {
		r.f.Close()
		return nil, fmt.Errorf("rawsock: %w", err)
	}
	for i := range r.hdr {
		r.iov[i].Base = &r.bufs[i*slot]
		r.iov[i].SetLen(slot)
		r.hdr[i].Hdr.Iov = &r.iov[i]
		r.hdr[i].Hdr.Iovlen = 1
		r.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.addr[i]))
	}
	r.read = r.recvmmsg
	return r, nil
}

// Read waits for packets and returns a batch of them. The returned slice
// and its buffers are valid until the next Read. After Close, Read returns
// an error wrapping os.ErrClosed.
func (r *Receiver) Read() ([]Packet, error) {
	for {
		r.got, r.err = 0, nil
		if err := r.rc.Read(r.read); err != nil {
			return nil, err
		}
		if r.err != nil {
			return nil, fmt.Errorf("rawsock: receive: %w", r.err)
		}
		r.pkts = r.pkts[:0]
		for i := 0; i < r.got; i++ {
			if r.addr[i].Pkttype == unix.PACKET_OUTGOING {
				continue
			}
			n := int(r.hdr[i].Len)
			if n > r.slot {
				n = r.slot
			}
			r.pkts = append(r.pkts, Packet{Data: r.bufs[i*r.slot : i*r.slot+n], Ifindex: int(r.addr[i].Ifindex)})
		}
		if len(r.pkts) > 0 {
			return r.pkts, nil
		}
	}
}

func (r *Receiver) recvmmsg(fd uintptr) bool {
	for i := range r.hdr {
		r.hdr[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		r.hdr[i].Hdr.Flags = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdr[0])), uintptr(len(r.hdr)), unix.MSG_DONTWAIT, 0, 0)
		switch e {
		case 0:
			r.got = int(n)
			return true
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		default:
			r.err = e
			return true
		}
	}
}

// Drops returns how many packets the kernel dropped so far because the
// receive buffer was full (readers too slow). Safe for concurrent use.
func (r *Receiver) Drops() uint64 {
	_ = r.rc.Control(func(fd uintptr) {
		if st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS); err == nil {
			r.drops.Add(uint64(st.Drops)) // reading resets the kernel's counters
		}
	})
	return r.drops.Load()
}

// Close closes the socket and makes a pending Read return.
func (r *Receiver) Close() error { return r.f.Close() }

// IP4 sends complete IPv4 packets through a raw IP socket (IP_HDRINCL).
// Probers use it for targets on this host: Linux routes a packet socket's
// IPv4 packets to 127.0.0.0/8 as martians, but the IP output path is fine.
type IP4 struct {
	fd int
	to unix.SockaddrInet4
}

// NewIP4 opens a raw IPv4 socket.
func NewIP4() (*IP4, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, socketErr("open raw IPv4 socket", err)
	}
	return &IP4{fd: fd}, nil
}

// Send sends pkt, whose header names dst, to dst. It blocks while the
// socket buffer is full.
func (s *IP4) Send(pkt []byte, dst [4]byte) error {
	s.to.Addr = dst
	for {
		err := unix.Sendto(s.fd, pkt, 0, &s.to)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("rawsock: raw IPv4 send: %w", err)
			}
			return nil
		}
	}
}

// Close closes the socket.
func (s *IP4) Close() error { return unix.Close(s.fd) }

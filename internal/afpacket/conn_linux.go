//go:build linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// Conn is an AF_PACKET socket. Its methods are safe for concurrent use,
// except that a BatchReader or BatchWriter belongs to one goroutine.
type Conn struct {
	f       *os.File
	rc      syscall.RawConn
	ifindex int
	proto   uint16
	ignOut  bool
	// blocking: a SendOnly socket, outside the poller; its writes wait in
	// the kernel rather than fail with EAGAIN.
	blocking bool
	// txring: the socket sends through a PACKET_TX_RING, set up by its
	// one BatchWriter (tx).
	txring bool
	tx     atomic.Pointer[txRing]
	other  atomic.Pointer[Conn] // the writer's socket for links other than Ethernet
	closed atomic.Bool
	stats  counters
}

// counters accumulate the kernel's PACKET_STATISTICS, which reset on
// every read.
type counters struct {
	packets, drops, freezes atomic.Uint64
}

var _ net.PacketConn = (*Conn)(nil)

// opError wraps err as a *net.OpError; permission errors name the
// capability they lack and still match os.ErrPermission.
func opError(op string, ifi *net.Interface, err error) error {
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) {
		err = fmt.Errorf("%w (packet sockets need CAP_NET_RAW)", err)
	}
	if ifi != nil {
		err = fmt.Errorf("interface %s: %w", ifi.Name, err)
	}
	return &net.OpError{Op: op, Net: "packet", Err: err}
}

func sockType(t Type) (int, error) {
	switch t {
	case Datagram:
		return unix.SOCK_DGRAM, nil
	case Raw:
		return unix.SOCK_RAW, nil
	}
	return 0, fmt.Errorf("afpacket: bad socket type %v", t)
}

// open creates the socket with protocol 0, so that nothing is queued
// before the filter is attached and the socket bound, and applies cfg.
func open(ifi *net.Interface, typ Type, cfg *Config) (int, error) {
	st, err := sockType(typ)
	if err != nil {
		return -1, err
	}
	if cfg.TxRing {
		if typ != Datagram {
			return -1, fmt.Errorf("afpacket: a TxRing socket takes network-layer packets: type %v, want %v", typ, Datagram)
		}
		st = unix.SOCK_RAW // its writer builds the link headers (see txring_linux.go)
	}
	flags := unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC
	if cfg.SendOnly || cfg.TxRing {
		flags = unix.SOCK_CLOEXEC // os.NewFile keeps a blocking socket out of the poller
	}
	fd, err := unix.Socket(unix.AF_PACKET, st|flags, 0)
	if err != nil {
		return -1, opError("socket", ifi, err)
	}
	fail := func(op string, err error) (int, error) {
		unix.Close(fd)
		return -1, opError(op, ifi, err)
	}
	if len(cfg.Filter) > 0 {
		if err := attach(fd, cfg.Filter); err != nil {
			return fail("attach filter", err)
		}
	}
	if cfg.VnetHdr {
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
			return fail("vnet header", err)
		}
	}
	if cfg.IgnoreOutgoing {
		_ = unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_IGNORE_OUTGOING, 1) // best effort: 4.20+
	}
	if n := cfg.ReadBuffer; n > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, n) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	}
	if n := cfg.WriteBuffer; n > 0 {
		if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, n) != nil {
			_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n)
		}
	}
	if cfg.Promiscuous {
		if ifi == nil {
			return fail("promiscuous", errors.New("promiscuous mode needs an interface"))
		}
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return fail("promiscuous", err)
		}
	}
	return fd, nil
}

func attach(fd int, filter []bpf.RawInstruction) error {
	if len(filter) > 0xffff {
		return fmt.Errorf("bpf program of %d instructions too long", len(filter))
	}
	prog := make([]unix.SockFilter, len(filter))
	for i, ins := range filter {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	fp := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	return unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fp)
}

// bind binds fd to proto on ifi (nil: every interface). ProtoNone leaves
// the socket unbound: it sends but receives nothing.
func bind(fd int, ifi *net.Interface, proto uint16) error {
	if proto == ProtoNone {
		return nil
	}
	idx := 0
	if ifi != nil {
		idx = ifi.Index
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: idx}); err != nil {
		return opError("bind", ifi, err)
	}
	return nil
}

// Listen opens a packet socket of type typ receiving EtherType proto
// (ProtoAll for every protocol, ProtoNone for none: a send-only socket) on
// ifi, or on every interface when ifi is nil. A nil cfg means defaults.
func Listen(ifi *net.Interface, typ Type, proto uint16, cfg *Config) (*Conn, error) {
	var c Config
	if cfg != nil {
		c = *cfg
	}
	fd, err := open(ifi, typ, &c)
	if err != nil {
		return nil, err
	}
	if err := bind(fd, ifi, proto); err != nil {
		unix.Close(fd)
		return nil, err
	}
	conn := &Conn{f: os.NewFile(uintptr(fd), "packet"), proto: proto, ignOut: c.IgnoreOutgoing,
		blocking: c.SendOnly || c.TxRing, txring: c.TxRing}
	if ifi != nil {
		conn.ifindex = ifi.Index
	}
	if conn.rc, err = conn.f.SyscallConn(); err != nil {
		conn.f.Close()
		return nil, opError("listen", ifi, err)
	}
	return conn, nil
}

// mapErr turns the poller's errors into ErrClosed (the raw connection
// reports a closed file with an error of its own) or a *net.OpError;
// deadline errors keep matching os.ErrDeadlineExceeded.
func mapErr(op string, err error, closed *atomic.Bool) error {
	if err == nil {
		return nil
	}
	if closed.Load() || errors.Is(err, os.ErrClosed) {
		return &net.OpError{Op: op, Net: "packet", Err: ErrClosed}
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return err // preallocated: an idle poll allocates nothing
	}
	return &net.OpError{Op: op, Net: "packet", Err: err}
}

// ReadFrom reads one packet into b and returns its length and sender. It
// implements net.PacketConn; the sender is an *Addr.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) {
	var a Addr
	n, err := c.ReadPacket(b, &a)
	if err != nil {
		return n, nil, err
	}
	return n, &a, nil
}

// ReadPacket reads one packet into b, stores its sender in from (when not
// nil) and returns its length. It skips outgoing packets when the Config
// said IgnoreOutgoing. BatchReader is the allocation-free path.
func (c *Conn) ReadPacket(b []byte, from *Addr) (int, error) {
	var (
		n    int
		sa   unix.RawSockaddrLinklayer
		serr error
	)
	read := func(fd uintptr) bool {
		for {
			iov := unix.Iovec{Base: unsafe.SliceData(b)}
			iov.SetLen(len(b))
			msg := unix.Msghdr{Name: (*byte)(unsafe.Pointer(&sa)), Namelen: unix.SizeofSockaddrLinklayer, Iov: &iov, Iovlen: 1}
			r, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&msg)), unix.MSG_DONTWAIT|unix.MSG_TRUNC)
			switch e {
			case 0:
				if c.ignOut && sa.Pkttype == PacketOutgoing {
					continue
				}
				n = min(int(r), len(b))
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				serr = e
				return true
			}
		}
	}
	if len(b) == 0 {
		return 0, errors.New("afpacket: read into an empty buffer")
	}
	if err := c.rc.Read(read); err != nil {
		return 0, mapErr("read", err, &c.closed)
	}
	if serr != nil {
		return 0, &net.OpError{Op: "read", Net: "packet", Err: serr}
	}
	if from != nil {
		fromRaw(from, &sa)
	}
	return n, nil
}

func fromRaw(a *Addr, sa *unix.RawSockaddrLinklayer) {
	a.Ifindex = int(sa.Ifindex)
	a.Protocol = ntohs(sa.Protocol)
	a.PktType = sa.Pkttype
	a.HWLen = min(sa.Halen, 8)
	a.HW = sa.Addr
}

func ntohs(v uint16) uint16 { return htons(v) }

func toRaw(sa *unix.RawSockaddrLinklayer, a *Addr, ifindex int) {
	sa.Family = unix.AF_PACKET
	sa.Protocol = htons(a.Protocol)
	sa.Ifindex = int32(a.Ifindex)
	if a.Ifindex == 0 {
		sa.Ifindex = int32(ifindex)
	}
	sa.Halen = min(a.HWLen, 8)
	sa.Addr = a.HW
}

// WriteTo sends b to addr, an *Addr; an Ifindex of 0 means the interface
// the Conn is bound to. It implements net.PacketConn.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) {
	a, ok := addr.(*Addr)
	if !ok || a == nil {
		return 0, &net.OpError{Op: "write", Net: "packet", Err: fmt.Errorf("address %v is not an *afpacket.Addr", addr)}
	}
	return c.WritePacket(b, a)
}

// WritePacket sends b to a without allocating.
func (c *Conn) WritePacket(b []byte, a *Addr) (int, error) {
	if c.txring {
		return 0, errTxRingWrite
	}
	var sa unix.RawSockaddrLinklayer
	toRaw(&sa, a, c.ifindex)
	if sa.Ifindex == 0 {
		return 0, &net.OpError{Op: "write", Net: "packet", Err: errors.New("no interface to send on")}
	}
	var (
		n    int
		serr error
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall6(unix.SYS_SENDTO, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)),
				unix.MSG_DONTWAIT, uintptr(unsafe.Pointer(&sa)), unix.SizeofSockaddrLinklayer)
			switch e {
			case 0:
				n = int(r)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				serr = e
				return true
			}
		}
	})
	if err != nil {
		return 0, mapErr("write", err, &c.closed)
	}
	if serr != nil {
		return 0, &net.OpError{Op: "write", Net: "packet", Addr: a, Err: serr}
	}
	return n, nil
}

// Write sends b on the interface and protocol the Conn is bound to (a
// Raw frame's own header names its destination).
func (c *Conn) Write(b []byte) (int, error) {
	if c.txring {
		return 0, errTxRingWrite
	}
	var (
		n    int
		serr error
	)
	err := c.rc.Write(func(fd uintptr) bool {
		for {
			r, _, e := unix.Syscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)))
			switch e {
			case 0:
				n = int(r)
				return true
			case unix.EINTR:
				continue
			case unix.EAGAIN:
				return false
			default:
				serr = e
				return true
			}
		}
	})
	if err != nil {
		return 0, mapErr("write", err, &c.closed)
	}
	if serr != nil {
		return 0, &net.OpError{Op: "write", Net: "packet", Err: serr}
	}
	return n, nil
}

// SetBPF replaces the socket's filter.
func (c *Conn) SetBPF(filter []bpf.RawInstruction) error {
	if len(filter) == 0 {
		return errors.New("afpacket: empty bpf filter")
	}
	var serr error
	if err := c.rc.Control(func(fd uintptr) { serr = attach(int(fd), filter) }); err != nil {
		return mapErr("set filter", err, &c.closed)
	}
	if serr != nil {
		return &net.OpError{Op: "set filter", Net: "packet", Err: serr}
	}
	return nil
}

// LocalAddr returns the interface and protocol the Conn is bound to.
func (c *Conn) LocalAddr() net.Addr { return &Addr{Ifindex: c.ifindex, Protocol: c.proto} }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error { return c.f.SetDeadline(t) }

// SetReadDeadline sets the read deadline; a read past it fails with an
// error matching os.ErrDeadlineExceeded.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.f.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.f.SetWriteDeadline(t) }

// SyscallConn returns the raw connection, for socket options this
// package does not wrap.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.rc, nil }

// Stats returns the socket's counters since it was opened. It takes no
// lock and may be called at any time, also after Close (the counters
// then stay as they were).
func (c *Conn) Stats() (Stats, error) { return c.stats.read(c.rc, false, &c.closed) }

func (s *counters) read(rc syscall.RawConn, v3 bool, closed *atomic.Bool) (Stats, error) {
	var serr error
	err := rc.Control(func(fd uintptr) {
		// The kernel resets its counters on every read: accumulate.
		if v3 {
			st, err := unix.GetsockoptTpacketStatsV3(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
			if err != nil {
				serr = err
				return
			}
			s.packets.Add(uint64(st.Packets))
			s.drops.Add(uint64(st.Drops))
			s.freezes.Add(uint64(st.Freeze_q_cnt))
			return
		}
		st, err := unix.GetsockoptTpacketStats(int(fd), unix.SOL_PACKET, unix.PACKET_STATISTICS)
		if err != nil {
			serr = err
			return
		}
		s.packets.Add(uint64(st.Packets))
		s.drops.Add(uint64(st.Drops))
	})
	out := Stats{Packets: s.packets.Load(), Drops: s.drops.Load(), FreezeCount: s.freezes.Load()}
	if err != nil && !closed.Load() {
		return out, mapErr("statistics", err, closed)
	}
	if serr != nil {
		return out, &net.OpError{Op: "statistics", Net: "packet", Err: serr}
	}
	return out, nil
}

// Close closes the socket. A read or write blocked in another goroutine
// returns at once with an error matching net.ErrClosed. The final counters
// are kept for Stats.
//
// Close returns without waiting for the kernel to release the socket: a
// packet socket's release waits for an RCU grace period (synchronize_net),
// which took 8-28 ms per socket on the development VM; a background
// goroutine closes the descriptor.
func (c *Conn) Close() error {
	if c.closed.Load() {
		return &net.OpError{Op: "close", Net: "packet", Err: ErrClosed}
	}
	c.Stats()
	if c.closed.Swap(true) {
		return &net.OpError{Op: "close", Net: "packet", Err: ErrClosed}
	}
	if r := c.tx.Load(); r != nil {
		r.close()
	}
	if o := c.other.Load(); o != nil {
		o.Close()
	}
	release(c.f)
	return nil
}

// errTxRingWrite is the error of a single write on a TxRing socket: the
// kernel sends only what the ring holds.
var errTxRingWrite = &net.OpError{Op: "write", Net: "packet", Err: errors.New("a TxRing socket sends only through its BatchWriter")}

// release wakes every reader and writer of f at once (a deadline in the
// past) and closes f in the background.
func release(f *os.File) {
	_ = f.SetDeadline(time.Unix(1, 0))
	go f.Close()
}

// JoinMulticast makes the socket's interface (ifindex, or the interface
// the socket is bound to when 0) accept frames to the link-layer
// multicast address hw while the socket is open (PACKET_ADD_MEMBERSHIP,
// PACKET_MR_MULTICAST). A responder answering IPv6 neighbour
// solicitations for an address the kernel does not own needs the
// address's solicited-node group, which no one else joined.
func (c *Conn) JoinMulticast(ifindex int, hw net.HardwareAddr) error {
	return c.membership(unix.PACKET_ADD_MEMBERSHIP, ifindex, hw)
}

// LeaveMulticast undoes JoinMulticast.
func (c *Conn) LeaveMulticast(ifindex int, hw net.HardwareAddr) error {
	return c.membership(unix.PACKET_DROP_MEMBERSHIP, ifindex, hw)
}

func (c *Conn) membership(op, ifindex int, hw net.HardwareAddr) error {
	if ifindex == 0 {
		ifindex = c.ifindex
	}
	if ifindex == 0 || len(hw) == 0 || len(hw) > 8 {
		return &net.OpError{Op: "multicast", Net: "packet", Err: fmt.Errorf("need an interface and a hardware address of 1-8 bytes, have ifindex %d and %d bytes", ifindex, len(hw))}
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: uint16(len(hw))}
	copy(mreq.Address[:], hw)
	var serr error
	if err := c.rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptPacketMreq(int(fd), unix.SOL_PACKET, op, &mreq)
	}); err != nil {
		return mapErr("multicast", err, &c.closed)
	}
	if serr != nil {
		return &net.OpError{Op: "multicast", Net: "packet", Err: serr}
	}
	return nil
}

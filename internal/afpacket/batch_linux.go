//go:build linux

package afpacket

import (
	"fmt"
	"net"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// BatchReader reads packets from a Conn with recvmmsg(2), up to a batch at
// a time, into preallocated buffers: a read allocates nothing. It belongs
// to one goroutine.
type BatchReader struct {
	c    *Conn
	slot int
	bufs []byte
	iov  []unix.Iovec
	addr []unix.RawSockaddrLinklayer
	hdr  []unix.Mmsghdr
	pkts []Packet
	got  int
	err  error
	read func(fd uintptr) bool
}

// NewBatchReader returns a reader of up to batch packets of up to slot
// bytes each per Read (longer packets are cut; Packet.Len tells).
func (c *Conn) NewBatchReader(batch, slot int) (*BatchReader, error) {
	if batch < 1 || batch > 1024 || slot < 1 {
		return nil, fmt.Errorf("afpacket: bad batch %d (1..1024) or slot %d", batch, slot)
	}
	r := &BatchReader{
		c:    c,
		slot: slot,
		bufs: make([]byte, batch*slot),
		iov:  make([]unix.Iovec, batch),
		addr: make([]unix.RawSockaddrLinklayer, batch),
		hdr:  make([]unix.Mmsghdr, batch),
		pkts: make([]Packet, 0, batch),
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

// Read waits for packets and returns a batch of at least one. The slice
// and the packets' Data are valid until the next Read. After Close it
// returns an error matching net.ErrClosed; past a read deadline one
// matching os.ErrDeadlineExceeded.
func (r *BatchReader) Read() ([]Packet, error) {
	for {
		r.got, r.err = 0, nil
		if err := r.c.rc.Read(r.read); err != nil {
			return nil, mapErr("read", err, &r.c.closed)
		}
		if r.err != nil {
			return nil, &net.OpError{Op: "read", Net: "packet", Err: r.err}
		}
		r.pkts = r.pkts[:0]
		for i := 0; i < r.got; i++ {
			if r.c.ignOut && r.addr[i].Pkttype == PacketOutgoing {
				continue
			}
			n := int(r.hdr[i].Len)
			p := Packet{Data: r.bufs[i*r.slot : i*r.slot+min(n, r.slot)], Len: n}
			fromRaw(&p.Addr, &r.addr[i])
			r.pkts = append(r.pkts, p)
		}
		if len(r.pkts) > 0 {
			return r.pkts, nil
		}
	}
}

func (r *BatchReader) recvmmsg(fd uintptr) bool {
	for i := range r.hdr {
		r.hdr[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
		r.hdr[i].Hdr.Flags = 0
	}
	for {
		n, _, e := unix.Syscall6(unix.SYS_RECVMMSG, fd, uintptr(unsafe.Pointer(&r.hdr[0])), uintptr(len(r.hdr)), unix.MSG_DONTWAIT|unix.MSG_TRUNC, 0, 0)
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

// BatchWriter queues packets in preallocated slots and sends them with
// sendmmsg(2): fill Slot, Commit it, Flush when Full. Queueing allocates
// nothing. It belongs to one goroutine.
type BatchWriter struct {
	c     *Conn
	slot  int
	bufs  []byte
	iov   []unix.Iovec
	addr  []unix.RawSockaddrLinklayer
	hdr   []unix.Mmsghdr
	n     int // packets queued
	sent  int // packets of the queue already sent
	err   error
	write func(fd uintptr) bool

	// A TxRing socket's writer: the queued packets live in ring (hdr
	// only gives the batch size), sent to to with errno as the result.
	ring     *txRing
	to       unix.RawSockaddrLinklayer
	errno    unix.Errno
	links    map[int]*txLink // by ifindex
	lastIf   int
	lastLink *txLink
	other    *BatchWriter // for links other than Ethernet, or nil
}

// NewBatchWriter returns a writer of up to batch packets of up to slot
// bytes per Flush. On a TxRing socket it sets up the ring (room for one
// batch) and may be called once.
func (c *Conn) NewBatchWriter(batch, slot int) (*BatchWriter, error) {
	if batch < 1 || batch > 1024 || slot < 1 || (c.txring && slot > 1<<16) {
		return nil, fmt.Errorf("afpacket: bad batch %d (1..1024) or slot %d", batch, slot)
	}
	if c.txring {
		return c.newRingWriter(batch, slot)
	}
	w := &BatchWriter{
		c:    c,
		slot: slot,
		bufs: make([]byte, batch*slot),
		iov:  make([]unix.Iovec, batch),
		addr: make([]unix.RawSockaddrLinklayer, batch),
		hdr:  make([]unix.Mmsghdr, batch),
	}
	for i := range w.hdr {
		w.iov[i].Base = &w.bufs[i*slot]
		w.hdr[i].Hdr.Iov = &w.iov[i]
		w.hdr[i].Hdr.Iovlen = 1
		w.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&w.addr[i]))
		w.hdr[i].Hdr.Namelen = unix.SizeofSockaddrLinklayer
	}
	w.write = w.sendmmsg
	return w, nil
}

// Slot returns the buffer of the next packet: fill it and call Commit. It
// returns nil when the batch is full: Flush first. With a transmit ring
// (Config.TxRing) the buffer is in the ring: a Slot not committed keeps the
// ring mapped after Close until the next Commit, Flush or Reset.
func (w *BatchWriter) Slot() []byte {
	if w.n == len(w.hdr) {
		return nil
	}
	if w.ring != nil {
		return w.ringSlot()
	}
	return w.bufs[w.n*w.slot : (w.n+1)*w.slot : (w.n+1)*w.slot]
}

// Commit queues the first n bytes of the current Slot for to (an Ifindex
// of 0 means the Conn's interface). It reports false, queueing nothing,
// when the batch is full or n is outside 1..slot.
func (w *BatchWriter) Commit(n int, to *Addr) bool {
	if w.n == len(w.hdr) || n <= 0 || n > w.slot {
		return false
	}
	if w.ring != nil {
		return w.ringCommit(n, to)
	}
	toRaw(&w.addr[w.n], to, w.c.ifindex)
	w.iov[w.n].SetLen(n)
	w.n++
	return true
}

// Len is the number of queued packets.
func (w *BatchWriter) Len() int { return w.n }

// Full reports whether the batch is full.
func (w *BatchWriter) Full() bool { return w.n == len(w.hdr) }

// Flush sends every queued packet, waiting while the socket buffer is
// full, and returns how many were sent. A packet the kernel rejects for
// its destination (no such device, link down) is skipped and reported in
// the error after the rest are sent.
func (w *BatchWriter) Flush() (int, error) {
	if w.ring != nil {
		return w.flushRing()
	}
	if w.n == 0 {
		return 0, nil
	}
	w.sent, w.err = 0, nil
	var first error
	dropped := 0
	for w.sent < w.n {
		if err := w.c.rc.Write(w.write); err != nil {
			n := w.sent - dropped
			w.n, w.sent = 0, 0
			return n, mapErr("write", err, &w.c.closed)
		}
		if w.err != nil {
			if first == nil {
				first = &net.OpError{Op: "write", Net: "packet",
					Err: fmt.Errorf("send to ifindex %d: %w", w.addr[w.sent].Ifindex, w.err)}
			}
			w.sent++ // drop the packet that failed
			dropped++
			w.err = nil
		}
	}
	n := w.sent - dropped
	w.n, w.sent = 0, 0
	return n, first
}

// Reset drops every queued packet.
func (w *BatchWriter) Reset() {
	w.n, w.sent = 0, 0
	if r := w.ring; r != nil && r.slotOut {
		r.slotOut = false
		r.leave()
	}
}

// sendmmsg is the RawConn write callback: false means "wait until
// writable".
func (w *BatchWriter) sendmmsg(fd uintptr) bool {
	for w.sent < w.n {
		flags := uintptr(unix.MSG_DONTWAIT)
		if w.c.blocking {
			flags = 0
		}
		r, _, e := unix.Syscall6(unix.SYS_SENDMMSG, fd, uintptr(unsafe.Pointer(&w.hdr[w.sent])), uintptr(w.n-w.sent), flags, 0, 0)
		switch e {
		case 0:
			w.sent += int(r)
		case unix.EINTR:
		case unix.EAGAIN:
			return false
		case unix.ENOBUFS:
			// The device queue is full: back off briefly and retry.
			time.Sleep(50 * time.Microsecond)
		default:
			w.err = e
			return true
		}
	}
	return true
}

//go:build linux

package afpacket

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A TxRing socket's BatchWriter fills the frames of a PACKET_TX_RING in
// place (Documentation/networking/packet_mmap.rst, "Transmission"). Each
// frame starts with a struct tpacket2_hdr. A frame belongs to user space
// while its tp_status is TP_STATUS_AVAILABLE; setting
// TP_STATUS_SEND_REQUEST hands it to the next send(2) on the socket, which
// takes the requested frames in ring order from the kernel's head, one skb
// each, and sets TP_STATUS_AVAILABLE again once the skb is freed. A
// blocking send waits for that before it returns. A frame the kernel
// cannot parse gets TP_STATUS_WRONG_FORMAT; the kernel's head then stays
// on it and the send fails.
//
// The socket is SOCK_RAW with PACKET_VNET_HDR, whatever Type the caller
// asked for: every frame is a struct virtio_net_hdr whose hdr_len covers
// the whole frame, the link header (built here: Ethernet and loopback
// links only) and the packet. The kernel then copies each frame into a
// linear skb. Without the virtio header (or on a SOCK_DGRAM socket) it
// attaches the ring's pages to the skb instead, and a veth into another
// namespace copies those into a fresh page per packet (skb_copy_ubufs):
// the lab's path, where that cost as much as the syscalls it saved.
// PACKET_TX_HAS_OFF lets the frame start where its link header does
// (tp_mac), so the packet itself always sits at txPkt, where Slot is.
//
// The interface and protocol are one per send call: Flush sends each run
// of queued frames with the same ones with one sendto(2).
const (
	txData  = 32                        // first byte after the tpacket2_hdr (TPACKET_ALIGN)
	vnetLen = 10                        // struct virtio_net_hdr
	ethLen  = 14                        // Ethernet header
	txPkt   = txData + vnetLen + ethLen // offset of the packet in a frame

	txStatus = 0  // tp_status, u32
	txLen    = 4  // tp_len, u32
	txMac    = 12 // tp_mac, u16: where the frame's data starts (PACKET_TX_HAS_OFF)

	txBusy = unix.TP_STATUS_SEND_REQUEST | unix.TP_STATUS_SENDING | unix.TP_STATUS_WRONG_FORMAT
)

// txLink is what the writer needs to know of an interface to build
// frames for it.
type txLink struct {
	ok  bool // an Ethernet or loopback link
	typ uint16
	src [6]byte
	mtu int
	err error // the interface could not be looked up
}

// txRing is the mapped transmit ring of one socket and the writer's view
// of it: frames head, head+1, … (mod frames) hold the n queued packets,
// and head is also the kernel's next frame, because the kernel takes
// frames in order and the writer drops a rejected frame by moving the
// later ones down over it.
type txRing struct {
	mem    []byte
	fsize  int // frame size
	fpb    int // frames per block
	bsize  int // block size
	frames int
	head   int
	dst    []unix.RawSockaddrLinklayer // destination of each frame, by frame index

	// The mapping is released by Close when no writer call is inside
	// it, else by the writer call that leaves it last: active counts
	// writer calls between entering and leaving (a Slot counts until its
	// Commit or the next Reset/Flush).
	active   atomic.Int32
	closed   atomic.Bool
	unmapped atomic.Bool
	slotOut  bool // a Slot is counted in active
}

// newTxRing sets up and maps a TPACKET_V2 transmit ring on fd with room
// for at least batch frames of slot bytes.
func newTxRing(fd, batch, slot int) (*txRing, error) {
	page := os.Getpagesize()
	fsize := (txPkt + slot + unix.TPACKET_ALIGNMENT - 1) &^ (unix.TPACKET_ALIGNMENT - 1)
	bsize := (fsize + page - 1) / page * page
	fpb := bsize / fsize
	blocks := (batch + fpb - 1) / fpb
	r := &txRing{fsize: fsize, fpb: fpb, bsize: bsize, frames: fpb * blocks}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VNET_HDR, 1); err != nil {
		return nil, fmt.Errorf("vnet header: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_TX_HAS_OFF, 1); err != nil {
		return nil, fmt.Errorf("tx offsets: %w", err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V2); err != nil {
		return nil, fmt.Errorf("tpacket v2: %w", err)
	}
	req := unix.TpacketReq{Block_size: uint32(bsize), Block_nr: uint32(blocks), Frame_size: uint32(fsize), Frame_nr: uint32(r.frames)}
	if err := unix.SetsockoptTpacketReq(fd, unix.SOL_PACKET, unix.PACKET_TX_RING, &req); err != nil {
		return nil, fmt.Errorf("tx ring of %d frames of %d bytes: %w", r.frames, fsize, err)
	}
	mem, err := unix.Mmap(fd, 0, bsize*blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap tx ring: %w", err)
	}
	r.mem = mem
	r.dst = make([]unix.RawSockaddrLinklayer, r.frames)
	return r, nil
}

// frame returns the offset of frame i in mem.
func (r *txRing) frame(i int) int { return i/r.fpb*r.bsize + i%r.fpb*r.fsize }

// idx is the frame index of queued packet j.
func (r *txRing) idx(j int) int {
	i := r.head + j
	if i >= r.frames {
		i -= r.frames
	}
	return i
}

func (r *txRing) status(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.mem[r.frame(i)+txStatus]))
}

// enter marks a writer call inside the mapping; false means the socket is
// closed and the call must not touch it.
func (r *txRing) enter() bool {
	r.active.Add(1)
	if r.closed.Load() {
		r.leave()
		return false
	}
	return true
}

// leave ends a writer call, releasing the mapping if Close came first.
func (r *txRing) leave() {
	if r.active.Add(-1) == 0 && r.closed.Load() {
		r.unmap()
	}
}

// close is called by Conn.Close: no writer call enters the mapping after
// it, and it is released at once unless one is inside.
func (r *txRing) close() {
	r.closed.Store(true)
	if r.active.Load() == 0 {
		r.unmap()
	}
}

func (r *txRing) unmap() {
	if r.unmapped.CompareAndSwap(false, true) {
		_ = unix.Munmap(r.mem)
	}
}

// slot returns the packet area of queued packet j.
func (r *txRing) slot(j, slot int) []byte {
	off := r.frame(r.idx(j)) + txPkt
	return r.mem[off : off+slot : off+slot]
}

// commit records queued packet j of n bytes for to: the frame's virtio
// and link headers, its start and length. A frame for a link the ring
// cannot build headers for keeps only its length; Flush drops it.
func (r *txRing) commit(j, n int, to *Addr, ifindex int, l *txLink) {
	i := r.idx(j)
	toRaw(&r.dst[i], to, ifindex)
	f := r.mem[r.frame(i):]
	binary.NativeEndian.PutUint32(f[txLen:], uint32(vnetLen+ethLen+n))
	if !l.ok {
		return
	}
	binary.NativeEndian.PutUint16(f[txMac:], txData)
	v := f[txData : txData+vnetLen]
	clear(v)                                               // no checksum offload, no segmentation
	binary.NativeEndian.PutUint16(v[2:], uint16(ethLen+n)) // hdr_len: copy it all
	e := f[txData+vnetLen : txPkt]
	copy(e[0:6], to.HW[:6])
	copy(e[6:12], l.src[:])
	binary.BigEndian.PutUint16(e[12:], to.Protocol)
}

// sendOther sends the first run queued packets, for a link the ring
// cannot frame, through a Datagram socket with sendmmsg, opened on first
// use and kept for the writer's life.
func (w *BatchWriter) sendOther(run int) (int, error) {
	if w.other == nil {
		c, err := Listen(nil, Datagram, ProtoNone, &Config{SendOnly: true})
		if err != nil {
			return 0, err
		}
		if w.other, err = c.NewBatchWriter(len(w.hdr), w.slot); err != nil {
			c.Close()
			return 0, err
		}
		w.c.other.Store(c)
		if w.c.closed.Load() {
			c.Close()
		}
	}
	r := w.ring
	for j := range run {
		i := r.idx(j)
		off := r.frame(i) + txPkt
		n := copy(w.other.Slot(), r.mem[off:off+r.pktLen(i)])
		a := Addr{Ifindex: int(r.dst[i].Ifindex), Protocol: ntohs(r.dst[i].Protocol), HWLen: r.dst[i].Halen, HW: r.dst[i].Addr}
		w.other.Commit(n, &a)
	}
	return w.other.Flush()
}

// pktLen is the length of the packet in frame i.
func (r *txRing) pktLen(i int) int {
	return int(binary.NativeEndian.Uint32(r.mem[r.frame(i)+txLen:])) - vnetLen - ethLen
}

// link returns what the writer knows of interface ifindex, looking it up
// on first use (the only allocations of the ring path). The answer is
// kept for the writer's life.
func (w *BatchWriter) link(ifindex int) *txLink {
	if ifindex == w.lastIf && w.lastLink != nil {
		return w.lastLink
	}
	l, ok := w.links[ifindex]
	if !ok {
		l = w.lookupLink(ifindex)
		w.links[ifindex] = l
	}
	w.lastIf, w.lastLink = ifindex, l
	return l
}

func (w *BatchWriter) lookupLink(ifindex int) *txLink {
	l := &txLink{}
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		l.err = err
		return l
	}
	l.mtu = ifi.MTU
	ifr, err := unix.NewIfreq(ifi.Name)
	if err != nil {
		l.err = err
		return l
	}
	var ierr error
	if err := w.c.rc.Control(func(fd uintptr) { ierr = unix.IoctlIfreq(int(fd), unix.SIOCGIFHWADDR, ifr) }); err != nil {
		ierr = err
	}
	if ierr != nil {
		l.err = fmt.Errorf("link type: %w", ierr)
		return l
	}
	l.typ = ifr.Uint16()
	n := copy(l.src[:], ifi.HardwareAddr)
	l.ok = (l.typ == unix.ARPHRD_ETHER || l.typ == unix.ARPHRD_LOOPBACK) && (n == 0 || n == 6)
	return l
}

// drop removes queued packets j..j+m-1 of n: every queued frame is
// handed back to user space (AVAILABLE) and the later packets move down
// over the dropped ones, so that the kernel's head frame holds the next
// packet to send. No send is in progress on the socket meanwhile.
func (r *txRing) drop(j, m, n int) {
	for k := j; k < n; k++ {
		atomic.StoreUint32(r.status(r.idx(k)), 0)
	}
	for k := j; k+m < n; k++ {
		to, from := r.idx(k), r.idx(k+m)
		fo, ff := r.frame(to), r.frame(from)
		copy(r.mem[fo+txLen:fo+r.fsize], r.mem[ff+txLen:ff+r.fsize]) // all but tp_status
		r.dst[to] = r.dst[from]
	}
}

// flushRing sends the queued packets through the ring. It returns how
// many the kernel took; a packet it rejects (wrong format) or whose
// destination fails (no such device, link down) is dropped and reported
// in the error after the rest are sent, as Flush does. Before it returns,
// the frames of the next batch are back in user space, so Slot never
// waits: a full ring waits here, in the kernel, never dropping a packet.
func (w *BatchWriter) flushRing() (int, error) {
	r := w.ring
	if r.slotOut {
		r.slotOut = false
		r.leave()
	}
	if !r.enter() {
		w.n = 0
		return 0, &net.OpError{Op: "write", Net: "packet", Err: ErrClosed}
	}
	defer r.leave()
	var (
		first   error
		sent    int
		retries int
	)
	fail := func(err error) {
		if first == nil {
			first = &net.OpError{Op: "write", Net: "packet", Err: fmt.Errorf("send to ifindex %d: %w", w.to.Ifindex, err)}
		}
	}
	for w.n > 0 {
		w.to = r.dst[r.head]
		run := 1
		for run < w.n && r.dst[r.idx(run)].Ifindex == w.to.Ifindex && r.dst[r.idx(run)].Protocol == w.to.Protocol {
			run++
		}
		l := w.link(int(w.to.Ifindex))
		if !l.ok {
			if l.err != nil {
				fail(l.err)
			} else {
				// Not an Ethernet link: let the kernel build its header.
				k, err := w.sendOther(run)
				sent += k
				if err != nil {
					fail(err)
				}
			}
			r.drop(0, run, w.n)
			w.n -= run
			continue
		}
		// The kernel does not check a frame with a virtio header against
		// the MTU; the link would drop it silently.
		for j := 0; j < run; {
			if pl := r.pktLen(r.idx(j)); pl > l.mtu {
				fail(fmt.Errorf("packet of %d bytes: longer than the link's MTU %d", pl, l.mtu))
				r.drop(j, 1, w.n)
				w.n--
				run--
				continue
			}
			j++
		}
		if run == 0 {
			continue
		}
		for j := range run {
			atomic.StoreUint32(r.status(r.idx(j)), unix.TP_STATUS_SEND_REQUEST)
		}
		if err := w.c.rc.Write(w.write); err != nil {
			w.n = 0
			return sent, mapErr("write", err, &w.c.closed)
		}
		// The kernel took a prefix of the run: those frames are SENDING
		// or AVAILABLE again.
		k := 0
		for k < run && atomic.LoadUint32(r.status(r.idx(k)))&(unix.TP_STATUS_SEND_REQUEST|unix.TP_STATUS_WRONG_FORMAT) == 0 {
			k++
		}
		r.head = r.idx(k)
		w.n -= k
		sent += k
		if k == run {
			retries = 0
			continue
		}
		st := atomic.LoadUint32(r.status(r.head))
		errno := w.errno
		switch {
		case st&unix.TP_STATUS_WRONG_FORMAT != 0:
			var err error = errno
			if errno == 0 {
				err = errors.New("frame rejected")
			}
			fail(fmt.Errorf("packet of %d bytes: %w", r.pktLen(r.head), err))
			r.drop(0, 1, w.n)
			w.n--
		case errno == 0 || errno == unix.EINTR || errno == unix.EAGAIN || errno == unix.ENOBUFS:
			// Interrupted, or the device queue is full: back off briefly
			// and send the rest again.
			if retries++; retries > 1 || errno == unix.ENOBUFS {
				time.Sleep(50 * time.Microsecond)
			}
		default:
			// The destination is unusable: drop the rest of the run.
			fail(errno)
			r.drop(0, run-k, w.n)
			w.n -= run - k
		}
	}
	return sent, w.ringWait(first)
}

// sendRing is the RawConn write callback of a ring writer: one sendto(2)
// with no data to w.to, which sends the requested frames and, the socket
// being blocking, returns once the kernel freed every skb of the socket.
func (w *BatchWriter) sendRing(fd uintptr) bool {
	_, _, w.errno = unix.Syscall6(unix.SYS_SENDTO, fd, 0, 0, 0, uintptr(unsafe.Pointer(&w.to)), unix.SizeofSockaddrLinklayer)
	return true
}

// ringWait waits until the frames of the next batch are back in user
// space, with sends that request no frame (see sendRing) to the latest
// destination; then it returns first.
func (w *BatchWriter) ringWait(first error) error {
	r := w.ring
	for j := range len(w.hdr) {
		for atomic.LoadUint32(r.status(r.idx(j)))&txBusy != 0 {
			if w.c.closed.Load() {
				return &net.OpError{Op: "write", Net: "packet", Err: ErrClosed}
			}
			w.errno = unix.EINVAL
			if w.to.Ifindex != 0 {
				if err := w.c.rc.Write(w.write); err != nil {
					return mapErr("write", err, &w.c.closed)
				}
			}
			if w.errno != 0 || atomic.LoadUint32(r.status(r.idx(j)))&txBusy != 0 {
				time.Sleep(20 * time.Microsecond)
			}
		}
	}
	return first
}

// newRingWriter sets up the socket's transmit ring and its writer.
func (c *Conn) newRingWriter(batch, slot int) (*BatchWriter, error) {
	var (
		r    *txRing
		rerr error
	)
	if err := c.rc.Control(func(fd uintptr) { r, rerr = newTxRing(int(fd), batch, slot) }); err != nil {
		return nil, mapErr("tx ring", err, &c.closed)
	}
	if rerr != nil {
		return nil, opError("tx ring", nil, rerr)
	}
	if !c.tx.CompareAndSwap(nil, r) {
		r.unmap() // unreachable: the kernel refuses a second ring (EBUSY)
		return nil, &net.OpError{Op: "tx ring", Net: "packet", Err: errors.New("the socket has a BatchWriter already")}
	}
	if c.closed.Load() {
		r.close()
	}
	w := &BatchWriter{c: c, slot: slot, hdr: make([]unix.Mmsghdr, batch), ring: r, links: map[int]*txLink{}}
	w.write = w.sendRing
	return w, nil
}

// ringSlot returns the next free frame's packet area, or nil after Close.
func (w *BatchWriter) ringSlot() []byte {
	r := w.ring
	if !r.slotOut {
		if !r.enter() {
			return nil
		}
		r.slotOut = true
	}
	return r.slot(w.n, w.slot)
}

// ringCommit queues the frame Slot returned.
func (w *BatchWriter) ringCommit(n int, to *Addr) bool {
	r := w.ring
	if !r.slotOut {
		if !r.enter() {
			return false
		}
		r.slotOut = true
	}
	ifindex := to.Ifindex
	if ifindex == 0 {
		ifindex = w.c.ifindex
	}
	r.commit(w.n, n, to, w.c.ifindex, w.link(ifindex))
	w.n++
	r.slotOut = false
	r.leave()
	return true
}

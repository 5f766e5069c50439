//go:build linux

package afpacket

import (
	"encoding/binary"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Ring receives packets through a TPACKET_V3 memory-mapped ring: the
// kernel fills blocks of packets, user space reads them in place and hands
// each block back when done, with no copy and no system call per packet.
//
// ReadPacket belongs to one goroutine. Close, Stats and SetReadDeadline may
// be called from any other: Close wakes a blocked ReadPacket at once.
type Ring struct {
	f      *os.File
	rc     syscall.RawConn
	ignOut bool
	bs     int // block size
	nb     int // number of blocks
	stats  counters

	// mu guards the mapping against Close; ReadPacket holds it only
	// while it looks at the ring, never while it waits.
	mu     sync.Mutex
	ring   []byte
	closed bool
	isOff  atomic.Bool // closed, readable without mu
	block  int         // current block index
	pkt    int         // offset of the next packet in the current block
	left   uint32      // packets left in the current block
	held   bool        // the current block belongs to user space

	ready func(fd uintptr) bool
}

// Offsets into struct tpacket_block_desc (linux/if_packet.h): version,
// offset_to_priv, then tpacket_hdr_v1 {block_status, num_pkts,
// offset_to_first_pkt, …}; into struct tpacket3_hdr; and into the
// sockaddr_ll that follows it at TPACKET_ALIGN(sizeof(tpacket3_hdr)) = 48.
const (
	bdStatus   = 8
	bdNumPkts  = 12
	bdFirstPkt = 16

	thNext    = 0
	thSec     = 4
	thNsec    = 8
	thSnapLen = 12
	thLen     = 16
	thMac     = 24

	llOff      = 48
	llProtocol = llOff + 2
	llIfindex  = llOff + 4
	llPktType  = llOff + 10
	llHalen    = llOff + 11
	llAddr     = llOff + 12
	llEnd      = llOff + unix.SizeofSockaddrLinklayer
)

// ListenRing opens a ring receiving EtherType proto (usually ProtoAll) of
// type typ on ifi (nil: every interface). A nil cfg means defaults.
func ListenRing(ifi *net.Interface, typ Type, proto uint16, cfg *RingConfig) (*Ring, error) {
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	fd, err := open(ifi, typ, &c.Config)
	if err != nil {
		return nil, err
	}
	r := &Ring{ignOut: c.IgnoreOutgoing, bs: c.BlockSize, nb: c.Blocks}
	fail := func(op string, err error) (*Ring, error) {
		if r.ring != nil {
			unix.Munmap(r.ring)
		}
		unix.Close(fd)
		return nil, opError(op, ifi, err)
	}
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return fail("tpacket v3", err)
	}
	const frame = 2048 // only bounds Frame_nr: V3 packs packets of any size
	req := unix.TpacketReq3{
		Block_size:     uint32(c.BlockSize),
		Block_nr:       uint32(c.Blocks),
		Frame_size:     frame,
		Frame_nr:       uint32(c.BlockSize / frame * c.Blocks),
		Retire_blk_tov: uint32(max(1, c.BlockTimeout.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return fail("rx ring", err)
	}
	if r.ring, err = unix.Mmap(fd, 0, c.BlockSize*c.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return fail("mmap", err)
	}
	if proto != ProtoNone {
		idx := 0
		if ifi != nil {
			idx = ifi.Index
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(proto), Ifindex: idx}); err != nil {
			return fail("bind", err)
		}
	}
	r.f = os.NewFile(uintptr(fd), "packet-ring")
	if r.rc, err = r.f.SyscallConn(); err != nil {
		r.f.Close()
		unix.Munmap(r.ring)
		return nil, opError("listen", ifi, err)
	}
	r.ready = r.blockReady
	return r, nil
}

func (r *Ring) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.ring[block*r.bs+bdStatus]))
}

// blockReady is the poller callback: true when the current block belongs
// to user space (or the ring is closed), false to wait for readability.
func (r *Ring) blockReady(uintptr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed || atomic.LoadUint32(r.status(r.block))&unix.TP_STATUS_USER != 0
}

// ReadPacket waits for the next packet and fills p with it. p.Data points
// into the ring and is valid until the next ReadPacket or Close. After
// Close it returns an error matching net.ErrClosed; past a read deadline
// one matching os.ErrDeadlineExceeded.
func (r *Ring) ReadPacket(p *Packet) error {
	for {
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			return &net.OpError{Op: "read", Net: "packet", Err: ErrClosed}
		}
		ok, err := r.next(p)
		r.mu.Unlock()
		if ok || err != nil {
			return err
		}
		if err := r.rc.Read(r.ready); err != nil {
			return mapErr("read", err, &r.isOff)
		}
	}
}

// next takes the next packet from the ring; false means the ring is
// empty. Called with r.mu held.
func (r *Ring) next(p *Packet) (bool, error) {
	bs := r.bs
	for {
		if r.left == 0 {
			if r.held {
				// Hand the finished block back to the kernel.
				atomic.StoreUint32(r.status(r.block), unix.TP_STATUS_KERNEL)
				r.held = false
				r.block = (r.block + 1) % r.nb
			}
			if atomic.LoadUint32(r.status(r.block))&unix.TP_STATUS_USER == 0 {
				return false, nil
			}
			b := r.ring[r.block*bs : (r.block+1)*bs]
			r.held = true
			r.left = binary.NativeEndian.Uint32(b[bdNumPkts:])
			r.pkt = int(binary.NativeEndian.Uint32(b[bdFirstPkt:]))
			continue
		}
		b := r.ring[r.block*bs : (r.block+1)*bs]
		r.left--
		off := r.pkt
		if off < 0 || off+llEnd > bs {
			r.left = 0 // corrupt block: skip the rest of it
			continue
		}
		h := b[off:]
		next := int(binary.NativeEndian.Uint32(h[thNext:]))
		r.pkt = off + next
		if next == 0 {
			r.left = 0
		}
		if r.ignOut && h[llPktType] == PacketOutgoing {
			continue
		}
		snap := int(binary.NativeEndian.Uint32(h[thSnapLen:]))
		// tp_mac is where the packet starts: the link header on Raw
		// sockets, the network header (tp_mac == tp_net) on Datagram ones.
		start := int(binary.NativeEndian.Uint16(h[thMac:]))
		if start+snap > len(h) || start < llEnd {
			continue // inconsistent frame: skip it
		}
		*p = Packet{
			Data: h[start : start+snap : start+snap],
			Len:  int(binary.NativeEndian.Uint32(h[thLen:])),
			Time: time.Unix(int64(binary.NativeEndian.Uint32(h[thSec:])), int64(binary.NativeEndian.Uint32(h[thNsec:]))),
			Addr: Addr{
				Ifindex:  int(int32(binary.NativeEndian.Uint32(h[llIfindex:]))),
				Protocol: binary.BigEndian.Uint16(h[llProtocol:]),
				PktType:  h[llPktType],
				HWLen:    min(h[llHalen], 8),
				HW:       [8]byte(h[llAddr : llAddr+8]),
			},
		}
		return true, nil
	}
}

// SetReadDeadline sets the deadline for ReadPacket.
func (r *Ring) SetReadDeadline(t time.Time) error { return r.f.SetReadDeadline(t) }

// Stats returns the ring's counters since it was opened, without taking a
// lock; after Close the final counters.
func (r *Ring) Stats() (Stats, error) { return r.stats.read(r.rc, true, &r.isOff) }

// Close releases the ring and the socket. A ReadPacket blocked in another
// goroutine returns at once with an error matching net.ErrClosed; Close
// returns after it did.
func (r *Ring) Close() error {
	r.Stats() // keep the final counters readable after Close
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.isOff.Store(true)
	unix.Munmap(r.ring)
	r.ring = nil
	r.mu.Unlock()
	if err := r.f.Close(); err != nil {
		return mapErr("close", err, &r.isOff)
	}
	return nil
}

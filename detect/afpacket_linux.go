//go:build linux

package detect

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// AFPacketSource captures live traffic from one interface through an
// AF_PACKET socket with a TPACKET_V3 memory-mapped ring, written against
// the kernel ABI with golang.org/x/sys/unix (no cgo). The socket is
// SOCK_DGRAM, so packets start at the network header whatever the link
// type, and the kernel runs the BPF filter before copying anything.
//
// ReadObservation is meant for one goroutine; Close may be called from
// another and waits for a read in progress to return (at most PollTimeout).
type AFPacketSource struct {
	mu       sync.Mutex // held while reading the ring; Close takes it
	fd       int
	ring     []byte
	cfg      AFPacketConfig
	block    int    // current block index
	pkt      int    // offset of the next packet in the current block
	left     uint32 // packets left in the current block
	dec      Decoder
	fds      [1]unix.PollFd
	held     bool // the current block belongs to user space
	loopback bool // drop PACKET_OUTGOING duplicates
	closed   bool
	drops    uint64 // kernel counters accumulated, under mu
	packets  uint64
}

var _ LiveSource = (*AFPacketSource)(nil)
var _ StatSource = (*AFPacketSource)(nil)

// Offsets into struct tpacket_block_desc (linux/if_packet.h): version,
// offset_to_priv, then tpacket_hdr_v1 {block_status, num_pkts,
// offset_to_first_pkt, ...}.
const (
	bdStatus   = 8
	bdNumPkts  = 12
	bdFirstPkt = 16
	// sll_pkttype in the sockaddr_ll that follows the tpacket3_hdr
	// (TPACKET_ALIGN(sizeof(struct tpacket3_hdr)) = 48, pkttype at +10).
	llPktType = 58
)

// NewAFPacketSource opens live capture on the named interface. It needs
// CAP_NET_RAW.
func NewAFPacketSource(ifname string, cfg *AFPacketConfig) (*AFPacketSource, error) {
	c := cfg.withDefaults()
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("detect: capture interface %q: %w", ifname, err)
	}
	if c.BlockSize%os.Getpagesize() != 0 {
		return nil, fmt.Errorf("detect: ring block size %d not a multiple of the page size", c.BlockSize)
	}
	filter := c.Filter
	if filter == nil {
		if filter, err = DefaultFilter(c.SnapLen); err != nil {
			return nil, err
		}
	}
	// Protocol 0: receive nothing until bind, so no packet escapes the
	// filter between socket() and setsockopt().
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, opErr("socket", ifname, err)
	}
	s := &AFPacketSource{fd: fd, cfg: c, dec: Decoder{Link: LinkRaw}, loopback: ifi.Flags&net.FlagLoopback != 0}
	if err := s.setup(ifi, filter); err != nil {
		s.release()
		return nil, err
	}
	return s, nil
}

func opErr(op, ifname string, err error) error {
	return &net.OpError{Op: op, Net: "afpacket", Source: nil, Addr: nil, Err: fmt.Errorf("interface %s: %w", ifname, err)}
}

func (s *AFPacketSource) setup(ifi *net.Interface, filter []bpf.RawInstruction) error {
	c := &s.cfg
	name := ifi.Name
	prog := make([]unix.SockFilter, len(filter))
	for i, ins := range filter {
		prog[i] = unix.SockFilter{Code: ins.Op, Jt: ins.Jt, Jf: ins.Jf, K: ins.K}
	}
	if len(prog) == 0 {
		return fmt.Errorf("detect: empty bpf filter")
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	if err := unix.SetsockoptSockFprog(s.fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog); err != nil {
		return opErr("attach filter", name, err)
	}
	if err := unix.SetsockoptInt(s.fd, unix.SOL_PACKET, unix.PACKET_VERSION, unix.TPACKET_V3); err != nil {
		return opErr("tpacket v3", name, err)
	}
	const frame = 2048
	req := unix.TpacketReq3{
		Block_size:     uint32(c.BlockSize),
		Block_nr:       uint32(c.Blocks),
		Frame_size:     frame,
		Frame_nr:       uint32(c.BlockSize / frame * c.Blocks),
		Retire_blk_tov: uint32(max(1, c.BlockTimeout.Milliseconds())),
	}
	if err := unix.SetsockoptTpacketReq3(s.fd, unix.SOL_PACKET, unix.PACKET_RX_RING, &req); err != nil {
		return opErr("rx ring", name, err)
	}
	ring, err := unix.Mmap(s.fd, 0, c.BlockSize*c.Blocks, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return opErr("mmap", name, err)
	}
	s.ring = ring
	if c.Promiscuous {
		mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_PROMISC}
		if err := unix.SetsockoptPacketMreq(s.fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
			return opErr("promiscuous", name, err)
		}
	}
	sa := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}
	if err := unix.Bind(s.fd, sa); err != nil {
		return opErr("bind", name, err)
	}
	return nil
}

func htons(v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return binary.NativeEndian.Uint16(b[:])
}

func (s *AFPacketSource) status(block int) *uint32 {
	return (*uint32)(unsafe.Pointer(&s.ring[block*s.cfg.BlockSize+bdStatus]))
}

// ReadObservation decodes the next captured packet into o. It returns
// ErrNoPacket when nothing arrived within the poll timeout, and net.ErrClosed
// after Close.
func (s *AFPacketSource) ReadObservation(o *Observation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return net.ErrClosed
	}
	bs := s.cfg.BlockSize
	for polled := false; ; {
		if s.left == 0 {
			if s.held {
				// Hand the finished block back to the kernel.
				atomic.StoreUint32(s.status(s.block), unix.TP_STATUS_KERNEL)
				s.held = false
				s.block = (s.block + 1) % s.cfg.Blocks
			}
			if atomic.LoadUint32(s.status(s.block))&unix.TP_STATUS_USER == 0 {
				if polled {
					return ErrNoPacket
				}
				if err := s.poll(); err != nil {
					return err
				}
				polled = true
				continue
			}
			b := s.ring[s.block*bs : (s.block+1)*bs]
			s.held = true
			s.left = binary.NativeEndian.Uint32(b[bdNumPkts:])
			s.pkt = int(binary.NativeEndian.Uint32(b[bdFirstPkt:]))
			continue
		}
		b := s.ring[s.block*bs : (s.block+1)*bs]
		s.left--
		p := s.pkt
		if p < 0 || p+unix.SizeofTpacket3Hdr > bs {
			s.left = 0 // corrupt block: skip the rest of it
			continue
		}
		h := b[p:]
		next := int(binary.NativeEndian.Uint32(h[0:]))
		sec := binary.NativeEndian.Uint32(h[4:])
		nsec := binary.NativeEndian.Uint32(h[8:])
		snap := int(binary.NativeEndian.Uint32(h[12:]))
		mac := int(binary.NativeEndian.Uint16(h[24:]))
		s.pkt = p + next
		if next == 0 {
			s.left = 0
		}
		if s.loopback && len(h) > llPktType && h[llPktType] == unix.PACKET_OUTGOING {
			continue // loopback shows every packet twice: keep the inbound copy
		}
		if mac+snap > len(h) {
			return fmt.Errorf("%w: capture ring frame exceeds block", ErrMalformed)
		}
		return s.dec.Decode(h[mac:mac+snap], time.Unix(int64(sec), int64(nsec)), o)
	}
}

// poll waits for the current block to be handed to user space. It
// returns ErrNoPacket on timeout.
func (s *AFPacketSource) poll() error {
	s.fds[0] = unix.PollFd{Fd: int32(s.fd), Events: unix.POLLIN | unix.POLLERR}
	for {
		n, err := unix.Poll(s.fds[:], int(s.cfg.PollTimeout.Milliseconds()))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return opErr("poll", "", err)
		}
		if n == 0 {
			return ErrNoPacket
		}
		return nil
	}
}

// Live reports true: the pipeline treats this source as live capture.
func (s *AFPacketSource) Live() bool { return true }

// SourceStats returns the kernel's counters since the source was opened.
func (s *AFPacketSource) SourceStats() (SourceStats, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.statsLocked()
}

func (s *AFPacketSource) statsLocked() (SourceStats, error) {
	if s.closed {
		return SourceStats{KernelDrops: s.drops, KernelPackets: s.packets}, nil
	}
	st, err := unix.GetsockoptTpacketStatsV3(s.fd, unix.SOL_PACKET, unix.PACKET_STATISTICS)
	if err != nil {
		return SourceStats{}, opErr("statistics", "", err)
	}
	// The kernel resets its counters on every read: accumulate.
	s.drops += uint64(st.Drops)
	s.packets += uint64(st.Packets)
	return SourceStats{KernelDrops: s.drops, KernelPackets: s.packets}, nil
}

// Close releases the ring and the socket.
func (s *AFPacketSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.statsLocked() // keep the final counters readable after Close
	s.closed = true
	s.release()
	return nil
}

func (s *AFPacketSource) release() {
	if s.ring != nil {
		unix.Munmap(s.ring)
		s.ring = nil
	}
	if s.fd >= 0 {
		unix.Close(s.fd)
		s.fd = -1
	}
}

// Package afpacket is the one place in portsense that opens Linux
// AF_PACKET sockets. Probers, live capture in detect, neighbour resolution
// in internal/route and the netns lab's wire all use it.
//
// Its API follows github.com/mdlayher/packet: Listen takes an interface, a
// socket Type, an EtherType and a *Config where nil means defaults; errors
// are *net.OpError values, and those caused by missing privileges wrap
// os.ErrPermission and name CAP_NET_RAW. A Config's BPF filter is attached
// before the socket is bound, so no unfiltered packet is ever queued.
//
// Sockets are non-blocking and registered with the Go runtime's network
// poller: a blocked read parks its goroutine, not a thread; Close wakes it
// at once; read deadlines work. Statistics are read with getsockopt and
// accumulated in atomic counters, so they need no lock either.
//
// Three I/O paths serve different loads:
//
//   - Ring: a TPACKET_V3 memory-mapped receive ring, for capture of all
//     traffic of an interface (detect's live source);
//   - BatchReader: recvmmsg(2), for probers that read replies admitted by a
//     tight filter;
//   - BatchWriter: sendmmsg(2) from preallocated slots, for probers that
//     send packets at high rates; on a socket opened with Config.TxRing,
//     the frames of a memory-mapped transmit ring (PACKET_TX_RING) and one
//     empty send per batch instead.
//
// Conn.ReadFrom and Conn.WriteTo serve the rest (ARP, NDP, the lab's
// bridge).
//
// Filters are classic BPF written with golang.org/x/net/bpf's instruction
// types, assembled by its Assemble and testable in its VM; Assembler adds
// named labels on top, so that jump offsets are computed, never counted.
//
// On other operating systems every constructor returns an error wrapping
// errors.ErrUnsupported.
package afpacket

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/net/bpf"
)

// Type is the socket type of a Conn or Ring.
type Type int

const (
	// Datagram sockets (SOCK_DGRAM) read and write network-layer packets;
	// the kernel strips and builds the link header from an Addr.
	Datagram Type = iota + 1
	// Raw sockets (SOCK_RAW) read and write whole link-layer frames.
	Raw
)

// String returns "datagram" or "raw".
func (t Type) String() string {
	switch t {
	case Datagram:
		return "datagram"
	case Raw:
		return "raw"
	}
	return fmt.Sprintf("type(%d)", int(t))
}

// Common EtherTypes for Listen, host byte order.
const (
	// ProtoNone opens a socket that receives nothing: for sending only.
	ProtoNone uint16 = 0
	// ProtoAll receives every protocol (ETH_P_ALL).
	ProtoAll  uint16 = 0x0003
	ProtoIPv4 uint16 = 0x0800
	ProtoARP  uint16 = 0x0806
	ProtoIPv6 uint16 = 0x86dd
)

// Config configures a Conn. A nil *Config means defaults: no filter, no
// promiscuous mode, the kernel's buffer sizes, outgoing packets seen.
type Config struct {
	// Filter is a classic BPF program the kernel runs on every packet
	// before queueing it, from the network header on Datagram sockets and
	// from the link header on Raw ones; its return value is the number of
	// bytes kept (0 drops). It is attached before the socket is bound.
	Filter []bpf.RawInstruction
	// Promiscuous puts the interface into promiscuous mode while the
	// socket is open (PACKET_MR_PROMISC); it needs an interface.
	Promiscuous bool
	// IgnoreOutgoing drops packets this host sends (PACKET_OUTGOING), in
	// the kernel where it can (Linux 4.20+) and in the reader otherwise.
	// On loopback every packet is seen twice, once outgoing.
	IgnoreOutgoing bool
	// ReadBuffer and WriteBuffer set SO_RCVBUF and SO_SNDBUF (forced past
	// the system limit when the process may); 0 keeps the kernel's.
	ReadBuffer, WriteBuffer int
	// VnetHdr prefixes every frame read or written with a struct
	// virtio_net_hdr (PACKET_VNET_HDR), carrying checksum and segmentation
	// offload state: what a software bridge between veth ends needs.
	VnetHdr bool
	// SendOnly opens a socket that only sends, for BatchWriter at high
	// rates: the socket is blocking and kept out of the Go runtime's
	// poller, so the kernel does not wake the poller each time it frees a
	// sent packet (sock_def_write_space: ~5 % of the CPU of a SYN scan), and
	// a writer that fills the send buffer waits in the kernel. Frames still
	// go through the interface's queueing discipline: PACKET_QDISC_BYPASS
	// saved ~3 % (within noise) but drops frames when a driver queue is
	// full and hides them from traffic shaping and local taps (tcpdump).
	// Deadlines do not apply to such a socket, and reading from it is an
	// error.
	SendOnly bool
	// TxRing makes the socket's BatchWriter send through a memory-mapped
	// transmit ring (PACKET_TX_RING, TPACKET_V2) instead of sendmmsg(2):
	// Slot returns the packet area of a frame of the ring itself and Flush
	// hands each run of frames for the same interface and protocol to the
	// kernel with one empty sendto(2), so no message headers are copied
	// from user space. It needs a Datagram socket and implies SendOnly; the
	// writer builds the link headers itself on Ethernet and loopback
	// links, and sends packets for other link types (tun, PPP, …) through
	// a second, ordinary socket with sendmmsg. Such a socket has exactly
	// one BatchWriter and sends only through it: WriteTo, WritePacket and
	// Write fail.
	TxRing bool
}

// RingConfig configures a Ring. A nil *RingConfig means defaults.
type RingConfig struct {
	Config
	// BlockSize and Blocks size the TPACKET_V3 ring. BlockSize must be a
	// multiple of the page size; 0 means 256 KiB and 16 blocks.
	BlockSize, Blocks int
	// BlockTimeout is how long the kernel waits before handing over a
	// partly filled block; 0 means 20 ms.
	BlockTimeout time.Duration
}

func (c *RingConfig) withDefaults() RingConfig {
	var d RingConfig
	if c != nil {
		d = *c
	}
	if d.BlockSize <= 0 {
		d.BlockSize = 256 << 10
	}
	if d.Blocks <= 0 {
		d.Blocks = 16
	}
	if d.BlockTimeout <= 0 {
		d.BlockTimeout = 20 * time.Millisecond
	}
	return d
}

func (c *RingConfig) validate() error {
	if c.BlockSize%os.Getpagesize() != 0 {
		return fmt.Errorf("afpacket: ring block size %d not a multiple of the page size %d", c.BlockSize, os.Getpagesize())
	}
	if c.Blocks > 1<<16 || c.BlockSize > 1<<30 {
		return fmt.Errorf("afpacket: ring of %d blocks of %d bytes is too large", c.Blocks, c.BlockSize)
	}
	return nil
}

// Addr is a link-layer address: the sockaddr_ll of a packet received or
// to send. It implements net.Addr.
type Addr struct {
	// Ifindex is the interface index; 0 on receive means unknown.
	Ifindex int
	// Protocol is the EtherType, host byte order.
	Protocol uint16
	// PktType is the kernel's packet type on receive (PacketHost,
	// PacketOutgoing …); ignored on send.
	PktType uint8
	// HWLen bytes of HW are the hardware address: the destination to send
	// to, or the source of a received packet.
	HWLen uint8
	HW    [8]byte
}

// Packet types (Addr.PktType), as in linux/if_packet.h.
const (
	PacketHost      uint8 = 0
	PacketBroadcast uint8 = 1
	PacketMulticast uint8 = 2
	PacketOtherHost uint8 = 3
	PacketOutgoing  uint8 = 4
)

// Network returns "packet".
func (a *Addr) Network() string { return "packet" }

// String returns the interface index, EtherType and hardware address.
func (a *Addr) String() string {
	return fmt.Sprintf("ifindex %d proto %#04x hw %v", a.Ifindex, a.Protocol, a.HardwareAddr())
}

// HardwareAddr returns the hardware address as a new slice.
func (a *Addr) HardwareAddr() net.HardwareAddr {
	n := min(int(a.HWLen), len(a.HW))
	return net.HardwareAddr(append([]byte(nil), a.HW[:n]...))
}

// SetHardwareAddr sets HW and HWLen from hw (at most 8 bytes).
func (a *Addr) SetHardwareAddr(hw net.HardwareAddr) {
	a.HW = [8]byte{}
	a.HWLen = uint8(copy(a.HW[:], hw))
}

var _ net.Addr = (*Addr)(nil)

// Packet is one received packet.
type Packet struct {
	// Data holds the packet from the network header (Datagram) or the
	// link header (Raw), possibly cut to the buffer or filter snap length.
	// It aliases the reader's buffer and is valid until the next read.
	Data []byte
	// Addr is the sender's link-layer address and the interface.
	Addr Addr
	// Len is the packet's length on the wire.
	Len int
	// Time is the kernel's receive timestamp (Ring only; zero otherwise).
	Time time.Time
}

// Stats are a socket's packet counters since it was opened.
type Stats struct {
	// Packets counts packets the filter admitted.
	Packets uint64
	// Drops counts admitted packets the kernel dropped because the
	// receive buffer or ring was full: the reader was too slow.
	Drops uint64
	// FreezeCount counts times the ring was full (Ring only).
	FreezeCount uint64
}

// errClosed is returned by reads and writes after Close. It matches both
// net.ErrClosed and os.ErrClosed.
type errClosed struct{}

func (errClosed) Error() string { return "use of closed packet socket" }

func (errClosed) Is(target error) bool { return target == net.ErrClosed || target == os.ErrClosed }

// ErrClosed is the error of operations on a closed socket; errors.Is
// matches it with net.ErrClosed and os.ErrClosed too.
var ErrClosed error = errClosed{}

// htons converts v from host to network byte order, as the kernel wants
// sll_protocol and the protocol argument of socket(2).
func htons(v uint16) uint16 { return htonsFor(binary.NativeEndian, v) }

// htonsFor is htons on a machine of byte order native.
func htonsFor(native binary.ByteOrder, v uint16) uint16 {
	var b [2]byte
	binary.BigEndian.PutUint16(b[:], v)
	return native.Uint16(b[:])
}

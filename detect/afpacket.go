package detect

import (
	"time"

	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/afpacket"
)

// AFPacketConfig configures live capture with NewAFPacketSource. A nil
// *AFPacketConfig means defaults.
type AFPacketConfig struct {
	// Filter is the classic BPF program the kernel runs on every packet,
	// starting at the network header (the socket is SOCK_DGRAM). Its return
	// value is the number of bytes kept. Nil means DefaultFilter(SnapLen).
	Filter []bpf.RawInstruction
	// SnapLen caps the bytes kept per packet by the default filter. Headers
	// are all the decoder needs; 0 means 256.
	SnapLen int
	// BlockSize and Blocks size the TPACKET_V3 ring. BlockSize must be a
	// multiple of the page size; 0 means 256 KiB and 16 blocks.
	BlockSize int
	Blocks    int
	// BlockTimeout is how long the kernel waits before handing over a
	// partly filled block; 0 means 20 ms.
	BlockTimeout time.Duration
	// PollTimeout bounds how long ReadObservation waits before returning
	// ErrNoPacket; 0 means 100 ms.
	PollTimeout time.Duration
	// Promiscuous puts the interface into promiscuous mode while open.
	Promiscuous bool
}

func (c *AFPacketConfig) withDefaults() AFPacketConfig {
	var d AFPacketConfig
	if c != nil {
		d = *c
	}
	if d.SnapLen <= 0 {
		d.SnapLen = 256
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
	if d.PollTimeout <= 0 {
		d.PollTimeout = 100 * time.Millisecond
	}
	return d
}

// DefaultFilter returns the BPF program live capture uses by default: keep
// the first snapLen bytes of IPv4 TCP, UDP and ICMP and of IPv6 packets
// whose next header is TCP, UDP, ICMPv6 or an extension header; drop the
// rest. It reads the protocol from the socket buffer (SKF_AD_PROTOCOL), so it
// works on SOCK_DGRAM sockets whatever the link layer.
func DefaultFilter(snapLen int) ([]bpf.RawInstruction, error) {
	return afpacket.CaptureFilter(snapLen)
}

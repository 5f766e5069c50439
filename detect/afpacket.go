package detect

import (
	"fmt"
	"time"

	"golang.org/x/net/bpf"
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
	if snapLen <= 0 || snapLen > maxSnap {
		return nil, fmt.Errorf("detect: snap length %d outside 1..%d", snapLen, maxSnap)
	}
	prog := []bpf.Instruction{
		/* 0 */ bpf.LoadExtension{Num: bpf.ExtProto},
		/* 1 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv4, SkipTrue: 2},
		/* 2 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: etherIPv6, SkipTrue: 5},
		/* 3 */ bpf.RetConstant{Val: 0},
		// IPv4: protocol byte.
		/* 4 */ bpf.LoadAbsolute{Off: 9, Size: 1},
		/* 5 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipTrue: 11},
		/* 6 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipTrue: 10},
		/* 7 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMP, SkipTrue: 9, SkipFalse: 8},
		// IPv6: next header byte.
		/* 8 */ bpf.LoadAbsolute{Off: 6, Size: 1},
		/* 9 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoTCP, SkipTrue: 7},
		/* 10 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoUDP, SkipTrue: 6},
		/* 11 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoICMPv6, SkipTrue: 5},
		/* 12 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoHopByHop, SkipTrue: 4},
		/* 13 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoRouting, SkipTrue: 3},
		/* 14 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoFragment, SkipTrue: 2},
		/* 15 */ bpf.JumpIf{Cond: bpf.JumpEqual, Val: protoDstOpts, SkipTrue: 1},
		/* 16 */ bpf.RetConstant{Val: 0},
		/* 17 */ bpf.RetConstant{Val: uint32(snapLen)},
	}
	return bpf.Assemble(prog)
}

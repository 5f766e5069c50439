package afpacket

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// Assembler builds a classic BPF program with named labels: jumps name
// their targets and Assemble computes the offsets, so inserting an
// instruction never silently breaks a hand-counted skip. The zero value is
// ready to use.
//
// It sits on golang.org/x/net/bpf rather than replacing it: that package
// encodes and validates instructions and runs them in a VM (tests run
// filters on real packets without a socket); it only lacks labels.
type Assembler struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []fixup
	err    error
}

type fixup struct {
	at          int
	true, false string
	always      bool
}

// Label marks the position of the next instruction as name.
func (a *Assembler) Label(name string) {
	if a.labels == nil {
		a.labels = map[string]int{}
	}
	if _, dup := a.labels[name]; dup && a.err == nil {
		a.err = fmt.Errorf("afpacket: bpf label %q defined twice", name)
	}
	a.labels[name] = len(a.ins)
}

// Op appends instructions that do not jump.
func (a *Assembler) Op(ins ...bpf.Instruction) { a.ins = append(a.ins, ins...) }

// JumpIf compares the accumulator with val and continues at label ifTrue
// or ifFalse; an empty label means the next instruction.
func (a *Assembler) JumpIf(cond bpf.JumpTest, val uint32, ifTrue, ifFalse string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: ifTrue, false: ifFalse})
	a.ins = append(a.ins, bpf.JumpIf{Cond: cond, Val: val})
}

// JumpEq is JumpIf(bpf.JumpEqual, …).
func (a *Assembler) JumpEq(val uint32, ifTrue, ifFalse string) {
	a.JumpIf(bpf.JumpEqual, val, ifTrue, ifFalse)
}

// Jump continues at label.
func (a *Assembler) Jump(label string) {
	a.fix = append(a.fix, fixup{at: len(a.ins), true: label, always: true})
	a.ins = append(a.ins, bpf.Jump{})
}

// Assemble resolves the labels and returns the program. Jumps go forward
// only, as classic BPF requires; a conditional jump reaches at most 255
// instructions.
func (a *Assembler) Assemble() ([]bpf.RawInstruction, error) {
	if a.err != nil {
		return nil, a.err
	}
	for _, f := range a.fix {
		skip := func(name string, limit int) (int, error) {
			if name == "" {
				return 0, nil
			}
			to, ok := a.labels[name]
			if !ok {
				return 0, fmt.Errorf("afpacket: bpf label %q not defined", name)
			}
			if to <= f.at || to-f.at-1 > limit {
				return 0, fmt.Errorf("afpacket: bpf jump from %d to label %q at %d out of range", f.at, name, to)
			}
			return to - f.at - 1, nil
		}
		if f.always {
			n, err := skip(f.true, 1<<31)
			if err != nil {
				return nil, err
			}
			a.ins[f.at] = bpf.Jump{Skip: uint32(n)}
			continue
		}
		j := a.ins[f.at].(bpf.JumpIf)
		t, err := skip(f.true, 255)
		if err != nil {
			return nil, err
		}
		fl, err := skip(f.false, 255)
		if err != nil {
			return nil, err
		}
		j.SkipTrue, j.SkipFalse = uint8(t), uint8(fl)
		a.ins[f.at] = j
	}
	return bpf.Assemble(a.ins)
}

// ICMP error types a reply filter admits: those that can carry a reason
// about the probed port or host (see wire.ClassifyICMP).
var (
	icmp4Errors = []uint32{3, 11, 12} // unreachable, time exceeded, parameter problem
	icmp6Errors = []uint32{1, 3, 4}   // unreachable, time exceeded, parameter problem
)

// ReplyFilter returns a BPF program for Datagram sockets that admits what
// a raw prober of IP protocol proto (6 TCP, 17 UDP) must see: unfragmented
// (or first-fragment) IPv4 or IPv6 packets of proto to a destination port
// in [lo, hi], and ICMP or ICMPv6 errors (unreachable, time exceeded,
// parameter problem) quoting a packet of proto. IPv6 extension headers are
// not walked: replies to probes carry none.
func ReplyFilter(proto uint8, lo, hi uint16) ([]bpf.RawInstruction, error) {
	if lo > hi {
		return nil, fmt.Errorf("afpacket: bad port range %d-%d: first port above last", lo, hi)
	}
	if proto != 6 && proto != 17 {
		return nil, fmt.Errorf("afpacket: reply filter for ip protocol %d: want tcp (6) or udp (17)", proto)
	}
	var a Assembler
	a.Op(bpf.LoadAbsolute{Off: 0, Size: 1}, bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	a.JumpEq(4, "v4", "")
	a.JumpEq(6, "v6", "drop")

	a.Label("v4")
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.JumpIf(bpf.JumpBitsSet, 0x1fff, "drop", "") // later fragment
	a.Op(bpf.LoadMemShift{Off: 0})                // X = IPv4 header length
	a.Op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.JumpEq(uint32(proto), "ports", "")
	a.JumpEq(1, "", "drop")
	a.Op(bpf.LoadIndirect{Off: 0, Size: 1}) // ICMP type
	for _, t := range icmp4Errors {
		a.JumpEq(t, "icmp4", "")
	}
	a.Jump("drop")
	a.Label("icmp4")
	a.Op(bpf.LoadIndirect{Off: 8 + 9, Size: 1}) // quoted IPv4 protocol
	a.JumpEq(uint32(proto), "accept", "drop")

	a.Label("v6")
	a.Op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 1})
	a.JumpEq(uint32(proto), "ports", "")
	a.JumpEq(58, "", "drop")
	a.Op(bpf.LoadAbsolute{Off: 40, Size: 1}) // ICMPv6 type
	for _, t := range icmp6Errors {
		a.JumpEq(t, "icmp6", "")
	}
	a.Jump("drop")
	a.Label("icmp6")
	a.Op(bpf.LoadAbsolute{Off: 40 + 8 + 6, Size: 1}) // quoted next header
	a.JumpEq(uint32(proto), "accept", "drop")

	a.Label("ports")
	a.Op(bpf.LoadIndirect{Off: 2, Size: 2}) // destination port
	a.JumpIf(bpf.JumpLessThan, uint32(lo), "drop", "")
	a.JumpIf(bpf.JumpGreaterThan, uint32(hi), "drop", "accept")
	a.Label("accept")
	a.Op(bpf.RetConstant{Val: 0xffff})
	a.Label("drop")
	a.Op(bpf.RetConstant{Val: 0})
	return a.Assemble()
}

// CaptureFilter returns the BPF program detect's live capture uses by
// default, for Datagram sockets: keep the first snapLen bytes of IPv4 TCP,
// UDP and ICMP and of IPv6 packets whose next header is TCP, UDP, ICMPv6
// or an extension header; drop the rest. It reads the EtherType from the
// socket buffer (SKF_AD_PROTOCOL), so it works whatever the link layer.
func CaptureFilter(snapLen int) ([]bpf.RawInstruction, error) {
	if snapLen <= 0 || snapLen > 0xffff {
		return nil, fmt.Errorf("afpacket: snap length %d outside 1..65535", snapLen)
	}
	var a Assembler
	a.Op(bpf.LoadExtension{Num: bpf.ExtProto})
	a.JumpEq(uint32(ProtoIPv4), "v4", "")
	a.JumpEq(uint32(ProtoIPv6), "v6", "drop")
	a.Label("v4")
	a.Op(bpf.LoadAbsolute{Off: 9, Size: 1})
	for _, p := range []uint32{6, 17} {
		a.JumpEq(p, "keep", "")
	}
	a.JumpEq(1, "keep", "drop")
	a.Label("v6")
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 1})
	for _, p := range []uint32{6, 17, 58, 0, 43, 44} { // TCP, UDP, ICMPv6, hop-by-hop, routing, fragment
		a.JumpEq(p, "keep", "")
	}
	a.JumpEq(60, "keep", "drop") // destination options
	a.Label("drop")
	a.Op(bpf.RetConstant{Val: 0})
	a.Label("keep")
	a.Op(bpf.RetConstant{Val: uint32(snapLen)})
	return a.Assemble()
}

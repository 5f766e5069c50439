// Package rawsock sends and receives network-layer packets through Linux
// AF_PACKET SOCK_DGRAM sockets, in batches (sendmmsg, recvmmsg), with
// classic BPF filters built by x/net/bpf. SOCK_DGRAM lets the kernel build
// the link header from a destination hardware address, so the same code
// serves Ethernet, veth, loopback (zero addresses) and headerless links.
package rawsock

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// asm assembles BPF with named labels, so that jump offsets are computed
// rather than counted by hand.
type asm struct {
	ins    []bpf.Instruction
	labels map[string]int
	fix    []fixup
}

type fixup struct {
	at          int
	true, false string
}

func (a *asm) label(name string)         { a.labels[name] = len(a.ins) }
func (a *asm) op(i bpf.Instruction)      { a.ins = append(a.ins, i) }
func (a *asm) jeq(v uint32, t, f string) { a.jif(bpf.JumpEqual, v, t, f) }
func (a *asm) jif(c bpf.JumpTest, v uint32, t, f string) {
	a.fix = append(a.fix, fixup{len(a.ins), t, f})
	a.ins = append(a.ins, bpf.JumpIf{Cond: c, Val: v})
}

func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	for _, f := range a.fix {
		j := a.ins[f.at].(bpf.JumpIf)
		skip := func(name string) (uint8, error) {
			if name == "" {
				return 0, nil
			}
			to, ok := a.labels[name]
			if !ok || to <= f.at || to-f.at-1 > 255 {
				return 0, fmt.Errorf("rawsock: bad bpf label %q", name)
			}
			return uint8(to - f.at - 1), nil
		}
		var err error
		if j.SkipTrue, err = skip(f.true); err != nil {
			return nil, err
		}
		if j.SkipFalse, err = skip(f.false); err != nil {
			return nil, err
		}
		a.ins[f.at] = j
	}
	return bpf.Assemble(a.ins)
}

// ReplyFilter returns a classic BPF program, run on network-layer packets,
// that admits only what a TCP raw prober must see: unfragmented IPv4 or
// IPv6 TCP segments to a destination port in [lo, hi], and ICMP
// (unreachable, time exceeded, parameter problem) or ICMPv6 (types 1, 3, 4)
// errors that quote a TCP segment. IPv6 extension headers are not walked.
func ReplyFilter(lo, hi uint16) ([]bpf.RawInstruction, error) {
	if lo > hi {
		return nil, fmt.Errorf("rawsock: bad port range %d-%d: first port above last", lo, hi)
	}
	a := &asm{labels: map[string]int{}}
	a.op(bpf.LoadAbsolute{Off: 0, Size: 1})
	a.op(bpf.ALUOpConstant{Op: bpf.ALUOpShiftRight, Val: 4})
	a.jeq(4, "v4", "")
	a.jeq(6, "v6", "drop")

	a.label("v4")
	a.op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.jif(bpf.JumpBitsSet, 0x1fff, "drop", "")
	a.op(bpf.LoadMemShift{Off: 0}) // X = IPv4 header length
	a.op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.jeq(6, "ports", "")
	a.jeq(1, "", "drop")
	a.op(bpf.LoadIndirect{Off: 0, Size: 1}) // ICMP type
	a.jeq(3, "icmp4", "")
	a.jeq(11, "icmp4", "")
	a.jeq(12, "icmp4", "drop")
	a.label("icmp4")
	a.op(bpf.LoadIndirect{Off: 8 + 9, Size: 1}) // quoted IPv4 protocol
	a.jeq(6, "accept", "drop")

	a.label("v6")
	a.op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	a.op(bpf.LoadAbsolute{Off: 6, Size: 1})
	a.jeq(6, "ports", "")
	a.jeq(58, "", "drop")
	a.op(bpf.LoadAbsolute{Off: 40, Size: 1}) // ICMPv6 type
	a.jeq(1, "icmp6", "")
	a.jeq(3, "icmp6", "")
	a.jeq(4, "icmp6", "drop")
	a.label("icmp6")
	a.op(bpf.LoadAbsolute{Off: 40 + 8 + 6, Size: 1}) // quoted next header
	a.jeq(6, "accept", "drop")

	a.label("ports")
	a.op(bpf.LoadIndirect{Off: 2, Size: 2}) // TCP destination port
	a.jif(bpf.JumpLessThan, uint32(lo), "drop", "")
	a.jif(bpf.JumpGreaterThan, uint32(hi), "drop", "accept")
	a.label("accept")
	a.op(bpf.RetConstant{Val: 0xffff})
	a.label("drop")
	a.op(bpf.RetConstant{Val: 0})
	return a.assemble()
}

package probe

import (
	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/afpacket"
)

// Source ports of the raw TCP and UDP pings. A probe's try is encoded in
// its source port as the range's first port + Try%PingSourcePorts, so a
// reply names the try it answers. The three ranges lie above the SYN
// prober's (61440-61455), so a sweep's discovery and port scan never take
// each other's replies.
const (
	DefaultPingSourcePort = 61472 // SYN pings 61472-61487, ACK pings 61488-61503, UDP pings 61504-61519
	PingSourcePorts       = 16
)

// pingFilter returns the BPF program of the raw ping's receive socket
// (Datagram, every EtherType): ARP replies; IPv4 ICMP echo and timestamp
// replies and errors; ICMPv6 echo replies, neighbour advertisements and
// errors; TCP to [tcpLo, tcpHi] and UDP to [udpLo, udpHi]. The cookies
// decide what passes on; the filter keeps the socket quiet.
func pingFilter(tcpLo, tcpHi, udpLo, udpHi uint16) ([]bpf.RawInstruction, error) {
	var a afpacket.Assembler
	a.Op(bpf.LoadExtension{Num: bpf.ExtProto})
	a.JumpEq(uint32(afpacket.ProtoARP), "arp", "")
	a.JumpEq(uint32(afpacket.ProtoIPv4), "v4", "")
	a.JumpEq(uint32(afpacket.ProtoIPv6), "v6", "drop")

	a.Label("arp")
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.JumpEq(2, "accept", "drop") // ARP reply

	a.Label("v4")
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 2})
	a.JumpIf(bpf.JumpBitsSet, 0x1fff, "drop", "") // later fragment
	a.Op(bpf.LoadMemShift{Off: 0})                // X = IPv4 header length
	a.Op(bpf.LoadAbsolute{Off: 9, Size: 1})
	a.JumpEq(6, "tcp", "")
	a.JumpEq(17, "udp", "")
	a.JumpEq(1, "", "drop")
	a.Op(bpf.LoadIndirect{Off: 0, Size: 1}) // ICMP type
	for _, t := range []uint32{0, 14, 3, 11} {
		a.JumpEq(t, "accept", "")
	}
	a.Jump("drop")

	a.Label("v6")
	a.Op(bpf.LoadConstant{Dst: bpf.RegX, Val: 40})
	a.Op(bpf.LoadAbsolute{Off: 6, Size: 1})
	a.JumpEq(6, "tcp", "")
	a.JumpEq(17, "udp", "")
	a.JumpEq(58, "", "drop")
	a.Op(bpf.LoadAbsolute{Off: 40, Size: 1}) // ICMPv6 type
	for _, t := range []uint32{129, 136, 1, 3} {
		a.JumpEq(t, "accept", "")
	}
	a.Jump("drop")

	a.Label("tcp")
	a.Op(bpf.LoadIndirect{Off: 2, Size: 2}) // destination port
	a.JumpIf(bpf.JumpLessThan, uint32(tcpLo), "drop", "")
	a.JumpIf(bpf.JumpGreaterThan, uint32(tcpHi), "drop", "accept")
	a.Label("udp")
	a.Op(bpf.LoadIndirect{Off: 2, Size: 2})
	a.JumpIf(bpf.JumpLessThan, uint32(udpLo), "drop", "")
	a.JumpIf(bpf.JumpGreaterThan, uint32(udpHi), "drop", "accept")

	a.Label("accept")
	a.Op(bpf.RetConstant{Val: 512})
	a.Label("drop")
	a.Op(bpf.RetConstant{Val: 0})
	return a.Assemble()
}

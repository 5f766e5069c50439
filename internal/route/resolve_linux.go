package route

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"sync"
	"time"

	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
)

// Resolve finds the hardware address of ip on the interface ifindex by
// asking the wire itself: an ARP request for IPv4, a neighbour
// solicitation for IPv6, sent from src and hw. It tries three times within
// ctx and the given per-try timeout.
func Resolve(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	src, ip = src.Unmap(), ip.Unmap()
	if len(hw) != 6 {
		return nil, fmt.Errorf("route: resolve %v: interface hardware address %v is not Ethernet", ip, hw)
	}
	if perTry <= 0 {
		perTry = 300 * time.Millisecond
	}
	if ip.Is4() != src.Is4() {
		return nil, fmt.Errorf("route: resolve %v from %v: mixed address families", ip, src)
	}
	var err error
	for range 3 {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var mac net.HardwareAddr
		if ip.Is4() {
			mac, err = arp(ctx, ifindex, hw, src, ip, perTry)
		} else {
			mac, err = ndp(ctx, ifindex, hw, src, ip, perTry)
		}
		if err == nil {
			return mac, nil
		}
		if !errors.Is(err, errNoAnswer) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("route: resolve %v: %w", ip, err)
}

var errNoAnswer = errors.New("no answer from neighbour")

// deadline returns when to stop reading: now+perTry, or ctx's deadline.
func deadline(ctx context.Context, perTry time.Duration) time.Time {
	d := time.Now().Add(perTry)
	if cd, ok := ctx.Deadline(); ok && cd.Before(d) {
		d = cd
	}
	return d
}

// exchange sends req to dst on a packet socket of ifindex bound to proto
// and filtered by filter, then reads until match accepts a decoded packet,
// the per-try deadline passes or ctx is done.
func exchange(ctx context.Context, ifindex int, proto uint16, filter []bpf.RawInstruction, req []byte, dst *afpacket.Addr, until time.Time, match func(p *wire.Packet) bool) error {
	ifi, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return err
	}
	c, err := afpacket.Listen(ifi, afpacket.Datagram, proto, &afpacket.Config{Filter: filter, IgnoreOutgoing: true})
	if err != nil {
		return err
	}
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if _, err := c.WritePacket(req, dst); err != nil {
		return err
	}
	if err := c.SetReadDeadline(until); err != nil {
		return err
	}
	buf := make([]byte, 1500)
	var from afpacket.Addr
	var p wire.Packet
	for {
		n, err := c.ReadPacket(buf, &from)
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errNoAnswer
		}
		if err != nil {
			return err
		}
		if p.DecodeNetwork(from.Protocol, buf[:n]) == nil && match(&p) {
			return nil
		}
	}
}

// arpFilter admits ARP replies only.
var arpFilter = sync.OnceValue(func() []bpf.RawInstruction {
	return mustAssemble(func(a *afpacket.Assembler) {
		a.Op(bpf.LoadAbsolute{Off: 6, Size: 2}) // operation
		a.JumpEq(uint32(wire.ARPReply), "", "drop")
		a.Op(bpf.RetConstant{Val: 64})
		a.Label("drop")
		a.Op(bpf.RetConstant{Val: 0})
	})
})

// naFilter admits IPv6 neighbour advertisements (no extension headers,
// hop limit 255) only.
var naFilter = sync.OnceValue(func() []bpf.RawInstruction {
	return mustAssemble(func(a *afpacket.Assembler) {
		a.Op(bpf.LoadAbsolute{Off: 6, Size: 2}) // next header, hop limit
		a.JumpEq(uint32(wire.ProtoICMPv6)<<8|255, "", "drop")
		a.Op(bpf.LoadAbsolute{Off: 40, Size: 1}) // ICMPv6 type
		a.JumpEq(136, "", "drop")
		a.Op(bpf.RetConstant{Val: 256})
		a.Label("drop")
		a.Op(bpf.RetConstant{Val: 0})
	})
})

func mustAssemble(build func(a *afpacket.Assembler)) []bpf.RawInstruction {
	var a afpacket.Assembler
	build(&a)
	prog, err := a.Assemble()
	if err != nil {
		panic(err)
	}
	return prog
}

func arp(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	var req [packet.ARPLen]byte
	n := packet.ARPRequest(req[:], [6]byte(hw), src, ip)
	dst := &afpacket.Addr{Ifindex: ifindex, Protocol: afpacket.ProtoARP}
	dst.SetHardwareAddr(net.HardwareAddr(packet.BroadcastHWAddr))
	var mac net.HardwareAddr
	err := exchange(ctx, ifindex, afpacket.ProtoARP, arpFilter(), req[:n], dst, deadline(ctx, perTry), func(p *wire.Packet) bool {
		if !p.IsARP() || p.ARPOp != wire.ARPReply || p.Src != ip {
			return false
		}
		mac = net.HardwareAddr(append([]byte(nil), p.LinkAddr[:]...))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("route: arp: %w", err)
	}
	return mac, nil
}

func ndp(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	var req [packet.NeighborSolLen]byte
	n := packet.NeighborSolicitation(req[:], [6]byte(hw), src, ip)
	if n == 0 {
		return nil, fmt.Errorf("route: neighbour solicitation for %v from %v: not IPv6", ip, src)
	}
	group := packet.MulticastHW(packet.SolicitedNode(ip))
	dst := &afpacket.Addr{Ifindex: ifindex, Protocol: afpacket.ProtoIPv6}
	dst.SetHardwareAddr(group[:])
	var mac net.HardwareAddr
	err := exchange(ctx, ifindex, afpacket.ProtoIPv6, naFilter(), req[:n], dst, deadline(ctx, perTry), func(p *wire.Packet) bool {
		if p.ICMPClass().Kind != wire.ICMPNeighborAdvert || p.TTL != 255 || p.NDTarget != ip || !p.HasLinkAddr {
			return false
		}
		mac = net.HardwareAddr(append([]byte(nil), p.LinkAddr[:]...))
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("route: neighbour discovery: %w", err)
	}
	return mac, nil
}

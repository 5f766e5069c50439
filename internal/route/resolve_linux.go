package route

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"golang.org/x/sys/unix"
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

// readUntil reads from fd until match says done or the deadline passes.
func readUntil(fd int, until time.Time, match func(b []byte) bool) error {
	buf := make([]byte, 1500)
	for {
		left := time.Until(until)
		if left <= 0 {
			return errNoAnswer
		}
		tv := unix.NsecToTimeval(left.Nanoseconds())
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			return err
		}
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if match(buf[:n]) {
			return nil
		}
	}
}

func arp(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ARP)))
	if err != nil {
		return nil, fmt.Errorf("route: arp socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifindex}); err != nil {
		return nil, fmt.Errorf("route: arp bind: %w", err)
	}
	req := make([]byte, 28)
	binary.BigEndian.PutUint16(req[0:], 1)      // Ethernet
	binary.BigEndian.PutUint16(req[2:], 0x0800) // IPv4
	req[4], req[5] = 6, 4
	binary.BigEndian.PutUint16(req[6:], 1) // request
	copy(req[8:14], hw)
	s4, t4 := src.As4(), ip.As4()
	copy(req[14:18], s4[:])
	copy(req[24:28], t4[:])
	to := &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ARP), Ifindex: ifindex, Halen: 6, Addr: [8]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if err := unix.Sendto(fd, req, 0, to); err != nil {
		return nil, fmt.Errorf("route: arp send: %w", err)
	}
	var mac net.HardwareAddr
	err = readUntil(fd, deadline(ctx, perTry), func(b []byte) bool {
		if len(b) < 28 || binary.BigEndian.Uint16(b[6:]) != 2 || b[4] != 6 || b[5] != 4 {
			return false
		}
		if [4]byte(b[14:18]) != t4 {
			return false
		}
		mac = net.HardwareAddr(append([]byte(nil), b[8:14]...))
		return true
	})
	return mac, err
}

func ndp(ctx context.Context, ifindex int, hw net.HardwareAddr, src, ip netip.Addr, perTry time.Duration) (net.HardwareAddr, error) {
	fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6)
	if err != nil {
		return nil, fmt.Errorf("route: icmpv6 socket: %w", err)
	}
	defer unix.Close(fd)
	for _, o := range []int{unix.IPV6_MULTICAST_HOPS, unix.IPV6_UNICAST_HOPS} {
		if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, o, 255); err != nil {
			return nil, fmt.Errorf("route: icmpv6 hop limit: %w", err)
		}
	}
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_MULTICAST_IF, ifindex); err != nil {
		return nil, fmt.Errorf("route: icmpv6 multicast interface: %w", err)
	}
	var zone uint32
	if src.IsLinkLocalUnicast() {
		zone = uint32(ifindex)
	}
	if err := unix.Bind(fd, &unix.SockaddrInet6{Addr: src.As16(), ZoneId: zone}); err != nil {
		return nil, fmt.Errorf("route: icmpv6 bind %v: %w", src, err)
	}
	t16 := ip.As16()
	ns := make([]byte, 32)
	ns[0] = 135 // neighbour solicitation; the kernel fills the checksum
	copy(ns[8:24], t16[:])
	ns[24], ns[25] = 1, 1 // source link-layer address option
	copy(ns[26:32], hw)
	group := [16]byte{0xff, 0x02, 10: 0, 11: 1, 12: 0xff, 13: t16[13], 14: t16[14], 15: t16[15]}
	if err := unix.Sendto(fd, ns, 0, &unix.SockaddrInet6{Addr: group, ZoneId: uint32(ifindex)}); err != nil {
		return nil, fmt.Errorf("route: neighbour solicitation: %w", err)
	}
	var mac net.HardwareAddr
	err = readUntil(fd, deadline(ctx, perTry), func(b []byte) bool {
		if len(b) < 24 || b[0] != 136 || [16]byte(b[8:24]) != t16 {
			return false
		}
		for o := b[24:]; len(o) >= 8 && o[1] > 0 && int(o[1])*8 <= len(o); o = o[int(o[1])*8:] {
			if o[0] == 2 { // target link-layer address
				mac = net.HardwareAddr(append([]byte(nil), o[2:8]...))
				return true
			}
		}
		return false
	})
	return mac, err
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

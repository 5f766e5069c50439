package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// nlRequest sends one netlink request and returns the payloads of the
// replies of type want, up to NLMSG_DONE (dumps) or the first reply.
func nlRequest(typ uint16, flags uint16, body []byte, want uint16) ([][]byte, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, fmt.Errorf("route: netlink socket: %w", err)
	}
	defer unix.Close(fd)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("route: netlink bind: %w", err)
	}
	msg := make([]byte, unix.SizeofNlMsghdr, unix.SizeofNlMsghdr+len(body))
	msg = append(msg, body...)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], typ)
	binary.NativeEndian.PutUint16(msg[6:], flags|unix.NLM_F_REQUEST)
	binary.NativeEndian.PutUint32(msg[8:], 1) // sequence
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return nil, fmt.Errorf("route: netlink send: %w", err)
	}
	var out [][]byte
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return nil, fmt.Errorf("route: netlink receive: %w", err)
		}
		b := buf[:n]
		for len(b) >= unix.SizeofNlMsghdr {
			l := int(binary.NativeEndian.Uint32(b[0:]))
			if l < unix.SizeofNlMsghdr || l > len(b) {
				return nil, errors.New("route: malformed netlink message")
			}
			t := binary.NativeEndian.Uint16(b[4:])
			p := b[unix.SizeofNlMsghdr:l]
			switch t {
			case unix.NLMSG_DONE:
				return out, nil
			case unix.NLMSG_ERROR:
				if len(p) >= 4 {
					if e := int32(binary.NativeEndian.Uint32(p)); e != 0 {
						return nil, unix.Errno(-e)
					}
				}
				return out, nil
			case want:
				out = append(out, append([]byte(nil), p...))
				if flags&unix.NLM_F_DUMP == 0 {
					return out, nil
				}
			}
			a := min((l+3)&^3, len(b))
			b = b[a:]
		}
	}
}

// attrs calls fn for every rtattr in b.
func attrs(b []byte, fn func(typ uint16, v []byte)) {
	for len(b) >= 4 {
		l := int(binary.NativeEndian.Uint16(b[0:]))
		if l < 4 || l > len(b) {
			return
		}
		fn(binary.NativeEndian.Uint16(b[2:])&0x3fff, b[4:l])
		a := (l + 3) &^ 3
		if a > len(b) {
			return
		}
		b = b[a:]
	}
}

func addAttr(b []byte, typ uint16, v []byte) []byte {
	var h [4]byte
	binary.NativeEndian.PutUint16(h[0:], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(h[2:], typ)
	b = append(b, h[:]...)
	b = append(b, v...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func addrFrom(v []byte) netip.Addr {
	a, _ := netip.AddrFromSlice(v)
	return a.Unmap()
}

func family(a netip.Addr) (uint8, int) {
	if a.Is4() {
		return unix.AF_INET, 32
	}
	return unix.AF_INET6, 128
}

// getRoute asks the kernel for the route to dst (through oif when not 0);
// fibMatch asks for the matching table entry instead of the resolved route.
func getRoute(dst netip.Addr, oif int, fibMatch bool) (rtm unix.RtMsg, at map[uint16][]byte, err error) {
	fam, bits := family(dst)
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = fam
	body[1] = uint8(bits) // dst_len
	if fibMatch {
		binary.NativeEndian.PutUint32(body[8:], unix.RTM_F_FIB_MATCH)
	}
	body = addAttr(body, unix.RTA_DST, dst.AsSlice())
	if oif != 0 {
		var v [4]byte
		binary.NativeEndian.PutUint32(v[:], uint32(oif))
		body = addAttr(body, unix.RTA_OIF, v[:])
	}
	msgs, err := nlRequest(unix.RTM_GETROUTE, 0, body, unix.RTM_NEWROUTE)
	if err != nil {
		return rtm, nil, err
	}
	if len(msgs) == 0 || len(msgs[0]) < unix.SizeofRtMsg {
		return rtm, nil, errors.New("route: empty netlink reply")
	}
	m := msgs[0]
	rtm = unix.RtMsg{Family: m[0], Dst_len: m[1], Src_len: m[2], Tos: m[3], Table: m[4], Protocol: m[5], Scope: m[6], Type: m[7],
		Flags: binary.NativeEndian.Uint32(m[8:])}
	at = map[uint16][]byte{}
	attrs(m[unix.SizeofRtMsg:], func(t uint16, v []byte) { at[t] = v })
	return rtm, at, nil
}

// Get returns the kernel's route to dst. ifindex, when not 0, forces the
// outgoing interface (like `ip route get ADDR oif DEV`).
func Get(dst netip.Addr, ifindex int) (Route, error) {
	dst = dst.Unmap()
	if !dst.IsValid() {
		return Route{}, errors.New("route: invalid destination address")
	}
	rtm, at, err := getRoute(dst, ifindex, false)
	if err != nil {
		if errors.Is(err, unix.ENETUNREACH) || errors.Is(err, unix.EHOSTUNREACH) {
			return Route{}, fmt.Errorf("%w to %v: %w", ErrNoRoute, dst, err)
		}
		return Route{}, fmt.Errorf("route: no route to %v: %w", dst, err)
	}
	switch rtm.Type {
	case unix.RTN_UNICAST, unix.RTN_LOCAL:
	default:
		return Route{}, fmt.Errorf("%w to %v: route type %d (unreachable, blackhole or prohibit)", ErrNoRoute, dst, rtm.Type)
	}
	r := Route{Dst: dst, Local: rtm.Type == unix.RTN_LOCAL}
	if v, ok := at[unix.RTA_OIF]; ok && len(v) >= 4 {
		r.Ifindex = int(binary.NativeEndian.Uint32(v))
	}
	if v, ok := at[unix.RTA_PREFSRC]; ok {
		r.Src = addrFrom(v)
	}
	if v, ok := at[unix.RTA_GATEWAY]; ok {
		r.Gateway = addrFrom(v)
	}
	if r.Local && !r.Src.IsValid() {
		r.Src = dst
	}
	if r.Ifindex == 0 {
		return Route{}, fmt.Errorf("route: no outgoing interface for %v", dst)
	}
	ifi, err := net.InterfaceByIndex(r.Ifindex)
	if err != nil {
		return Route{}, fmt.Errorf("route: interface %d for %v: %w", r.Ifindex, dst, err)
	}
	r.Ifname = ifi.Name
	r.HWAddr = ifi.HardwareAddr
	r.NoLink = r.Local || ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) == 0 || len(ifi.HardwareAddr) > 8
	if !r.Src.IsValid() {
		return Route{}, fmt.Errorf("route: no source address for %v on %s", dst, ifi.Name)
	}
	// The matching table entry tells how far this answer can be reused.
	r.Prefix = netip.PrefixFrom(dst, dst.BitLen())
	if frtm, fat, err := getRoute(dst, ifindex, true); err == nil {
		p := netip.PrefixFrom(dst, int(frtm.Dst_len))
		if v, ok := fat[unix.RTA_DST]; ok {
			p = netip.PrefixFrom(addrFrom(v), int(frtm.Dst_len))
		}
		if p.IsValid() && p.Contains(dst) {
			r.Prefix = p.Masked()
		}
	}
	return r, nil
}

// Neighbor looks ip up in the kernel's neighbour table on ifindex and
// returns its hardware address when the entry is usable.
func Neighbor(ifindex int, ip netip.Addr) (net.HardwareAddr, bool, error) {
	ip = ip.Unmap()
	fam, _ := family(ip)
	body := make([]byte, unix.SizeofNdMsg)
	body[0] = fam
	binary.NativeEndian.PutUint32(body[4:], uint32(ifindex))
	msgs, err := nlRequest(unix.RTM_GETNEIGH, unix.NLM_F_DUMP, body, unix.RTM_NEWNEIGH)
	if err != nil {
		return nil, false, fmt.Errorf("route: neighbour table: %w", err)
	}
	const usable = unix.NUD_REACHABLE | unix.NUD_STALE | unix.NUD_DELAY | unix.NUD_PROBE | unix.NUD_PERMANENT | unix.NUD_NOARP
	for _, m := range msgs {
		if len(m) < unix.SizeofNdMsg || int(int32(binary.NativeEndian.Uint32(m[4:]))) != ifindex {
			continue
		}
		state := binary.NativeEndian.Uint16(m[8:])
		var dst netip.Addr
		var ll []byte
		attrs(m[unix.SizeofNdMsg:], func(t uint16, v []byte) {
			switch t {
			case unix.NDA_DST:
				dst = addrFrom(v)
			case unix.NDA_LLADDR:
				ll = v
			}
		})
		if dst == ip && state&usable != 0 && len(ll) > 0 {
			return net.HardwareAddr(append([]byte(nil), ll...)), true, nil
		}
	}
	return nil, false, nil
}

// Prefixes returns the destination prefix of every route of a's family in
// every routing table (main, local, others).
func Prefixes(a netip.Addr) ([]netip.Prefix, error) {
	fam, bits := family(a.Unmap())
	body := make([]byte, unix.SizeofRtMsg)
	body[0] = fam
	msgs, err := nlRequest(unix.RTM_GETROUTE, unix.NLM_F_DUMP, body, unix.RTM_NEWROUTE)
	if err != nil {
		return nil, fmt.Errorf("route: routing table: %w", err)
	}
	var out []netip.Prefix
	for _, m := range msgs {
		if len(m) < unix.SizeofRtMsg || m[0] != fam {
			continue
		}
		n := int(m[1])
		dst := netip.IPv4Unspecified()
		if bits == 128 {
			dst = netip.IPv6Unspecified()
		}
		attrs(m[unix.SizeofRtMsg:], func(t uint16, v []byte) {
			if t == unix.RTA_DST {
				if a := addrFrom(v); a.IsValid() {
					dst = a
				}
			}
		})
		if p, err := dst.Prefix(n); err == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

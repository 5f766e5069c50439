package route

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nlRequest sends one rtnetlink request through github.com/mdlayher/netlink
// (which sets and checks the sequence number and port ID of every reply,
// and gathers multi-part dumps) and returns the payloads of the replies of
// type want.
func nlRequest(typ uint16, flags netlink.HeaderFlags, body []byte, want uint16) ([][]byte, error) {
	c, err := netlink.Dial(unix.NETLINK_ROUTE, nil)
	if err != nil {
		return nil, fmt.Errorf("route: netlink: %w", err)
	}
	defer c.Close()
	msgs, err := c.Execute(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(typ), Flags: netlink.Request | flags},
		Data:   body,
	})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, m := range msgs {
		if uint16(m.Header.Type) == want {
			out = append(out, m.Data)
		}
	}
	return out, nil
}

// attrs calls fn for every rtattr in b.
func attrs(b []byte, fn func(typ uint16, v []byte)) {
	ad, err := netlink.NewAttributeDecoder(b)
	if err != nil {
		return
	}
	for ad.Next() {
		fn(ad.Type(), ad.Bytes())
	}
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
	ae := netlink.NewAttributeEncoder()
	ae.Bytes(unix.RTA_DST, dst.AsSlice())
	if oif != 0 {
		ae.Uint32(unix.RTA_OIF, uint32(oif))
	}
	at0, err := ae.Encode()
	if err != nil {
		return rtm, nil, err
	}
	msgs, err := nlRequest(unix.RTM_GETROUTE, 0, append(body, at0...), unix.RTM_NEWROUTE)
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
	msgs, err := nlRequest(unix.RTM_GETNEIGH, netlink.Dump, body, unix.RTM_NEWNEIGH)
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
	msgs, err := nlRequest(unix.RTM_GETROUTE, netlink.Dump, body, unix.RTM_NEWROUTE)
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

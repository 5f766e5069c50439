package probe

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/result"
)

// classifyConnErr turns a failed connect into a verdict, preferring the
// ICMP type and code from the error queue over errno. ok is false when
// the failure says nothing about the target (a timeout, a local shortage).
func classifyConnErr(fd int, err error) (st result.State, reason result.Reason, from netip.Addr, ok bool) {
	if r, from, ok := readICMPError(fd); ok {
		return result.Filtered, r, from, true
	}
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return result.Closed, result.ConnRefused, netip.Addr{}, true
	case errors.Is(err, unix.EHOSTUNREACH):
		return result.Filtered, result.HostUnreach, netip.Addr{}, true
	case errors.Is(err, unix.ENETUNREACH):
		return result.Filtered, result.NetUnreach, netip.Addr{}, true
	case errors.Is(err, unix.ETIMEDOUT), isResourceErr(err):
		return 0, 0, netip.Addr{}, false
	}
	return result.Filtered, result.Unreachable, netip.Addr{}, true
}

func isResourceErr(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EAGAIN)
}

// readICMPError reads one extended error from the socket's error queue.
func readICMPError(fd int) (result.Reason, netip.Addr, bool) {
	var oob [256]byte
	var b [1]byte
	_, oobn, _, _, err := unix.Recvmsg(fd, b[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err != nil || oobn == 0 {
		return 0, netip.Addr{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return 0, netip.Addr{}, false
	}
	for _, m := range msgs {
		isV4 := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		isV6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if (!isV4 && !isV6) || len(m.Data) < 16 {
			continue
		}
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		from := offender(m.Data[16:])
		switch origin {
		case unix.SO_EE_ORIGIN_ICMP:
			if r, ok := icmpReason(false, typ, code); ok {
				return r, from, true
			}
		case unix.SO_EE_ORIGIN_ICMP6:
			if r, ok := icmpReason(true, typ, code); ok {
				return r, from, true
			}
		}
	}
	return 0, netip.Addr{}, false
}

// offender decodes the sockaddr that follows sock_extended_err.
func offender(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24]))
		}
	}
	return netip.Addr{}
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// fdBudget is how many descriptors connect probes may hold at once: three
// quarters of the soft open-file limit (which the Go runtime raises to the
// hard limit at start-up), at most 8192.
func fdBudget() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 256 {
		return 64
	}
	return int(min(rl.Cur*3/4, 8192))
}

// selfConnected reports whether fd, connected to peer, is connected to
// itself: on loopback the kernel may pick the destination port as the
// source port, and the SYN then meets itself (TCP simultaneous open). A
// port the kernel could pick as a source port has no listener, so the
// target is closed; were it taken for open, a scan of the ephemeral range
// would report ports that nothing listens on.
func selfConnected(fd int, peer unix.Sockaddr) bool {
	local, err := unix.Getsockname(fd)
	if err != nil {
		return false
	}
	switch p := peer.(type) {
	case *unix.SockaddrInet4:
		l, ok := local.(*unix.SockaddrInet4)
		return ok && l.Port == p.Port && l.Addr == p.Addr
	case *unix.SockaddrInet6:
		l, ok := local.(*unix.SockaddrInet6)
		return ok && l.Port == p.Port && l.Addr == p.Addr
	}
	return false
}

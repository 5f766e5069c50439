package probe

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/result"
)

// setRecvErr asks the kernel to queue ICMP errors with their type and code.
func setRecvErr(c *net.UDPConn, v4 bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	rc.Control(func(fd uintptr) {
		if v4 {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_RECVERR, 1)
		} else {
			_ = unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_RECVERR, 1)
		}
	})
}

// udpICMPError reads the ICMP error queued on c, if any.
func udpICMPError(c *net.UDPConn) (r result.Reason, from netip.Addr, ok bool) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, netip.Addr{}, false
	}
	rc.Control(func(fd uintptr) {
		r, from, ok = readICMPError(int(fd))
	})
	return r, from, ok
}

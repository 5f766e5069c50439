//go:build !linux

package probe

import (
	"net"
	"net/netip"

	"github.com/portsense/portsense/result"
)

func setRecvErr(*net.UDPConn, bool) {}

// udpICMPError has no error queue to read here: errno decides.
func udpICMPError(*net.UDPConn) (result.Reason, netip.Addr, bool) {
	return 0, netip.Addr{}, false
}

//go:build linux

package detect

import (
	"net"
	"net/netip"
	"time"
)

// dial connects from the scanner namespace (this process) to addr:port.
func dial(addr netip.Addr, port uint16, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, port).String(), timeout)
	if err == nil {
		c.Close()
	}
	return err
}

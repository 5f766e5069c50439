//go:build !linux

package netlab

import (
	"net"
	"net/netip"
	"testing"
)

// Link is a shared Ethernet segment; off Linux none is ever built.
type Link struct {
	Ifname           string
	Subnet           int
	Local4, Local6   netip.Addr
	Prefix4, Prefix6 netip.Prefix
	HW               net.HardwareAddr
}

// AddLink is unsupported off Linux ([New] has skipped the test).
func (l *Lab) AddLink(n int) *Link { return &Link{} }

// AddHost fails t's lab off Linux.
func (k *Link) AddHost(num int) *Host { return &Host{} }

// Neighbors fails t off Linux.
func (h *Host) Neighbors(t testing.TB) string { fatal(t); return "" }

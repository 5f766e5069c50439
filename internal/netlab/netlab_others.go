//go:build !linux

package netlab

import (
	"time"

	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"testing"

	"github.com/portsense/portsense/target"
)

var errUnsupported = fmt.Errorf("netlab: network namespaces need linux: %w", errors.ErrUnsupported)

// Lab is a set of target hosts built for one test. Off Linux, [New] skips
// the test, so a Lab is never built.
type Lab struct{}

type hostImpl struct{}

// Main runs the tests of m and exits with their code. Off Linux there is no
// namespace to enter.
func Main(m *testing.M) { os.Exit(m.Run()) }

// Available reports whether lab tests can run here; off Linux they cannot.
func Available() (ok bool, why string) { return false, "needs linux" }

// New skips t (or fails it under PORTSENSE_LAB_REQUIRED=1): labs need Linux.
func New(t testing.TB) *Lab {
	t.Helper()
	if os.Getenv(EnvRequired) == "1" {
		t.Fatal("netlab: needs linux")
	}
	t.Skip("netlab: needs linux")
	return nil
}

// AddHost is unsupported off Linux.
func (l *Lab) AddHost(cfg HostConfig) *Host { return &Host{lab: l} }

// Hosts returns nil off Linux.
func (l *Lab) Hosts() []*Host { return nil }

// Close does nothing off Linux.
func (l *Lab) Close() {}

func fatal(t testing.TB) {
	t.Helper()
	t.Fatal(errUnsupported)
}

// Do returns an error wrapping errors.ErrUnsupported off Linux.
func (h *Host) Do(fn func() error) error { return errUnsupported }

// ListenTCP fails t off Linux.
func (h *Host) ListenTCP(t testing.TB, ports ...uint16) { fatal(t) }

// ListenTCPBanner fails t off Linux.
func (h *Host) ListenTCPBanner(t testing.TB, banner []byte, ports ...uint16) { fatal(t) }

// ServeTCP fails t off Linux.
func (h *Host) ServeTCP(t testing.TB, port uint16, fn func(net.Conn)) { fatal(t) }

// ListenUDP fails t off Linux.
func (h *Host) ListenUDP(t testing.TB, echo bool, ports ...uint16) { fatal(t) }

// Drop fails t off Linux.
func (h *Host) Drop(t testing.TB, proto target.Protocol, ports ...uint16) { fatal(t) }

// RejectICMP fails t off Linux.
func (h *Host) RejectICMP(t testing.TB, proto target.Protocol, ports ...uint16) { fatal(t) }

// RejectReset fails t off Linux.
func (h *Host) RejectReset(t testing.TB, ports ...uint16) { fatal(t) }

// DropRange fails t off Linux.
func (h *Host) DropRange(t testing.TB, proto target.Protocol, lo, hi uint16) { fatal(t) }

// RejectICMPRange fails t off Linux.
func (h *Host) RejectICMPRange(t testing.TB, proto target.Protocol, lo, hi uint16) { fatal(t) }

// RejectResetRange fails t off Linux.
func (h *Host) RejectResetRange(t testing.TB, lo, hi uint16) { fatal(t) }

// AnyIP fails t off Linux.
func (h *Host) AnyIP(t testing.TB, p netip.Prefix) { fatal(t) }

// Blackhole fails t off Linux.
func (h *Host) Blackhole(t testing.TB, p netip.Prefix) { fatal(t) }

// Run fails t off Linux.
func (h *Host) Run(t testing.TB, name string, args ...string) string { fatal(t); return "" }

// Start fails t off Linux.
func (h *Host) Start(t testing.TB, name string, args ...string) *exec.Cmd { fatal(t); return nil }

// BridgeStats returns zero off Linux.
func (h *Host) BridgeStats() BridgeStats { return BridgeStats{} }

// StartDNSmasq fails t: the lab needs Linux.
func (h *Host) StartDNSmasq(t testing.TB) { fatal(t) }

// StartChrony fails t: the lab needs Linux.
func (h *Host) StartChrony(t testing.TB) { fatal(t) }

// StartSNMPd fails t: the lab needs Linux.
func (h *Host) StartSNMPd(t testing.TB) { fatal(t) }

// WaitUDP fails t: the lab needs Linux.
func (h *Host) WaitUDP(t testing.TB, timeout time.Duration, ports ...uint16) { fatal(t) }

package netlab

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/target"
)

// Do runs fn on an OS thread switched into the host's network namespace, so
// that sockets fn creates live there (they stay there after Do returns).
// Goroutines fn starts run in the scanner namespace. The thread is switched
// back afterwards; if that fails it is never reused.
func (h *Host) Do(fn func() error) error {
	return doNetns(h.Name, fn)
}

// doNetns runs fn on an OS thread switched into the named namespace; see
// [Host.Do].
func doNetns(name string, fn func() error) (err error) {
	runtime.LockOSThread()
	orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: open own network namespace: %w", err)
	}
	defer unix.Close(orig)
	ns, err := unix.Open(filepath.Join(netnsDir, name), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: open namespace %s: %w", name, err)
	}
	defer unix.Close(ns)
	if err := unix.Setns(ns, unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netlab: enter namespace %s: %w", name, err)
	}
	// Deferred so that a panic or t.FailNow inside fn still restores.
	defer func() {
		if rerr := unix.Setns(orig, unix.CLONE_NEWNET); rerr != nil {
			// Stay locked: the runtime discards the thread with the goroutine.
			err = errors.Join(err, fmt.Errorf("netlab: leave namespace %s: %w", name, rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// ListenTCP listens on the given TCP ports (IPv4 and IPv6, wildcard address)
// inside the host's namespace; every connection is accepted and closed.
// Cleanup of t (or the lab) closes the listeners.
func (h *Host) ListenTCP(t testing.TB, ports ...uint16) {
	t.Helper()
	h.ListenTCPBanner(t, nil, ports...)
}

// ListenTCPBanner is like ListenTCP but writes banner to each connection
// before closing it (when banner is not empty).
func (h *Host) ListenTCPBanner(t testing.TB, banner []byte, ports ...uint16) {
	t.Helper()
	for _, p := range ports {
		h.ServeTCP(t, p, func(c net.Conn) {
			if len(banner) > 0 {
				_, _ = c.Write(banner)
			}
		})
	}
}

// ServeTCP listens on TCP port (IPv4 and IPv6) inside the host's namespace
// and hands every accepted connection to fn in its own goroutine; the
// connection is closed when fn returns. Cleanup closes the listener and all
// open connections, then waits for fn to return.
func (h *Host) ServeTCP(t testing.TB, port uint16, fn func(net.Conn)) {
	t.Helper()
	var ln net.Listener
	err := h.Do(func() error {
		var err error
		ln, err = net.Listen("tcp", ":"+strconv.Itoa(int(port)))
		return err
	})
	if err != nil {
		t.Fatalf("netlab: %s: listen tcp/%d: %v", h.Name, port, err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]struct{}{}
		done  bool
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					continue
				}
				return // closed
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(conns, c)
					mu.Unlock()
					c.Close()
				}()
				fn(c)
			})
		}
	})
	t.Cleanup(h.addCloser(func() {
		ln.Close()
		mu.Lock()
		done = true
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	}))
}

// ListenUDP opens UDP sockets on the given ports (IPv4 and IPv6, wildcard
// address) inside the host's namespace. With echo, each datagram is sent back
// to its sender; without, datagrams are read and dropped (the port is open
// but silent). Cleanup closes the sockets.
func (h *Host) ListenUDP(t testing.TB, echo bool, ports ...uint16) {
	t.Helper()
	for _, p := range ports {
		var pc net.PacketConn
		err := h.Do(func() error {
			var err error
			pc, err = net.ListenPacket("udp", ":"+strconv.Itoa(int(p)))
			return err
		})
		if err != nil {
			t.Fatalf("netlab: %s: listen udp/%d: %v", h.Name, p, err)
		}
		var wg sync.WaitGroup
		wg.Go(func() {
			buf := make([]byte, 65536)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					if errors.Is(err, net.ErrClosed) {
						return
					}
					continue // e.g. a queued ICMP error
				}
				if echo {
					_, _ = pc.WriteTo(buf[:n], from)
				}
			}
		})
		t.Cleanup(h.addCloser(func() {
			pc.Close()
			wg.Wait()
		}))
	}
}

// Filter rules. They go into table "inet portsense_lab", chain "input"
// (filter hook input, priority 0) in the host's namespace, in call order.

// Drop silently drops the given ports of proto (target.TCP or target.UDP).
// For target.ICMP or target.ICMPv6 it drops echo requests and ports are ignored.
func (h *Host) Drop(t testing.TB, proto target.Protocol, ports ...uint16) {
	t.Helper()
	switch proto {
	case target.ICMP:
		h.nft(t, "meta nfproto ipv4 icmp type echo-request drop")
		return
	case target.ICMPv6:
		h.nft(t, "meta nfproto ipv6 icmpv6 type echo-request drop")
		return
	}
	h.nft(t, h.match(t, proto, ports)+" drop")
}

// RejectICMP answers the given ports of proto (target.TCP or target.UDP) with
// ICMP "administratively prohibited" (type 3 code 13; ICMPv6 type 1 code 1).
// A TCP connect(2) may see the error only after its first SYN retransmission;
// see the package doc.
func (h *Host) RejectICMP(t testing.TB, proto target.Protocol, ports ...uint16) {
	t.Helper()
	h.nft(t, h.match(t, proto, ports)+" reject with icmpx type admin-prohibited")
}

// RejectReset answers the given TCP ports with a reset from the filter (as a
// firewall would; the kernel would do the same for a closed port).
func (h *Host) RejectReset(t testing.TB, ports ...uint16) {
	t.Helper()
	h.nft(t, h.match(t, target.TCP, ports)+" reject with tcp reset")
}

// DropRange is Drop for the ports lo..hi inclusive.
func (h *Host) DropRange(t testing.TB, proto target.Protocol, lo, hi uint16) {
	t.Helper()
	h.nft(t, h.rangeMatch(t, proto, lo, hi)+" drop")
}

// RejectICMPRange is RejectICMP for the ports lo..hi inclusive.
func (h *Host) RejectICMPRange(t testing.TB, proto target.Protocol, lo, hi uint16) {
	t.Helper()
	h.nft(t, h.rangeMatch(t, proto, lo, hi)+" reject with icmpx type admin-prohibited")
}

// RejectResetRange is RejectReset for the TCP ports lo..hi inclusive.
func (h *Host) RejectResetRange(t testing.TB, lo, hi uint16) {
	t.Helper()
	h.nft(t, h.rangeMatch(t, target.TCP, lo, hi)+" reject with tcp reset")
}

func l4name(t testing.TB, proto target.Protocol) string {
	t.Helper()
	switch proto {
	case target.TCP:
		return "tcp"
	case target.UDP:
		return "udp"
	}
	t.Fatalf("netlab: filter protocol %v: want tcp or udp", proto)
	return ""
}

func (h *Host) match(t testing.TB, proto target.Protocol, ports []uint16) string {
	t.Helper()
	l4 := l4name(t, proto)
	if len(ports) == 0 {
		t.Fatalf("netlab: %s filter with no ports (use a Range method for all ports)", l4)
	}
	s := make([]string, len(ports))
	for i, p := range ports {
		s[i] = strconv.Itoa(int(p))
	}
	return fmt.Sprintf("%s dport { %s }", l4, strings.Join(s, ", "))
}

func (h *Host) rangeMatch(t testing.TB, proto target.Protocol, lo, hi uint16) string {
	t.Helper()
	l4 := l4name(t, proto)
	if lo > hi {
		t.Fatalf("netlab: port range %d-%d: low above high", lo, hi)
	}
	if lo == hi {
		return fmt.Sprintf("%s dport %d", l4, lo)
	}
	return fmt.Sprintf("%s dport %d-%d", l4, lo, hi)
}

// nft appends rule to the host's input chain, creating the table first.
func (h *Host) nft(t testing.TB, rule string) {
	t.Helper()
	h.impl.mu.Lock()
	defer h.impl.mu.Unlock()
	script := ""
	if !h.impl.nftReady {
		script = "add table inet portsense_lab\n" +
			"add chain inet portsense_lab input { type filter hook input priority 0; policy accept; }\n"
	}
	script += "add rule inet portsense_lab input " + rule + "\n"
	if err := run([]byte(script), "ip", "netns", "exec", h.Name, "nft", "-f", "-"); err != nil {
		t.Fatalf("netlab: %s: %v", h.Name, err)
	}
	h.impl.nftReady = true
}

// checkLabPrefix returns p masked, or an error unless p lies in the lab space.
func checkLabPrefix(p netip.Prefix) (netip.Prefix, error) {
	if !p.IsValid() {
		return p, fmt.Errorf("invalid prefix %v", p)
	}
	p = p.Masked()
	if p.Addr().Is4() && labSpace4.Contains(p.Addr()) && p.Bits() >= labSpace4.Bits() ||
		p.Addr().Is6() && !p.Addr().Is4In6() && labSpace6.Contains(p.Addr()) && p.Bits() >= labSpace6.Bits() {
		return p, nil
	}
	return p, fmt.Errorf("prefix %v outside the lab space %v and %v", p, labSpace4, labSpace6)
}

// AnyIP makes the host answer for every address in p (a local route for p on
// the host's loopback) and routes p from the scanner namespace over the
// host's link. p must lie in 198.18.0.0/15 or 2001:db8::/32; see the package
// doc for ranges that do not collide with link subnets.
func (h *Host) AnyIP(t testing.TB, p netip.Prefix) {
	t.Helper()
	h.routeTo(t, p, "local "+p.Masked().String()+" dev lo")
}

// Blackhole makes p dark: routed from the scanner namespace to the host,
// which discards it without any ICMP error (a blackhole route, and the host
// does not forward). p must lie in the lab space.
func (h *Host) Blackhole(t testing.TB, p netip.Prefix) {
	t.Helper()
	h.routeTo(t, p, "blackhole "+p.Masked().String())
}

func (h *Host) routeTo(t testing.TB, p netip.Prefix, hostRoute string) {
	t.Helper()
	p, err := checkLabPrefix(p)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	via := h.Addr4
	if p.Addr().Is6() {
		via = h.Addr6
	}
	if err := run(nil, "ip", append([]string{"-n", h.Name, "route", "add"}, strings.Fields(hostRoute)...)...); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	if err := run(nil, "ip", "route", "add", p.String(), "via", via.String(), "dev", h.Ifname); err != nil {
		t.Fatalf("netlab: %v", err)
	}
}

// Run runs a command inside the host's namespace (ip netns exec, so it also
// sees the namespace's own /sys) and returns its combined output; a failure
// fails t, quoting the output.
func (h *Host) Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", h.Name, name}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("netlab: %s: %s %s: %v: %s", h.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Start starts a long-running command inside the host's namespace, with its
// output going to the test log. The process is forked from a thread already
// in the namespace (see [Host.Do]), so it is there from its first
// instruction; unlike Run it does not get the namespace's own /sys. Cleanup
// kills it by PID and waits for it; it is also killed if the test process dies.
func (h *Host) Start(t testing.TB, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	w := &logWriter{t: t, prefix: h.Name + ": " + name + ": "}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := h.Do(cmd.Start); err != nil {
		t.Fatalf("netlab: %s: start %s: %v", h.Name, name, err)
	}
	t.Cleanup(h.addCloser(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		w.stop()
	}))
	return cmd
}

// logWriter sends a process's output to t.Log until the test ends.
type logWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	done   bool
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(w.prefix + strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *logWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

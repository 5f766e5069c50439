package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

const (
	netnsDir = "/run/netns"
	// lockPath serialises ip netns add/del between test processes: the
	// first ip netns add on a machine mounts /run/netns, and two doing it at
	// once can stack mounts and hide each other's namespaces.
	lockPath   = "/run/portsense-netlab.lock"
	maxSubnet  = 250
	namePrefix = "psl-"
)

// The scanner namespace belongs to the whole test process, so link subnets
// and names are allocated per process, not per lab.
var (
	subnetMu   sync.Mutex
	subnetUsed [maxSubnet + 1]bool
	nameSeq    atomic.Uint64
	// ownStale removes, once per process, namespaces carrying this
	// process's pid: a crashed earlier process may have had the same pid.
	ownStale sync.Once
)

// Lab is a set of target hosts built for one test. Create it with [New];
// t.Cleanup (or [Lab.Close]) tears it down.
type Lab struct {
	t testing.TB

	mu     sync.Mutex
	hosts  []*Host
	closed bool
}

// hostImpl is the Linux state of a Host.
type hostImpl struct {
	hostIf string // host-side veth name (inside the host namespace)

	mu       sync.Mutex
	closers  []func() // listeners and processes, run before the namespace goes
	nftReady bool

	scannerTable string // nft netdev table for loss in the scanner namespace, if any

	link *Link // the shared link the host is on (link_linux.go), nil for a veth host

	wire   string  // wire namespace of the delay bridge, if any
	bridge *bridge // running delay bridge, if any
}

// New builds an empty lab for t. It skips t when [Available] is false, or
// fails it when PORTSENSE_LAB_REQUIRED=1 or when the process is root but was
// not started through [Main]. Namespaces left by dead test processes are
// removed first.
func New(t testing.TB) *Lab {
	t.Helper()
	ok, why, misuse := available()
	if !ok {
		if misuse || os.Getenv(EnvRequired) == "1" {
			t.Fatalf("netlab: %s", why)
		}
		t.Skipf("netlab: %s", why)
	}
	removeStale()
	l := &Lab{t: t}
	t.Cleanup(l.Close)
	return l
}

// removeStale deletes psl-<pid>-* namespaces whose pid is dead, killing any
// process still running inside them first.
func removeStale() {
	ownStale.Do(func() { removeLabNamespaces(func(pid int) bool { return pid == os.Getpid() }) })
	removeLabNamespaces(func(pid int) bool { return !pidAlive(pid) })
}

// removeLabNamespaces deletes the lab namespaces whose pid matches.
func removeLabNamespaces(match func(pid int) bool) {
	ents, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	for _, e := range ents {
		if pid, ok := namePID(e.Name()); ok && match(pid) {
			deleteNamespace(e.Name())
		}
	}
}

// namePID returns the pid in a lab namespace name "psl-<pid>-<n>".
func namePID(name string) (int, bool) {
	rest, ok := strings.CutPrefix(name, namePrefix)
	if !ok {
		return 0, false
	}
	p, n, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	pid, err := strconv.Atoi(p)
	if err != nil || pid <= 0 {
		return 0, false
	}
	if _, err := strconv.Atoi(n); err != nil {
		return 0, false
	}
	return pid, true
}

func pidAlive(pid int) bool {
	err := unix.Kill(pid, 0)
	return err == nil || errors.Is(err, unix.EPERM)
}

// deleteNamespace kills what runs in the named namespace (by PID, as listed by
// ip netns pids) and deletes it.
func deleteNamespace(name string) {
	if out, err := exec.Command("ip", "netns", "pids", name).Output(); err == nil {
		for _, f := range strings.Fields(string(out)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 1 && pid != os.Getpid() {
				_ = unix.Kill(pid, unix.SIGKILL)
			}
		}
	}
	_ = withLock(func() error {
		return exec.Command("ip", "netns", "del", name).Run()
	})
}

// withLock runs fn holding the machine-wide netlab lock.
func withLock(fn func() error) error {
	f, err := os.OpenFile(lockPath, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o600)
	if err != nil {
		return fn() // best effort: the lock only narrows a rare race
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return fn()
	}
	defer unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return fn()
}

// allocSubnet reserves subnet n, or the lowest free one when n is 0.
func allocSubnet(n int) (int, error) {
	subnetMu.Lock()
	defer subnetMu.Unlock()
	if n == 0 {
		for i := 1; i <= maxSubnet; i++ {
			if !subnetUsed[i] {
				n = i
				break
			}
		}
		if n == 0 {
			return 0, fmt.Errorf("all %d lab subnets in use", maxSubnet)
		}
	}
	if n < 1 || n > maxSubnet {
		return 0, fmt.Errorf("subnet %d out of range 1..%d", n, maxSubnet)
	}
	if subnetUsed[n] {
		return 0, fmt.Errorf("subnet %d already in use by another host in this process", n)
	}
	subnetUsed[n] = true
	return n, nil
}

func freeSubnet(n int) {
	subnetMu.Lock()
	subnetUsed[n] = false
	subnetMu.Unlock()
}

// subnetAddrs returns the link's addresses for subnet n: scanner side and
// host side, IPv4 and IPv6.
func subnetAddrs(n int) (local4, addr4, local6, addr6 netip.Addr) {
	local4 = netip.AddrFrom4([4]byte{198, 18, byte(n), 1})
	addr4 = netip.AddrFrom4([4]byte{198, 18, byte(n), 2})
	// The IPv6 group uses N's decimal digits: subnet 12 is 2001:db8:12::/64.
	g, _ := strconv.ParseUint(strconv.Itoa(n), 16, 16)
	b := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(g >> 8), byte(g)}
	b[15] = 1
	local6 = netip.AddrFrom16(b)
	b[15] = 2
	addr6 = netip.AddrFrom16(b)
	return
}

// ifaceName builds a unique interface name of at most 15 bytes.
func ifaceName(side byte, seq uint64) string {
	return "ps" + strconv.FormatInt(int64(os.Getpid()), 36) + string(side) + strconv.FormatUint(seq, 36)
}

// AddHost creates a target namespace joined to the scanner namespace (the
// test process's own) by a veth pair, and returns it. Errors fail the test.
func (l *Lab) AddHost(cfg HostConfig) *Host {
	l.t.Helper()
	h, err := l.addHost(cfg)
	if err != nil {
		l.t.Fatalf("netlab: add host: %v", err)
	}
	return h
}

func (l *Lab) addHost(cfg HostConfig) (*Host, error) {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, errors.New("lab already closed")
	}
	if cfg.Loss < 0 || cfg.Loss > 1 {
		return nil, fmt.Errorf("loss %v outside 0..1", cfg.Loss)
	}
	if cfg.Delay < 0 || cfg.Jitter < 0 {
		return nil, fmt.Errorf("negative delay %v or jitter %v", cfg.Delay, cfg.Jitter)
	}
	n, err := allocSubnet(cfg.Subnet)
	if err != nil {
		return nil, err
	}
	seq := nameSeq.Add(1)
	h := &Host{
		Name:   fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), seq),
		Ifname: ifaceName('s', seq),
		Subnet: n,
		lab:    l,
	}
	h.impl.hostIf = ifaceName('h', seq)
	h.Local4, h.Addr4, h.Local6, h.Addr6 = subnetAddrs(n)

	if err := withLock(func() error { return run(nil, "ip", "netns", "add", h.Name) }); err != nil {
		freeSubnet(n)
		return nil, err
	}
	// From here on Close undoes whatever part got built.
	l.mu.Lock()
	l.hosts = append(l.hosts, h)
	l.mu.Unlock()

	if err := h.Do(func() error {
		// Links created in the namespace inherit "default": no DAD delay.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0)
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/all/accept_dad", []byte("0"), 0)
		if !cfg.ICMPRateLimit {
			if err := noICMPRateLimit(); err != nil {
				return err
			}
		}
		return linkUp("lo")
	}); err != nil {
		return nil, fmt.Errorf("set up namespace %s: %w", h.Name, err)
	}
	delayed := cfg.Delay > 0 || cfg.Jitter > 0
	peerNS := h.Name // where the scanner's veth peer goes
	if delayed {
		h.impl.wire = fmt.Sprintf("%s%d-%d", namePrefix, os.Getpid(), nameSeq.Add(1))
		peerNS = h.impl.wire
		if err := h.addWire(); err != nil {
			return nil, err
		}
	}
	p4, p6 := fmt.Sprintf("/%d", 24), fmt.Sprintf("/%d", 64)
	scanner := strings.Join([]string{
		fmt.Sprintf("link add %s type veth peer name %s netns %s", h.Ifname, peerName(delayed, h.impl.hostIf), peerNS),
		fmt.Sprintf("link set %s up", h.Ifname),
		fmt.Sprintf("addr add %s%s dev %s", h.Local4, p4, h.Ifname),
		fmt.Sprintf("addr add %s%s dev %s nodad", h.Local6, p6, h.Ifname),
	}, "\n") + "\n"
	if err := run([]byte(scanner), "ip", "-batch", "-"); err != nil {
		return nil, err
	}
	if delayed {
		wire := strings.Join([]string{
			fmt.Sprintf("link add %s type veth peer name %s netns %s", wireHost, h.impl.hostIf, h.Name),
			fmt.Sprintf("link set %s up", wireScanner),
			fmt.Sprintf("link set %s up", wireHost),
		}, "\n") + "\n"
		if err := run([]byte(wire), "ip", "-n", h.impl.wire, "-batch", "-"); err != nil {
			return nil, err
		}
	}
	host := strings.Join([]string{
		fmt.Sprintf("link set %s up", h.impl.hostIf),
		fmt.Sprintf("addr add %s%s dev %s", h.Addr4, p4, h.impl.hostIf),
		fmt.Sprintf("addr add %s%s dev %s nodad", h.Addr6, p6, h.impl.hostIf),
		// Replies to other lab sources (spoofed or AnyIP scanners) go back
		// over the link; nothing outside the lab space is routable.
		fmt.Sprintf("route add %s via %s", labSpace4, h.Local4),
		fmt.Sprintf("route add %s via %s", labSpace6, h.Local6),
	}, "\n") + "\n"
	if err := run([]byte(host), "ip", "-n", h.Name, "-batch", "-"); err != nil {
		return nil, err
	}
	// A new veth drops what it is given until the kernel's link watcher
	// has seen its carrier (which it may put off for up to a second when
	// links change often): the first ARP or SYN of a test would be lost.
	if err := waitRunning("", h.Ifname); err != nil {
		return nil, err
	}
	if err := waitRunning(h.Name, h.impl.hostIf); err != nil {
		return nil, err
	}
	if delayed {
		if err := waitRunning(h.impl.wire, wireScanner, wireHost); err != nil {
			return nil, err
		}
	}
	// IPv6 keeps even nodad addresses tentative (unusable, unanswered)
	// until the link is ready, and finishes them in a kernel work queue.
	if err := waitNotTentative("", h.Ifname); err != nil {
		return nil, err
	}
	if err := waitNotTentative(h.Name, h.impl.hostIf); err != nil {
		return nil, err
	}
	if cfg.Loss > 0 {
		if err := h.addLoss(cfg.Loss, cfg.Both); err != nil {
			return nil, err
		}
	}
	if delayed {
		b, err := startBridge(h.impl.wire, cfg.Delay, cfg.Jitter, cfg.Both, seq)
		if err != nil {
			return nil, fmt.Errorf("start delay bridge in %s: %w", h.impl.wire, err)
		}
		h.impl.mu.Lock()
		h.impl.bridge = b
		h.impl.mu.Unlock()
	}
	return h, nil
}

// addLoss drops a fraction of the IP packets the host sends (and with both,
// of those the scanner sends on this link) with an nftables netdev egress
// rule. Egress drops happen before packet taps and are silent to the sender,
// like a lossy wire. ARP and neighbour discovery are spared, so loss means
// IP traffic only. nftables is used rather than netem because it is built
// wherever nftables is, and netem often is not.
func (h *Host) addLoss(loss float64, both bool) error {
	threshold := int64(loss * 1_000_000)
	rules := func(table, dev string) string {
		return fmt.Sprintf("add table netdev %[1]s\n"+
			"add chain netdev %[1]s egress { type filter hook egress device %[2]q priority 0; policy accept; }\n"+
			"add rule netdev %[1]s egress meta protocol != { ip, ip6 } accept\n"+
			"add rule netdev %[1]s egress meta protocol ip6 icmpv6 type { nd-router-solicit, nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, nd-redirect } accept\n"+
			"add rule netdev %[1]s egress numgen random mod 1000000 < %[3]d drop\n",
			table, dev, threshold)
	}
	if err := run([]byte(rules("portsense_lab_loss", h.impl.hostIf)), "ip", "netns", "exec", h.Name, "nft", "-f", "-"); err != nil {
		return err
	}
	if both {
		h.impl.scannerTable = "portsense_lab_loss_" + h.Ifname
		if err := run([]byte(rules(h.impl.scannerTable, h.Ifname)), "nft", "-f", "-"); err != nil {
			return err
		}
	}
	return nil
}

// waitRunning waits until the named links of namespace ns (the caller's when
// ns is empty) are operationally up (IFF_RUNNING), which the kernel reports
// only after it has attached their queueing discipline.
func waitRunning(ns string, names ...string) error {
	check := func() error {
		for _, n := range names {
			ifi, err := net.InterfaceByName(n)
			if err != nil {
				return err
			}
			if ifi.Flags&net.FlagRunning == 0 {
				return fmt.Errorf("link %s not running after %v", n, linkWait)
			}
		}
		return nil
	}
	deadline := time.Now().Add(linkWait)
	for {
		var err error
		if ns == "" {
			err = check()
		} else {
			err = doNetns(ns, check)
		}
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitNotTentative waits until no IPv6 address of link dev in namespace ns
// (the caller's when empty) is tentative.
func waitNotTentative(ns, dev string) error {
	args := []string{"-6", "addr", "show", "dev", dev, "tentative"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	deadline := time.Now().Add(linkWait)
	for {
		out, err := exec.Command("ip", args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		if len(bytes.TrimSpace(out)) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("link %s: IPv6 addresses still tentative after %v: %s", dev, linkWait, out)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// linkWait bounds waitRunning and waitNotTentative; the link watcher's own delay is at most 1 s.
const linkWait = 5 * time.Second

// peerName is the name of the scanner veth's peer: the host interface, or
// the wire's scanner end when a delay bridge sits between.
func peerName(delayed bool, hostIf string) string {
	if delayed {
		return wireScanner
	}
	return hostIf
}

// addWire creates the delay bridge's namespace. It has no addresses and no
// IPv6 at all, so its own stack never sends anything onto the link.
func (h *Host) addWire() error {
	if err := withLock(func() error { return run(nil, "ip", "netns", "add", h.impl.wire) }); err != nil {
		h.impl.wire = ""
		return err
	}
	return doNetns(h.impl.wire, func() error {
		for _, f := range []string{"default", "all"} {
			if err := os.WriteFile("/proc/sys/net/ipv6/conf/"+f+"/disable_ipv6", []byte("1"), 0); err != nil {
				return fmt.Errorf("disable ipv6 in %s: %w", h.impl.wire, err)
			}
		}
		return nil
	})
}

// icmpSysctls switch off ICMP error rate limiting in a host namespace, so
// that every rejected probe gets its error. The ratemask ones alone suffice
// (no type is limited, neither per destination nor globally); the others
// are belt and braces. Kernels before 6.x keep icmp_msgs_* global, so those
// may be missing in a namespace.
var icmpSysctls = []struct {
	path, value string
	optional    bool
}{
	{"net/ipv4/icmp_ratemask", "0", false},
	{"net/ipv4/icmp_ratelimit", "0", false},
	{"net/ipv6/icmp/ratemask", "", true}, // empty list: no type limited
	{"net/ipv6/icmp/ratelimit", "0", false},
	{"net/ipv4/icmp_msgs_per_sec", "1000000000", true},
	{"net/ipv4/icmp_msgs_burst", "1000000000", true},
}

// noICMPRateLimit writes icmpSysctls in the calling thread's namespace.
func noICMPRateLimit() error {
	for _, s := range icmpSysctls {
		err := os.WriteFile("/proc/sys/"+s.path, []byte(s.value+"\n"), 0)
		if err != nil && !(s.optional && errors.Is(err, os.ErrNotExist)) {
			return fmt.Errorf("sysctl %s=%q: %w", strings.ReplaceAll(s.path, "/", "."), s.value, err)
		}
	}
	return nil
}

// Hosts returns the lab's hosts in the order they were added.
func (l *Lab) Hosts() []*Host {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.hosts)
}

// Close tears the lab down: it closes listeners, kills started processes,
// deletes veths and namespaces, and frees the subnets. It is called by
// t.Cleanup; calling it earlier, or twice, is fine.
func (l *Lab) Close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	hosts := l.hosts
	l.mu.Unlock()
	for _, h := range hosts {
		h.close()
	}
}

func (h *Host) close() {
	h.impl.mu.Lock()
	closers := h.impl.closers
	h.impl.closers = nil
	h.impl.mu.Unlock()
	for i := len(closers) - 1; i >= 0; i-- {
		closers[i]()
	}
	h.impl.mu.Lock()
	b := h.impl.bridge
	h.impl.mu.Unlock()
	if b != nil {
		b.stop()
	}
	// Deleting the scanner end removes the pair and every route through it
	// at once; namespace deletion alone is asynchronous in the kernel.
	if h.impl.scannerTable != "" {
		_ = exec.Command("nft", "delete", "table", "netdev", h.impl.scannerTable).Run()
	}
	_ = exec.Command("ip", "link", "del", h.Ifname).Run()
	names := []string{h.Name}
	if h.impl.wire != "" {
		names = append(names, h.impl.wire)
	}
	for _, n := range names {
		deleteNamespace(n)
	}
	// Wait briefly for the names to go, so a following check sees them gone.
	for _, n := range names {
		for i := 0; i < 50; i++ {
			if _, err := os.Stat(filepath.Join(netnsDir, n)); errors.Is(err, os.ErrNotExist) {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if h.impl.link == nil { // a shared link frees its subnet itself
		freeSubnet(h.Subnet)
	}
}

// addCloser registers fn to run at lab close, before the namespace goes.
// It returns a function that runs fn at most once (for t.Cleanup).
func (h *Host) addCloser(fn func()) func() {
	var once sync.Once
	f := func() { once.Do(fn) }
	h.impl.mu.Lock()
	h.impl.closers = append(h.impl.closers, f)
	h.impl.mu.Unlock()
	return f
}

// run runs a command with optional stdin and returns an error carrying its output.
func run(stdin []byte, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		in := ""
		if stdin != nil {
			in = " <<" + strings.ReplaceAll(strings.TrimSpace(string(stdin)), "\n", "; ")
		}
		return fmt.Errorf("%s %s%s: %v: %s", name, strings.Join(args, " "), in, err, strings.TrimSpace(string(out)))
	}
	return nil
}

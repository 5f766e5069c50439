package netlab

import (
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestCheckLabPrefix(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"198.18.0.0/15", true},
		{"198.19.0.0/16", true},
		{"198.19.7.9/24", true}, // masked
		{"198.18.5.5/32", true},
		{"198.16.0.0/14", false}, // wider than the lab space
		{"198.20.0.0/16", false},
		{"10.0.0.0/8", false},
		{"192.168.1.0/24", false},
		{"0.0.0.0/0", false},
		{"2001:db8::/32", true},
		{"2001:db8:f000::/48", true},
		{"2001:db8::/31", false},
		{"2001:db9::/48", false},
		{"::/0", false},
		{"::ffff:198.18.0.0/111", false}, // 4in6 is not lab space
	} {
		_, err := checkLabPrefix(netip.MustParsePrefix(tc.in))
		if (err == nil) != tc.ok {
			t.Errorf("checkLabPrefix(%s): err %v, want ok=%v", tc.in, err, tc.ok)
		}
	}
	if _, err := checkLabPrefix(netip.Prefix{}); err == nil {
		t.Error("zero prefix accepted")
	}
}

func TestSubnetAddrs(t *testing.T) {
	for _, tc := range []struct {
		n              int
		l4, a4, l6, a6 string
	}{
		{1, "198.18.1.1", "198.18.1.2", "2001:db8:1::1", "2001:db8:1::2"},
		{12, "198.18.12.1", "198.18.12.2", "2001:db8:12::1", "2001:db8:12::2"},
		{250, "198.18.250.1", "198.18.250.2", "2001:db8:250::1", "2001:db8:250::2"},
	} {
		l4, a4, l6, a6 := subnetAddrs(tc.n)
		got := []netip.Addr{l4, a4, l6, a6}
		for i, w := range []string{tc.l4, tc.a4, tc.l6, tc.a6} {
			if got[i] != netip.MustParseAddr(w) {
				t.Errorf("subnet %d address %d: got %v, want %s", tc.n, i, got[i], w)
			}
		}
	}
}

func TestNamePID(t *testing.T) {
	for _, tc := range []struct {
		name string
		pid  int
		ok   bool
	}{
		{"psl-1234-1", 1234, true},
		{"psl-1234-x", 0, false},
		{"psl-abc-1", 0, false},
		{"psl-0-1", 0, false},
		{"psl-1234", 0, false},
		{"other-1234-1", 0, false},
		{"psl--1", 0, false},
	} {
		pid, ok := namePID(tc.name)
		if pid != tc.pid || ok != tc.ok {
			t.Errorf("namePID(%q) = %d, %v; want %d, %v", tc.name, pid, ok, tc.pid, tc.ok)
		}
	}
}

func TestIfaceName(t *testing.T) {
	for _, seq := range []uint64{1, 1 << 20, 1<<32 - 1} {
		if n := ifaceName('s', seq); len(n) > 15 {
			t.Errorf("ifaceName(%d) = %q: %d bytes, over 15", seq, n, len(n))
		}
	}
}

func TestAllocSubnet(t *testing.T) {
	if _, err := allocSubnet(251); err == nil {
		t.Error("subnet 251 accepted")
	}
	n, err := allocSubnet(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := allocSubnet(n); err == nil {
		t.Errorf("subnet %d allocated twice", n)
	}
	freeSubnet(n)
	if m, err := allocSubnet(n); err != nil || m != n {
		t.Errorf("re-allocating freed subnet %d: %d, %v", n, m, err)
	}
	freeSubnet(n)
}

func TestFrameHeap(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var h frameHeap
	for i := range 2000 {
		h.push(queued{due: r.Int64N(100), seq: uint64(i)})
	}
	prev := queued{due: -1}
	for len(h) > 0 {
		f := h.pop()
		if f.due < prev.due || f.due == prev.due && f.seq < prev.seq {
			t.Fatalf("popped (%d,%d) after (%d,%d)", f.due, f.seq, prev.due, prev.seq)
		}
		prev = f
	}
}

func TestICMPSysctlsExist(t *testing.T) {
	// The host namespace values are checked by the lab test; here only
	// that the required ones name real files (in any namespace).
	for _, s := range icmpSysctls {
		if _, err := os.Stat("/proc/sys/" + s.path); err != nil && !s.optional {
			t.Errorf("sysctl %s: %v", s.path, err)
		}
	}
}

func TestWireNamespace(t *testing.T) {
	lab := New(t)
	h := lab.AddHost(HostConfig{Delay: 5 * time.Millisecond})
	if h.impl.wire == "" || h.impl.bridge == nil {
		t.Fatal("delayed host has no wire namespace or bridge")
	}
	out, err := exec.Command("ip", "-n", h.impl.wire, "addr", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("ip addr in the wire: %v: %s", err, out)
	}
	// L2 only: no IPv4 or IPv6 address on any interface, not even lo's.
	if strings.Contains(string(out), "inet") {
		t.Errorf("wire namespace %s has addresses:\n%s", h.impl.wire, out)
	}
	for _, dev := range []string{wireScanner, wireHost} {
		if !strings.Contains(string(out), dev+"@") {
			t.Errorf("wire namespace has no %s:\n%s", dev, out)
		}
	}
	plain := lab.AddHost(HostConfig{})
	if plain.impl.wire != "" || plain.impl.bridge != nil {
		t.Error("undelayed host got a delay bridge")
	}
	if s := plain.BridgeStats(); s != (BridgeStats{}) {
		t.Errorf("undelayed host has bridge stats %+v", s)
	}
}

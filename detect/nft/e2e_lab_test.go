//go:build linux

package nft

import (
	"context"
	"net"
	"net/netip"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/internal/netlab"
)

// eventLog collects events from the pipeline for the test goroutine.
type eventLog struct {
	mu sync.Mutex
	ev []detect.Event
}

func (l *eventLog) add(e detect.Event) { l.mu.Lock(); l.ev = append(l.ev, e); l.mu.Unlock() }

// wait returns the first event naming src, waiting up to d.
func (l *eventLog) wait(src netip.Addr, d time.Duration) (detect.Event, bool) {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		l.mu.Lock()
		for _, e := range l.ev {
			if e.Source == src || slices.Contains(e.Sources, src) {
				l.mu.Unlock()
				return e, true
			}
		}
		l.mu.Unlock()
	}
	return detect.Event{}, false
}

func nmap(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("nmap", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("nmap %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestEndToEndLab: nmap SYN-scans a lab host from the scanner namespace;
// the host's own detector (live AF_PACKET capture, the default analyser,
// the nftables blocker, all inside the host's namespace) catches it within
// 10 probes and blocks it, so later probes see no answer; a scan from an
// allowlisted address is detected but never blocked.
func TestEndToEndLab(t *testing.T) {
	lab := netlab.New(t)
	if _, err := exec.LookPath("nmap"); err != nil {
		t.Skip("nmap not installed")
	}
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 22, 80, 443)
	// A second scanner-side address, allowlisted on the host.
	friend := h.Local4.Next().Next() // 198.18.N.3
	if out, err := exec.Command("ip", "addr", "add", friend.String()+"/24", "dev", h.Ifname).CombinedOutput(); err != nil {
		t.Fatalf("ip addr add: %v %s", err, out)
	}

	ifname := hostIface(t, h)
	var src *detect.AFPacketSource
	var blk *Blocker
	if err := h.Do(func() (err error) {
		if src, err = detect.NewAFPacketSource(t.Context(), ifname, nil); err != nil {
			return err
		}
		blk, err = New(&Config{Table: "portsense_e2e", Allow: detect.Allowlist{netip.PrefixFrom(friend, 32)}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	defer blk.Close()

	var log eventLog
	p := mustPipeline(t, src, detect.NewDefaultAnalyzer(nil), detect.WithResponder(detect.Callback(log.add), blk))
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- p.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-runErr; err != context.Canceled {
			t.Errorf("pipeline: %v", err)
		}
		st := p.Stats()
		t.Logf("pipeline stats: %+v", st)
		if st.Observations == 0 || st.Events == 0 {
			t.Errorf("stats %+v", st)
		}
	}()
	scan := []string{"-sS", "-Pn", "-n", "-T4", "--max-retries", "0", "--max-rtt-timeout", "300ms", "-p", "1-300"}

	// The allowlisted friend scans first: detected, not blocked.
	nmap(t, append(scan, "-S", friend.String(), "-e", h.Ifname, h.Addr4.String())...)
	if e, ok := log.wait(friend, 10*time.Second); !ok {
		t.Error("scan from the allowlisted address not detected")
	} else {
		t.Logf("friend: %+v", e)
	}
	if blk.Blocked(friend) {
		t.Error("allowlisted address blocked")
	}
	d := net.Dialer{Timeout: 3 * time.Second, LocalAddr: &net.TCPAddr{IP: friend.AsSlice()}}
	if c, err := d.Dial("tcp", netip.AddrPortFrom(h.Addr4, 22).String()); err != nil {
		t.Errorf("allowlisted address cut off: %v", err)
	} else {
		c.Close()
	}

	// The real scanner: detected within 10 probes, then blocked.
	nmap(t, append(scan, h.Addr4.String())...)
	e, ok := log.wait(h.Local4, 10*time.Second)
	if !ok {
		t.Fatal("scan not detected")
	}
	t.Logf("scanner: %+v", e)
	if e.Kind == detect.KindScan && e.Attempts > 10 {
		t.Errorf("detected after %d attempts, want ≤ 10", e.Attempts)
	}
	if !blk.Blocked(h.Local4) {
		t.Fatal("scanner not blocked")
	}
	out := nmap(t, "-sS", "-Pn", "-n", "--max-retries", "1", "-p", "22,80,443", "-oG", "-", h.Addr4.String())
	if !strings.Contains(out, "22/filtered") || !strings.Contains(out, "80/filtered") || !strings.Contains(out, "443/filtered") {
		t.Errorf("open ports still answer the blocked scanner:\n%s", out)
	}
	if err := dial(h.Addr4, 22, time.Second); !isTimeout(err) {
		t.Errorf("blocked scanner connects: %v", err)
	}
	if c, err := d.Dial("tcp", netip.AddrPortFrom(h.Addr4, 22).String()); err != nil {
		t.Errorf("allowlisted address cut off after the block: %v", err)
	} else {
		c.Close()
	}
}

func mustPipeline(t testing.TB, src detect.Source, a detect.Analyzer, opts ...detect.Option) *detect.Pipeline {
	t.Helper()
	p, err := detect.NewPipeline(src, a, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// hostIface returns the host namespace's veth name.
func hostIface(t *testing.T, h *netlab.Host) string {
	t.Helper()
	var name string
	err := h.Do(func() error {
		ifs, err := net.Interfaces()
		for _, ifi := range ifs {
			if ifi.Flags&net.FlagLoopback == 0 {
				name = ifi.Name
			}
		}
		return err
	})
	if err != nil || name == "" {
		t.Fatalf("host interface: %q %v", name, err)
	}
	return name
}

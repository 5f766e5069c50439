//go:build linux

package nft

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/internal/netlab"
)

// dial connects from the scanner namespace (this process) to addr:port.
func dial(addr netip.Addr, port uint16, timeout time.Duration) error {
	c, err := net.DialTimeout("tcp", netip.AddrPortFrom(addr, port).String(), timeout)
	if err == nil {
		c.Close()
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// hasTable reports whether table inet name exists in the host's namespace.
func hasTable(t *testing.T, h *netlab.Host, name string) bool {
	t.Helper()
	var found bool
	err := h.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
		for _, tb := range tables {
			found = found || tb.Name == name
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func TestMain(m *testing.M) { netlab.Main(m) }

func TestBlockerLab(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 8080)
	allowed := netip.MustParsePrefix("198.18.251.0/24")
	var blk *Blocker
	if err := h.Do(func() (err error) {
		blk, err = New(&Config{Table: "portsense_test", Allow: detect.Allowlist{allowed}})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer blk.Close()
	if !hasTable(t, h, "portsense_test") {
		t.Fatal("table not created")
	}
	for _, target := range []netip.Addr{h.Addr4, h.Addr6} {
		if err := dial(target, 8080, 3*time.Second); err != nil {
			t.Fatalf("before block: dial %v: %v", target, err)
		}
	}

	// Block both scanner-side addresses, from outside the namespace: the
	// blocker keeps its own netlink socket.
	if err := blk.Block(h.Local4, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := blk.Respond(context.Background(), detect.Event{Kind: detect.KindScan, Source: h.Local6}); err != nil {
		t.Fatal(err)
	}
	if !blk.Blocked(h.Local4) || !blk.Blocked(h.Local6) {
		t.Fatal("Blocked says no")
	}
	// Re-blocking for longer replaces the element; shorter is a no-op.
	if err := blk.Block(h.Local4, 2*time.Minute); err != nil {
		t.Fatalf("re-block: %v", err)
	}
	if err := blk.Block(h.Local4, time.Second); err != nil {
		t.Fatalf("shorter re-block: %v", err)
	}
	for _, target := range []netip.Addr{h.Addr4, h.Addr6} {
		err := dial(target, 8080, time.Second)
		if !isTimeout(err) {
			t.Errorf("after block: dial %v: %v, want timeout", target, err)
		}
	}

	if err := blk.Block(netip.MustParseAddr("198.18.251.7"), 0); !errors.Is(err, detect.ErrAllowlisted) {
		t.Errorf("allowlisted address: %v", err)
	}

	if err := blk.Close(); err != nil {
		t.Fatal(err)
	}
	if hasTable(t, h, "portsense_test") {
		t.Fatal("Close left the table")
	}
	if err := dial(h.Addr4, 8080, 3*time.Second); err != nil {
		t.Errorf("after Close: %v", err)
	}
	if err := blk.Block(h.Local4, 0); err == nil {
		t.Error("Block after Close succeeded")
	}
}

// A short timeout is lifted by the kernel itself.
func TestPriorityZero(t *testing.T) {
	if p := (*Config)(nil).withDefaults().Priority; p == nil || *p != -10 {
		t.Errorf("default priority %v", p)
	}
	zero := int32(0)
	if p := (&Config{Priority: &zero}).withDefaults().Priority; p == nil || *p != 0 {
		t.Errorf("priority 0 became %v", p)
	}
}

func TestErrorNamesCapability(t *testing.T) {
	err := nftError(fmt.Errorf("netlink receive: %w", syscall.EPERM))
	if !errors.Is(err, syscall.EPERM) || !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("%v", err)
	}
	if err := nftError(syscall.ENOENT); strings.Contains(err.Error(), "CAP_NET_ADMIN") {
		t.Errorf("%v", err)
	}
}

func TestBlockerExpiryLab(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 8080)
	var blk *Blocker
	if err := h.Do(func() (err error) { blk, err = New(nil); return err }); err != nil {
		t.Fatal(err)
	}
	defer blk.Close()
	if err := blk.Block(h.Local4, 500*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := dial(h.Addr4, 8080, 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("blocked dial: %v", err)
	}
	var err error
	for range 50 {
		if err = dial(h.Addr4, 8080, 500*time.Millisecond); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("block never expired: %v", err)
}

// Without CAP_NET_ADMIN the kernel refuses the table, and the error says
// what is missing. The capability is dropped on one locked thread only
// (the test runs in netlab.Main's private namespace when root).
func TestBlockerWithoutCapability(t *testing.T) {
	netlab.New(t) // skips without root
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << unix.CAP_NET_ADMIN
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		blk, err := New(&Config{Table: "portsense_nocap"})
		if err == nil {
			blk.Close()
			errc <- errors.New("table created without CAP_NET_ADMIN")
			return
		}
		if !strings.Contains(err.Error(), "CAP_NET_ADMIN") {
			errc <- fmt.Errorf("error does not name the capability: %w", err)
			return
		}
		t.Logf("%v", err)
		errc <- nil
	}()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

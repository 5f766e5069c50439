package srcpool_test

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe/srcpool"
)

// Without CAP_NET_RAW Claim fails with an error matching os.ErrPermission
// that names the capability, and leaves nothing behind. The capability is
// dropped from one OS thread only (capabilities are per thread on Linux);
// that thread is discarded afterwards.
func TestClaimNoRawSocketRights(t *testing.T) {
	claimWithout(t, unix.CAP_NET_RAW, "CAP_NET_RAW")
}

// Without CAP_NET_ADMIN the nftables table cannot be made: the error says
// so (and how to do without), and the claim is released.
func TestClaimNoNftablesRights(t *testing.T) {
	claimWithout(t, unix.CAP_NET_ADMIN, "CAP_NET_ADMIN")
}

func claimWithout(t *testing.T, capability uint, name string) {
	lab := netlab.New(t)
	k := lab.AddLink(0)
	k.AddHost(0)
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		data[0].Effective &^= 1 << capability
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			errc <- err
			return
		}
		p, err := srcpool.Claim(context.Background(), &srcpool.Config{Interface: k.Ifname, Count: 1})
		if err == nil {
			p.Close()
			err = errors.New("claimed without " + name)
		}
		errc <- err
	}()
	err := <-errc
	if !errors.Is(err, os.ErrPermission) || !strings.Contains(err.Error(), name) {
		t.Fatalf("error %v, want os.ErrPermission naming %s", err, name)
	}
	t.Log(err)
	if got := ourTables(t); len(got) != 0 {
		t.Errorf("tables left: %v", got)
	}
}

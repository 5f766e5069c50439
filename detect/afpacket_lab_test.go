//go:build linux

package detect

import (
	"net"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

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

func TestAFPacketLab(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	h.ListenTCP(t, 8080)
	ifname := hostIface(t, h)
	var src *AFPacketSource
	if err := h.Do(func() (err error) {
		src, err = NewAFPacketSource(t.Context(), ifname, &AFPacketConfig{PollTimeout: 50 * time.Millisecond})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer src.Close()

	if err := dial(h.Addr4, 8080, 3*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := dial(h.Addr6, 9, 3*time.Second); err == nil {
		t.Fatal("closed port accepted")
	}
	var syn4, synAck4, syn6, rst6 bool
	got := collect(t, src, 5*time.Second, func(o *Observation) bool {
		if o.Proto != target.TCP {
			return false
		}
		switch {
		case o.Src == h.Local4 && o.Dst == h.Addr4 && o.DstPort == 8080 && o.Flags == SYN:
			syn4 = true
		case o.Src == h.Addr4 && o.Dst == h.Local4 && o.SrcPort == 8080 && o.Flags == SYN|ACK:
			synAck4 = true
		case o.Src == h.Local6 && o.Dst == h.Addr6 && o.DstPort == 9 && o.Flags == SYN:
			syn6 = o.TTL == 64
		case o.Src == h.Addr6 && o.Dst == h.Local6 && o.SrcPort == 9 && o.Flags == RST|ACK:
			rst6 = true
		}
		return syn4 && synAck4 && syn6 && rst6
	})
	for _, o := range got {
		if o.Time.IsZero() || time.Since(o.Time) > time.Minute || o.Time.After(time.Now()) {
			t.Errorf("capture time %v not recent", o.Time)
		}
	}
	st, err := src.SourceStats()
	if err != nil || st.KernelPackets < uint64(len(got)) {
		t.Errorf("stats %+v %v, %d observations", st, err, len(got))
	}
}

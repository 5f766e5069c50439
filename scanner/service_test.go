package scanner

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/probe/service"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

type fakeDetector struct{ calls atomic.Int32 }

func (f *fakeDetector) Detect(ctx context.Context, a netip.AddrPort) (*result.Service, error) {
	f.calls.Add(1)
	if a.Port() == 2 {
		return nil, errors.New("gone")
	}
	return &result.Service{Name: "x" + strconv.Itoa(int(a.Port())), Method: "probed", Conf: 10}, nil
}

func TestDetectServicesOnlyOpenTCP(t *testing.T) {
	in := make(chan result.Result, 8)
	a := netip.MustParseAddr("198.18.0.2")
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 1), Proto: target.TCP, State: result.Open}
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 2), Proto: target.TCP, State: result.Open}
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 3), Proto: target.TCP, State: result.Closed}
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 4), Proto: target.UDP, State: result.Open}
	close(in)
	f := &fakeDetector{}
	got := map[uint16]*result.Service{}
	n := 0
	for r := range DetectServices(context.Background(), in, f, 2) {
		got[r.AddrPort.Port()] = r.Service
		n++
	}
	if n != 4 {
		t.Fatalf("got %d results, want 4", n)
	}
	if f.calls.Load() != 2 {
		t.Errorf("detector called %d times, want 2 (open TCP only)", f.calls.Load())
	}
	if got[1] == nil || got[1].Name != "x1" {
		t.Errorf("port 1 service = %+v", got[1])
	}
	if got[2] != nil || got[3] != nil || got[4] != nil {
		t.Errorf("ports 2-4 services = %+v %+v %+v, want nil", got[2], got[3], got[4])
	}
}

// TestScanWithServiceDetection runs a connect scan with the stage against
// a loopback listener that sends an SSH banner.
func TestScanWithServiceDetection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.6p1 Lab-1\r\n"))
			c.Close()
		}
	}()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	d, err := service.New()
	if err != nil {
		t.Fatal(err)
	}
	s, err := New(probe.NewConnect(nil), WithServiceDetection(d, 4))
	if err != nil {
		t.Fatal(err)
	}
	ports, _ := target.ParsePorts(strconv.Itoa(int(port)), target.TCP)
	sp, err := target.NewSpace(target.MustParseHosts("127.0.0.1"), ports)
	if err != nil {
		t.Fatal(err)
	}
	var rs []result.Result
	for r, err := range s.All(context.Background(), sp) {
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	if len(rs) != 1 || rs[0].State != result.Open || rs[0].Service == nil {
		t.Fatalf("results = %+v", rs)
	}
	svc := rs[0].Service
	if svc.Name != "ssh" || svc.Product != "OpenSSH" || svc.Version != "9.6p1" || svc.Method != "probed" {
		t.Errorf("service = %+v, want ssh OpenSSH 9.6p1 probed", *svc)
	}
}

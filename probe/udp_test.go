package probe_test

import (
	"bytes"
	"context"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/probe/udppayload"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// udpOnce sends one try to each target through a session and collects the
// replies that come within the timeout.
func udpOnce(t *testing.T, pr *probe.UDP, timeout time.Duration, targets ...target.Target) map[target.Target]probe.Reply {
	t.Helper()
	got := make(chan probe.Reply, len(targets))
	s, err := pr.Open(context.Background(), func(r probe.Reply) { got <- r })
	if err != nil {
		t.Fatal(err)
	}
	for _, tg := range targets {
		if err := s.Send(probe.Probe{Target: tg, Timeout: timeout}); err != nil {
			t.Fatal(err)
		}
	}
	out := map[target.Target]probe.Reply{}
	deadline := time.After(3 * timeout)
	for len(out) < len(targets) {
		select {
		case r := <-got:
			out[r.Target] = r
		case <-deadline:
			s.Close()
			return out
		}
	}
	s.Close()
	return out
}

// On loopback (no privileges): an answering port is open and named by its
// payload, a port without a socket closed, a silent socket gives no reply.
func TestUDPSocketsLoopback(t *testing.T) {
	answer, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer answer.Close()
	silent, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := answer.ReadFrom(buf)
			if err != nil {
				return
			}
			if bytes.Equal(buf[:n], []byte("PING")) {
				answer.WriteTo([]byte("PONG 1"), from)
			}
		}
	}()
	closedConn, _ := net.ListenPacket("udp", "127.0.0.1:0")
	closedPort := uint16(closedConn.LocalAddr().(*net.UDPAddr).Port)
	closedConn.Close()

	ansPort := uint16(answer.LocalAddr().(*net.UDPAddr).Port)
	tab := udppayload.New()
	if err := tab.Register(udppayload.Payload{Name: "ping", Service: "pinger", Ports: []uint16{ansPort}, Data: []byte("PING"),
		Match: func(r []byte) bool { return bytes.HasPrefix(r, []byte("PONG")) }}); err != nil {
		t.Fatal(err)
	}
	pr, err := probe.NewUDP(&probe.UDPConfig{Sockets: true, Payloads: tab})
	if err != nil {
		t.Fatal(err)
	}
	lo := netip.MustParseAddr("127.0.0.1")
	tOpen := target.Target{Addr: lo, Port: target.Port{Proto: target.UDP, Num: ansPort}}
	tClosed := target.Target{Addr: lo, Port: target.Port{Proto: target.UDP, Num: closedPort}}
	tSilent := target.Target{Addr: lo, Port: target.Port{Proto: target.UDP, Num: uint16(silent.LocalAddr().(*net.UDPAddr).Port)}}
	got := udpOnce(t, pr, 200*time.Millisecond, tOpen, tClosed, tSilent)
	if r := got[tOpen]; r.State != result.Open || r.Reason != result.UDPResponse || r.Service == nil || r.Service.Name != "pinger" {
		t.Errorf("answering port: %+v", r)
	}
	if r := got[tClosed]; r.State != result.Closed || r.Reason != result.PortUnreach {
		t.Errorf("closed port: %+v", r)
	}
	if r, ok := got[tSilent]; ok {
		t.Errorf("silent port answered: %+v", r)
	}
}

func TestUDPConfigErrors(t *testing.T) {
	for _, c := range []probe.UDPConfig{
		{Sockets: true, Source: netip.MustParseAddr("0.0.0.0")},
		{Sockets: true, Source: netip.MustParseAddr("ff02::1")},
		{Sockets: true, SourcePort: 65530},
	} {
		if _, err := probe.NewUDP(&c); err == nil {
			t.Errorf("NewUDP(%+v) accepted", c)
		}
	}
	pr, err := probe.NewUDP(&probe.UDPConfig{Sockets: true})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Protocol() != target.UDP {
		t.Error("protocol")
	}
	if st, r := pr.Silence(); st != result.OpenFiltered || r != result.NoResponse {
		t.Errorf("silence %v %v", st, r)
	}
	s, err := pr.Open(context.Background(), func(probe.Reply) {})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	err = s.Send(probe.Probe{Target: target.Target{Addr: netip.MustParseAddr("127.0.0.1"), Port: target.Port{Proto: target.TCP, Num: 1}}})
	if err == nil {
		t.Error("a TCP target was accepted")
	}
}

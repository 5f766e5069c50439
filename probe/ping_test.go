package probe

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func TestNewPingErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  PingConfig
		want string
	}{
		{PingConfig{Raw: RawNever, Methods: []PingMethod{PingEcho, PingACK}}, "echo, ack ping needs raw packets"},
		{PingConfig{Methods: []PingMethod{PingARP}, DisableARP: true}, "DisableARP"},
		{PingConfig{Methods: []PingMethod{99}}, "unknown ping method 99"},
		{PingConfig{Methods: []PingMethod{PingConnect}, SYNPorts: make([]uint16, 65)}, "1-64 ports"},
	} {
		_, err := NewPing(&tc.cfg)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewPing(%+v) = %v, want an error containing %q", tc.cfg, err, tc.want)
		}
	}
	_, err := NewPing(&PingConfig{Raw: RawNever, Methods: []PingMethod{PingTimestamp}})
	if !errors.Is(err, ErrPingMethod) {
		t.Errorf("error %v does not wrap ErrPingMethod", err)
	}
}

func TestNewPingDefaults(t *testing.T) {
	p, err := NewPing(&PingConfig{Raw: RawNever})
	if err != nil {
		t.Fatal(err)
	}
	cp, ok := p.(*ConnectPing)
	if !ok {
		t.Fatalf("RawNever default is %T, want *ConnectPing", p)
	}
	if got := cp.Ports(); len(got) != 2 || got[0] != 80 || got[1] != 443 {
		t.Errorf("connect ping ports %v, want [80 443]", got)
	}
	if p.Protocol() != HostProtocol {
		t.Errorf("protocol %v", p.Protocol())
	}
	if st, r := p.Silence(); st != result.Filtered || r != result.NoResponse {
		t.Errorf("silence %v %v", st, r)
	}
	// Without raw rights, the default must be the connect ping; with them,
	// a raw prober of host targets.
	p, err = NewPing(nil)
	if err != nil {
		t.Fatal(err)
	}
	if rawPingAvailable() != nil {
		if _, ok := p.(*ConnectPing); !ok {
			t.Errorf("default without raw rights is %T", p)
		}
	} else if _, ok := p.(*ConnectPing); ok {
		t.Errorf("default with raw rights (uid %d) is the connect ping", os.Geteuid())
	}
	if p.Protocol() != HostProtocol || target.Protocol(0) != HostProtocol {
		t.Errorf("protocol %v", p.Protocol())
	}
}

func TestPingMethodString(t *testing.T) {
	for m, want := range map[PingMethod]string{PingEcho: "echo", PingTimestamp: "timestamp", PingSYN: "syn",
		PingACK: "ack", PingUDP: "udp", PingARP: "arp", PingConnect: "connect", 0: "pingmethod(0)"} {
		if m.String() != want {
			t.Errorf("%d: %q want %q", m, m.String(), want)
		}
	}
}

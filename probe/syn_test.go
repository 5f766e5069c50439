package probe

import (
	"testing"

	"github.com/portsense/portsense/result"
)

func TestSynProxySuspect(t *testing.T) {
	for _, c := range []struct {
		open, probed int
		want         bool
	}{
		{0, 0, false},
		{10, 10, false}, // a few ports, all open: a normal host
		{99, 99, false},
		{100, 100, true},
		{65535, 65535, true},
		{900, 1000, true},
		{899, 1000, false},
		{3, 65535, false},
		{-1, 200, false},
	} {
		if got := SynProxySuspect(c.open, c.probed); got != c.want {
			t.Errorf("SynProxySuspect(%d, %d) = %v, want %v", c.open, c.probed, got, c.want)
		}
	}
}

func TestSYNICMPReason(t *testing.T) {
	for _, c := range []struct {
		v6        bool
		typ, code uint8
		want      result.Reason
		wantKnown bool
	}{
		{false, 3, 13, result.AdminProhibited, true},
		{false, 3, 1, result.HostUnreach, true},
		{false, 3, 0, result.NetUnreach, true},
		{false, 3, 3, result.PortUnreach, true},
		{false, 3, 2, result.ProtoUnreach, true},
		{false, 3, 10, result.HostProhibited, true},
		{false, 3, 5, result.Unreachable, true},
		{false, 11, 0, result.TimeExceeded, true},
		{false, 0, 0, 0, false},
		{true, 1, 1, result.AdminProhibited, true},
		{true, 1, 3, result.HostUnreach, true},
		{true, 1, 4, result.PortUnreach, true},
		{true, 1, 0, result.NetUnreach, true},
		{true, 3, 0, result.TimeExceeded, true},
		{true, 4, 1, result.ProtoUnreach, true},
		{true, 4, 0, 0, false},
		{true, 128, 0, 0, false},
	} {
		got, ok := icmpReason(c.v6, c.typ, c.code)
		if got != c.want || ok != c.wantKnown {
			t.Errorf("icmpReason(%v, %d, %d) = %v, %v; want %v, %v", c.v6, c.typ, c.code, got, ok, c.want, c.wantKnown)
		}
	}
}

func TestSYNConfigDefaults(t *testing.T) {
	c, err := (*SYNConfig)(nil).withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.SourcePort != DefaultSYNSourcePort || c.TTL != 64 || c.BatchSize != 64 || c.FlushDelay <= 0 {
		t.Errorf("defaults %+v", c)
	}
	if _, err := (&SYNConfig{SourcePort: 65530}).withDefaults(); err == nil {
		t.Error("accepted a source port range past 65535")
	}
}

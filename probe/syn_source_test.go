package probe

import (
	"net/netip"
	"strings"
	"testing"
)

func TestSYNConfigSourceOptions(t *testing.T) {
	d1, d2 := netip.MustParseAddr("198.18.1.50"), netip.MustParseAddr("2001:db8::50")
	for _, c := range []struct {
		cfg  SYNConfig
		want string
	}{
		{SYNConfig{FixedSourcePort: true}, "needs SourcePort"},
		{SYNConfig{Decoys: []netip.Addr{d1}, DecoyPosition: 2}, "decoy position 2"},
		{SYNConfig{Decoys: []netip.Addr{{}}}, "decoy address invalid IP"},
		{SYNConfig{Decoys: []netip.Addr{netip.MustParseAddr("224.0.0.1")}}, "decoy address 224.0.0.1"},
		{SYNConfig{Decoys: []netip.Addr{netip.MustParseAddr("127.0.0.1")}}, "decoy address 127.0.0.1"},
		{SYNConfig{Decoys: make([]netip.Addr, maxDecoys+1)}, "at most"},
		{SYNConfig{Rotation: 7}, "rotation"},
	} {
		if _, err := c.cfg.withDefaults(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
	c, err := (&SYNConfig{SourcePort: 65535, FixedSourcePort: true}).withDefaults()
	if err != nil || c.sourcePorts() != 1 {
		t.Errorf("-g 65535: %v, %d ports", err, c.sourcePorts())
	}
	in := []netip.Addr{netip.MustParseAddr("::ffff:198.18.1.50"), d2}
	c, err = (&SYNConfig{Decoys: in, DecoyPosition: -1}).withDefaults()
	if err != nil || c.Decoys[0] != d1 || in[0] == d1 {
		t.Errorf("decoys %v (input %v): %v", c.Decoys, in, err)
	}
}

package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func TestNoRouteWarnedOnce(t *testing.T) {
	var buf bytes.Buffer
	w := &noRouteWarner{stderr: &buf}
	a := netip.MustParseAddr("198.18.251.7")
	w.see(result.Result{AddrPort: netip.AddrPortFrom(a, 22), Proto: target.TCP, State: result.Closed, Reason: result.Reset})
	assert.Empty(t, buf.String())
	for p := uint16(1); p <= 100; p++ {
		w.see(result.Result{AddrPort: netip.AddrPortFrom(a, p), Proto: target.TCP, State: result.Filtered, Reason: result.NoRoute})
	}
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"), buf.String())
	assert.Contains(t, buf.String(), "no route to host 198.18.251.7")
	assert.Contains(t, buf.String(), "filtered (no-route)")
}

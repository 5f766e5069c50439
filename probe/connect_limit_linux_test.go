package probe_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// With a tiny open-file limit, a connect scan of thousands of loopback
// ports still finishes with exact results: the prober sizes itself from
// RLIMIT_NOFILE and never fails with "too many open files".
func TestConnectHonoursFileLimit(t *testing.T) {
	open, _ := loopbackPorts(t, 3)
	var old unix.Rlimit
	require.NoError(t, unix.Getrlimit(unix.RLIMIT_NOFILE, &old))
	low := unix.Rlimit{Cur: 256, Max: old.Max}
	require.NoError(t, unix.Setrlimit(unix.RLIMIT_NOFILE, &low))
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })

	c := probe.NewConnect(nil)
	assert.LessOrEqual(t, c.MaxInFlight(), 128)
	spec := fmt.Sprintf("%d,%d,%d,20000-23000", open[0], open[1], open[2])
	ports, err := target.ParsePorts(spec, target.TCP)
	require.NoError(t, err)
	sp, err := target.NewSpace(target.NewHosts(netip.MustParseAddr("127.0.0.1")), ports)
	require.NoError(t, err)
	s, err := scanner.New(c, scanner.WithTiming(scanner.T5), scanner.WithParallelism(0, 100000))
	require.NoError(t, err)
	n, nOpen, nOther := 0, 0, 0
	for r, err := range s.All(context.Background(), sp) {
		require.NoError(t, err)
		n++
		switch r.State {
		case result.Open:
			nOpen++
		case result.Closed:
		default:
			nOther++ // a descriptor shortage would show up as silence
		}
	}
	assert.Equal(t, int(sp.Len()), n)
	assert.Zero(t, nOther, "loopback ports are open or closed, never filtered")
	assert.GreaterOrEqual(t, nOpen, 3, "our three listeners are open (others on the machine may be too)")
}

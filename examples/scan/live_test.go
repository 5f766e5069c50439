package main

import (
	"fmt"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Above 256 hosts the table on stdout prints open ports as they come and
// counts the rest, keeping no state per target.
func TestLiveTableForManyHosts(t *testing.T) {
	open := openPorts(t, 1)[0]
	// 127.0.0-1.1-150: 300 loopback hosts, one of which listens.
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-T4", "-p", fmt.Sprint(open), "127.0.0-1.1-150")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, regexp.MustCompile(fmt.Sprintf(`(?m)^127\.0\.0\.1\s+%d/tcp\s+open\s`, open)), stdout)
	assert.Contains(t, stdout, "Not shown: 299 closed tcp ports (conn-refused)")
	assert.Contains(t, stdout, "Done: 1 open port on 300 IP addresses scanned")
	assert.NotContains(t, stdout, "Scan report for")
}

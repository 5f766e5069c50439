package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test scans loopback only: ports it opened itself and one it closed.
func TestQuickscanLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closedPort := gone.Addr().(*net.TCPAddr).Port
	gone.Close()
	openPort := ln.Addr().(*net.TCPAddr).Port

	// -p as scan takes it, and -ports, its long alias.
	for _, flag := range []string{"-p", "-ports"} {
		var out, errb bytes.Buffer
		code := run(context.Background(), []string{"127.0.0.1", flag, fmt.Sprintf("%d,%d", openPort, closedPort)}, &out, &errb)
		require.Equal(t, 0, code, errb.String())
		s := out.String()
		assert.Contains(t, s, fmt.Sprintf("%d/tcp", openPort))
		assert.Regexp(t, fmt.Sprintf(`%d/tcp\s+open`, openPort), s)
		assert.Regexp(t, fmt.Sprintf(`%d/tcp\s+closed`, closedPort), s)
		assert.Contains(t, errb.String(), "100.0% done")
	}
}

func TestQuickscanBadInput(t *testing.T) {
	for _, args := range [][]string{
		{"-ports", "70000", "127.0.0.1"},
		{"-p", "70000", "127.0.0.1"},
		{"198.18.0.300"},
		{"-nosuchflag"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		assert.Equal(t, 2, code, "%v", args)
		assert.NotEmpty(t, strings.TrimSpace(errb.String()))
	}
	var out, errb bytes.Buffer
	run(context.Background(), []string{"-ports", "70000", "127.0.0.1"}, &out, &errb)
	assert.Contains(t, errb.String(), `"70000"`)
}

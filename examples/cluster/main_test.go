package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listen opens a loopback listener that accepts and closes; it returns
// its port and a port that was just closed.
func listen(t *testing.T) (open, closed int) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
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
	closed = gone.Addr().(*net.TCPAddr).Port
	gone.Close()
	return ln.Addr().(*net.TCPAddr).Port, closed
}

func TestEmbedded(t *testing.T) {
	open, closed := listen(t)
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-ports", fmt.Sprintf("%d,%d,1-20", open, closed), "-task-size", "4", "-all"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), fmt.Sprintf("127.0.0.1:%d/tcp open", open))
	assert.Contains(t, out.String(), fmt.Sprintf("127.0.0.1:%d/tcp closed", closed))
	assert.Contains(t, errb.String(), "6/6 tasks, 22 targets")
}

// -nats joins a real server: one process runs a worker, another the
// coordinator.
func TestJoinServer(t *testing.T) {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	require.NoError(t, err)
	go ns.Start()
	require.True(t, ns.ReadyForConnections(10*time.Second))
	defer ns.Shutdown()
	open, _ := listen(t)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var werr bytes.Buffer
	wg.Go(func() {
		if code := run(ctx, []string{"-nats", ns.ClientURL(), "-worker"}, &bytes.Buffer{}, &werr); code != 0 {
			t.Errorf("worker exited with %d", code)
		}
	})
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"-nats", ns.ClientURL(), "-coordinator", "-id", "join", "-ports", fmt.Sprint(open), "-progress", "0"}, &out, &errb)
	cancel()
	wg.Wait()
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), fmt.Sprintf("127.0.0.1:%d/tcp open", open))
	assert.Contains(t, werr.String(), "worker running against")

	// The finished scan can be replayed with -attach.
	out.Reset()
	code = run(context.Background(), []string{"-nats", ns.ClientURL(), "-coordinator", "-attach", "join", "-progress", "0"}, &out, &errb)
	require.Equal(t, 0, code, errb.String())
	assert.Contains(t, out.String(), fmt.Sprintf("127.0.0.1:%d/tcp open", open))
}

func TestBadArgs(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-nats", "nats://127.0.0.1:1"}, "say -worker or -coordinator"},
		{[]string{"-worker"}, "need -nats URL"},
		{[]string{"198.18.0.1"}, "unexpected argument"},
		{[]string{"-bogus"}, "flag provided but not defined"},
	} {
		var errb bytes.Buffer
		assert.Equal(t, 2, run(context.Background(), c.args, &bytes.Buffer{}, &errb), c.args)
		assert.Contains(t, errb.String(), c.want, c.args)
	}
	var errb bytes.Buffer
	assert.Equal(t, 1, run(context.Background(), []string{"-ports", "70000", "-progress", "0"}, &bytes.Buffer{}, &errb))
	assert.Contains(t, errb.String(), "70000")
}

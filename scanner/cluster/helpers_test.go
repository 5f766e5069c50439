package cluster

import (
	"context"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// natsServer is an embedded NATS server with JetStream on a file store
// that can be restarted on the same address and store.
type natsServer struct {
	t    testing.TB
	dir  string
	host string
	port int
	srv  *server.Server
}

func startNATS(t testing.TB, host string) *natsServer {
	t.Helper()
	s := &natsServer{t: t, dir: t.TempDir(), host: host, port: -1}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *natsServer) start() {
	s.t.Helper()
	srv, err := server.NewServer(&server.Options{
		Host: s.host, Port: s.port, JetStream: true, StoreDir: s.dir,
		NoLog: true, NoSigs: true,
	})
	require.NoError(s.t, err)
	go srv.Start()
	require.True(s.t, srv.ReadyForConnections(10*time.Second), "nats server not ready")
	s.srv = srv
	s.port = srv.Addr().(*net.TCPAddr).Port
}

func (s *natsServer) stop() {
	if s.srv != nil {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		s.srv = nil
	}
}

func (s *natsServer) restart() {
	s.stop()
	s.start()
}

func (s *natsServer) url() string {
	return "nats://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
}

func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	return nc
}

// startWorkers runs n workers on their own connections until the returned
// stop function is called (or the test ends).
func startWorkers(t testing.TB, url string, n int, cfg WorkerConfig) (stop []func()) {
	t.Helper()
	for i := range n {
		nc := connect(t, url)
		ctx, cancel := context.WithCancel(context.Background())
		c := cfg
		c.ID = "w" + strconv.Itoa(i)
		var wg sync.WaitGroup
		wg.Go(func() {
			if err := RunWorker(ctx, nc, &c); err != nil {
				t.Errorf("worker %s: %v", c.ID, err)
			}
		})
		f := sync.OnceFunc(func() { cancel(); wg.Wait() })
		t.Cleanup(f)
		stop = append(stop, f)
	}
	return stop
}

type key struct {
	addr  netip.Addr
	port  uint16
	proto target.Protocol
}

func keyOf(r result.Result) key { return key{r.AddrPort.Addr(), r.AddrPort.Port(), r.Proto} }

// collect reads a cluster scan to the end, failing on a duplicate.
func collect(t testing.TB, sc *Scan) map[key]result.Result {
	t.Helper()
	got := map[key]result.Result{}
	for r := range sc.Results() {
		k := keyOf(r)
		if _, dup := got[k]; dup {
			t.Errorf("%v reported twice", k)
		}
		got[k] = r
	}
	return got
}

// scanLocal scans spec's space with one local scanner, as one machine.
func scanLocal(t testing.TB, spec Spec) map[key]result.Result {
	t.Helper()
	spec = spec.withDefaults()
	p, err := spec.newProber()
	require.NoError(t, err)
	opts := spec.scannerOptions(0, 1)
	opts = append(opts, scanner.WithRate(0))
	s, err := scanner.New(p, opts...)
	require.NoError(t, err)
	sp, err := target.NewSpace(spec.Hosts, spec.Ports)
	require.NoError(t, err)
	got := map[key]result.Result{}
	for r, err := range s.All(context.Background(), sp) {
		require.NoError(t, err)
		got[keyOf(r)] = r
	}
	return got
}

// requireSame checks that two scans agree on every target's state and
// reason (RTT, TTL and tries differ between runs by nature).
func requireSame(t testing.TB, want, got map[key]result.Result) {
	t.Helper()
	require.Len(t, got, len(want))
	wrong := 0
	for k, w := range want {
		g, ok := got[k]
		if !ok || g.State != w.State || g.Reason != w.Reason {
			wrong++
			if wrong <= 10 {
				t.Errorf("%v: got %v/%v (present %v), want %v/%v", k, g.State, g.Reason, ok, w.State, w.Reason)
			}
		}
	}
	require.Zero(t, wrong, "targets that differ")
}

// listenLoopback opens n TCP listeners on 127.0.0.1 that accept and close.
func listenLoopback(t testing.TB, n int) []uint16 {
	t.Helper()
	var ports []uint16
	for range n {
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
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

package cluster_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/scanner/cluster"
	"github.com/portsense/portsense/target"
)

// A coordinator and three workers share one scan of loopback through an
// embedded NATS server. In production each worker runs on its own machine
// and connects to a real NATS server with nats.Connect(url, options...).
func Example() {
	dir, err := os.MkdirTemp("", "cluster-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		panic(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		panic("nats server not ready")
	}
	defer ns.Shutdown()

	// Something to find: a listener on loopback.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	open := uint16(ln.Addr().(*net.TCPAddr).Port)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for i := range 3 {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			panic(err)
		}
		defer nc.Close()
		wg.Go(func() {
			_ = cluster.RunWorker(ctx, nc, &cluster.WorkerConfig{ID: fmt.Sprintf("worker-%d", i)})
		})
	}

	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	co, err := cluster.NewCoordinator(ctx, nc, nil)
	if err != nil {
		panic(err)
	}
	ports := target.PortsOf(target.TCP, open).Merge(target.PortsOf(target.TCP, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10))
	scan, err := co.Start(ctx, "example", cluster.Spec{
		Hosts:    target.MustParseHosts("127.0.0.1"),
		Ports:    ports,
		Prober:   cluster.ProberSpec{Kind: cluster.KindConnect},
		Timing:   scanner.T4,
		TaskSize: 3, // tiny tasks, so that every worker gets some
	})
	if err != nil {
		panic(err)
	}
	n, found := 0, false
	for r := range scan.Results() {
		n++
		if r.State == result.Open && r.AddrPort.Port() == open {
			found = true
		}
	}
	if err := scan.Wait(); err != nil {
		panic(err)
	}
	p := scan.Progress()
	fmt.Printf("%d results from %d tasks; listener open: %v\n", n, p.TasksDone, found)
	// Output:
	// 11 results from 4 tasks; listener open: true
}

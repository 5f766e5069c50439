// Cluster spreads one scan over several workers through NATS JetStream
// (package scanner/cluster).
//
// With no flags it is a whole cluster in one process: an embedded NATS
// server (JetStream in a temporary directory), a coordinator and three
// workers, scanning TCP ports 1-1024 of 127.0.0.1 with connect probes:
//
//	go run ./examples/cluster
//	go run ./examples/cluster -ports 1-65535 -workers 4 -all
//
// Against a real NATS server (JetStream enabled), run workers on as many
// machines as you like and one coordinator:
//
//	go run ./examples/cluster -nats nats://nats.example:4222 -worker
//	go run ./examples/cluster -nats nats://nats.example:4222 -coordinator -hosts 198.18.0.0/20 -ports 1-1024 -id scan1
//	go run ./examples/cluster -nats … -coordinator -attach scan1   # resume after a restart
//	go run ./examples/cluster -nats … -coordinator -cancel scan1
//
// Credentials and TLS go through nats.go options (-creds, -tls-ca,
// -tls-cert, -tls-key). Open ports are printed as they are merged (-all
// prints every port); progress goes to stderr. Scan only hosts you are
// allowed to scan.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/scanner/cluster"
	"github.com/portsense/portsense/target"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	natsURL, creds, tlsCA, tlsCert, tlsKey string
	worker, coordinator                    bool
	id, attach, cancel                     string
	hosts, ports, timing, kind             string
	seed                                   uint64
	rate                                   float64
	slots, tasks, workers                  int
	taskSize                               uint64
	all                                    bool
	progress                               time.Duration
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.natsURL, "nats", "", "NATS server URL; empty runs an embedded server, coordinator and workers in this process")
	fs.StringVar(&o.creds, "creds", "", "NATS credentials file")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate file for the NATS server's TLS")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "client certificate file for NATS TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "client key file for NATS TLS")
	fs.BoolVar(&o.worker, "worker", false, "with -nats: run a worker until interrupted")
	fs.BoolVar(&o.coordinator, "coordinator", false, "with -nats: start (or -attach, -cancel) a scan and print its results")
	fs.StringVar(&o.id, "id", "", "scan ID (default scan-<unix time>)")
	fs.StringVar(&o.attach, "attach", "", "resume scan ID instead of starting one")
	fs.StringVar(&o.cancel, "cancel", "", "cancel scan ID")
	fs.StringVar(&o.hosts, "hosts", "127.0.0.1", "hosts to scan (addresses, prefixes, ranges)")
	fs.StringVar(&o.ports, "ports", "1-1024", "TCP ports to scan, nmap syntax")
	fs.StringVar(&o.timing, "T", "T4", "timing template T0-T5")
	fs.StringVar(&o.kind, "prober", cluster.KindConnect, "prober kind: connect or syn (syn needs CAP_NET_RAW on the workers)")
	fs.Uint64Var(&o.seed, "seed", 0, "permutation seed")
	fs.Float64Var(&o.rate, "rate", 0, "scan-wide ceiling in probes per second (0: none)")
	fs.IntVar(&o.slots, "slots", 0, "tasks running at once across all workers (default 8)")
	fs.Uint64Var(&o.taskSize, "task-size", 0, "targets per task (default 4096; 128 in embedded mode)")
	fs.IntVar(&o.tasks, "tasks", 2, "tasks each worker runs at once")
	fs.IntVar(&o.workers, "workers", 3, "workers in this process (embedded mode)")
	fs.BoolVar(&o.all, "all", false, "print every port, not only open ones")
	fs.DurationVar(&o.progress, "progress", time.Second, "progress report interval on stderr (0: none)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "cluster: unexpected argument %q (use -hosts)\n", fs.Arg(0))
		return 2
	}
	if o.natsURL != "" && !o.worker && !o.coordinator {
		fmt.Fprintln(stderr, "cluster: with -nats, say -worker or -coordinator (or both)")
		return 2
	}
	if o.natsURL == "" && (o.worker || o.coordinator) {
		fmt.Fprintln(stderr, "cluster: -worker and -coordinator need -nats URL")
		return 2
	}
	if err := runMode(ctx, &o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "cluster: %v\n", err)
		return 1
	}
	return 0
}

func runMode(ctx context.Context, o *options, stdout, stderr io.Writer) error {
	url := o.natsURL
	if url == "" {
		dir, err := os.MkdirTemp("", "portsense-cluster-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
		if err != nil {
			return err
		}
		go ns.Start()
		if !ns.ReadyForConnections(10 * time.Second) {
			return errors.New("embedded NATS server did not start")
		}
		defer ns.Shutdown()
		url = ns.ClientURL()
		o.worker, o.coordinator = true, true
		if o.taskSize == 0 {
			o.taskSize = 128 // small tasks, so that every worker of the demo gets some
		}
	} else {
		o.workers = 1
	}
	connect := func(name string) (*nats.Conn, error) {
		opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(time.Second)}
		if o.creds != "" {
			opts = append(opts, nats.UserCredentials(o.creds))
		}
		if o.tlsCA != "" {
			opts = append(opts, nats.RootCAs(o.tlsCA))
		}
		if o.tlsCert != "" || o.tlsKey != "" {
			opts = append(opts, nats.ClientCert(o.tlsCert, o.tlsKey))
		}
		return nats.Connect(url, opts...)
	}

	wctx, stopWorkers := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var conns []*nats.Conn
	defer func() { // workers first, then their connections
		stopWorkers()
		wg.Wait()
		for _, nc := range conns {
			nc.Close()
		}
	}()
	errc := make(chan error, o.workers)
	if o.worker {
		host, _ := os.Hostname()
		for i := range o.workers {
			nc, err := connect("portsense worker")
			if err != nil {
				return err
			}
			conns = append(conns, nc)
			id := fmt.Sprintf("%s-%d-%d", host, os.Getpid(), i)
			wg.Go(func() { errc <- cluster.RunWorker(wctx, nc, &cluster.WorkerConfig{ID: id, Tasks: o.tasks}) })
		}
	}
	if !o.coordinator {
		fmt.Fprintf(stderr, "worker running against %s; interrupt to stop\n", url)
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			return err
		}
	}
	nc, err := connect("portsense coordinator")
	if err != nil {
		return err
	}
	defer nc.Close()
	co, err := cluster.NewCoordinator(ctx, nc, nil)
	if err != nil {
		return err
	}
	if o.cancel != "" {
		if err := co.Cancel(ctx, o.cancel); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "cancelled %s\n", o.cancel)
		return nil
	}
	var scan *cluster.Scan
	if o.attach != "" {
		if scan, err = co.Attach(ctx, o.attach); err != nil {
			return err
		}
	} else {
		spec, err := o.spec(ctx)
		if err != nil {
			return err
		}
		id := o.id
		if id == "" {
			id = fmt.Sprintf("scan-%d", time.Now().Unix())
		}
		if scan, err = co.Start(ctx, id, spec); err != nil {
			return err
		}
	}
	fmt.Fprintf(stderr, "scan %s: %d targets in %d tasks\n", scan.ID(), scan.Progress().Targets, scan.Progress().Tasks)
	stopProgress := reportProgress(scan, o.progress, stderr)
	counts := map[result.State]int{}
	for r := range scan.Results() {
		counts[r.State]++
		if o.all || r.State == result.Open {
			fmt.Fprintln(stdout, r)
		}
	}
	stopProgress()
	err = scan.Wait()
	p := scan.Progress()
	fmt.Fprintf(stderr, "%d/%d tasks, %d targets in %v: %d open, %d closed, %d filtered; %d tasks finished by a redelivery\n",
		p.TasksDone, p.Tasks, p.TargetsDone, p.Elapsed.Round(time.Millisecond),
		counts[result.Open], counts[result.Closed], counts[result.Filtered], p.Redelivered)
	for _, w := range p.Workers {
		fmt.Fprintf(stderr, "  worker %s: %d tasks, %d targets, %.0f targets/s while busy\n", w.ID, w.TasksDone, w.TargetsDone, w.AvgRate)
	}
	return err
}

func (o *options) spec(ctx context.Context) (cluster.Spec, error) {
	hs, err := target.ParseHosts(o.hosts)
	if err != nil {
		return cluster.Spec{}, err
	}
	hosts, err := hs.Resolve(ctx, nil) // names are resolved once, here
	if err != nil {
		return cluster.Spec{}, err
	}
	ports, err := target.ParsePorts(o.ports, target.TCP)
	if err != nil {
		return cluster.Spec{}, err
	}
	timing, err := scanner.ParseTiming(o.timing)
	if err != nil {
		return cluster.Spec{}, err
	}
	return cluster.Spec{
		Hosts: hosts, Ports: ports, Seed: o.seed, Prober: cluster.ProberSpec{Kind: o.kind},
		Timing: timing, Rate: o.rate, Slots: o.slots, TaskSize: o.taskSize,
	}, nil
}

// reportProgress prints a progress line every interval until stopped.
func reportProgress(scan *cluster.Scan, every time.Duration, w io.Writer) (stop func()) {
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			p := scan.Progress()
			fmt.Fprintf(w, "progress: %d/%d tasks done, %d running, %d stragglers, %d workers\n",
				p.TasksDone, p.Tasks, len(p.Running), len(p.Stragglers), len(p.Workers))
		}
	})
	return func() { close(done); wg.Wait() }
}

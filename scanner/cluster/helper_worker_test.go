package cluster

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
)

// Environment of a helper worker process: the test binary re-executed
// with envWorkerURL set runs RunWorker against that server instead of
// the tests (see TestMain).
const (
	envWorkerURL   = "PORTSENSE_CLUSTER_WORKER_URL"
	envWorkerID    = "PORTSENSE_CLUSTER_WORKER_ID"
	envWorkerTasks = "PORTSENSE_CLUSTER_WORKER_TASKS"
)

// runHelperWorker runs a worker process when the environment asks for one
// and exits; otherwise it returns false.
func runHelperWorker() bool {
	url := os.Getenv(envWorkerURL)
	if url == "" {
		return false
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond),
		nats.RetryOnFailedConnect(true))
	if err != nil {
		fmt.Fprintf(os.Stderr, "helper worker: %v\n", err)
		os.Exit(2)
	}
	defer nc.Close()
	tasks, _ := strconv.Atoi(os.Getenv(envWorkerTasks))
	cfg := &WorkerConfig{ID: os.Getenv(envWorkerID), Tasks: tasks,
		Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }}
	if err := RunWorker(ctx, nc, cfg); err != nil {
		fmt.Fprintf(os.Stderr, "helper worker: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
	return true
}

// Environment of a helper coordinator process: it starts (with a spec in
// JSON) or attaches to a scan, prints every merged result as one line
// (result.String), then "END <tasks merged from a redelivery>" and exits 0
// when the scan completes.
const (
	envCoordURL  = "PORTSENSE_CLUSTER_COORD_URL"
	envCoordID   = "PORTSENSE_CLUSTER_COORD_ID"
	envCoordSpec = "PORTSENSE_CLUSTER_COORD_SPEC" // empty: attach
)

func runHelperCoordinator() bool {
	url := os.Getenv(envCoordURL)
	if url == "" {
		return false
	}
	fail := func(err error) {
		fmt.Fprintf(os.Stderr, "helper coordinator: %v\n", err)
		os.Exit(1)
	}
	ctx := context.Background()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		fail(err)
	}
	co, err := NewCoordinator(ctx, nc, nil)
	if err != nil {
		fail(err)
	}
	var sc *Scan
	if js := os.Getenv(envCoordSpec); js != "" {
		var spec Spec
		if err := spec.UnmarshalJSON([]byte(js)); err != nil {
			fail(err)
		}
		sc, err = co.Start(ctx, os.Getenv(envCoordID), spec)
	} else {
		sc, err = co.Attach(ctx, os.Getenv(envCoordID))
	}
	if err != nil {
		fail(err)
	}
	w := bufio.NewWriter(os.Stdout)
	for r := range sc.Results() {
		fmt.Fprintln(w, r)
		if w.Buffered() > 32<<10 {
			w.Flush()
		}
	}
	if err := sc.Wait(); err != nil {
		w.Flush()
		fail(err)
	}
	fmt.Fprintf(w, "END %d\n", sc.Progress().Redelivered)
	w.Flush()
	os.Exit(0)
	return true
}

package cluster

import (
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

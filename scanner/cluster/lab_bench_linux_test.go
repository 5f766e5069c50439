package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// envBench turns on TestLabClusterThroughput, which measures rather than
// checks and takes about a minute.
const envBench = "PORTSENSE_CLUSTER_BENCH"

// TestLabClusterThroughput measures the lab's /20 × 20 ports connect scan
// on 1, 2 and 3 worker processes, the per-task overhead (one worker, one
// task at a time, small against large tasks) and the coordinator's merge
// rate (replaying a finished scan). Run as root:
//
//	PORTSENSE_CLUSTER_BENCH=1 go test -run TestLabClusterThroughput -v ./scanner/cluster/
func TestLabClusterThroughput(t *testing.T) {
	if os.Getenv(envBench) != "1" {
		t.Skipf("measurement only: set %s=1", envBench)
	}
	cl := newClusterLab(t, 3)
	base := cl.spec(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	co, err := NewCoordinator(ctx, labConn(t, cl), nil)
	require.NoError(t, err)

	t0 := time.Now()
	want := scanLocal(t, base)
	single := time.Since(t0)
	t.Logf("single machine (one scanner in S, no NATS): %d targets in %v: %.0f targets/s", len(want), single.Round(time.Millisecond), float64(len(want))/single.Seconds())

	run := func(name string, workers, tasksEach int, spec Spec) time.Duration {
		var procs []*exec.Cmd
		for i := range workers {
			procs = append(procs, cl.startWorker(t, i, tasksEach))
		}
		t0 := time.Now()
		sc, err := co.Start(ctx, name, spec)
		require.NoError(t, err)
		got := collect(t, sc)
		require.NoError(t, sc.Wait())
		el := time.Since(t0)
		requireSame(t, want, got)
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
		return el
	}
	var one time.Duration
	for n := 1; n <= 3; n++ {
		spec := base
		spec.Slots = 2 * n
		el := run(fmt.Sprintf("bench-w%d", n), n, 2, spec)
		if n == 1 {
			one = el
		}
		t.Logf("%d worker processes (2 tasks each, %d tasks of %d): %v: %.0f targets/s, speed-up %.2f over one worker, %.2f over the single machine",
			n, spec.Tasks(), spec.TaskSize, el.Round(time.Millisecond), float64(len(want))/el.Seconds(), one.Seconds()/el.Seconds(), single.Seconds()/el.Seconds())
	}

	// Per-task overhead: one worker, one task at a time.
	times := map[uint64]time.Duration{}
	counts := map[uint64]uint64{}
	for _, size := range []uint64{8192, 512} {
		spec := base
		spec.Slots, spec.TaskSize = 1, size
		times[size] = run(fmt.Sprintf("bench-size%d", size), 1, 1, spec)
		counts[size] = spec.Tasks()
		t.Logf("1 worker, 1 task at a time, %d tasks of %d: %v", counts[size], size, times[size].Round(time.Millisecond))
	}
	over := (times[512] - times[8192]) / time.Duration(counts[512]-counts[8192])
	t.Logf("per-task overhead: %v (from %d extra tasks)", over, counts[512]-counts[8192])

	// The coordinator's merge rate: replay a finished scan.
	t0 = time.Now()
	sc, err := co.Attach(ctx, "bench-w3")
	require.NoError(t, err)
	n := len(collect(t, sc))
	require.NoError(t, sc.Wait())
	el := time.Since(t0)
	t.Logf("coordinator replay/merge of %d results: %v: %.0f results/s", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

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

	"github.com/portsense/portsense/target"
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
	// Uncapped: on a shared machine this measures its CPU, not the cluster.
	// Capped: every task (so every worker, at 2 tasks each) gets a fixed
	// share of the rate, as if each worker were a machine of that speed;
	// this shows whether the distribution itself scales.
	for _, capped := range []bool{false, true} {
		var one time.Duration
		for n := 1; n <= 3; n++ {
			spec := base
			spec.Slots = 2 * n
			what := "uncapped"
			if capped {
				spec.Rate = 2500 * float64(spec.Slots) // 2500 probes/s per task, 5000 per worker
				what = "capped at 5000/s per worker"
			}
			el := run(fmt.Sprintf("bench-%v-w%d", capped, n), n, 2, spec)
			if n == 1 {
				one = el
			}
			t.Logf("%s: %d worker processes (2 tasks each, %d tasks of %d): %v: %.0f targets/s, speed-up %.2f over one worker, %.2f over the single machine",
				what, n, spec.Tasks(), spec.TaskSize, el.Round(time.Millisecond), float64(len(want))/el.Seconds(), one.Seconds()/el.Seconds(), single.Seconds()/el.Seconds())
		}
	}

	// Per-task overhead: tasks of one target each (one closed port: a
	// loopback-fast RST), one worker, one task at a time. Everything but
	// the one probe is overhead: fetch, spec lookup, scanner and prober
	// start, result publish, ack, merge.
	{
		spec := base
		spec.Hosts = target.MustParseHosts("198.19.0.0/24")
		spec.Ports = target.PortsOf(target.TCP, 21)
		spec.Slots, spec.TaskSize = 1, 1
		var procs []*exec.Cmd
		procs = append(procs, cl.startWorker(t, 0, 1))
		t0 := time.Now()
		sc, err := co.Start(ctx, "bench-overhead", spec)
		require.NoError(t, err)
		n := len(collect(t, sc))
		require.NoError(t, sc.Wait())
		el := time.Since(t0)
		require.Equal(t, 256, n)
		t.Logf("per-task overhead: %d one-target tasks, one at a time: %v: %v per task", spec.Tasks(), el.Round(time.Millisecond), (el / time.Duration(spec.Tasks())).Round(10*time.Microsecond))
		for _, p := range procs {
			_ = p.Process.Signal(syscall.SIGTERM)
			_ = p.Wait()
		}
	}

	// The coordinator's merge rate: replay a finished scan.
	t0 = time.Now()
	sc, err := co.Attach(ctx, "bench-false-w3")
	require.NoError(t, err)
	n := len(collect(t, sc))
	require.NoError(t, sc.Wait())
	el := time.Since(t0)
	t.Logf("coordinator replay/merge of %d results: %v: %.0f results/s", n, el.Round(time.Millisecond), float64(n)/el.Seconds())
}

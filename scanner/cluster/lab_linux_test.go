package cluster

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// clusterLab is the lab of the distributed tests:
//
//	worker namespaces W1..Wn  --veth--  scanner namespace S  --veth--  target T
//	(one worker process each)           (NATS, coordinator)           (AnyIP /20)
//
// S is the test's own namespace (netlab.Main): no route out, forwarding on,
// so workers reach T through it and NATS over their veths. Worker
// namespaces only route the lab space (198.18.0.0/15) towards S.
type clusterLab struct {
	lab     *netlab.Lab
	target  *netlab.Host
	workers []*netlab.Host
	prefix  netip.Prefix
	open    []uint16
	nats    *natsServer
}

// labPorts: 20 ports, 5 of them open on every address of the /20.
var labPorts = "T:21-25,80,443,3306,5432,6379,8000-8009"
var labOpen = []uint16{22, 80, 443, 5432, 8001}

func newClusterLab(t *testing.T, workers int) *clusterLab {
	lab := netlab.New(t) // skips unless root on Linux
	cl := &clusterLab{lab: lab, prefix: netip.MustParsePrefix("198.19.0.0/20"), open: labOpen}
	cl.target = lab.AddHost(netlab.HostConfig{})
	cl.target.AnyIP(t, cl.prefix)
	cl.target.ListenTCP(t, cl.open...)
	for range workers {
		cl.workers = append(cl.workers, lab.AddHost(netlab.HostConfig{}))
	}
	// Let S route between the worker links and the target link.
	require.NoError(t, os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0))
	cl.nats = startNATS(t, "0.0.0.0")
	return cl
}

// natsURL is the server's address as seen from worker namespace w.
func (cl *clusterLab) natsURL(w *netlab.Host) string {
	return fmt.Sprintf("nats://%s:%d", w.Local4, cl.nats.port)
}

// startWorker starts a worker process (this test binary, re-executed) in
// worker namespace i.
func (cl *clusterLab) startWorker(t *testing.T, i, tasks int) *exec.Cmd {
	exe, err := os.Executable()
	require.NoError(t, err)
	w := cl.workers[i]
	t.Setenv(envWorkerURL, cl.natsURL(w))
	t.Setenv(envWorkerID, "proc"+strconv.Itoa(i))
	t.Setenv(envWorkerTasks, strconv.Itoa(tasks))
	return w.Start(t, exe, "-test.run=^$")
}

func (cl *clusterLab) spec(t *testing.T) Spec {
	ports, err := target.ParsePorts(labPorts, target.TCP)
	require.NoError(t, err)
	// Nothing in this lab is filtered: extra retries cost nothing on a
	// clean run and keep a CPU-starved moment (the CI machine is shared)
	// from passing for silence.
	retries := 4
	return Spec{
		MinRetries: &retries,
		Hosts:      target.MustParseHosts(cl.prefix.String()), Ports: ports, Seed: 2026,
		Prober: ProberSpec{Kind: KindConnect}, Timing: scanner.T4,
		TaskSize: 2048, Slots: 6, AckWait: 3 * time.Second,
	}
}

func labConn(t *testing.T, cl *clusterLab) *nats.Conn {
	return connect(t, cl.nats.url())
}

// Three worker processes in three namespaces scan a /20 × 20 ports through
// one coordinator; then a second scan survives a SIGKILLed worker, a
// coordinator restart and a NATS server restart. Both equal a
// single-machine scan of the same space exactly.
func TestLabCluster(t *testing.T) {
	cl := newClusterLab(t, 3)
	spec := cl.spec(t)
	t0 := time.Now()
	want := scanLocal(t, spec)
	t.Logf("single machine: %d targets in %v", len(want), time.Since(t0))
	require.Len(t, want, 4096*20)
	opens := 0
	for _, r := range want {
		if r.State.String() == "open" {
			opens++
		}
	}
	require.Equal(t, 4096*len(cl.open), opens, "every address of the /20 answers on the open ports")

	procs := make([]*exec.Cmd, 3)
	for i := range procs {
		procs[i] = cl.startWorker(t, i, 2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	t.Run("three workers", func(t *testing.T) {
		co, err := NewCoordinator(ctx, labConn(t, cl), nil)
		require.NoError(t, err)
		t0 := time.Now()
		sc, err := co.Start(ctx, "lab-three", spec)
		require.NoError(t, err)
		got := collect(t, sc)
		require.NoError(t, sc.Wait())
		el := time.Since(t0)
		requireSame(t, want, got)
		p := sc.Progress()
		t.Logf("3 worker processes: %d targets, %d tasks in %v (%.0f targets/s); late attempts %d", len(got), p.Tasks, el, float64(len(got))/el.Seconds(), p.LateAttempts)
		for _, w := range p.Workers {
			t.Logf("  %s: %d tasks, %d targets, %.0f targets/s while busy", w.ID, w.TasksDone, w.TargetsDone, w.AvgRate)
		}
		assert.Len(t, p.Workers, 3, "all three workers took tasks")
	})

	// The SYN prober and its options cross the wire too: the workers build
	// raw-socket probers from the spec in their own namespaces.
	t.Run("syn", func(t *testing.T) {
		spec := spec
		spec.Hosts = target.MustParseHosts("198.19.1.0/24")
		spec.Prober = ProberSpec{Kind: KindSYN, SYN: &SYNSpec{SourcePort: 50000, TTL: 60}}
		spec.TaskSize = 512
		want := scanLocal(t, spec)
		require.Len(t, want, 256*20)
		co, err := NewCoordinator(ctx, labConn(t, cl), nil)
		require.NoError(t, err)
		sc, err := co.Start(ctx, "lab-syn", spec)
		require.NoError(t, err)
		got := collect(t, sc)
		require.NoError(t, sc.Wait())
		requireSame(t, want, got)
		for _, r := range got {
			require.Contains(t, []result.Reason{result.SynAck, result.Reset}, r.Reason, "%v", r)
		}
		t.Logf("syn: %d targets, %d tasks, %d workers", len(got), sc.Progress().Tasks, len(sc.Progress().Workers))
	})

	t.Run("kill worker, restart coordinator and server", func(t *testing.T) {
		spec := spec
		spec.Rate = 8000 // about ten seconds, so that all of it happens mid-scan
		spec.TaskSize = 1024
		nc := labConn(t, cl)
		co, err := NewCoordinator(ctx, nc, nil)
		require.NoError(t, err)
		sc, err := co.Start(ctx, "lab-chaos", spec)
		require.NoError(t, err)
		got := map[key]bool{}
		var dups int
		read := func(sc *Scan, until func(Progress) bool) {
			for r := range sc.Results() {
				k := keyOf(r)
				if got[k] {
					dups++
				}
				got[k] = true
				if until != nil && until(sc.Progress()) {
					return
				}
			}
		}
		frac := func(f float64) func(Progress) bool {
			return func(p Progress) bool { return float64(p.TasksDone) >= f*float64(p.Tasks) }
		}
		// SIGKILL a worker while it runs a task.
		read(sc, func(p Progress) bool {
			for _, r := range p.Running {
				if r.Worker == "proc0" {
					return frac(0.1)(p)
				}
			}
			return false
		})
		require.NoError(t, procs[0].Process.Signal(syscall.SIGKILL))
		t.Logf("killed proc0 at %d/%d tasks", sc.Progress().TasksDone, sc.Progress().Tasks)

		// Restart the coordinator: drop the handle and the connection.
		read(sc, frac(0.3))
		sc.Stop()
		for range sc.Results() {
		}
		nc.Close()
		t.Logf("coordinator stopped at %d/%d tasks", sc.Progress().TasksDone, sc.Progress().Tasks)
		co, err = NewCoordinator(ctx, labConn(t, cl), nil)
		require.NoError(t, err)
		sc2, err := co.Attach(ctx, "lab-chaos")
		require.NoError(t, err)
		// The new coordinator replays: start counting again.
		got, dups = map[key]bool{}, 0
		read(sc2, frac(0.6))
		t.Logf("restarting NATS at %d/%d tasks", sc2.Progress().TasksDone, sc2.Progress().Tasks)
		cl.nats.restart()
		final := map[key]bool{}
		for k := range got {
			final[k] = true
		}
		rest := collect(t, sc2)
		require.NoError(t, sc2.Wait())
		for k := range rest {
			if final[k] {
				dups++
			}
			final[k] = true
		}
		require.Zero(t, dups, "duplicate results")
		require.Len(t, final, len(want))
		// Same states as the single machine: collect the resumed scan's
		// full result set once more from the stream (a replay).
		replay, err := co.Attach(ctx, "lab-chaos")
		require.NoError(t, err)
		all := collect(t, replay)
		require.NoError(t, replay.Wait())
		requireSame(t, want, all)
		p := sc2.Progress()
		t.Logf("chaos scan: %d tasks, %d merged from a redelivery, late attempts %d, bad chunks %d", p.Tasks, p.Redelivered, p.LateAttempts, p.BadChunks)
		assert.Positive(t, p.Redelivered, "the killed worker's task was finished elsewhere")
		assert.Zero(t, p.BadChunks)
		for _, w := range p.Workers {
			t.Logf("  %s: %d tasks", w.ID, w.TasksDone)
		}
	})
}

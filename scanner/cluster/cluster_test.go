package cluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// loopbackSpec is a connect scan of 127.0.0.1-127.0.0.<hosts> × the open
// ports plus closed neighbours. Linux answers all of 127/8.
func loopbackSpec(t testing.TB, hosts int, open []uint16, extra int) Spec {
	t.Helper()
	var ps []string
	for _, p := range open {
		ps = append(ps, fmt.Sprint(p))
	}
	ps = append(ps, fmt.Sprintf("40000-%d", 40000+extra-1))
	ports, err := target.ParsePorts(strings.Join(ps, ","), target.TCP)
	require.NoError(t, err)
	hs, err := target.ParseHosts(fmt.Sprintf("127.0.0.1-127.0.0.%d", hosts))
	require.NoError(t, err)
	h, err := hs.Resolve(context.Background(), nil)
	require.NoError(t, err)
	retries := 4 // nothing is filtered: keep a CPU-starved moment from passing for silence
	return Spec{Hosts: h, Ports: ports, Seed: 42, Prober: ProberSpec{Kind: KindConnect}, MinRetries: &retries,
		Timing: scanner.T4, TaskSize: 50, AckWait: 2 * time.Second}
}

func TestClusterLoopback(t *testing.T) {
	ns := startNATS(t, "127.0.0.1")
	open := listenLoopback(t, 3)
	spec := loopbackSpec(t, 8, open, 40)
	want := scanLocal(t, spec)
	startWorkers(t, ns.url(), 3, WorkerConfig{Tasks: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	co, err := NewCoordinator(ctx, connect(t, ns.url()), nil)
	require.NoError(t, err)
	sc, err := co.Start(ctx, "loop", spec)
	require.NoError(t, err)
	got := collect(t, sc)
	require.NoError(t, sc.Wait())
	requireSame(t, want, got)
	for _, p := range open {
		k := key{spec.Hosts.At(0), p, target.TCP}
		assert.Equal(t, result.Open, got[k].State, "%v", k)
	}
	pr := sc.Progress()
	assert.Equal(t, spec.Tasks(), pr.Tasks)
	assert.Equal(t, pr.Tasks, pr.TasksDone)
	assert.Equal(t, uint64(len(want)), pr.TargetsDone)
	assert.NotEmpty(t, pr.Workers)
	var tasks uint64
	for _, w := range pr.Workers {
		tasks += w.TasksDone
	}
	assert.Equal(t, pr.Tasks, tasks, "per-worker task counts add up")

	// A finished scan can be replayed, and its ID cannot be reused.
	_, err = co.Start(ctx, "loop", spec)
	require.ErrorIs(t, err, ErrScanExists)
	again, err := co.Attach(ctx, "loop")
	require.NoError(t, err)
	requireSame(t, want, collect(t, again))
	require.NoError(t, again.Wait())
	require.NoError(t, co.Delete(ctx, "loop"))
	_, err = co.Attach(ctx, "loop")
	require.ErrorIs(t, err, ErrNoScan)
}

// The coordinator stops and resumes, the server restarts and a worker
// stops mid-scan: the merged results are still those of one machine,
// each target once.
func TestClusterSurvivesRestarts(t *testing.T) {
	ns := startNATS(t, "127.0.0.1")
	open := listenLoopback(t, 2)
	spec := loopbackSpec(t, 16, open, 60)
	spec.Rate = 3000 // a few seconds, so that everything happens mid-scan
	spec.Slots = 4
	spec.TaskSize = 100
	want := scanLocal(t, spec)
	stop := startWorkers(t, ns.url(), 2, WorkerConfig{Tasks: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	co, err := NewCoordinator(ctx, connect(t, ns.url()), nil)
	require.NoError(t, err)
	first, err := co.Start(ctx, "restarts", spec)
	require.NoError(t, err)
	// Read a few results, then stop this coordinator's handle.
	for range 300 {
		<-first.Results()
	}
	first.Stop()
	for range first.Results() {
	}
	require.ErrorIs(t, first.Wait(), context.Canceled)

	ns.restart()
	stop[0]() // one worker leaves; its running tasks go back to the queue

	sc, err := co.Attach(ctx, "restarts")
	require.NoError(t, err)
	got := collect(t, sc)
	require.NoError(t, sc.Wait())
	requireSame(t, want, got)
	t.Logf("progress: %+v", sc.Progress())
}

func TestClusterCancel(t *testing.T) {
	ns := startNATS(t, "127.0.0.1")
	spec := loopbackSpec(t, 32, nil, 100)
	spec.Rate = 500
	spec.Slots = 2
	startWorkers(t, ns.url(), 1, WorkerConfig{})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	co, err := NewCoordinator(ctx, connect(t, ns.url()), nil)
	require.NoError(t, err)
	sc, err := co.Start(ctx, "cancel-me", spec)
	require.NoError(t, err)
	<-sc.Results()
	require.NoError(t, co.Cancel(ctx, "cancel-me"))
	for range sc.Results() {
	}
	require.ErrorIs(t, sc.Wait(), ErrCancelled)
	_, err = co.Attach(ctx, "cancel-me")
	require.ErrorIs(t, err, ErrCancelled)
	assert.Less(t, sc.Progress().TasksDone, sc.Progress().Tasks)
}

func TestClusterBadInput(t *testing.T) {
	ns := startNATS(t, "127.0.0.1")
	ctx := context.Background()
	co, err := NewCoordinator(ctx, connect(t, ns.url()), nil)
	require.NoError(t, err)
	spec := loopbackSpec(t, 1, nil, 2)
	_, err = co.Start(ctx, "bad id!", spec)
	require.ErrorContains(t, err, `character ' ' not allowed`)
	_, err = co.Start(ctx, "", spec)
	require.ErrorContains(t, err, "bad scan id")
	bad := spec
	bad.Prober.Kind = "udp"
	_, err = co.Start(ctx, "x", bad)
	require.ErrorContains(t, err, `unknown kind "udp"`)
	_, err = co.Attach(ctx, "nope")
	require.ErrorIs(t, err, ErrNoScan)
	_, err = NewCoordinator(ctx, nil, nil)
	require.Error(t, err)
	_, err = NewCoordinator(ctx, connect(t, ns.url()), &Config{Prefix: "a.b"})
	require.ErrorContains(t, err, "bad prefix")
	require.Error(t, RunWorker(ctx, nil, nil))
	require.ErrorContains(t, RunWorker(ctx, connect(t, ns.url()), &WorkerConfig{Tasks: -1}), "must be >= 0")
	require.True(t, errors.Is(co.Cancel(ctx, "nope"), ErrNoScan))
}

// A task that fails on every delivery fails the scan once it reaches
// MaxDeliver, with the worker's error in the message.
func TestClusterMaxDeliver(t *testing.T) {
	ns := startNATS(t, "127.0.0.1")
	spec := loopbackSpec(t, 4, nil, 10)
	spec.MaxDeliver = 2
	spec.TaskSize = 5
	startWorkers(t, ns.url(), 1, WorkerConfig{failTask: func(k uint64) error {
		if k == 1 {
			return errors.New("disk on fire")
		}
		return nil
	}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	co, err := NewCoordinator(ctx, connect(t, ns.url()), nil)
	require.NoError(t, err)
	sc, err := co.Start(ctx, "poison", spec)
	require.NoError(t, err)
	for range sc.Results() {
	}
	err = sc.Wait()
	require.ErrorContains(t, err, "task 1")
	require.ErrorContains(t, err, "disk on fire")
	require.ErrorContains(t, err, "delivered 2 times")
	_, err = co.Attach(ctx, "poison")
	require.ErrorContains(t, err, "failed")
}

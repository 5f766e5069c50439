package cluster

import (
	"bufio"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

	t.Run("kill worker, kill coordinator, restart server", func(t *testing.T) {
		spec := spec
		spec.Rate = 8000 // about ten seconds, so that all of it happens mid-scan
		spec.TaskSize = 1024
		sj, err := spec.MarshalJSON()
		require.NoError(t, err)
		n := len(want)

		// Coordinator A (a process) starts the scan; SIGKILL a worker at
		// 10 % of the results, then SIGKILL A itself at 30 %.
		a := startCoordinator(t, cl.nats.url(), "lab-chaos", sj)
		lines := 0
		for lines < n*3/10 && a.out.Scan() {
			if lines++; lines == n/10 {
				require.NoError(t, procs[0].Process.Signal(syscall.SIGKILL))
				t.Logf("SIGKILLed worker proc0 at %d results", lines)
			}
		}
		require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
		_ = a.cmd.Wait()
		t.Logf("SIGKILLed coordinator A at %d results", lines)

		// Coordinator B attaches: it replays what A merged and finishes;
		// the NATS server restarts at 60 %.
		b := startCoordinator(t, cl.nats.url(), "lab-chaos", nil)
		got := map[key]result.Result{}
		dups, end := 0, ""
		for b.out.Scan() {
			line := b.out.Text()
			if strings.HasPrefix(line, "END ") {
				end = line
				break
			}
			r := parseResultLine(t, line)
			if _, dup := got[keyOf(r)]; dup {
				dups++
			}
			got[keyOf(r)] = r
			if len(got) == n*6/10 {
				t.Logf("restarting NATS at %d results", len(got))
				cl.nats.restart()
			}
		}
		require.NoError(t, b.cmd.Wait(), "coordinator B")
		require.NotEmpty(t, end, "coordinator B finished the scan")
		require.Zero(t, dups, "duplicate results")
		requireSame(t, want, got)
		redelivered, err := strconv.Atoi(strings.TrimPrefix(end, "END "))
		require.NoError(t, err)
		t.Logf("chaos scan complete: %d results, %d tasks merged from a redelivery", len(got), redelivered)
		assert.Positive(t, redelivered, "the killed worker's task was finished elsewhere")
	})
}

type coordProc struct {
	cmd *exec.Cmd
	out *bufio.Scanner
}

// startCoordinator runs a coordinator process (this test binary) in the
// test's namespace: with spec it starts scan id, without it attaches.
func startCoordinator(t *testing.T, url, id string, spec []byte) *coordProc {
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.Command(exe, "-test.run=^$")
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PORTSENSE_CLUSTER_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, envCoordURL+"="+url, envCoordID+"="+id, envCoordSpec+"="+string(spec))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return &coordProc{cmd: cmd, out: bufio.NewScanner(out)}
}

// parseResultLine reads a result.Result.String line back
// ("198.19.0.5:22/tcp open syn-ack").
func parseResultLine(t *testing.T, line string) result.Result {
	f := strings.Fields(line)
	require.Len(t, f, 3, "result line %q", line)
	apS, proto, ok := strings.Cut(f[0], "/")
	require.True(t, ok, "result line %q", line)
	ap, err := netip.ParseAddrPort(apS)
	require.NoError(t, err)
	var r result.Result
	r.AddrPort = ap
	require.NoError(t, r.Proto.UnmarshalText([]byte(proto)))
	r.State, err = result.ParseState(f[1])
	require.NoError(t, err)
	r.Reason, err = result.ParseReason(f[2])
	require.NoError(t, err)
	return r
}

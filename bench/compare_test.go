//go:build benchcompare && linux

package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

var (
	flagRuns   = flag.Int("cmp.n", 3, "runs of each tool on each workload")
	flagQuick  = flag.Bool("cmp.quick", false, "one run, smaller workloads (ports 1-10000, a /20)")
	flagScan   = flag.String("cmp.scan", "", "path of the built examples/scan binary (required)")
	flagMD     = flag.String("cmp.md", "", "write the Markdown results here")
	flagJSON   = flag.String("cmp.json", "", "write the JSON results here")
	flagOnly   = flag.String("cmp.only", "", "run only workloads whose name matches this regexp")
	flagRev    = flag.String("cmp.rev", "", "portsense revision, for the report")
	flagTime   = flag.Duration("cmp.timeout", 0, "kill a run after this long (default 5m, 2m with -cmp.quick)")
	flagLog    = flag.Bool("cmp.log", false, "log the end of every run's output")
	flagBudget = flag.Duration("cmp.budget", 13*time.Minute, "stop starting runs after this long; later runs are skipped")
)

// runResult is one run of one tool.
type runResult struct {
	Wall      float64 `json:"wall_s"`
	TxPackets uint64  `json:"tx_packets"`
	RxPackets uint64  `json:"rx_packets"`
	RSSKiB    int64   `json:"peak_rss_kib"`
	CPU       float64 `json:"cpu_s"` // user + system time of the tool's process
	Score     score   `json:"score"`
}

// toolResult is one tool on one workload.
type toolResult struct {
	Tool    string      `json:"tool"`
	Status  string      `json:"status"` // ok, unsupported, n/a, error, timeout, missing
	Note    string      `json:"note,omitempty"`
	Command string      `json:"command,omitempty"`
	Runs    []runResult `json:"runs,omitempty"`

	MedianWall float64 `json:"median_wall_s,omitempty"`
	MedianTx   uint64  `json:"median_tx_packets,omitempty"`
	MedianRx   uint64  `json:"median_rx_packets,omitempty"`
	PeakRSSKiB int64   `json:"peak_rss_kib,omitempty"`
	Worst      *score  `json:"worst_score,omitempty"`
	// Ratio is portsense's median wall time divided by this tool's.
	Ratio float64 `json:"ours_over_tool,omitempty"`
}

type workloadResult struct {
	Name  string        `json:"workload"`
	Tools []*toolResult `json:"tools"`
}

type machine struct {
	Date      string            `json:"date"`
	CPUs      int               `json:"cpus"`
	CPUModel  string            `json:"cpu_model"`
	Kernel    string            `json:"kernel"`
	Go        string            `json:"go"`
	Versions  map[string]string `json:"versions"`
	LoadStart string            `json:"loadavg_start"`
	LoadEnd   string            `json:"loadavg_end"`
}

type report struct {
	Machine   machine           `json:"machine"`
	Quick     bool              `json:"quick"`
	Runs      int               `json:"runs"`
	Elapsed   float64           `json:"elapsed_s"`
	Workloads []*workloadResult `json:"workloads"`
}

func TestCompare(t *testing.T) {
	if *flagScan == "" {
		t.Skip("no -cmp.scan binary: run bench/compare.sh")
	}
	start := time.Now()
	runs := *flagRuns
	timeout := 3 * time.Minute
	if *flagQuick {
		runs, timeout = 1, 2*time.Minute
	}
	if *flagTime > 0 {
		timeout = *flagTime
	}
	var only *regexp.Regexp
	if *flagOnly != "" {
		only = regexp.MustCompile(*flagOnly)
	}
	b := buildLab(t, *flagQuick)
	dir := t.TempDir()
	ws, err := workloads(b, *flagScan, dir, *flagQuick)
	if err != nil {
		t.Fatal(err)
	}
	rep := &report{Machine: describeMachine(), Quick: *flagQuick, Runs: runs}
	for _, w := range ws {
		if only != nil && !only.MatchString(w.name) {
			continue
		}
		wr := runWorkload(t, w, runs, timeout, start.Add(*flagBudget), dir)
		rep.Workloads = append(rep.Workloads, wr)
		t.Log("\n" + markdownTable([]*workloadResult{wr}, runs))
	}
	rep.Machine.LoadEnd = loadavg()
	rep.Elapsed = time.Since(start).Seconds()
	md := markdown(rep)
	t.Log("\n" + md)
	if *flagMD != "" {
		if err := os.WriteFile(*flagMD, []byte(md), 0o644); err != nil {
			t.Error(err)
		}
	}
	if *flagJSON != "" {
		j, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*flagJSON, append(j, '\n'), 0o644); err != nil {
			t.Error(err)
		}
	}
}

// runWorkload runs every tool runs times, rotating which tool goes first
// so that drifting load falls on all of them alike.
func runWorkload(t *testing.T, w workload, runs int, timeout time.Duration, deadline time.Time, dir string) *workloadResult {
	wr := &workloadResult{Name: w.name}
	if w.setup != nil {
		undo, err := w.setup()
		if err != nil {
			t.Errorf("%s: setup: %v", w.name, err)
			return wr
		}
		defer undo()
	}
	active := []int{}
	for i, tl := range w.tools {
		tr := &toolResult{Tool: tl.name}
		wr.Tools = append(wr.Tools, tr)
		switch {
		case tl.na != "":
			tr.Status, tr.Note = "n/a", tl.na
		default:
			tr.Command = strings.Join(append([]string{filepath.Base(tl.bin)}, tl.args...), " ")
			if _, err := exec.LookPath(tl.bin); err != nil {
				tr.Status, tr.Note = "missing", err.Error()
				continue
			}
			tr.Status = "ok"
			active = append(active, i)
		}
	}
	for r := range runs {
		for j := range active {
			i := active[(j+r)%len(active)]
			tl, tr := w.tools[i], wr.Tools[i]
			if tr.Status != "ok" {
				continue
			}
			left := time.Until(deadline)
			if left <= 0 {
				if len(tr.Runs) == 0 {
					tr.Status, tr.Note = "skipped", "time budget (-cmp.budget) spent"
				}
				continue
			}
			out := filepath.Join(dir, fmt.Sprintf("%s-%d.out", tl.name, r))
			res, err := runOnce(w, tl, out, min(timeout, max(left, 30*time.Second)), t.Logf)
			if err != nil {
				var te *toolError
				if errors.As(err, &te) {
					tr.Status, tr.Note = te.status, te.note
				} else {
					tr.Status, tr.Note = "error", err.Error()
				}
				t.Logf("%s / %s: %s: %s", w.name, tl.name, tr.Status, tr.Note)
				continue
			}
			t.Logf("%s / %s run %d: %.2fs (CPU %.2fs), %d packets sent, %s", w.name, tl.name, r+1, res.Wall, res.CPU, res.TxPackets, accuracy(res.Score))
			tr.Runs = append(tr.Runs, res)
		}
	}
	var ours *toolResult
	for _, tr := range wr.Tools {
		summarise(tr)
		if tr.Tool == toolOurs && tr.Status == "ok" {
			ours = tr
		}
	}
	if ours != nil {
		for _, tr := range wr.Tools {
			if tr.Status == "ok" && tr.MedianWall > 0 {
				tr.Ratio = ours.MedianWall / tr.MedianWall
			}
		}
	}
	return wr
}

// toolError is a run that produced no result.
type toolError struct{ status, note string }

func (e *toolError) Error() string { return e.status + ": " + e.note }

// runOnce runs tool tl once and scores its output.
func runOnce(w workload, tl tool, out string, timeout time.Duration, logf func(string, ...any)) (runResult, error) {
	args := make([]string, len(tl.args))
	for i, a := range tl.args {
		args[i] = strings.ReplaceAll(a, "@OUT@", out)
	}
	_ = os.Remove(out)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, tl.bin, args...)
	var tail tailBuffer
	cmd.Stdout, cmd.Stderr = &tail, &tail
	// The peer dies with the test; CommandContext kills it by PID on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 5 * time.Second

	tx0, rx0, err := linkCounters(w.host.Ifname)
	if err != nil {
		return runResult{}, err
	}
	if tl.trickle {
		stop, err := trickle(w.host)
		if err != nil {
			return runResult{}, err
		}
		defer stop()
	}
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return runResult{}, &toolError{"error", err.Error()}
	}
	hwm := watchHWM(cmd.Process.Pid)
	runErr := cmd.Wait()
	wall := time.Since(t0)
	peak := hwm()
	if *flagLog {
		logf("%s %s: %v\n%s", tl.name, strings.Join(args, " "), runErr, tail.String())
	}
	tx1, rx1, err := linkCounters(w.host.Ifname)
	if err != nil {
		return runResult{}, err
	}
	if ctx.Err() != nil {
		return runResult{}, &toolError{"timeout", fmt.Sprintf("killed after %v", timeout)}
	}
	if runErr != nil {
		msg := strings.TrimSpace(tail.String())
		if tl.name == toolOurs && cmd.ProcessState != nil && cmd.ProcessState.ExitCode() == 2 &&
			strings.Contains(msg, "not yet supported") {
			return runResult{}, &toolError{"unsupported", lastLine(msg)}
		}
		return runResult{}, &toolError{"error", fmt.Sprintf("%v: %s", runErr, lastLine(msg))}
	}
	res := runResult{Wall: wall.Seconds(), TxPackets: tx1 - tx0, RxPackets: rx1 - rx0, RSSKiB: peak,
		CPU: (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()}
	o, err := tl.parse(out, tl.port)
	if err != nil {
		return runResult{}, &toolError{"error", "output: " + err.Error()}
	}
	res.Score = scoreRun(w.exp, o, tl.openOnly)
	if tl.name == toolOurs && len(res.Score.Bad) > 0 {
		logBad(logf, out, res.Score.Bad)
	}
	return res, nil
}

// watchHWM polls the peak resident set (VmHWM) of process pid every 10 ms
// until the returned function is called, which returns the last value read.
//
// getrusage's ru_maxrss cannot be used: Go starts children with
// CLONE_VM|CLONE_VFORK, and Linux carries the high-water mark of the mm a
// process leaves at execve into its ru_maxrss, so every child would report
// at least the test process's own size. VmHWM belongs to the new mm alone.
// Start returns only after the execve, so no read sees the parent's mm.
// A peak in the last 10 ms of a run can be missed.
func watchHWM(pid int) (stop func() int64) {
	path := fmt.Sprintf("/proc/%d/status", pid)
	var last atomic.Int64
	read := func() {
		b, err := os.ReadFile(path)
		if err != nil {
			return
		}
		for l := range strings.SplitSeq(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
				if n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64); err == nil && n > last.Load() {
					last.Store(n)
				}
			}
		}
	}
	read()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				read()
			}
		}
	})
	return func() int64 {
		close(done)
		wg.Wait()
		return last.Load()
	}
}

// trickle broadcasts an empty UDP datagram from h onto its link every
// 200 ms until stop is called. The scanner side's kernel answers nothing to
// a broadcast, so only the received count grows (by five a second).
func trickle(h *netlab.Host) (stop func(), err error) {
	var pc net.PacketConn
	if err := h.Do(func() error {
		var err error
		pc, err = net.ListenPacket("udp4", h.Addr4.String()+":0")
		return err
	}); err != nil {
		return nil, err
	}
	bcast := h.Addr4.As4()
	bcast[3] = 255 // the link is a /24
	dst := &net.UDPAddr{IP: net.IP(bcast[:]), Port: 9}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_, _ = pc.WriteTo(nil, dst)
			}
		}
	})
	return func() {
		close(done)
		wg.Wait()
		pc.Close()
	}, nil
}

// summarise fills the medians, the peak RSS and the worst run's score.
func summarise(tr *toolResult) {
	if len(tr.Runs) == 0 {
		if tr.Status == "ok" {
			tr.Status = "error"
		}
		return
	}
	var walls []float64
	var txs, rxs []uint64
	for i, r := range tr.Runs {
		walls = append(walls, r.Wall)
		txs = append(txs, r.TxPackets)
		rxs = append(rxs, r.RxPackets)
		tr.PeakRSSKiB = max(tr.PeakRSSKiB, r.RSSKiB)
		if i == 0 || r.Score.bad() > tr.Worst.bad() {
			s := r.Score
			tr.Worst = &s
		}
	}
	tr.MedianWall = median(walls)
	tr.MedianTx = median(txs)
	tr.MedianRx = median(rxs)
}

func median[T int64 | uint64 | float64](v []T) T {
	v = slices.Clone(v)
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// linkCounters reads the packets sent and received on the scanner-side
// interface ifname. /proc/thread-self/net/dev shows the calling thread's
// namespace; the thread is locked so that it is the scanner namespace.
func linkCounters(ifname string) (tx, rx uint64, err error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	f, err := os.Open("/proc/thread-self/net/dev")
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(name) != ifname {
			continue
		}
		fs := strings.Fields(rest)
		if len(fs) < 10 {
			break
		}
		rx, err1 := strconv.ParseUint(fs[1], 10, 64)
		tx, err2 := strconv.ParseUint(fs[9], 10, 64)
		return tx, rx, errors.Join(err1, err2)
	}
	return 0, 0, fmt.Errorf("interface %s not in /proc/net/dev", ifname)
}

// tailBuffer keeps the last 4 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 4096 {
		t.b = t.b[len(t.b)-4096:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func describeMachine() machine {
	m := machine{
		Date:      time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		CPUs:      runtime.NumCPU(),
		Go:        runtime.Version(),
		Versions:  map[string]string{},
		LoadStart: loadavg(),
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for l := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	m.Versions[toolOurs] = *flagRev
	for _, tv := range []struct{ tool, bin, match string }{
		{toolNmap, "nmap", "Nmap version"},
		{toolMasscan, "masscan", "Masscan version"},
		{toolZmap, "zmap", "zmap"},
	} {
		out, _ := exec.Command(tv.bin, "--version").CombinedOutput()
		for l := range strings.SplitSeq(string(out), "\n") {
			if strings.Contains(l, tv.match) {
				m.Versions[tv.tool] = strings.TrimSpace(l)
				break
			}
		}
		if m.Versions[tv.tool] == "" {
			m.Versions[tv.tool] = "not found"
		}
	}
	return m
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

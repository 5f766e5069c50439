package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// TestMain lets a test run the real main (signals, exit status) by
// re-executing the test binary with SCAN_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("SCAN_TEST_MAIN") == "1" {
		os.Args = append([]string{"scan"}, os.Args[1:]...)
		main()
		return
	}
	os.Exit(m.Run())
}

// Every scan in these tests targets 127.0.0.1 (or 127.0.0.2), loopback only.

// syncBuffer is a bytes.Buffer safe for the progress goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func runScan(t *testing.T, ctx context.Context, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr syncBuffer
	code := run(ctx, args, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

// openPorts listens on n loopback ports until the test ends.
func openPorts(t *testing.T, n int) []uint16 {
	t.Helper()
	var ports []uint16
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	return ports
}

// closedPorts returns n loopback ports that nothing listens on (they were
// bound and released; the kernel does not hand them out again at once).
func closedPorts(t *testing.T, n int) []uint16 {
	t.Helper()
	var lns []net.Listener
	var ports []uint16
	for range n {
		ln, err := net.Listen("tcp4", "127.0.0.1:0")
		require.NoError(t, err)
		lns = append(lns, ln)
		ports = append(ports, uint16(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return ports
}

func portList(ps ...[]uint16) string {
	var s []string
	for _, p := range ps {
		for _, n := range p {
			s = append(s, strconv.Itoa(int(n)))
		}
	}
	return strings.Join(s, ",")
}

// readJSONL decodes port records, failing on any bad line.
func readJSONL(t *testing.T, data string) []result.Result {
	t.Helper()
	var out []result.Result
	for rec, err := range result.NewJSONLReader(strings.NewReader(data)).All() {
		require.NoError(t, err)
		if rec.Result != nil {
			out = append(out, *rec.Result)
		}
	}
	return out
}

func byPort(t *testing.T, rs []result.Result) map[uint16]result.Result {
	t.Helper()
	m := map[uint16]result.Result{}
	for _, r := range rs {
		_, dup := m[r.AddrPort.Port()]
		assert.False(t, dup, "port %d reported twice", r.AddrPort.Port())
		m[r.AddrPort.Port()] = r
	}
	return m
}

func checkStates(t *testing.T, got map[uint16]result.Result, open, closed []uint16, openReason, closedReason result.Reason) {
	t.Helper()
	assert.Len(t, got, len(open)+len(closed))
	for _, p := range open {
		if assert.Contains(t, got, p) {
			assert.Equal(t, result.Open, got[p].State, "port %d", p)
			assert.Equal(t, openReason, got[p].Reason, "port %d", p)
		}
	}
	for _, p := range closed {
		if assert.Contains(t, got, p) {
			assert.Equal(t, result.Closed, got[p].State, "port %d", p)
			assert.Equal(t, closedReason, got[p].Reason, "port %d", p)
		}
	}
}

func TestConnectScanStates(t *testing.T) {
	open, closed := openPorts(t, 3), closedPorts(t, 5)
	out := filepath.Join(t.TempDir(), "out.jsonl")
	code, stdout, stderr := runScan(t, t.Context(), "127.0.0.1", "-sT", "-Pn", "-n", "--reason",
		"-p", portList(open, closed), "-T4", "-oJ", out)
	require.Equal(t, 0, code, stderr)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	got := byPort(t, readJSONL(t, string(b)))
	checkStates(t, got, open, closed, result.SynAck, result.ConnRefused)
	for _, r := range got {
		assert.Equal(t, "127.0.0.1", r.AddrPort.Addr().String())
		assert.Equal(t, target.TCP, r.Proto)
	}
	// The table goes to stdout when no output claims it.
	assert.Contains(t, stdout, "Scan report for 127.0.0.1")
	assert.Contains(t, stdout, fmt.Sprintf("%d/tcp", open[0]))
	assert.Contains(t, stdout, "syn-ack")
}

func TestSYNScanStates(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("SYN scans need root on Linux")
	}
	open, closed := openPorts(t, 2), closedPorts(t, 3)
	// No -sT or -sS: as root on Linux the default is a SYN scan.
	xmlFile := filepath.Join(t.TempDir(), "syn.xml")
	code, stdout, stderr := runScan(t, t.Context(), "-p", portList(open, closed), "-oJ", "-", "-oX", xmlFile, "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	checkStates(t, byPort(t, readJSONL(t, stdout)), open, closed, result.SynAck, result.Reset)
	b, err := os.ReadFile(xmlFile)
	require.NoError(t, err)
	assert.Contains(t, string(b), `<scaninfo type="syn" protocol="tcp" numservices="5"`)
	validateXML(t, xmlFile)
}

func TestConnectScanIPv6(t *testing.T) {
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer ln.Close()
	open := uint16(ln.Addr().(*net.TCPAddr).Port)
	ln2, err := net.Listen("tcp6", "[::1]:0")
	require.NoError(t, err)
	closed := uint16(ln2.Addr().(*net.TCPAddr).Port)
	ln2.Close()
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList([]uint16{open, closed}), "-oJ", "-", "::1")
	require.Equal(t, 0, code, stderr)
	got := byPort(t, readJSONL(t, stdout))
	checkStates(t, got, []uint16{open}, []uint16{closed}, result.SynAck, result.ConnRefused)
	assert.Equal(t, "::1", got[open].AddrPort.Addr().String())
}

func TestXMLValidatesAgainstDTD(t *testing.T) {
	open, closed := openPorts(t, 2), closedPorts(t, 30)
	dir := t.TempDir()
	xmlFile := filepath.Join(dir, "out.xml")
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList(open, closed), "127.0.0.1", "-oX", xmlFile)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Scan report for 127.0.0.1", "the table still goes to stdout")
	b, err := os.ReadFile(xmlFile)
	require.NoError(t, err)
	doc := string(b)
	assert.Contains(t, doc, `<scaninfo type="connect" protocol="tcp" numservices="32"`)
	assert.Contains(t, doc, `args="scan -sT -p `)
	assert.Contains(t, doc, fmt.Sprintf(`portid="%d"><state state="open" reason="syn-ack"`, open[0]))
	assert.Contains(t, doc, `<extraports state="closed" count="30">`)

	validateXML(t, xmlFile)
}

// validateXML checks file against nmap.dtd with xmllint, skipping the test
// when either is missing.
func validateXML(t *testing.T, file string) {
	t.Helper()
	const dtd = "/usr/share/nmap/nmap.dtd"
	xmllint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed: cannot validate against nmap.dtd")
	}
	if _, err := os.Stat(dtd); err != nil {
		t.Skipf("%s missing (nmap not installed): cannot validate", dtd)
	}
	outb, err := exec.Command(xmllint, "--noout", "--dtdvalid", dtd, file).CombinedOutput()
	assert.NoError(t, err, "xmllint: %s", outb)
}

func TestGreppableToStdout(t *testing.T) {
	open, closed := openPorts(t, 1), closedPorts(t, 2)
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList(open, closed), "-oG", "-", "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	assert.NotContains(t, stdout, "Scan report", "-oG - claims stdout: no table")
	var portsLine string
	for l := range strings.Lines(stdout) {
		if strings.HasPrefix(l, "Host: 127.0.0.1 ") && strings.Contains(l, "Ports: ") {
			portsLine = l
		}
	}
	require.NotEmpty(t, portsLine, "no Ports line in:\n%s", stdout)
	assert.Contains(t, portsLine, fmt.Sprintf("%d/open/tcp//", open[0]))
	assert.Contains(t, portsLine, fmt.Sprintf("%d/closed/tcp//", closed[0]))
	assert.Contains(t, stdout, "# Ports scanned: TCP(3;")
}

func TestBadInput(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-p", "70000", "127.0.0.1"}, `"70000"`},
		{[]string{"-p", "22-x", "127.0.0.1"}, `"22-x"`},
		{[]string{"-p", "1-0", "127.0.0.1"}, `"1-0"`},
		{[]string{"--shard", "3/2", "127.0.0.1"}, `"3/2"`},
		{[]string{"--shard", "0/2", "127.0.0.1"}, `"0/2"`},
		{[]string{"--shard", "1", "127.0.0.1"}, `"1"`},
		{[]string{"-T9", "127.0.0.1"}, `"-T9"`},
		{[]string{"-T", "fast", "127.0.0.1"}, `"fast"`},
		{[]string{"--min-rate", "x", "127.0.0.1"}, `"x"`},
		{[]string{"--max-rate=-5", "127.0.0.1"}, `"-5"`},
		{[]string{"--max-retries", "99", "127.0.0.1"}, `"99"`},
		{[]string{"--host-timeout", "30x", "127.0.0.1"}, `"30x"`},
		{[]string{"--seed", "abc", "127.0.0.1"}, `"abc"`},
		{[]string{"--top-ports", "0", "127.0.0.1"}, `"0"`},
		{[]string{"-S", "nonsense", "127.0.0.1"}, `"nonsense"`},
		{[]string{"127.0.0.1", "--foo"}, `unknown option "--foo"`},
		{[]string{"-Z", "127.0.0.1"}, `unknown option "-Z"`},
		{[]string{"-p", "22"}, "no targets"},
		{[]string{"-p", "22", "300.0.0.1"}, `"300.0.0.1"`},
		{[]string{"-p", "22", "127.0.0.1", "--exclude", "127.0.0.1"}, "no targets left"},
		{[]string{"-oX"}, "-oX needs an argument"},
		{[]string{"-sU", "-p", "T:22", "127.0.0.1"}, "no ports to scan"},
		{[]string{"-sV", "--version-intensity", "10", "127.0.0.1"}, `bad --version-intensity "10"`},
		{[]string{"-sn", "-p", "22", "127.0.0.1"}, "-sn (ping scan) scans no ports"},
		{[]string{"-Pn", "-PE", "127.0.0.1"}, "-Pn (no discovery) conflicts with -PE"},
		{[]string{"-PR", "--disable-arp-ping", "127.0.0.1"}, "--disable-arp-ping conflicts with -PR"},
		{[]string{"-PS22-x", "127.0.0.1"}, `"22-x"`},
		{[]string{"-PX", "127.0.0.1"}, `unknown option "-PX"`},
		{[]string{"-O", "127.0.0.1"}, "not yet supported: -O"},
		{[]string{"-D", "RND:10", "127.0.0.1"}, `bad -D token "RND:10"`},
		{[]string{"-PM", "127.0.0.1"}, "not yet supported: -PM"},
		{[]string{"--script", "default", "127.0.0.1"}, "not yet supported: --script"},
		{[]string{"-sT", "-e", "lo", "127.0.0.1"}, "not yet supported: -e with -sT"},
		{[]string{"-sT", "-sS", "127.0.0.1"}, "conflict"},
		{[]string{"-p", "22", "--top-ports", "10", "127.0.0.1"}, "conflict"},
		{[]string{"-oJ", "-", "-oX", "-", "127.0.0.1"}, "only one output"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runScan(t, t.Context(), tc.args...)
			assert.Equal(t, 2, code)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.True(t, strings.HasPrefix(stderr, "scan: "), stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func TestHelp(t *testing.T) {
	for _, a := range []string{"-h", "--help"} {
		code, stdout, _ := runScan(t, t.Context(), a)
		assert.Equal(t, 0, code)
		assert.Contains(t, stdout, "Usage: scan")
	}
}

func TestParseArgs(t *testing.T) {
	o, err := parseArgs([]string{"198.18.0.1", "-sT", "-p22,80", "--top-ports=0x", "x"})
	assert.Nil(t, o)
	assert.ErrorContains(t, err, `"0x"`)

	o, err = parseArgs([]string{"198.18.0.1", "-sS", "-p", "22-", "-T4", "--shard", "2/3", "-vv",
		"-oX", "a.xml", "-oA", "b", "198.18.0.2", "--seed=0x10", "--host-timeout", "1.5m",
		"-e", "eth0", "-S", "198.18.1.1", "-r", "--", "-weird"})
	require.NoError(t, err)
	assert.Equal(t, []string{"198.18.0.1", "198.18.0.2", "-weird"}, o.targets)
	assert.Equal(t, "syn", o.scanType)
	assert.Equal(t, "22-", o.ports)
	assert.Equal(t, scanner.T4, o.timing)
	assert.Equal(t, [2]uint64{2, 3}, [2]uint64{o.shard, o.shards})
	assert.Equal(t, 2, o.verbose)
	assert.Equal(t, "b.xml", o.outX, "-oA overrides the earlier -oX")
	assert.Equal(t, "b.gnmap", o.outG)
	assert.Equal(t, uint64(16), o.seed)
	assert.Equal(t, 90*time.Second, o.hostTimeout)
	assert.Equal(t, "eth0", o.iface)
	assert.Equal(t, "198.18.1.1", o.source.String())
	assert.True(t, o.sequential)
}

func TestParseTime(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"500ms": 500 * time.Millisecond, "30s": 30 * time.Second, "5m": 5 * time.Minute,
		"1h": time.Hour, "2": 2 * time.Second, "0.25": 250 * time.Millisecond, "0": 0,
	} {
		got, err := parseTime(in)
		if assert.NoError(t, err, in) {
			assert.Equal(t, want, got, in)
		}
	}
	for _, in := range []string{"", "s", "-1s", "1d", "1e3", "NaN", "inf", "0x10", "10 s"} {
		_, err := parseTime(in)
		assert.Error(t, err, in)
	}
}

// TestShardsPartition: the two halves of one seed cover the ports exactly.
func TestShardsPartition(t *testing.T) {
	closed := closedPorts(t, 40)
	seen := map[uint16]int{}
	for k := 1; k <= 2; k++ {
		code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList(closed), "--seed", "7",
			"--shard", fmt.Sprintf("%d/2", k), "-oJ", "-", "127.0.0.1")
		require.Equal(t, 0, code, stderr)
		rs := readJSONL(t, stdout)
		assert.NotEmpty(t, rs, "shard %d/2", k)
		for _, r := range rs {
			seen[r.AddrPort.Port()]++
		}
	}
	assert.Len(t, seen, len(closed))
	for p, n := range seen {
		assert.Equal(t, 1, n, "port %d", p)
	}
}

func TestExcludeAndOpenFilter(t *testing.T) {
	open, closed := openPorts(t, 1), closedPorts(t, 3)
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-p", portList(open, closed), "--open",
		"127.0.0.1,127.0.0.2", "--exclude", "127.0.0.2", "-oJ", "-")
	require.Equal(t, 0, code, stderr)
	rs := readJSONL(t, stdout)
	require.Len(t, rs, 1)
	assert.Equal(t, "127.0.0.1", rs[0].AddrPort.Addr().String())
	assert.Equal(t, open[0], rs[0].AddrPort.Port())
	assert.Equal(t, result.Open, rs[0].State)
}

func TestInputList(t *testing.T) {
	closed := closedPorts(t, 2)
	list := filepath.Join(t.TempDir(), "hosts.txt")
	require.NoError(t, os.WriteFile(list, []byte("# loopback only\n127.0.0.1 # this host\n"), 0o644))
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "-iL", list, "-p", portList(closed), "-oJ", "-")
	require.Equal(t, 0, code, stderr)
	assert.Len(t, readJSONL(t, stdout), 2)

	// -iL and targets on the command line add up.
	code, stdout, stderr = runScan(t, t.Context(), "-sT", "-iL", list, "127.0.0.2", "-p", portList(closed), "-oJ", "-")
	require.Equal(t, 0, code, stderr)
	assert.Len(t, readJSONL(t, stdout), 4)
}

func TestVerboseProgress(t *testing.T) {
	closed := closedPorts(t, 30)
	// 30 probes at 20 per second take more than one progress interval.
	code, _, stderr := runScan(t, t.Context(), "-sT", "-v", "--max-rate", "20", "-p", portList(closed), "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "% done (")
	assert.Contains(t, stderr, "probes/s")
	assert.Contains(t, stderr, "ETA")
	assert.Contains(t, stderr, "100.0% done (30/30)")
}

// cancelAfter is a stdout that cancels the scan after n JSON lines, as a
// SIGINT would.
type cancelAfter struct {
	syncBuffer
	n      int
	cancel context.CancelFunc
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	n, err := c.syncBuffer.Write(p)
	c.mu.Lock()
	c.n -= bytes.Count(p, []byte("\n"))
	if c.n <= 0 {
		c.cancel()
	}
	c.mu.Unlock()
	return n, err
}

func TestResumeRoundTrip(t *testing.T) {
	open, closed := openPorts(t, 5), closedPorts(t, 195)
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	ports := portList(open, closed)

	// First run: interrupted after 40 results.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	out1 := &cancelAfter{n: 40, cancel: cancel}
	var stderr1 syncBuffer
	code := run(ctx, []string{"-sT", "--max-rate", "50", "-p", ports, "--resume", state, "-oJ", "-", "127.0.0.1"}, out1, &stderr1)
	require.Equal(t, 130, code, stderr1.String())
	assert.Contains(t, stderr1.String(), "--resume "+state)
	var st resumeState
	b, err := os.ReadFile(state)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.False(t, st.Finished)
	assert.Equal(t, uint64(200), st.Total)
	assert.Less(t, st.Position, uint64(200))
	assert.Equal(t, "127.0.0.1", st.Hosts)
	first := readJSONL(t, out1.String())
	t.Logf("interrupted after %d results at position %d with %d done past it", len(first), st.Position, len(st.Done))
	assert.GreaterOrEqual(t, len(first), 40)
	assert.GreaterOrEqual(t, uint64(len(first)), st.Position)

	// Second run: from the file alone, to its own -oJ file.
	out2 := filepath.Join(dir, "part2.jsonl")
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "--resume", state, "-oJ", out2)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Scan report for 127.0.0.1")
	b, err = os.ReadFile(out2)
	require.NoError(t, err)
	second := readJSONL(t, string(b))
	assert.Less(t, len(second), 200)

	checkStates(t, byPort(t, append(first, second...)), open, closed, result.SynAck, result.ConnRefused)

	b, err = os.ReadFile(state)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(b, &st))
	assert.True(t, st.Finished)
	assert.Equal(t, uint64(200), st.Position)
	assert.Empty(t, st.Done)

	// A resume file pins the targets: other targets are refused.
	code, _, stderr = runScan(t, t.Context(), "-sT", "--resume", state, "127.0.0.2")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, `"127.0.0.2"`)
}

func TestResumeFileBad(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(state, []byte(`{"version": 9}`), 0o644))
	code, _, stderr := runScan(t, t.Context(), "-sT", "--resume", state)
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "version 9")
}

func TestTracker(t *testing.T) {
	space, err := target.NewSpace(target.MustParseHosts("198.18.0.1-198.18.0.2"), target.PortsOf(target.TCP, 1, 2, 3, 4, 5))
	require.NoError(t, err)
	cfg := target.IterConfig{Seed: 3, Shard: 1, Shards: 2}
	var order []target.Target
	for x := range space.All(cfg) {
		order = append(order, x)
	}
	require.Len(t, order, 5)

	tr, err := newTracker(space, cfg, nil)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), tr.position())
	tr.report(order[1])
	tr.report(order[3])
	assert.Equal(t, uint64(0), tr.position(), "order[0] is not reported yet")
	tr.report(order[0])
	assert.Equal(t, uint64(2), tr.position())
	assert.Equal(t, []doneTarget{{order[3].Addr, order[3].Port.Num, target.TCP}}, tr.doneList())

	// Resume from there: order[3] is known done; a host timeout ends the rest.
	cfg.Start = tr.position()
	tr2, err := newTracker(space, cfg, []target.Target{order[3]})
	require.NoError(t, err)
	assert.Equal(t, uint64(2), tr2.position())
	tr2.report(order[2])
	assert.Equal(t, uint64(4), tr2.position())
	assert.Empty(t, tr2.doneList())
	tr2.hostGone(order[4].Addr)
	assert.Equal(t, uint64(5), tr2.position())
}

func TestResumeShardFinished(t *testing.T) {
	closed := closedPorts(t, 10)
	state := filepath.Join(t.TempDir(), "state.json")
	code, stdout, stderr := runScan(t, t.Context(), "-sT", "--shard", "2/2", "--seed", "5", "-p", portList(closed),
		"--resume", state, "-oJ", "-", "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	assert.Len(t, readJSONL(t, stdout), 5)
	st, err := loadResume(state)
	require.NoError(t, err)
	assert.Equal(t, resumeState{
		Version: 1, ScanType: "connect", Hosts: "127.0.0.1", Ports: "T:" + closedRanges(closed),
		Seed: 5, Shard: 2, Shards: 2, Position: 5, Total: 5, Finished: true, Updated: st.Updated,
	}, *st)

	// Resuming a finished scan scans nothing, and says so.
	code, stdout, stderr = runScan(t, t.Context(), "-sT", "--resume", state, "-oJ", "-", "--shard", "2/2")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	assert.Contains(t, stderr, "finished")

	// The shard must match the saved one.
	code, _, stderr = runScan(t, t.Context(), "-sT", "--resume", state, "--shard", "1/2")
	assert.Equal(t, 2, code)
	assert.Contains(t, stderr, "--shard 1/2 differs")
}

// closedRanges formats ports as target.Ports.String does, without prefix.
func closedRanges(ps []uint16) string {
	return strings.TrimPrefix(target.PortsOf(target.TCP, ps...).String(), "T:")
}

func FuzzParseArgs(f *testing.F) {
	for _, s := range []string{
		"-sT -p 22,80 127.0.0.1", "--top-ports=10 -T4 -oX - x", "--shard 1/2 --seed 0x10 -vv",
		"-p", "--host-timeout 1.5m --min-rate 10", "-sSV", "-- -x", "-oA", "-S ::1 -e lo",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		o, err := parseArgs(strings.Fields(line))
		if (o == nil) == (err == nil) {
			t.Fatalf("parseArgs(%q) = %v, %v: want exactly one", line, o, err)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("multi-line error %q", err)
		}
		if o != nil && o.shards > 0 && (o.shard < 1 || o.shard > o.shards) {
			t.Fatalf("shard %d/%d accepted", o.shard, o.shards)
		}
		for _, tok := range strings.Fields(line) {
			if d, err := parseTime(tok); err == nil && d < 0 {
				t.Fatalf("parseTime(%q) = %v", tok, d)
			}
		}
	})
}

func TestSIGINTWritesResumeFile(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no SIGINT delivery to a child on windows")
	}
	closed := closedPorts(t, 100)
	dir := t.TempDir()
	state, out := filepath.Join(dir, "state.json"), filepath.Join(dir, "out.jsonl")
	cmd := exec.Command(os.Args[0], "-sT", "--max-rate", "20", "-p", portList(closed), "--resume", state, "-oJ", out, "127.0.0.1")
	cmd.Env = append(os.Environ(), "SCAN_TEST_MAIN=1")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	// The resume file is first written after a second of scanning.
	require.Eventually(t, func() bool { _, err := os.Stat(state); return err == nil }, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, cmd.Process.Signal(os.Interrupt))
	err := cmd.Wait()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, stderr.String())
	assert.Equal(t, 130, ee.ExitCode(), stderr.String())
	assert.Contains(t, stderr.String(), "scan: interrupted")

	st, err := loadResume(state)
	require.NoError(t, err)
	assert.False(t, st.Finished)
	assert.Equal(t, uint64(100), st.Total)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	got := readJSONL(t, string(b))
	assert.Less(t, len(got), 100)
	assert.GreaterOrEqual(t, uint64(len(got)), st.Position+uint64(len(st.Done)))
}

//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/detect/nft"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// envChild marks the re-executed process; its value is the parent's
// network namespace, which the child must not share.
const envChild = "PORTSENSE_SENSELOOP_CHILD"

// The lab: the scanner side (this process's private namespace) holds
// 198.18.77.1 and one source address per cell; the watched host is
// 198.18.77.2 in its own namespace.
var (
	scanSide = netip.MustParseAddr("198.18.77.1")
	watched  = netip.MustParseAddr("198.18.77.2")
	openPort = []uint16{22, 80, 443}
)

func netnsID() (string, error) { return os.Readlink("/proc/thread-self/ns/net") }

// start re-executes the program in a fresh network namespace (only
// loopback, no routes: a probe cannot leave the machine) and runs the
// matrix there.
func start(ctx context.Context, o options, out io.Writer) error {
	if parent, ok := os.LookupEnv(envChild); ok {
		if id, err := netnsID(); err != nil || id == parent {
			return fmt.Errorf("not in a private network namespace (%s); %s is for senseloop's own use", id, envChild)
		}
		return runLab(ctx, o, out)
	}
	if os.Geteuid() != 0 {
		return errors.New("needs root: it builds a network-namespace lab (veth, nftables, AF_PACKET capture)")
	}
	runtime.LockOSThread() // Pdeathsig follows the forking thread
	id, err := netnsID()
	if err != nil {
		return err
	}
	cmd := exec.Command("/proc/self/exe", os.Args[1:]...)
	cmd.Env = append(os.Environ(), envChild+"="+id)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("re-executing in a new network namespace: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		_ = cmd.Process.Signal(syscall.SIGTERM) // the child cleans up
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		os.Exit(ee.ExitCode()) // the child has said why
	}
	return err
}

func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// lab is the watched host's namespace.
type lab struct {
	ns      string
	closers []func()
}

// in runs fn on a thread switched into the lab namespace; sockets fn
// opens stay there.
func (l *lab) in(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		self, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			errc <- err
			return
		}
		defer self.Close()
		f, err := os.Open("/run/netns/" + l.ns)
		if err != nil {
			errc <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", l.ns, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

func (l *lab) close() {
	for i := len(l.closers) - 1; i >= 0; i-- {
		l.closers[i]()
	}
	_ = ip("netns", "del", l.ns)
}

func buildLab(cells int) (*lab, error) {
	l := &lab{ns: fmt.Sprintf("psl-senseloop-%d", os.Getpid())}
	steps := [][]string{
		{"link", "set", "lo", "up"},
		{"netns", "add", l.ns},
		{"link", "add", "sl0", "type", "veth", "peer", "name", "sl1", "netns", l.ns},
		{"addr", "add", scanSide.String() + "/24", "dev", "sl0"},
		{"link", "set", "sl0", "up"},
		{"-n", l.ns, "link", "set", "lo", "up"},
		{"-n", l.ns, "addr", "add", watched.String() + "/24", "dev", "sl1"},
		{"-n", l.ns, "link", "set", "sl1", "up"},
	}
	for i := range cells {
		steps = append(steps, []string{"addr", "add", cellAddr(i).String() + "/32", "dev", "sl0"})
	}
	for _, s := range steps {
		if err := ip(s...); err != nil {
			l.close()
			return nil, err
		}
	}
	// A fresh veth drops frames until its carrier is seen.
	for range 100 {
		b, _ := os.ReadFile("/sys/class/net/sl0/operstate")
		if strings.TrimSpace(string(b)) == "up" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, p := range openPort {
		var ln net.Listener
		if err := l.in(func() (err error) {
			ln, err = net.Listen("tcp", netip.AddrPortFrom(watched, p).String())
			return err
		}); err != nil {
			l.close()
			return nil, err
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
		l.closers = append(l.closers, func() { ln.Close() })
	}
	return l, nil
}

func cellAddr(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 77, byte(10 + i)}) }

// cell is one technique × rate run.
type cell struct {
	tech     string
	rate     float64
	src      netip.Addr
	start    time.Time
	sent     uint64 // scanner's Stats.Sent, updated by progress
	event    *detect.Event
	sentThen uint64
	blocked  bool
	finished bool // the scan ended before detection
	err      error
}

// runLab builds the lab, runs every cell at once and prints the matrix.
func runLab(ctx context.Context, o options, out io.Writer) error {
	var cells []*cell
	for _, t := range o.techniques {
		for _, r := range o.rates {
			cells = append(cells, &cell{tech: t, rate: r, src: cellAddr(len(cells))})
		}
	}
	l, err := buildLab(len(cells))
	if err != nil {
		return err
	}
	defer l.close()

	// The detector, inside the watched host's namespace.
	var src *detect.AFPacketSource
	var blk *nft.Blocker
	if err := l.in(func() (err error) {
		if src, err = detect.NewAFPacketSource(ctx, "sl1", nil); err != nil {
			return err
		}
		blk, err = nft.New(&nft.Config{Table: "senseloop"})
		return err
	}); err != nil {
		if src != nil {
			src.Close()
		}
		return err
	}
	defer src.Close()
	defer blk.Close()

	var mu sync.Mutex
	bySrc := map[netip.Addr]*cell{}
	for _, c := range cells {
		bySrc[c.src] = c
	}
	detected := make(chan *cell, len(cells))
	record := detect.Callback(func(e detect.Event) {
		if e.Kind != detect.KindScan {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if c := bySrc[e.Source]; c != nil && c.event == nil {
			c.event, c.sentThen = &e, c.sent
			detected <- c
		}
	})
	// Cells run at once from neighbouring addresses at similar rates:
	// exactly what distributed-campaign linking looks for, which would
	// report (and block) slow cells with the fast ones. The matrix is
	// about single scanners, so campaign linking is off.
	an := detect.NewDefaultAnalyzer(&detect.DefaultConfig{NoCampaign: true})
	p, err := detect.NewPipeline(src, an, detect.WithResponder(record, blk))
	if err != nil {
		return err
	}
	pctx, stopPipeline := context.WithCancel(ctx)
	perr := make(chan error, 1)
	go func() { perr <- p.Run(pctx) }()
	defer func() {
		stopPipeline()
		<-perr
	}()

	fmt.Fprintf(out, "senseloop: %d cells (%s × %d rates) scanning %s ports %s, at most %v each\n",
		len(cells), strings.Join(o.techniques, ","), len(o.rates), watched, o.ports, o.max)
	var wg sync.WaitGroup
	for _, c := range cells {
		wg.Go(func() { scanCell(ctx, o, c, &mu, detected) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Blocked? The blocker holds the source, and an open port no longer
	// answers it.
	for _, c := range cells {
		if c.event == nil {
			continue
		}
		d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: c.src.AsSlice()}}
		conn, err := d.DialContext(ctx, "tcp", netip.AddrPortFrom(watched, 80).String())
		if err == nil {
			conn.Close()
		}
		c.blocked = blk.Blocked(c.src) && err != nil
	}
	printMatrix(out, cells)
	st := p.Stats()
	fmt.Fprintf(out, "detector: %d packets, %d observations, %d events, %d dropped (%d by the kernel), %.1f MiB\n",
		st.Packets, st.Observations, st.Events, st.Drops, st.KernelDrops, float64(st.MemoryBytes)/(1<<20))
	return nil
}

// scanCell scans the watched host from c.src until the detector reports
// it (plus a moment for the block), the scan ends, or o.max passes.
func scanCell(ctx context.Context, o options, c *cell, mu *sync.Mutex, detected <-chan *cell) {
	var pr probe.Prober
	switch c.tech {
	case "connect":
		pr = probe.NewConnect(&probe.ConnectConfig{Source: c.src})
	case "syn":
		s, err := probe.NewSYN(&probe.SYNConfig{Source: c.src, Interface: "sl0"})
		if err != nil {
			c.err = err
			return
		}
		pr = s
	}
	ports, err := target.ParsePorts(o.ports, target.TCP)
	if err != nil {
		c.err = err
		return
	}
	space, err := target.NewSpace(target.MustParseHosts(watched.String()), ports)
	if err != nil {
		c.err = err
		return
	}
	sc, err := scanner.New(pr, scanner.WithRate(c.rate), scanner.WithMaxRetries(0),
		scanner.WithOrder(target.IterConfig{Seed: uint64(c.src.As4()[3])}),
		scanner.WithProgress(5*time.Millisecond, func(st scanner.Stats) {
			mu.Lock()
			c.sent = st.Sent
			mu.Unlock()
		}))
	if err != nil {
		c.err = err
		return
	}
	cctx, cancel := context.WithTimeout(ctx, o.max)
	defer cancel()
	c.start = time.Now()
	go func() {
		for {
			mu.Lock()
			hit := c.event != nil
			mu.Unlock()
			if hit {
				time.Sleep(500 * time.Millisecond) // let the block land
				cancel()
				return
			}
			select {
			case <-cctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for range sc.All(cctx, space) {
	}
	mu.Lock()
	c.finished = c.event == nil && cctx.Err() == nil
	mu.Unlock()
}

func printMatrix(out io.Writer, cells []*cell) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "technique\trate\tdetected\tprobes\tsent\tseconds\tblocked\t")
	slices.SortStableFunc(cells, func(a, b *cell) int { return strings.Compare(a.tech, b.tech) })
	for _, c := range cells {
		det, probes, sent, secs, blocked := "no", "-", "-", "-", "-"
		switch {
		case c.err != nil:
			det = "error: " + c.err.Error()
		case c.event != nil:
			det = "yes"
			probes = fmt.Sprint(c.event.Attempts)
			sent = fmt.Sprint(c.sentThen)
			secs = fmt.Sprintf("%.2f", c.event.Time.Sub(c.start).Seconds())
			blocked = map[bool]string{true: "yes", false: "no"}[c.blocked]
		case c.finished:
			det = "no (scan ended)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", c.tech, rateName(c.rate), det, probes, sent, secs, blocked)
	}
	tw.Flush()
}

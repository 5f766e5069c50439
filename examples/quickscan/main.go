// Quickscan is the smallest useful portsense program: a TCP connect scan of
// the most common ports of one target, printed as a table.
//
//	go run ./examples/quickscan              # scans 127.0.0.1, top 1000 ports
//	go run ./examples/quickscan 127.0.0.1 -p 1-65535     # -ports is the same
//
// It needs no privileges. Scan only hosts you are allowed to scan.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("quickscan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ports := fs.String("p", "", "ports to scan in nmap syntax, as scan -p takes them (default: the top 1000 TCP ports)")
	fs.StringVar(ports, "ports", "", "the same as -p")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: quickscan [-p SPEC] [TARGET ...]   (default target 127.0.0.1)")
		fs.PrintDefaults()
	}
	// Let flags follow the targets too, as nmap users type them.
	var targets []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return 2
		}
		if fs.NArg() == 0 {
			break
		}
		targets = append(targets, fs.Arg(0))
		rest = fs.Args()[1:]
	}
	if len(targets) == 0 {
		targets = []string{"127.0.0.1"}
	}

	spec, err := target.ParseHosts(targets...)
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 2
	}
	hosts, err := spec.Resolve(ctx, nil)
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 2
	}
	var ps *target.Ports
	if *ports == "" {
		ps, err = target.Top(1000, target.TCP)
	} else {
		ps, err = target.ParsePorts(*ports, target.TCP)
	}
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 2
	}
	space, err := target.NewSpace(hosts, ps)
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 2
	}

	s, err := scanner.New(probe.NewConnect(nil), scanner.WithTiming(scanner.T4),
		scanner.WithProgress(500*time.Millisecond, func(st scanner.Stats) {
			fmt.Fprintf(stderr, "\r%5.1f%% done, %d probes, %.0f probes/s, %d in flight ",
				100*st.Progress(), st.Sent, st.Rate, st.InFlight)
			if st.Finished {
				fmt.Fprintln(stderr)
			}
		}))
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 2
	}
	fmt.Fprintf(stdout, "Scanning %s (%d ports each) with TCP connect\n", hosts, ps.Len())
	start := time.Now()
	sc, err := s.Start(ctx, space)
	if err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 1
	}
	table := result.NewTableWriter(stdout)
	for r := range sc.Results() {
		table.WriteResult(r)
	}
	scanErr := sc.Wait() // also waits for the last progress line
	if err := table.Close(); err != nil {
		fmt.Fprintln(stderr, "quickscan:", err)
		return 1
	}
	if scanErr != nil {
		fmt.Fprintln(stderr, "quickscan:", scanErr)
		return 1
	}
	st := sc.Stats()
	fmt.Fprintf(stdout, "Scanned %d ports in %.2fs (%d probes)\n", st.Done, time.Since(start).Seconds(), st.Sent)
	return 0
}

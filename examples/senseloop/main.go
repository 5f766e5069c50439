// Command senseloop closes the loop between portsense's two halves: it
// scans a host that portsense's own detector is watching, with every
// portsense scanning technique at a range of rates, and prints a matrix of
// what the detector made of it:
//
//	technique        rate  detected  probes  sent  seconds  blocked
//	  connect   line rate       yes       4    10     0.02      yes
//	  connect      1000/s       yes       4    33     0.02      yes
//	  connect       100/s       yes       4     4     0.07      yes
//	  connect        10/s       yes       4     4     0.34      yes
//	  connect         1/s       yes       4     4     3.00      yes
//	  connect  1 per 30 s       yes       4     4    90.09      yes
//	      syn   line rate       yes       4    10     0.00      yes
//	      …
//
// (a run of the defaults on a loaded 2-CPU machine: about 1.5 minutes).
//
// detected: the detector reported the cell's source (a KindScan event);
// probes: the first contacts the detector had seen from it by then (the
// event's Attempts); sent: probes the scanner had sent by then (its
// Stats.Sent; at line rate many are on the wire before the first answers
// come back); seconds: from the cell's first probe to the event; blocked:
// the nftables blocker holds the source and a connection from it to an
// open port of the watched host now times out.
//
// It is how a user sees which rates and techniques their thresholds catch.
// As root it builds its own lab (Linux): it re-executes itself in a fresh
// network namespace with no route out (the scanner side), adds a target
// namespace joined by a veth pair (198.18.77.0/24, RFC 2544 space) with
// open TCP ports 22, 80 and 443, runs the detector there (live AF_PACKET
// capture, the default analyser, the nftables blocker), and scans it from
// one source address per cell, all cells at once. Everything is removed
// when it ends, also on Ctrl-C.
//
//	sudo go run ./examples/senseloop
//	sudo go run ./examples/senseloop -rates 0,100,1 -techniques syn -max 1m
//
// Flags:
//
//	-techniques LIST  scanning techniques (default connect,syn)
//	-rates LIST       probes per second per cell; 0 is line rate
//	                  (default 0,1000,100,10,1,0.0333: down to one per 30 s)
//	-ports SPEC       ports scanned on the watched host (default 1-1000)
//	-max DUR          longest a cell may scan undetected (default 3m)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	techniques []string
	rates      []float64
	ports      string
	max        time.Duration
}

var knownTechniques = []string{"connect", "syn"}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("senseloop", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	techs := fs.String("techniques", "connect,syn", "scanning techniques")
	rates := fs.String("rates", "0,1000,100,10,1,0.0333", "probes per second per cell (0: line rate)")
	fs.StringVar(&o.ports, "ports", "1-1000", "ports scanned on the watched host")
	fs.DurationVar(&o.max, "max", 3*time.Minute, "longest a cell may scan undetected")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for _, t := range strings.Split(*techs, ",") {
		t = strings.TrimSpace(t)
		ok := false
		for _, k := range knownTechniques {
			ok = ok || t == k
		}
		if !ok {
			return o, fmt.Errorf("-techniques: unknown technique %q (want %s)", t, strings.Join(knownTechniques, ", "))
		}
		o.techniques = append(o.techniques, t)
	}
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v < 0 {
			return o, fmt.Errorf("-rates: %q is not a rate (probes per second, 0 for line rate)", r)
		}
		o.rates = append(o.rates, v)
	}
	if o.max <= 0 {
		return o, fmt.Errorf("-max %v must be positive", o.max)
	}
	if len(o.techniques)*len(o.rates) > 200 {
		return o, fmt.Errorf("%d cells: at most 200", len(o.techniques)*len(o.rates))
	}
	return o, nil
}

// rateName prints a rate the way the matrix does.
func rateName(r float64) string {
	switch {
	case r == 0:
		return "line rate"
	case r >= 1:
		return fmt.Sprintf("%g/s", r)
	}
	return fmt.Sprintf("1 per %.0f s", 1/r)
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "usage: senseloop [-techniques connect,syn] [-rates 0,1000,100,10,1,0.0333] [-ports 1-1000] [-max 3m]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "senseloop:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := start(ctx, o, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "senseloop:", err)
		os.Exit(1)
	}
}

// Command detect watches traffic for port scans and prints what it finds as
// JSON Lines, one detect.Event per line (the SIEM form: kind, detector,
// detection time, first_seen, source, shape, scan_type, probes until
// detection as attempts, an evidence sample, and a scan-end summary when a
// reported scan goes quiet). When the source fails (a truncated capture,
// say), the events found up to the failure are printed, then the error,
// and the exit status is 1. It shows the detect package end to end:
// a source (pcap/pcapng file or live AF_PACKET capture), the default
// analyser, and responders (a callback that prints, optionally an nftables
// blocker).
//
//	go run ./examples/detect -r capture.pcap
//	sudo go run ./examples/detect -i eth0 --block --allow 198.18.1.0/24
//
// Flags:
//
//	-r FILE        read a pcap or pcapng file
//	-i IFACE       capture live on IFACE (Linux, needs CAP_NET_RAW)
//	--block        block detected sources with nftables (needs -i, CAP_NET_ADMIN)
//	--allow PREFIX never block PREFIX (an address or CIDR; repeatable)
//	--ttl DUR      how long a block lasts (default 10m)
//	--stats        print the pipeline's counters to stderr at the end
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/detect/nft"
)

// prefixes is a repeatable --allow flag.
type prefixes []netip.Prefix

func (p *prefixes) String() string {
	s := make([]string, len(*p))
	for i, x := range *p {
		s[i] = x.String()
	}
	return strings.Join(s, ",")
}

func (p *prefixes) Set(v string) error {
	if a, err := netip.ParseAddr(v); err == nil {
		*p = append(*p, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
		return nil
	}
	pf, err := netip.ParsePrefix(v)
	if err != nil {
		return fmt.Errorf("%q is neither an address nor a prefix", v)
	}
	*p = append(*p, pf.Masked())
	return nil
}

type options struct {
	file, iface string
	block       bool
	allow       prefixes
	ttl         time.Duration
	stats       bool
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("detect", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.file, "r", "", "read a pcap or pcapng `file`")
	fs.StringVar(&o.iface, "i", "", "capture live on `interface`")
	fs.BoolVar(&o.block, "block", false, "block detected sources with nftables")
	fs.Var(&o.allow, "allow", "never block `prefix` (repeatable)")
	fs.DurationVar(&o.ttl, "ttl", 10*time.Minute, "how long a block lasts")
	fs.BoolVar(&o.stats, "stats", false, "print counters to stderr at the end")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	switch {
	case fs.NArg() > 0:
		if o.file == "" && o.iface == "" {
			return o, fmt.Errorf("unexpected argument %q (to read a capture file, use -r %s)", fs.Arg(0), fs.Arg(0))
		}
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case (o.file == "") == (o.iface == ""):
		return o, errors.New("need exactly one of -r FILE or -i IFACE")
	case o.block && o.iface == "":
		return o, errors.New("--block needs live capture (-i IFACE)")
	case o.ttl <= 0:
		return o, fmt.Errorf("--ttl %v must be positive", o.ttl)
	}
	return o, nil
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "usage: detect (-r FILE | -i IFACE) [--block] [--allow PREFIX]... [--ttl DUR] [--stats]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "detect:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, message(err))
		os.Exit(1)
	}
}

// message prefixes an error with the program's name once: the library's
// errors already start with "detect: ".
func message(err error) string {
	if m := err.Error(); strings.HasPrefix(m, "detect: ") {
		return m
	}
	return "detect: " + err.Error()
}

func run(ctx context.Context, o options, stdout, stderr io.Writer) error {
	var src detect.Source
	if o.file != "" {
		s, err := detect.OpenPcap(o.file)
		if err != nil {
			return err
		}
		defer s.Close()
		src = s
	} else {
		s, err := detect.NewAFPacketSource(ctx, o.iface, nil)
		if err != nil {
			return err
		}
		defer s.Close()
		src = s
	}

	out := bufio.NewWriter(stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	var werr error
	print := detect.ResponderFunc(func(_ context.Context, e detect.Event) error {
		if werr == nil {
			werr = enc.Encode(e) // detect.Event is JSON-ready: enums marshal as names
		}
		if werr == nil && o.iface != "" {
			werr = out.Flush() // live: show events as they happen
		}
		return werr
	})
	responders := []detect.Responder{print}
	if o.block {
		blk, err := nft.New(&nft.Config{TTL: o.ttl, Allow: detect.Allowlist(o.allow)})
		if err != nil {
			return err
		}
		defer blk.Close()
		responders = append(responders, blk)
	}

	p, err := detect.NewPipeline(src, detect.NewDefaultAnalyzer(nil), detect.WithResponder(responders...))
	if err != nil {
		return err
	}
	err = p.Run(ctx)
	if o.stats {
		st := p.Stats()
		fmt.Fprintf(stderr, "packets %d observations %d skipped %d malformed %d drops %d kernel-drops %d events %d memory %d\n",
			st.Packets, st.Observations, st.Skipped, st.Malformed, st.Drops, st.KernelDrops, st.Events, st.MemoryBytes)
	}
	if errors.Is(err, context.Canceled) {
		return nil // interrupted: a normal way to stop live capture
	}
	// The events found before a failure (a truncated file, say) are
	// printed first, then the error is returned.
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	return err
}

package scanner_test

import (
	"context"
	"fmt"
	"log"
	"slices"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// tableProber is a custom prober: instead of sending packets it answers
// from a table, as a prober backed by an inventory or a cloud API might.
// It shows the whole contract: a protocol, what silence means, and a
// session that sends probes and delivers classified replies.
type tableProber struct {
	open map[uint16]bool
}

func (p tableProber) Protocol() target.Protocol { return target.TCP }

func (p tableProber) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse
}

func (p tableProber) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return tableSession{p, deliver}, nil
}

type tableSession struct {
	p       tableProber
	deliver func(probe.Reply)
}

func (s tableSession) Send(pr probe.Probe) error {
	switch port := pr.Target.Port.Num; {
	case s.p.open[port]:
		s.deliver(probe.Reply{Target: pr.Target, Try: pr.Try, State: result.Open, Reason: result.SynAck})
	case port%2 == 0:
		s.deliver(probe.Reply{Target: pr.Target, Try: pr.Try, State: result.Closed, Reason: result.Reset})
	default:
		// Odd ports stay silent: the engine retransmits, then reports
		// them with the prober's Silence verdict.
	}
	return nil
}

func (s tableSession) Close() error { return nil }

func Example_customProber() {
	hosts := target.MustParseHosts("198.18.0.1")
	ports, err := target.ParsePorts("20-25", target.TCP)
	if err != nil {
		log.Fatal(err)
	}
	space, err := target.NewSpace(hosts, ports)
	if err != nil {
		log.Fatal(err)
	}
	s, err := scanner.New(tableProber{open: map[uint16]bool{22: true}}, scanner.WithMaxRetries(1))
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for r, err := range s.All(context.Background(), space) {
		if err != nil {
			log.Fatal(err)
		}
		lines = append(lines, fmt.Sprintf("%v tries=%d", r, r.Tries))
	}
	slices.Sort(lines) // results arrive in the order they become final
	for _, l := range lines {
		fmt.Println(l)
	}
	// Output:
	// 198.18.0.1:20/tcp closed reset tries=1
	// 198.18.0.1:21/tcp filtered no-response tries=2
	// 198.18.0.1:22/tcp open syn-ack tries=1
	// 198.18.0.1:23/tcp filtered no-response tries=2
	// 198.18.0.1:24/tcp closed reset tries=1
	// 198.18.0.1:25/tcp filtered no-response tries=2
}

// A connect scan of loopback's top 100 ports, printing open ports as they
// are found and a summary from the scan's stats.
func ExampleScanner_Start() {
	hosts := target.MustParseHosts("127.0.0.1")
	ports, err := target.Top(100, target.TCP)
	if err != nil {
		log.Fatal(err)
	}
	space, err := target.NewSpace(hosts, ports)
	if err != nil {
		log.Fatal(err)
	}
	s, err := scanner.New(probe.NewConnect(nil), scanner.WithTiming(scanner.T4), scanner.WithRate(5000))
	if err != nil {
		log.Fatal(err)
	}
	scan, err := s.Start(context.Background(), space)
	if err != nil {
		log.Fatal(err)
	}
	for r := range scan.Results() {
		if r.State == result.Open {
			fmt.Println(r)
		}
	}
	if err := scan.Wait(); err != nil {
		log.Fatal(err)
	}
	st := scan.Stats()
	fmt.Printf("%d ports, %d probes, %v\n", st.Done, st.Sent, st.Elapsed)
}

// Timing templates set timeouts, retries and parallelism; later options
// override single values.
func ExampleWithTiming() {
	t, err := scanner.ParseTiming("aggressive")
	if err != nil {
		log.Fatal(err)
	}
	_, err = scanner.New(probe.NewConnect(nil), scanner.WithTiming(t), scanner.WithMaxRetries(2))
	fmt.Println(t, err)
	// Output: T4 <nil>
}

package scanner_test

import (
	"context"
	"fmt"
	"log"
	"slices"
	"strings"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// inventoryPing is a custom discovery prober: its targets are hosts
// (probe.HostProtocol, the zero Port), and it says a host is up with an
// Open reply. Here an inventory answers; probe.NewPing sends real pings.
type inventoryPing struct{ up map[string]bool }

func (p inventoryPing) Protocol() target.Protocol { return probe.HostProtocol }

func (p inventoryPing) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse // silence: down
}

func (p inventoryPing) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return inventorySession{p, deliver}, nil
}

type inventorySession struct {
	p       inventoryPing
	deliver func(probe.Reply)
}

func (s inventorySession) Send(pr probe.Probe) error {
	if s.p.up[pr.Target.Addr.String()] {
		s.deliver(probe.Reply{Target: pr.Target, Try: pr.Try, State: result.Open, Reason: result.EchoReply, ReplyTTL: 64})
	}
	return nil
}

func (s inventorySession) Close() error { return nil }

// Discover is a ping scan (nmap -sn): one verdict per host.
func ExampleScanner_Discover() {
	ping := inventoryPing{up: map[string]bool{"198.18.0.2": true, "198.18.0.5": true}}
	s, err := scanner.New(ping)
	if err != nil {
		log.Fatal(err)
	}
	var lines []string
	for h, err := range s.Discover(context.Background(), target.MustParseHosts("198.18.0.1-6")) {
		if err != nil {
			log.Fatal(err)
		}
		lines = append(lines, h.String())
	}
	slices.Sort(lines) // verdicts arrive as they are reached
	fmt.Println(strings.Join(lines, "\n"))
	// Output:
	// 198.18.0.1 down no-response
	// 198.18.0.2 up echo-reply
	// 198.18.0.3 down no-response
	// 198.18.0.4 down no-response
	// 198.18.0.5 up echo-reply
	// 198.18.0.6 down no-response
}

// Sweep discovers hosts, then scans the ports of the live ones, as nmap
// does without -Pn: a port prober and a discovery prober together.
func ExampleScanner_Sweep() {
	ping := inventoryPing{up: map[string]bool{"198.18.0.2": true}}
	ports := tableProber{open: map[uint16]bool{22: true}}
	s, err := scanner.New(ports, scanner.WithProber(ping))
	if err != nil {
		log.Fatal(err)
	}
	space, err := target.NewSpace(target.MustParseHosts("198.18.0.1-3"), target.PortsOf(target.TCP, 22, 80))
	if err != nil {
		log.Fatal(err)
	}
	var hosts, found []string
	for rec, err := range s.Sweep(context.Background(), space) {
		switch {
		case err != nil:
			log.Fatal(err)
		case rec.Host != nil:
			hosts = append(hosts, rec.Host.String())
		default:
			found = append(found, rec.Result.String())
		}
	}
	slices.Sort(hosts)
	slices.Sort(found)
	fmt.Println(strings.Join(append(hosts, found...), "\n"))
	// Output:
	// 198.18.0.1 down no-response
	// 198.18.0.2 up echo-reply
	// 198.18.0.3 down no-response
	// 198.18.0.2:22/tcp open syn-ack
	// 198.18.0.2:80/tcp closed reset
}

package scanner_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// bannerTable stands in for probe/service's Detector.
type bannerTable map[uint16]string

func (b bannerTable) Detect(_ context.Context, a netip.AddrPort) (*result.Service, error) {
	return &result.Service{Name: b[a.Port()], Method: "probed", Conf: 10}, nil
}

// DetectServices names the open TCP ports of any stream of results, for
// example one read back from a JSON Lines file.
func ExampleDetectServices() {
	in := make(chan result.Result, 2)
	a := netip.MustParseAddr("198.18.0.2")
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 22), Proto: target.TCP, State: result.Open}
	in <- result.Result{AddrPort: netip.AddrPortFrom(a, 23), Proto: target.TCP, State: result.Closed}
	close(in)
	for r := range scanner.DetectServices(context.Background(), in, bannerTable{22: "ssh"}, 1) {
		name := "-"
		if r.Service != nil {
			name = r.Service.Name
		}
		fmt.Println(r.AddrPort.Port(), r.State, name)
	}
	// Unordered output:
	// 22 open ssh
	// 23 closed -
}

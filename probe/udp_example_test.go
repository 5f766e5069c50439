package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

// A UDP scan of a few ports of this host. Raw packets need CAP_NET_RAW on
// Linux; without it, connected sockets do the same work with no
// privileges. Replies that parse as a payload's protocol name the service.
func ExampleNewUDP() {
	p, err := probe.NewUDP(nil)
	if errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported) {
		p, err = probe.NewUDP(&probe.UDPConfig{Sockets: true})
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	ports, err := target.ParsePorts("U:53,123,161", target.UDP)
	if err != nil {
		fmt.Println(err)
		return
	}
	space, err := target.NewSpace(target.NewHosts(netip.MustParseAddr("127.0.0.1")), ports)
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := scanner.New(p, scanner.WithTiming(scanner.T4))
	if err != nil {
		fmt.Println(err)
		return
	}
	for r, err := range s.All(context.Background(), space) {
		if err != nil {
			fmt.Println(err)
			return
		}
		name := ""
		if r.Service != nil {
			name = r.Service.Name
		}
		fmt.Println(r, name)
	}
}

package probe_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/target"
)

// A SYN session driven by hand; the scan engine does this (and the
// retries, timeouts and rate limits) for you. Needs CAP_NET_RAW on Linux.
func ExampleNewSYN() {
	p, err := probe.NewSYN(nil)
	if errors.Is(err, os.ErrPermission) || errors.Is(err, errors.ErrUnsupported) {
		fmt.Println("SYN scanning unavailable:", err)
		return
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	s, err := p.Open(context.Background(), func(r probe.Reply) {
		fmt.Println(r.Target, r.State, r.Reason, "try", r.Try)
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	t := target.Target{Addr: netip.MustParseAddr("127.0.0.1"), Port: target.Port{Proto: target.TCP, Num: 22}}
	if err := s.Send(probe.Probe{Target: t}); err != nil {
		fmt.Println(err)
		return
	}
	if f, ok := s.(interface{ Flush() error }); ok { // probe.Flusher
		_ = f.Flush()
	}
	if st, ok := s.(interface{ Stats() probe.SYNStats }); ok {
		_ = st.Stats()
	}
}

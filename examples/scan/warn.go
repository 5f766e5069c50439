package main

import (
	"fmt"
	"io"

	"github.com/portsense/portsense/result"
)

// noRouteWarner says once on stderr that targets had no route: such
// targets are reported filtered with reason no-route, and the user should
// hear about it rather than take them for silent hosts.
type noRouteWarner struct {
	stderr io.Writer
	warned bool
}

// see notes r; it prints the warning at the first unroutable target.
func (w *noRouteWarner) see(r result.Result) {
	if r.Reason != result.NoRoute {
		return
	}
	if !w.warned {
		w.warned = true
		fmt.Fprintf(w.stderr, "scan: warning: no route to host %s: nothing was sent to it; its ports are reported %s (no-route)\n",
			r.AddrPort.Addr(), r.State)
	}
}

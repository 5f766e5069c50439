package main

import (
	"fmt"
	"os"
	"runtime/pprof"
)

// Hidden option, for measuring the library rather than for users:
//
//	--cpuprofile FILE    write a pprof CPU profile of the whole run to FILE
//
// It is not in the usage text: it shows where the scan's CPU goes (engine,
// output, send path), as in `go tool pprof scan FILE`.

// profileLongOpts adds --cpuprofile to the long options.
func profileLongOpts(m map[string]longOpt) {
	m["cpuprofile"] = longOpt{true, func(o *options, v string) error {
		if v == "" {
			return usagef("bad --cpuprofile %q: want a file name", v)
		}
		o.cpuProfile = v
		return nil
	}}
}

// startProfile starts the CPU profile --cpuprofile asks for. The returned
// function stops it and closes the file; it is a no-op without the option.
func startProfile(o *options) (stop func() error, err error) {
	if o.cpuProfile == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(o.cpuProfile)
	if err != nil {
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

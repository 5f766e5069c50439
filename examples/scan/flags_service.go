package main

import (
	"strconv"

	"github.com/portsense/portsense/probe/service"
	"github.com/portsense/portsense/scanner"
)

// serviceFlags are the version detection options: -sV,
// --version-intensity N, --version-light (2) and --version-all (9).
type serviceFlags struct {
	on        bool
	intensity int
	set       bool // intensity given
}

// addServiceOpts registers the --version-* long options.
func addServiceOpts(m map[string]longOpt) {
	level := func(n int) longOpt {
		return longOpt{false, func(o *options, _ string) error {
			o.svc.intensity, o.svc.set = n, true
			return nil
		}}
	}
	m["version-intensity"] = longOpt{true, func(o *options, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 9 {
			return usagef("bad --version-intensity %q: want an integer 0-9", v)
		}
		o.svc.intensity, o.svc.set = n, true
		return nil
	}}
	m["version-light"] = level(2)
	m["version-all"] = level(9)
}

// serviceOption returns the scanner option that runs version detection,
// or nil without -sV.
func serviceOption(o *options) (scanner.Option, error) {
	if !o.svc.on {
		return nil, nil
	}
	var opts []service.Option
	if o.svc.set {
		opts = append(opts, service.WithIntensity(o.svc.intensity))
	}
	d, err := service.New(opts...)
	if err != nil {
		return nil, usagef("%v", err)
	}
	return scanner.WithServiceDetection(d, 0), nil
}

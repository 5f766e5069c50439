package scanner

import (
	"fmt"
	"time"

	"golang.org/x/time/rate"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/target"
)

// Option configures a Scanner. Options are applied in order, so a
// WithTiming before WithMaxRetries lets the latter override the template.
type Option func(*config) error

type config struct {
	timing       Timing
	params       timingParams
	maxRate      float64 // packets per second ceiling; 0 = none
	minRate      float64 // packets per second floor; 0 = none
	minRetries   int
	hostTimeout  time.Duration
	order        target.IterConfig
	extra        []probe.Prober
	progressFn   func(Stats)
	progressTick time.Duration
	service      *serviceStage // version detection stage; see service.go
	limiter      *rate.Limiter // shared by the stages of a Sweep; nil = the engine's own
}

func defaultConfig() config {
	return config{timing: T3, params: T3.params(), minRetries: 1}
}

// WithTiming applies a timing template. The default is T3.
func WithTiming(t Timing) Option {
	return func(c *config) error {
		if t > T5 {
			return fmt.Errorf("scanner: bad timing template %d: want 0-5", t)
		}
		c.timing = t
		c.params = t.params()
		return nil
	}
}

// WithRate sets a hard ceiling in probes per second (nmap's --max-rate).
// Retransmissions count. Zero removes the ceiling.
func WithRate(pps float64) Option {
	return func(c *config) error {
		if pps < 0 {
			return fmt.Errorf("scanner: bad max rate %v: must be >= 0", pps)
		}
		c.maxRate = pps
		return nil
	}
}

// WithMinRate keeps sending at least pps probes per second even when the
// congestion window says wait (nmap's --min-rate). The rate ceiling, if
// any, still wins, and so does the engine's memory bound: when silent
// targets may be retransmitted, at most 131,072 targets are in flight, so
// with no replies the rate tops out near 131,072 divided by the probe
// timeout; without retransmissions (WithMaxRetries(0), TCP) the bound is
// 2 M first tries in flight.
func WithMinRate(pps float64) Option {
	return func(c *config) error {
		if pps < 0 {
			return fmt.Errorf("scanner: bad min rate %v: must be >= 0", pps)
		}
		c.minRate = pps
		return nil
	}
}

// WithMaxRetries caps retransmissions of an unanswered probe (nmap's
// --max-retries). The engine retransmits fewer times while no port has
// needed more, but always at least the minimum set by WithMinRetries.
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 50 {
			return fmt.Errorf("scanner: bad max retries %d: want 0-50", n)
		}
		c.params.maxRetries = n
		return nil
	}
}

// WithMinRetries sets how many times a silent probe is retransmitted
// before the port is given up as filtered even when no retransmission has
// ever been answered (default 1). Raise it on lossy links for exact results.
func WithMinRetries(n int) Option {
	return func(c *config) error {
		if n < 0 || n > 50 {
			return fmt.Errorf("scanner: bad min retries %d: want 0-50", n)
		}
		c.minRetries = n
		return nil
	}
}

// WithHostTimeout gives up on a host this long after its first probe; its
// unfinished ports are not reported and the host is noted with reason
// host-timeout. It costs memory per host scanned. Zero disables it.
func WithHostTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("scanner: bad host timeout %v: must be >= 0", d)
		}
		c.hostTimeout = d
		return nil
	}
}

// WithRTTTimeouts sets the initial, minimum and maximum probe timeouts
// (nmap's --initial-rtt-timeout, --min-rtt-timeout, --max-rtt-timeout).
// A zero value keeps the template's.
func WithRTTTimeouts(initial, lo, hi time.Duration) Option {
	return func(c *config) error {
		if initial < 0 || lo < 0 || hi < 0 || (hi > 0 && lo > hi) {
			return fmt.Errorf("scanner: bad rtt timeouts %v/%v/%v", initial, lo, hi)
		}
		if initial > 0 {
			c.params.initialRTO = initial
		}
		if lo > 0 {
			c.params.minRTO = lo
		}
		if hi > 0 {
			c.params.maxRTO = hi
		}
		return nil
	}
}

// WithParallelism bounds the congestion window: at least lo and at most
// hi probes in flight (nmap's --min-parallelism, --max-parallelism).
// Zero keeps the template's value.
func WithParallelism(lo, hi int) Option {
	return func(c *config) error {
		if lo < 0 || hi < 0 || (hi > 0 && lo > hi) {
			return fmt.Errorf("scanner: bad parallelism %d-%d", lo, hi)
		}
		if lo > 0 {
			c.params.minWindow = lo
			c.params.initWindow = max(c.params.initWindow, lo)
		}
		if hi > 0 {
			c.params.maxWindow = hi
			c.params.initWindow = min(c.params.initWindow, hi)
			c.params.minWindow = min(c.params.minWindow, hi)
		}
		return nil
	}
}

// WithScanDelay waits at least d between probes (nmap's --scan-delay).
func WithScanDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("scanner: bad scan delay %v: must be >= 0", d)
		}
		c.params.scanDelay = d
		return nil
	}
}

// WithOrder sets the probe order: the permutation seed, the shard to
// scan, and the position to resume from. The zero IterConfig scans the
// whole space in a pseudorandom order of seed 0.
func WithOrder(o target.IterConfig) Option {
	return func(c *config) error {
		c.order = o
		return nil
	}
}

// WithProber adds a prober for another protocol, so that one scan can
// cover T: and U: ports. A second prober for the same protocol is an error.
func WithProber(p probe.Prober) Option {
	return func(c *config) error {
		if p == nil {
			return fmt.Errorf("scanner: nil prober")
		}
		c.extra = append(c.extra, p)
		return nil
	}
}

// WithProgress calls fn with a Stats snapshot every interval while a scan
// runs, and once more when it ends. fn runs on its own goroutine and must
// not block for long.
func WithProgress(interval time.Duration, fn func(Stats)) Option {
	return func(c *config) error {
		if interval <= 0 || fn == nil {
			return fmt.Errorf("scanner: progress needs a positive interval and a function")
		}
		c.progressTick, c.progressFn = interval, fn
		return nil
	}
}

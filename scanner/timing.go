package scanner

import (
	"fmt"
	"time"
)

// Timing is a timing template, T0 (paranoid) to T5 (insane), with nmap's
// meanings: each sets the RTT timeouts, retries, parallelism and the delay
// between probes. Options given after WithTiming override single values.
type Timing uint8

// Timing templates.
const (
	T0 Timing = iota // paranoid: one probe at a time, 5 minutes apart
	T1               // sneaky: one probe at a time, 15 seconds apart
	T2               // polite: one probe at a time, 0.4 seconds apart
	T3               // normal: the default
	T4               // aggressive: for fast, reliable networks
	T5               // insane: trades accuracy for speed
)

// String returns "T0" … "T5".
func (t Timing) String() string { return fmt.Sprintf("T%d", uint8(t)) }

// ParseTiming parses "T0"…"T5", "0"…"5" or nmap's names ("paranoid",
// "sneaky", "polite", "normal", "aggressive", "insane").
func ParseTiming(s string) (Timing, error) {
	names := [...]string{"paranoid", "sneaky", "polite", "normal", "aggressive", "insane"}
	for i, n := range names {
		if s == n || s == fmt.Sprintf("T%d", i) || s == fmt.Sprintf("%d", i) {
			return Timing(i), nil
		}
	}
	return 0, fmt.Errorf("scanner: bad timing template %q: want T0-T5 or paranoid|sneaky|polite|normal|aggressive|insane", s)
}

// timingParams are the knobs a template sets.
type timingParams struct {
	initialRTO time.Duration // timeout before any RTT sample
	minRTO     time.Duration
	maxRTO     time.Duration
	maxRetries int
	scanDelay  time.Duration // minimum gap between probes; 0 = none
	maxWindow  int           // largest congestion window (parallelism)
	minWindow  int
	initWindow int
}

func (t Timing) params() timingParams {
	switch t {
	case T0:
		return timingParams{initialRTO: 5 * time.Minute, minRTO: 100 * time.Millisecond, maxRTO: 10 * time.Second,
			maxRetries: 10, scanDelay: 5 * time.Minute, maxWindow: 1, minWindow: 1, initWindow: 1}
	case T1:
		return timingParams{initialRTO: 15 * time.Second, minRTO: 100 * time.Millisecond, maxRTO: 10 * time.Second,
			maxRetries: 10, scanDelay: 15 * time.Second, maxWindow: 1, minWindow: 1, initWindow: 1}
	case T2:
		return timingParams{initialRTO: time.Second, minRTO: 100 * time.Millisecond, maxRTO: 10 * time.Second,
			maxRetries: 10, scanDelay: 400 * time.Millisecond, maxWindow: 1, minWindow: 1, initWindow: 1}
	case T4:
		return timingParams{initialRTO: 500 * time.Millisecond, minRTO: 100 * time.Millisecond, maxRTO: 1250 * time.Millisecond,
			maxRetries: 6, maxWindow: 5000, minWindow: 10, initWindow: 20}
	case T5:
		return timingParams{initialRTO: 250 * time.Millisecond, minRTO: 50 * time.Millisecond, maxRTO: 300 * time.Millisecond,
			maxRetries: 2, maxWindow: 10000, minWindow: 10, initWindow: 40}
	default: // T3
		return timingParams{initialRTO: time.Second, minRTO: 100 * time.Millisecond, maxRTO: 10 * time.Second,
			maxRetries: 10, maxWindow: 1000, minWindow: 1, initWindow: 10}
	}
}

// rttEstimator keeps a smoothed RTT and its variance (RFC 6298) and turns
// them into a retransmission timeout: srtt + 4·rttvar, clamped.
//
// A scan takes an RTT sample per reply, thousands per round trip, not one
// per round trip as TCP does, so the variance forgets a stall within
// milliseconds. The timeout therefore never drops below the largest sample
// of the last one to two seconds: a path or host that stalls now and then
// keeps getting time to answer instead of being retransmitted to, and
// finally called filtered, during the next stall.
type rttEstimator struct {
	srtt, rttvar   time.Duration
	initial        time.Duration
	minRTO, maxRTO time.Duration
	samples        int

	bucket          time.Time     // start of the current one-second bucket
	curMax, prevMax time.Duration // largest samples of this and the last bucket
}

const rttMaxBucket = time.Second

func (e *rttEstimator) sample(rtt time.Duration, now time.Time) {
	if rtt <= 0 {
		rtt = time.Microsecond
	}
	switch age := now.Sub(e.bucket); {
	case age >= 2*rttMaxBucket:
		e.bucket, e.curMax, e.prevMax = now, 0, 0
	case age >= rttMaxBucket:
		e.bucket, e.prevMax, e.curMax = now, e.curMax, 0
	}
	e.curMax = max(e.curMax, rtt)
	if e.samples == 0 {
		e.srtt = rtt
		e.rttvar = rtt / 2
	} else {
		d := e.srtt - rtt
		if d < 0 {
			d = -d
		}
		e.rttvar += (d - e.rttvar) / 4
		e.srtt += (rtt - e.srtt) / 8
	}
	e.samples++
}

func (e *rttEstimator) timeout() time.Duration {
	if e.samples == 0 {
		return clamp(e.initial, e.minRTO, e.maxRTO)
	}
	return clamp(max(e.srtt+4*e.rttvar, e.curMax, e.prevMax), e.minRTO, e.maxRTO)
}

func clamp(d, lo, hi time.Duration) time.Duration {
	if d < lo {
		return lo
	}
	if hi > 0 && d > hi {
		return hi
	}
	return d
}

// congestion is an nmap-like congestion window: slow start until ssthresh,
// then linear growth; a drop (a reply to a retransmission, proving an
// earlier try was lost) halves the threshold and shrinks the window.
type congestion struct {
	cwnd     float64
	ssthresh float64
	min, max float64
}

func newCongestion(initial, lo, hi int) congestion {
	// Slow start runs until the first sign of congestion, as in TCP; nmap
	// stops it at 75 and then grows one probe per round trip.
	c := congestion{cwnd: float64(initial), ssthresh: float64(hi), min: float64(lo), max: float64(hi)}
	c.cwnd = min(max(c.cwnd, c.min), c.max)
	return c
}

func (c *congestion) onReply() {
	if c.cwnd < c.ssthresh {
		c.cwnd++
	} else {
		c.cwnd += 1 / c.cwnd
	}
	if c.cwnd > c.max {
		c.cwnd = c.max
	}
}

func (c *congestion) onDrop() {
	c.ssthresh = max(c.cwnd/2, c.min, 2)
	c.cwnd = max(c.cwnd*0.75, c.min)
}

func (c *congestion) window() int { return int(c.cwnd) }

package scanner

import (
	"testing"
	"time"
)

// One stall among thousands of fast samples keeps the timeout at least as
// long as the stall for a second or two; then it is forgotten.
func TestTimeoutRemembersRecentStall(t *testing.T) {
	e := rttEstimator{initial: time.Second, minRTO: 10 * time.Millisecond, maxRTO: 10 * time.Second}
	t0 := time.Unix(1000, 0)
	for i := range 1000 {
		e.sample(time.Millisecond, t0.Add(time.Duration(i)*time.Microsecond))
	}
	if got := e.timeout(); got != 10*time.Millisecond {
		t.Fatalf("fast samples: timeout %v, want the 10ms floor", got)
	}
	e.sample(300*time.Millisecond, t0.Add(2*time.Millisecond))
	for i := range 1000 {
		e.sample(time.Millisecond, t0.Add(3*time.Millisecond+time.Duration(i)*time.Microsecond))
	}
	if got := e.timeout(); got < 300*time.Millisecond {
		t.Fatalf("after a 300ms stall: timeout %v, want >= 300ms", got)
	}
	// A second later the stall is the previous bucket's: still remembered.
	e.sample(time.Millisecond, t0.Add(1500*time.Millisecond))
	if got := e.timeout(); got < 300*time.Millisecond {
		t.Fatalf("1.5s after the stall: timeout %v, want >= 300ms", got)
	}
	// Two buckets later it is gone.
	e.sample(time.Millisecond, t0.Add(2600*time.Millisecond))
	e.sample(time.Millisecond, t0.Add(3700*time.Millisecond))
	if got := e.timeout(); got >= 300*time.Millisecond {
		t.Fatalf("3.7s after the stall: timeout %v, want it forgotten", got)
	}
}

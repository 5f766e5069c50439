package detect_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
)

func ExampleNewDefaultAnalyzer() {
	a := detect.NewDefaultAnalyzer(nil)
	scanner := netip.MustParseAddr("198.19.0.99")
	host := netip.MustParseAddr("198.18.0.20")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	emit := func(e detect.Event) {
		fmt.Printf("kind=%d %s %v after %d attempts\n", e.Kind, e.Detector, e.Source, e.Attempts)
	}
	// 50 closed ports, 10 ms apart: one event, then the cooldown holds.
	for i := range 50 {
		now := t0.Add(time.Duration(i) * 10 * time.Millisecond)
		for _, o := range synAndReset(now, scanner, host, 41000, uint16(1000+i)) {
			a.Observe(&o, emit)
		}
		a.Advance(now, emit) // the pipeline calls this on a timer
	}
	// Output:
	// kind=1 trw 198.19.0.99 after 4 attempts
}

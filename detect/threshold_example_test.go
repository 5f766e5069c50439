package detect_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
)

func ExampleNewThreshold() {
	// 5 failed first contacts within 10 s make a scan.
	a := detect.NewThreshold(&detect.ThresholdConfig{Count: 5, Window: 10 * time.Second})
	scanner := netip.MustParseAddr("198.19.0.7")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	emit := func(e detect.Event) {
		fmt.Printf("%s flagged %v: %d hosts, %d ports, horizontal=%v\n",
			e.Detector, e.Source, e.Hosts, e.Ports, e.Shape == detect.ShapeHorizontal)
	}
	// One port (telnet) over eight hosts, one probe a second. Hosts and
	// Ports count from admission (the second failure), so 4, not 5.
	for i := range 8 {
		host := netip.AddrFrom4([4]byte{198, 18, 0, byte(10 + i)})
		for _, o := range synAndReset(t0.Add(time.Duration(i)*time.Second), scanner, host, 50000, 23) {
			a.Observe(&o, emit)
		}
	}
	// Output:
	// threshold flagged 198.19.0.7: 4 hosts, 1 ports, horizontal=true
}

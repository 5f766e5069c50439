package detect_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// synProbe returns a SYN from src to dst:port and the RST a closed port
// sends back.
func synAndReset(t time.Time, src, dst netip.Addr, sport, port uint16) [2]detect.Observation {
	return [2]detect.Observation{
		{Time: t, Src: src, Dst: dst, SrcPort: sport, DstPort: port, Proto: target.TCP, Flags: detect.SYN, TTL: 50},
		{Time: t.Add(time.Millisecond), Src: dst, Dst: src, SrcPort: port, DstPort: sport, Proto: target.TCP,
			Flags: detect.RST | detect.ACK, TTL: 64},
	}
}

func ExampleNewTRW() {
	a := detect.NewTRW(nil) // θ0=0.8 θ1=0.2 α=0.01 β=0.99
	scanner := netip.MustParseAddr("198.19.0.66")
	host := netip.MustParseAddr("198.18.0.10")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	emit := func(e detect.Event) {
		fmt.Printf("%s flagged %v after %d attempts (vertical=%v, syn=%v)\n",
			e.Detector, e.Source, e.Attempts, e.Shape == detect.ShapeVertical, e.ScanType == detect.ScanSYN)
	}
	for i, port := range []uint16{21, 23, 25, 110, 139, 445} {
		for _, o := range synAndReset(t0.Add(time.Duration(i)*10*time.Millisecond), scanner, host, 40000, port) {
			a.Observe(&o, emit)
		}
	}
	// Output:
	// trw flagged 198.19.0.66 after 4 attempts (vertical=true, syn=true)
}

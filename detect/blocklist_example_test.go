package detect_test

import (
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
)

func ExampleBlocklist() {
	b := detect.NewBlocklist(&detect.BlocklistConfig{
		TTL:      10 * time.Minute,
		Capacity: 1000,
		Allow:    detect.Allowlist{netip.MustParsePrefix("198.18.1.0/24")}, // our monitoring
	})
	scanner := netip.MustParseAddr("198.18.0.66")
	monitor := netip.MustParseAddr("198.18.1.10")

	fmt.Println(b.Block(scanner, time.Minute))
	fmt.Println(b.Block(monitor, time.Minute))
	fmt.Println(b.Blocked(scanner), b.Blocked(monitor))
	// Output:
	// <nil>
	// detect: block 198.18.1.10: address is allowlisted
	// true false
}

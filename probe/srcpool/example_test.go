package srcpool_test

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/portsense/portsense/probe/srcpool"
)

// Claim 16 free addresses of the subnet the first target is on, check an
// explicit one too, and release them when done. (Needs root on Linux and
// a link with ARP; no Output, since it depends on the network.)
func ExampleClaim() {
	pool, err := srcpool.Claim(context.Background(), &srcpool.Config{
		Toward: netip.MustParseAddr("198.18.1.2"),
		Addrs:  []netip.Addr{netip.MustParseAddr("198.18.1.200")},
		Count:  16,
	})
	if err != nil {
		fmt.Println(err) // ErrInUse, ErrNotLocal, ErrNoLinkLayer, os.ErrPermission …
		return
	}
	defer pool.Close() // also on cancel and panic paths
	fmt.Println(pool.Interface(), pool.Addrs())
}

func ExampleParseAddrs() {
	addrs, err := srcpool.ParseAddrs("198.18.1.200,198.18.1.201")
	fmt.Println(addrs, err)
	_, err = srcpool.ParseAddrs("198.18.1.200,198.18.1.0.1")
	fmt.Println(err)
	// Output:
	// [198.18.1.200 198.18.1.201] <nil>
	// srcpool: bad address "198.18.1.0.1": want an IP address
}

func ExampleParseRotation() {
	r, err := srcpool.ParseRotation("per-target")
	fmt.Println(r, err)
	// Output: per-target <nil>
}

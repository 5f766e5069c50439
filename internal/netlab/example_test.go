package netlab_test

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// A lab test: the package's TestMain calls netlab.Main, and each test builds
// what it needs. The example only compiles; lab tests need root.
func Example() {
	// In main_test.go of the package under test:
	//
	//	func TestMain(m *testing.M) { netlab.Main(m) }
	testLab := func(t *testing.T) {
		lab := netlab.New(t) // skips without root
		h := lab.AddHost(netlab.HostConfig{Loss: 0.05})
		h.ListenTCP(t, 22, 80)
		h.Drop(t, target.TCP, 443)
		h.AnyIP(t, netip.MustParsePrefix("198.19.0.0/16"))

		c, err := net.DialTimeout("tcp", netip.AddrPortFrom(h.Addr4, 80).String(), time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	_ = testLab
}

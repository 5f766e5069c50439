package detect

import (
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

// TestMain runs the package's tests in a fresh network namespace when root,
// so lab tests (nftables, live capture, the end-to-end scan) are isolated.
func TestMain(m *testing.M) { netlab.Main(m) }

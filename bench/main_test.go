//go:build benchcompare && linux

package bench

import (
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

// TestMain puts the whole benchmark, peers included, in a network namespace
// of its own with no route out (see netlab.Main).
func TestMain(m *testing.M) { netlab.Main(m) }

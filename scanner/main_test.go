package scanner

import (
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

func TestMain(m *testing.M) {
	burnIfAsked() // a CPU load process of TestLabLoadedMachine, not a test run
	netlab.Main(m)
}

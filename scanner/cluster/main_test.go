package cluster

import (
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

func TestMain(m *testing.M) {
	if runHelperWorker() || runHelperCoordinator() {
		return
	}
	netlab.Main(m)
}

package srcpool_test

import (
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

func TestMain(m *testing.M) { netlab.Main(m) }

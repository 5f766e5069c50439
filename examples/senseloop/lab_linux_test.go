//go:build linux

package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

func TestMain(m *testing.M) { netlab.Main(m) }

// TestMatrixLab runs a small matrix in the lab (netlab.Main has put the
// test in a private network namespace, as start does for the program):
// every cell must be detected and blocked.
func TestMatrixLab(t *testing.T) {
	netlab.New(t) // skips without root
	var out bytes.Buffer
	o := options{techniques: []string{"connect", "syn"}, rates: []float64{0, 20}, ports: "1-200", max: 30 * time.Second}
	if err := runLab(context.Background(), o, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
	rows := 0
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 || (f[0] != "connect" && f[0] != "syn") {
			continue
		}
		rows++
		if !strings.Contains(l, "yes") || strings.HasSuffix(strings.TrimSpace(l), "no") {
			t.Errorf("cell not detected and blocked: %s", l)
		}
	}
	if rows != 4 {
		t.Errorf("%d rows, want 4", rows)
	}
}

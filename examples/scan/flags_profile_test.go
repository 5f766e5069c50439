package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// --cpuprofile FILE writes a pprof profile (gzipped protobuf) of the run;
// without it nothing is written; an empty name is a usage error.
func TestCPUProfileFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "cpu.prof")
	o, err := parseArgs([]string{"-sT", "--cpuprofile", path, "-p", "22", "198.18.0.2"})
	if err != nil {
		t.Fatal(err)
	}
	if o.cpuProfile != path || len(o.targets) != 1 {
		t.Fatalf("cpuProfile %q, targets %q", o.cpuProfile, o.targets)
	}
	stop, err := startProfile(o)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for i := range 3_000_000 {
		n += i % 7
	}
	_ = n
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(b, []byte{0x1f, 0x8b}) {
		t.Errorf("profile is %d bytes, not gzipped: % x", len(b), b[:min(len(b), 8)])
	}

	stop, err = startProfile(&options{})
	if err != nil || stop() != nil {
		t.Errorf("no --cpuprofile: %v", err)
	}
	var ue *usageError
	if _, err := parseArgs([]string{"--cpuprofile=", "198.18.0.2"}); !errors.As(err, &ue) {
		t.Errorf("--cpuprofile= gives %v, want a usage error", err)
	}
	if _, err := startProfile(&options{cpuProfile: filepath.Join(path, "nodir", "x")}); err == nil {
		t.Error("an unwritable profile path gave no error")
	}
}

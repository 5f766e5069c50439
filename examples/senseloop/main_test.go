package main

import (
	"strings"
	"testing"
	"time"
)

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-techniques", "xmas"},
		{"-rates", "fast"},
		{"-rates", "-1"},
		{"-max", "0s"},
		{"extra"},
	} {
		if _, err := parseFlags(args); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
	o, err := parseFlags([]string{"-techniques", "syn", "-rates", "0,0.0333", "-max", "1m"})
	if err != nil || len(o.techniques) != 1 || len(o.rates) != 2 || o.max != time.Minute {
		t.Fatalf("%+v %v", o, err)
	}
	if got := rateName(0.0333); !strings.Contains(got, "30 s") {
		t.Errorf("rateName(0.0333) = %q", got)
	}
}

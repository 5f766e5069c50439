package service

import (
	"errors"
	"strings"
	"testing"
)

func TestBuiltinParses(t *testing.T) {
	db := Builtin()
	if db.Probe("NULL") == nil || db.Probe("tls") == nil || db.Probe("http-get") == nil {
		t.Fatal("builtin DB lacks NULL, tls or http-get")
	}
	n := 0
	for _, p := range db.Probes() {
		n += len(p.Rules)
	}
	if n < 60 {
		t.Errorf("builtin DB has %d rules; want at least 60", n)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct{ src, want string }{
		{"match ssh /x/", `x.rules:1: "match" before the first probe line`},
		{"probe NULL\n  match ssh /(/", "x.rules:2: match: bad pattern"},
		{"probe NULL\n\n  match ssh /x/ version=\"{v}\"", "x.rules:3: match: version: {v}: the pattern has no group of that name"},
		{"probe NULL\n  match ssh /x", "x.rules:2: match: pattern \"/x\" has no closing /"},
		{"probe NULL\n  match ssh /x/q", "x.rules:2: match: unknown pattern flag \"q\""},
		{"probe NULL\n  match ssh /x/ color=\"red\"", "x.rules:2: match: unknown key \"color\""},
		{"probe NULL\n  match ssh /x/ cpe=\"openssh\"", "want a CPE 2.2 name"},
		{"probe a\n  send \"\\q\"", "x.rules:2: send: bad string"},
		{"probe a\n  ports 0", "x.rules:2: ports: bad port \"0\""},
		{"probe a\n  rarity 10", "x.rules:2: rarity \"10\": want 1-9"},
		{"probe a\n  fallback b", "x.rules:1: probe a: unknown fallback probe \"b\""},
		{"probe a b", "x.rules:1: probe a: unknown attribute \"b\""},
		{"probe a\n  frobnicate", "x.rules:2: unknown keyword \"frobnicate\""},
		{"probe a/b", "x.rules:1: probe: bad name \"a/b\""},
	}
	for _, c := range cases {
		_, err := Parse("x.rules", strings.NewReader(c.src))
		if err == nil {
			t.Errorf("Parse(%q): no error, want %q", c.src, c.want)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %q, want it to contain %q", c.src, err, c.want)
		}
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line == 0 {
			t.Errorf("Parse(%q): error %T without a line", c.src, err)
		}
	}
}

func TestAddExtendsAndLeavesDBOnError(t *testing.T) {
	db := Builtin()
	before := len(db.Probe("NULL").Rules)
	err := db.Add("site.rules", strings.NewReader("probe NULL\n  match acme /^ACME (?P<version>\\d+)/ product=\"Acme\"\nprobe new\n  send \"x\"\n  match x /(/"))
	if err == nil {
		t.Fatal("want an error")
	}
	if got := len(db.Probe("NULL").Rules); got != before || db.Probe("new") != nil {
		t.Fatalf("failed Add changed the DB: %d rules (was %d), probe new = %v", got, before, db.Probe("new"))
	}
	if err := db.Add("site.rules", strings.NewReader("probe NULL\n  match acme /^ACME (?P<version>\\d+)/ product=\"Acme\"")); err != nil {
		t.Fatal(err)
	}
	m, ok := db.Match("NULL", []byte("ACME 42\r\n"), "")
	if !ok || m.Service != "acme" || m.Product != "Acme" || m.Version != "42" || m.Soft {
		t.Fatalf("Match = %+v, %v", m, ok)
	}
}

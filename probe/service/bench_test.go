package service

import (
	"os"
	"testing"
)

// BenchmarkMatch matches real replies against the built-in rules: a banner
// named by the NULL probe's first rules, and an HTTP reply that walks most
// of the http-get rules.
func BenchmarkMatch(b *testing.B) {
	db := Builtin()
	for _, c := range []struct{ name, probe, file string }{
		{"ssh", "NULL", "testdata/replies/openssh_NULL.bin"},
		{"lighttpd", "http-get", "testdata/replies/lighttpd_http-get.bin"},
		{"mariadb", "NULL", "testdata/replies/mariadb_NULL.bin"},
	} {
		reply, err := os.ReadFile(c.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(reply)))
			for b.Loop() {
				if _, ok := db.Match(c.probe, reply, ""); !ok {
					b.Fatal("no match")
				}
			}
		})
	}
}

// BenchmarkParseBuiltin measures loading the embedded rules (done once per
// Builtin call).
func BenchmarkParseBuiltin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		Builtin()
	}
}

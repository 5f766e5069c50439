package target

import (
	"context"
	"testing"
)

// BenchmarkSpaceIterate walks a /8 × 65,536 ports space (2^40 targets) in
// pseudorandom order; one op is one Iter.Next.
func BenchmarkSpaceIterate(b *testing.B) {
	p, _ := ParsePorts("0-65535", TCP)
	s, err := NewSpace(MustParseHosts("198.0.0.0/8"), p)
	if err != nil {
		b.Fatal(err)
	}
	it, err := s.Iter(IterConfig{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	var sink Target
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t, ok := it.Next()
		if !ok {
			b.Fatal("space exhausted")
		}
		sink = t
	}
	_ = sink
}

// BenchmarkSpaceIterateSequential is BenchmarkSpaceIterate without the
// permutation, over a space with many host and port ranges.
func BenchmarkSpaceIterateSequential(b *testing.B) {
	p, _ := Top(1000, TCP)
	s, err := NewSpace(MustParseHosts("198.18.0-255.1-254"), p)
	if err != nil {
		b.Fatal(err)
	}
	it, _ := s.Iter(IterConfig{Sequential: true})
	var sink Target
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		t, ok := it.Next()
		if !ok {
			it, _ = s.Iter(IterConfig{Sequential: true})
		}
		sink = t
	}
	_ = sink
}

func BenchmarkOrderAt(b *testing.B) {
	o := NewOrder(1<<40+12345, 7)
	var sink uint64
	b.ReportAllocs()
	for i := range uint64(b.N) {
		sink += o.At(i)
	}
	_ = sink
}

func BenchmarkParseHosts(b *testing.B) {
	const spec = "198.18.0-3.1-254, 198.18.16.0/20 2001:db8::/120,198.18.9.10-198.18.9.50 198.18.0.1,2,3"
	b.ReportAllocs()
	for range b.N {
		s, err := ParseHosts(spec)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.Resolve(context.Background(), nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParsePorts(b *testing.B) {
	const spec = "22,80,443,1000-2000,ssh,http,8080,-100,60000-,U:53,161,domain"
	b.ReportAllocs()
	for range b.N {
		if _, err := ParsePorts(spec, TCP); err != nil {
			b.Fatal(err)
		}
	}
}

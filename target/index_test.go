package target

import (
	"math/rand/v2"
	"testing"
)

// PosOf inverts the iterator on every position, for shards, seeds and
// sizes that make the Feistel network walk cycles.
func TestIterPosOfInvertsNext(t *testing.T) {
	hosts := MustParseHosts("198.18.0.1-7,198.18.3.250-198.18.4.20,2001:db8::5,2001:db8::100-2001:db8::1ff")
	ports, err := ParsePorts("T:1-3,22,80,443,U:53,161-162", TCP)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := NewSpace(hosts, ports)
	if err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []IterConfig{{Seed: 1}, {Seed: 99, Shard: 2, Shards: 3}, {Sequential: true}, {Seed: 7, Shards: 5, Shard: 4}} {
		it, err := sp.Iter(cfg)
		if err != nil {
			t.Fatal(err)
		}
		other, _ := sp.Iter(IterConfig{Seed: cfg.Seed, Shards: cfg.Shards, Shard: (cfg.Shard + 1) % max(cfg.Shards, 1)})
		for {
			pos := it.Pos()
			x, ok := it.Next()
			if !ok {
				break
			}
			got, ok := it.PosOf(x)
			if !ok || got != pos {
				t.Fatalf("%+v: PosOf(%v) = %d, %v; want %d", cfg, x, got, ok, pos)
			}
			if it.At(pos) != x {
				t.Fatalf("%+v: At(%d) = %v, want %v", cfg, pos, it.At(pos), x)
			}
			if cfg.Shards > 1 {
				if _, ok := other.PosOf(x); ok {
					t.Fatalf("%+v: %v also in shard %d", cfg, x, other.shard)
				}
			}
		}
	}
	it, _ := sp.Iter(IterConfig{Seed: 3})
	for _, x := range []Target{
		{Addr: MustParseHosts("198.18.0.8").At(0), Port: Port{TCP, 22}},
		{Addr: hosts.At(0), Port: Port{TCP, 23}},
		{Addr: hosts.At(0), Port: Port{UDP, 22}},
	} {
		if _, ok := it.PosOf(x); ok {
			t.Errorf("PosOf(%v): found a target outside the space", x)
		}
	}
}

func TestOrderInverse(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + r.Uint64N(1<<uint(r.IntN(40)))
		o := NewOrder(n, r.Uint64())
		for range 50 {
			i := r.Uint64N(n)
			if got := o.Inverse(o.At(i)); got != i {
				t.Fatalf("n %d: Inverse(At(%d)) = %d", n, i, got)
			}
		}
	}
}

func BenchmarkIterPosOf(b *testing.B) {
	sp, _ := NewSpace(MustParseHosts("198.18.128.0/17"), PortsOf(TCP, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16))
	it, _ := sp.Iter(IterConfig{Seed: 5})
	x := it.At(12345)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := it.PosOf(x); !ok {
			b.Fatal("not found")
		}
	}
}

package target

import (
	"errors"
	"testing"
)

func TestOrderBijection(t *testing.T) {
	sizes := []uint64{1, 2, 3, 4, 5, 7, 8, 13, 16, 31, 64, 97, 100, 127, 128, 1000, 4096, 65521}
	seeds := []uint64{0, 1, 42, 0xdeadbeefcafebabe}
	for _, n := range sizes {
		for _, seed := range seeds {
			o := NewOrder(n, seed)
			seen := make([]bool, n)
			for i := range n {
				j := o.At(i)
				if j >= n {
					t.Fatalf("n=%d seed=%d: At(%d) = %d out of range", n, seed, i, j)
				}
				if seen[j] {
					t.Fatalf("n=%d seed=%d: index %d hit twice", n, seed, j)
				}
				seen[j] = true
			}
		}
	}
}

func TestOrderPermutes(t *testing.T) {
	const n = 1000
	a, b, z := NewOrder(n, 1), NewOrder(n, 2), NewOrder(n, 0)
	fixedA, same, fixedZ := 0, 0, 0
	for i := range uint64(n) {
		if a.At(i) == i {
			fixedA++
		}
		if z.At(i) == i {
			fixedZ++
		}
		if a.At(i) == b.At(i) {
			same++
		}
	}
	// A random permutation has about one fixed point; allow plenty of slack.
	if fixedA > 20 || fixedZ > 20 || same > 20 {
		t.Errorf("not permuted enough: fixed(seed 1)=%d fixed(seed 0)=%d agree(1,2)=%d", fixedA, fixedZ, same)
	}
	id := IdentityOrder(n)
	for i := range uint64(n) {
		if id.At(i) != i {
			t.Fatalf("identity At(%d) = %d", i, id.At(i))
		}
	}
	if a, b := NewOrder(n, 7), NewOrder(n, 7); a.At(5) != b.At(5) {
		t.Error("order is not deterministic")
	}
}

func TestOrderLarge(t *testing.T) {
	// Spot check the full 64-bit domain: values stay in range and distinct
	// inputs map to distinct outputs.
	for _, n := range []uint64{1 << 40, 1<<63 + 12345, ^uint64(0)} {
		o := NewOrder(n, 99)
		seen := map[uint64]bool{}
		for i := uint64(0); i < 2000; i++ {
			x := i * (n / 2000)
			j := o.At(x)
			if j >= n || seen[j] {
				t.Fatalf("n=%d: At(%d) = %d repeated or out of range", n, x, j)
			}
			seen[j] = true
		}
	}
}

func lab(t testing.TB, hosts, ports string) *Space {
	t.Helper()
	p, err := ParsePorts(ports, TCP)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSpace(MustParseHosts(hosts), p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSpaceNaturalOrder(t *testing.T) {
	s := lab(t, "198.18.0.1-198.18.0.3", "22,80")
	want := []string{"198.18.0.1:22/tcp", "198.18.0.2:22/tcp", "198.18.0.3:22/tcp", "198.18.0.1:80/tcp", "198.18.0.2:80/tcp", "198.18.0.3:80/tcp"}
	if s.Len() != 6 {
		t.Fatalf("Len = %d", s.Len())
	}
	it, err := s.Iter(IterConfig{Sequential: true})
	if err != nil {
		t.Fatal(err)
	}
	for i, w := range want {
		if got := s.At(uint64(i)).String(); got != w {
			t.Errorf("At(%d) = %s, want %s", i, got, w)
		}
		tg, ok := it.Next()
		if !ok || tg.String() != w {
			t.Errorf("Next #%d = %v %v, want %s", i, tg, ok, w)
		}
	}
	if _, ok := it.Next(); ok {
		t.Error("Next after end returned a target")
	}
}

func TestShardsPartition(t *testing.T) {
	s := lab(t, "198.18.0.0/28 2001:db8::/125", "T:1-7,U:53,161")
	n := s.Len()
	for _, shards := range []uint64{1, 2, 3, 7, 10, n, n + 5} {
		for _, seq := range []bool{false, true} {
			seen := map[Target]int{}
			total := uint64(0)
			for k := range shards {
				it, err := s.Iter(IterConfig{Seed: 5, Shard: k, Shards: shards, Sequential: seq})
				if err != nil {
					t.Fatal(err)
				}
				cnt := uint64(0)
				for tg, ok := it.Next(); ok; tg, ok = it.Next() {
					seen[tg]++
					cnt++
				}
				if cnt != it.Len() || it.Pos() != cnt {
					t.Errorf("shards=%d k=%d: yielded %d, Len %d, Pos %d", shards, k, cnt, it.Len(), it.Pos())
				}
				total += cnt
			}
			if total != n || uint64(len(seen)) != n {
				t.Errorf("shards=%d seq=%v: %d targets, %d distinct, want %d", shards, seq, total, len(seen), n)
			}
			for tg, c := range seen {
				if c != 1 {
					t.Errorf("%v seen %d times", tg, c)
				}
			}
		}
	}
}

func TestResume(t *testing.T) {
	s := lab(t, "198.18.0.0/26", "1-50")
	cfg := IterConfig{Seed: 77, Shard: 1, Shards: 3}
	it, _ := s.Iter(cfg)
	var full []Target
	for tg := range s.All(cfg) {
		full = append(full, tg)
	}
	if uint64(len(full)) != it.Len() {
		t.Fatalf("All yielded %d, Len %d", len(full), it.Len())
	}
	for _, stop := range []int{0, 1, 500, len(full) - 1, len(full)} {
		it, _ := s.Iter(cfg)
		for range stop {
			it.Next()
		}
		saved := it.Pos()
		cfg2 := cfg
		cfg2.Start = saved
		rest, err := s.Iter(cfg2)
		if err != nil {
			t.Fatal(err)
		}
		i := stop
		for tg, ok := rest.Next(); ok; tg, ok = rest.Next() {
			if tg != full[i] {
				t.Fatalf("resume at %d: position %d = %v, want %v", stop, i, tg, full[i])
			}
			i++
		}
		if i != len(full) {
			t.Errorf("resume at %d ended at %d, want %d", stop, i, len(full))
		}
	}
}

func TestIterConfigErrors(t *testing.T) {
	s := lab(t, "198.18.0.1", "80")
	for _, cfg := range []IterConfig{
		{Shard: 1},
		{Shard: 3, Shards: 3},
		{Start: 2},
		{Shard: 1, Shards: 2, Start: 1}, // shard 1 of 2 over one target is empty
	} {
		if _, err := s.Iter(cfg); err == nil {
			t.Errorf("%+v: no error", cfg)
		}
	}
	it, err := s.Iter(IterConfig{Shard: 1, Shards: 2})
	if err != nil || it.Len() != 0 {
		t.Errorf("empty shard: %v %v", it, err)
	}
	it, err = s.Iter(IterConfig{Start: 1})
	if err != nil || it.Len() != 1 {
		t.Fatalf("finished iterator: %v", err)
	}
	if _, ok := it.Next(); ok {
		t.Error("Start == Len yielded a target")
	}
}

func TestNewSpaceErrors(t *testing.T) {
	all, _ := ParsePorts("-", TCP)
	h := MustParseHosts("2001:db8::/65")
	if _, err := NewSpace(h, all); !errors.Is(err, ErrTooLarge) {
		t.Errorf("2^63 hosts × 65535 ports: %v, want ErrTooLarge", err)
	}
	if _, err := NewSpace(h, PortsOf(TCP, 80)); err != nil {
		t.Errorf("2^63 hosts × 1 port: %v", err)
	}
	if _, err := NewSpace(&Hosts{}, all); err == nil {
		t.Error("empty hosts: no error")
	}
	if _, err := NewSpace(h, &Ports{}); err == nil {
		t.Error("empty ports: no error")
	}
	// A /8 with every port including 0: 2^24 × 2^16 = 2^40 targets.
	p, _ := ParsePorts("0-65535", TCP)
	s, err := NewSpace(MustParseHosts("198.0.0.0/8"), p)
	if err != nil || s.Len() != 1<<40 {
		t.Errorf("/8 × 65536: %v %v", s, err)
	}
}

func TestSpaceAllocs(t *testing.T) {
	p, _ := ParsePorts("0-65535", TCP)
	s, err := NewSpace(MustParseHosts("198.0.0.0/8"), p)
	if err != nil {
		t.Fatal(err)
	}
	it, err := s.Iter(IterConfig{Seed: 3, Shard: 2, Shards: 5})
	if err != nil {
		t.Fatal(err)
	}
	o := NewOrder(s.Len(), 3)
	var sink Target
	var u uint64
	i := uint64(12345)
	checks := map[string]func(){
		"Iter.Next": func() { sink, _ = it.Next() },
		"Order.At":  func() { u = o.At(i); i += 977 },
		"Space.At":  func() { sink = s.At(i); i += 1 << 30 },
	}
	for name, f := range checks {
		if n := testing.AllocsPerRun(1000, f); n != 0 {
			t.Errorf("%s allocs = %v, want 0", name, n)
		}
	}
	_, _ = sink, u
}

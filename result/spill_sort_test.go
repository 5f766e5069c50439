package result

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// radixSortRecs gives the order of a stable sort by cmpRec: by family,
// address, protocol and port, records of one port in the order they came.
func TestRadixSortRecs(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	addrs := []func() netip.Addr{
		func() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 128 + byte(r.IntN(2)), byte(r.IntN(256))}) },
		func() netip.Addr {
			return netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(256))})
		},
		func() netip.Addr {
			var b [16]byte
			b[0], b[1], b[2], b[3] = 0x20, 0x01, 0x0d, 0xb8
			b[r.IntN(16)] = byte(r.IntN(256))
			b[15] = byte(r.IntN(4))
			return netip.AddrFrom16(b)
		},
		func() netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, 1}) }, // one host: only ports differ
	}
	for _, n := range []int{0, 1, 2, 3, 100, 5000} {
		for mix := 0; mix < 1<<len(addrs); mix++ {
			var gens []func() netip.Addr
			for i, g := range addrs {
				if mix&(1<<i) != 0 {
					gens = append(gens, g)
				}
			}
			if len(gens) == 0 {
				continue
			}
			rs := make([]rec, n)
			for i := range rs {
				proto := target.TCP
				if r.IntN(4) == 0 {
					proto = target.UDP
				}
				port := uint16(1 + r.IntN(40))
				if r.IntN(8) == 0 {
					port = uint16(r.IntN(65536))
				}
				rs[i] = recOf(Result{AddrPort: netip.AddrPortFrom(gens[r.IntN(len(gens))](), port), Proto: proto,
					State: Filtered, Reason: NoResponse, Time: time.Unix(0, int64(i+1))}) // the time says which came first
			}
			want := slices.Clone(rs)
			slices.SortStableFunc(want, func(x, y rec) int { return cmpRec(&x, &y) })
			got := slices.Clone(rs)
			radixSortRecs(got, make([]uint32, n), make([]uint32, n))
			if !slices.Equal(got, want) {
				t.Fatalf("n=%d mix=%b: radix order differs from the stable sort", n, mix)
			}
		}
	}
}

// BenchmarkRadixSortRecs sorts one run of the memory workload's dark scan:
// spillChunk records of a /17 × 32 ports in the scan's random order.
func BenchmarkRadixSortRecs(b *testing.B) {
	b.ReportAllocs()
	r := rand.New(rand.NewPCG(1, 2))
	rs := make([]rec, spillChunk)
	for i := range rs {
		k := r.IntN(1 << 20)
		a := netip.AddrFrom4([4]byte{198, 18, 128 + byte(k>>13), byte(k >> 5)})
		rs[i] = recOf(Result{AddrPort: netip.AddrPortFrom(a, uint16(1+k%32)), Proto: target.TCP, State: Filtered, Reason: NoResponse})
	}
	work := make([]rec, len(rs))
	idx, tmp := make([]uint32, len(rs)), make([]uint32, len(rs))
	for b.Loop() {
		copy(work, rs)
		radixSortRecs(work, idx, tmp)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rs)), "ns/rec")
}

// recKey agrees with cmpRec: a smaller key means an earlier record.
func TestRecKeyOrder(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	mk := func() rec {
		var a netip.Addr
		switch r.IntN(3) {
		case 0:
			a = netip.AddrFrom4([4]byte{byte(r.IntN(256)), byte(r.IntN(256)), byte(r.IntN(4)), byte(r.IntN(4))})
		case 1:
			a = netip.AddrFrom16([16]byte{0x20, 0x01, 15: byte(r.IntN(4))})
		default:
			a = netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: byte(r.IntN(4))}) // 4-in-6: IPv6
		}
		proto := target.Protocol(r.IntN(3))
		return recOf(Result{AddrPort: netip.AddrPortFrom(a, uint16(r.IntN(3))<<(8*r.IntN(2))), Proto: proto})
	}
	less := 0
	for range 200_000 {
		x, y := mk(), mk()
		kx, ky := recKey(&x), recKey(&y)
		c := cmpRec(&x, &y)
		if kx < ky {
			less++
			if c >= 0 {
				t.Fatalf("recKey %#x < %#x but cmpRec(%v, %v) = %d", kx, ky, x.addr(), y.addr(), c)
			}
		}
		if kx > ky && c <= 0 {
			t.Fatalf("recKey %#x > %#x but cmpRec(%v, %v) = %d", kx, ky, x.addr(), y.addr(), c)
		}
	}
	if less < 10_000 {
		t.Errorf("only %d ordered pairs: the test draws too few distinct keys", less)
	}
}

// The collector records every port of every protocol it sees, whatever
// the order the protocols come in.
func TestCollectorPortsSeen(t *testing.T) {
	var c collector
	want := map[target.Protocol]map[uint16]bool{target.TCP: {}, target.UDP: {}}
	r := rand.New(rand.NewPCG(2, 8))
	a := netip.MustParseAddr("198.18.0.9")
	for i := range 3000 {
		proto := target.TCP
		if r.IntN(3) == 0 || (i > 1000 && i < 1100) {
			proto = target.UDP
		}
		port := uint16(r.IntN(70000))
		want[proto][port] = true
		if err := c.addResult(Result{AddrPort: netip.AddrPortFrom(a, port), Proto: proto, State: Closed, Reason: Reset}); err != nil {
			t.Fatal(err)
		}
	}
	s := c.finish()
	for proto, set := range want {
		got := s.ports[proto]
		if len(got) != len(set) || !slices.IsSorted(got) {
			t.Errorf("%s: %d ports seen, want %d, sorted", proto, len(got), len(set))
		}
		for _, p := range got {
			if !set[p] {
				t.Errorf("%s: port %d seen, never written", proto, p)
			}
		}
	}
}

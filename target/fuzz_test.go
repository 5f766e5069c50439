package target

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func FuzzParseHosts(f *testing.F) {
	for _, s := range []string{
		"198.18.0.1", "2001:db8::1", "198.18.0.0/24", "2001:db8::/120",
		"198.18.0-3.1-254", "198.18.*.1", "198.18.0.1,2,3", "198.18.0.10-198.18.0.50",
		"2001:db8::1-2001:db8::ff", "host.example", "host.example/30",
		"198.18.0.1, 198.18.0.2\n2001:db8::1", "fe80::1%eth0", "198.18.0.300", "-.-.-.-",
	} {
		f.Add(s, "198.18.0.5")
	}
	f.Fuzz(func(t *testing.T, spec, excl string) {
		s, err := ParseHosts(spec)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "target: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if err := s.Exclude(excl); err != nil {
			if !strings.HasPrefix(err.Error(), "target: ") {
				t.Fatalf("error without prefix: %v", err)
			}
		}
		if len(s.Names()) > 0 {
			return
		}
		h, err := s.Resolve(context.Background(), nil)
		if err != nil {
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("resolve literals: %v", err)
			}
			return
		}
		// String round-trips to the same set.
		if h.Len() == 0 {
			if h.String() != "" {
				t.Fatalf("empty set prints %q", h.String())
			}
			return
		}
		h2 := MustParseHosts(h.String())
		if h2.String() != h.String() || h2.Len() != h.Len() {
			t.Fatalf("round trip %q -> %q", h.String(), h2.String())
		}
		// First and last addresses are members; At agrees with All's start.
		first, last := h.At(0), h.At(h.Len()-1)
		if !h.Contains(first) || !h.Contains(last) || last.Less(first) && first.Is4() == last.Is4() {
			t.Fatalf("bad bounds %v %v", first, last)
		}
		for a := range h.All() {
			if a != first {
				t.Fatalf("All starts at %v, At(0) = %v", a, first)
			}
			break
		}
	})
}

func FuzzParsePorts(f *testing.F) {
	for _, s := range []string{
		"22,80,1000-2000", "-", "-100", "60000-", "0", "T:80,U:53", "ssh,domain",
		"U:domain,T:-10", "22,,80", "70000", "S:1", "1-2-3",
	} {
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, spec string, udp bool) {
		def := TCP
		if udp {
			def = UDP
		}
		p, err := ParsePorts(spec, def)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "target: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		if p.Len() == 0 || p.Len() > 2*65536 {
			t.Fatalf("Len = %d", p.Len())
		}
		q, err := ParsePorts(p.String(), TCP)
		if err != nil {
			t.Fatalf("String %q does not parse: %v", p.String(), err)
		}
		if q.String() != p.String() || q.Len() != p.Len() {
			t.Fatalf("round trip %q -> %q", p.String(), q.String())
		}
		last := p.At(p.Len() - 1)
		if !p.Contains(p.At(0)) || !p.Contains(last) {
			t.Fatal("At result not contained")
		}
	})
}

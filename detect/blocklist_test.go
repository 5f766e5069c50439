package detect

import (
	"context"
	"errors"
	"net/netip"
	"sync"
	"testing"
	"time"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestBlocklistExpiry(t *testing.T) {
	clk := &fakeClock{t: t0}
	b := NewBlocklist(&BlocklistConfig{TTL: time.Minute, Now: clk.Now})
	a := netip.MustParseAddr("198.18.7.7")
	if err := b.Block(a, 0); err != nil {
		t.Fatal(err)
	}
	if !b.Blocked(a) || b.Blocked(v4b) {
		t.Fatal("Blocked wrong right after Block")
	}
	// IPv4-mapped form is the same address.
	if !b.Blocked(netip.AddrFrom16(a.As16())) {
		t.Error("mapped address not blocked")
	}
	clk.Add(30 * time.Second)
	if !b.Blocked(a) {
		t.Fatal("expired early")
	}
	// Re-blocking with a short TTL does not shorten the block.
	b.Block(a, time.Second)
	clk.Add(2 * time.Second)
	if !b.Blocked(a) {
		t.Fatal("short re-block shortened expiry")
	}
	b.Block(a, time.Hour)
	clk.Add(30 * time.Minute)
	if !b.Blocked(a) {
		t.Fatal("re-block did not extend expiry")
	}
	clk.Add(31 * time.Minute)
	if b.Blocked(a) || b.Len() != 0 {
		t.Fatalf("not expired: len %d", b.Len())
	}
	b.Block(a, 0)
	if !b.Unblock(a) || b.Blocked(a) {
		t.Fatal("Unblock")
	}
}

func TestBlocklistAllowlist(t *testing.T) {
	b := NewBlocklist(&BlocklistConfig{Allow: Allowlist{netip.MustParsePrefix("198.18.5.0/24"), netip.MustParsePrefix("2001:db8:5::/48")}})
	for _, s := range []string{"198.18.5.9", "2001:db8:5::1", "::ffff:198.18.5.1"} {
		err := b.Block(netip.MustParseAddr(s), 0)
		if !errors.Is(err, ErrAllowlisted) {
			t.Errorf("%s: err %v, want ErrAllowlisted", s, err)
		}
		if b.Blocked(netip.MustParseAddr(s)) {
			t.Errorf("%s blocked", s)
		}
	}
	if err := b.Block(netip.Addr{}, 0); err == nil {
		t.Error("invalid address accepted")
	}
	// As a responder: the allowlisted source is skipped without error,
	// the campaign member is blocked.
	e := Event{Kind: KindDistributed, Source: netip.MustParseAddr("198.18.5.1"),
		Sources: []netip.Addr{netip.MustParseAddr("198.18.5.1"), netip.MustParseAddr("198.18.6.1")}}
	if err := b.Respond(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if b.Blocked(e.Sources[0]) || !b.Blocked(e.Sources[1]) {
		t.Error("campaign blocking wrong")
	}
	if st := b.Stats(); st.Refused != 4 || st.Blocked != 1 {
		t.Errorf("stats %+v", st)
	}
	// Decoys are never blocked, only the real source.
	d := Event{Kind: KindDecoy, Source: netip.MustParseAddr("198.18.9.1"), Sources: []netip.Addr{netip.MustParseAddr("198.18.9.2")}}
	b.Respond(context.Background(), d)
	if !b.Blocked(d.Source) || b.Blocked(d.Sources[0]) {
		t.Error("decoy blocking wrong")
	}
}

func TestBlocklistCapacity(t *testing.T) {
	clk := &fakeClock{t: t0}
	b := NewBlocklist(&BlocklistConfig{Capacity: 3, Now: clk.Now})
	addr := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{198, 18, 0, byte(i)}) }
	// Expiries 10, 5, 20 minutes; the 4th entry evicts the 5-minute one.
	b.Block(addr(1), 10*time.Minute)
	b.Block(addr(2), 5*time.Minute)
	b.Block(addr(3), 20*time.Minute)
	b.Block(addr(4), time.Minute)
	if b.Blocked(addr(2)) || !b.Blocked(addr(1)) || !b.Blocked(addr(3)) || !b.Blocked(addr(4)) {
		t.Fatal("evicted the wrong entry")
	}
	for i := 5; i < 1000; i++ {
		b.Block(addr(i%250), time.Duration(i)*time.Second)
	}
	if st := b.Stats(); st.Blocked != 3 || st.Evicted == 0 {
		t.Fatalf("over capacity: %+v", st)
	}
}

func TestBlocklistConcurrent(t *testing.T) {
	b := NewBlocklist(&BlocklistConfig{Capacity: 100})
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 1000 {
				a := netip.AddrFrom4([4]byte{198, 18, byte(g), byte(i)})
				b.Block(a, time.Minute)
				b.Blocked(a)
			}
		})
	}
	wg.Wait()
	if b.Len() != 100 {
		t.Fatalf("len %d, want 100", b.Len())
	}
}

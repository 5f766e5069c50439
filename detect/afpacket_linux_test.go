//go:build linux

package detect

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

func openCapture(t *testing.T, ifname string) *AFPacketSource {
	t.Helper()
	netlab.New(t) // skips (or fails under PORTSENSE_LAB_REQUIRED=1) unless root in the lab namespace
	s, err := NewAFPacketSource(t.Context(), ifname, &AFPacketConfig{PollTimeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// collect reads observations until want returns true for one, or the
// deadline passes.
func collect(t *testing.T, s *AFPacketSource, d time.Duration, want func(*Observation) bool) []Observation {
	t.Helper()
	var got []Observation
	for end := time.Now().Add(d); time.Now().Before(end); {
		var o Observation
		err := s.ReadObservation(&o)
		switch {
		case err == nil:
			got = append(got, o)
			if want(&o) {
				return got
			}
		case errors.Is(err, ErrNoPacket), errors.Is(err, ErrNotObserved), errors.Is(err, ErrMalformed):
		default:
			t.Fatalf("read: %v", err)
		}
	}
	t.Fatalf("wanted observation not seen in %v; saw %d", d, len(got))
	return nil
}

func TestAFPacketLoopback(t *testing.T) {
	s := openCapture(t, "lo")
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := uint16(ln.Addr().(*net.TCPAddr).Port)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			c.Close()
		}
	}()
	c, err := net.Dial("tcp4", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	got := collect(t, s, 5*time.Second, func(o *Observation) bool {
		return o.Proto == target.TCP && o.SrcPort == port && o.Flags == SYN|ACK
	})
	var syn bool
	for _, o := range got {
		if o.Proto == target.TCP && o.DstPort == port && o.Flags == SYN && o.Src == lo && o.Dst == lo && o.TTL == 64 {
			syn = true
		}
		if o.Time.IsZero() || time.Since(o.Time) > time.Minute {
			t.Errorf("bad capture time %v", o.Time)
		}
	}
	if !syn {
		t.Errorf("SYN to %d not captured: %+v", port, got)
	}
	if st, err := s.SourceStats(); err != nil || st.KernelPackets == 0 {
		t.Errorf("stats %+v %v", st, err)
	}
}

func TestAFPacketClosed(t *testing.T) {
	s := openCapture(t, "lo")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var o Observation
	if err := s.ReadObservation(&o); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := NewAFPacketSource(t.Context(), "no-such-if0", nil); err == nil {
		t.Fatal("unknown interface accepted")
	}
}

// Reading from the ring, including idle polls, does not allocate.
func TestAFPacketAllocs(t *testing.T) {
	s := openCapture(t, "lo")
	var o Observation
	if n := testing.AllocsPerRun(5, func() { s.ReadObservation(&o) }); n != 0 {
		t.Errorf("%v allocs per read, want 0", n)
	}
}

// Close wakes a ReadObservation blocked in another goroutine at once, not
// after the poll timeout (here an hour): Close returns within 10 ms (one
// of three tries must, so that a loaded machine's scheduling hiccup is not
// a failure while a Close that waits for the reader or for the kernel's
// socket release, 8-28 ms, is).
func TestAFPacketCloseWakesReader(t *testing.T) {
	netlab.New(t)
	drop := []bpf.RawInstruction{{Op: 0x06, K: 0}} // nothing arrives
	var took []time.Duration
	for range 3 {
		s, err := NewAFPacketSource(t.Context(), "lo", &AFPacketConfig{Filter: drop, PollTimeout: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() {
			var o Observation
			errc <- s.ReadObservation(&o)
		}()
		time.Sleep(50 * time.Millisecond) // let the reader block
		start := time.Now()
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		select {
		case err := <-errc:
			if !errors.Is(err, net.ErrClosed) {
				t.Fatalf("read after Close: %v", err)
			}
		case <-time.After(2 * time.Second):
			t.Fatal("reader still blocked 2s after Close")
		}
		if took[len(took)-1] < 10*time.Millisecond {
			t.Logf("Close returned in %v with a reader blocked", took[len(took)-1])
			return
		}
	}
	t.Fatalf("Close with a blocked reader took %v", took)
}

// Cancelling the source's context ends a blocked read with ctx's error.
func TestAFPacketContext(t *testing.T) {
	netlab.New(t)
	ctx, cancel := context.WithCancel(t.Context())
	drop := []bpf.RawInstruction{{Op: 0x06, K: 0}}
	s, err := NewAFPacketSource(ctx, "lo", &AFPacketConfig{Filter: drop, PollTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	errc := make(chan error, 1)
	go func() {
		var o Observation
		errc <- s.ReadObservation(&o)
	}()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("read after cancel: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("reader still blocked 2s after cancel")
	}
	if _, err := NewAFPacketSource(ctx, "lo", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("open with a done context: %v", err)
	}
}

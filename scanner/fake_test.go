package scanner

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// fakeNet is a simulated network for engine tests: each port's state is a
// pure function of the port number, probes and replies are lost with a
// seeded probability, and replies come back after a delay.
type fakeNet struct {
	proto  target.Protocol
	state  func(t target.Target) result.State // Filtered = silent
	loss   float64                            // per probe
	delay  time.Duration
	jitter time.Duration
	seed   uint64

	sent atomic.Int64
}

func (f *fakeNet) Protocol() target.Protocol {
	if f.proto == 0 {
		return target.TCP
	}
	return f.proto
}

func (f *fakeNet) Silence() (result.State, result.Reason) { return result.Filtered, result.NoResponse }

func (f *fakeNet) Open(ctx context.Context, deliver func(probe.Reply)) (probe.Session, error) {
	return &fakeSession{net: f, deliver: deliver, rng: rand.New(rand.NewPCG(f.seed, 1))}, nil
}

type fakeSession struct {
	net     *fakeNet
	deliver func(probe.Reply)
	mu      sync.Mutex
	rng     *rand.Rand
	wg      sync.WaitGroup
	closed  atomic.Bool
}

func (s *fakeSession) Send(p probe.Probe) error {
	f := s.net
	f.sent.Add(1)
	st := f.state(p.Target)
	if st == result.Filtered {
		return nil
	}
	s.mu.Lock()
	lost := s.rng.Float64() < f.loss
	d := f.delay
	if f.jitter > 0 {
		d += time.Duration(s.rng.Int64N(int64(2*f.jitter))) - f.jitter
	}
	s.mu.Unlock()
	if lost {
		return nil
	}
	reason := result.SynAck
	if st == result.Closed {
		reason = result.Reset
	}
	r := probe.Reply{Target: p.Target, Try: p.Try, State: st, Reason: reason, ReplyTTL: 64}
	if d <= 0 {
		s.deliver(r)
		return nil
	}
	s.wg.Add(1)
	time.AfterFunc(d, func() {
		defer s.wg.Done()
		if !s.closed.Load() {
			r.Time = time.Now()
			s.deliver(r)
		}
	})
	return nil
}

func (s *fakeSession) Close() error {
	s.closed.Store(true)
	s.wg.Wait()
	return nil
}

// labState is the port layout the fake tests use: a few open ports, every
// seventh port filtered, the rest closed.
func labState(t target.Target) result.State {
	switch {
	case t.Port.Num%1000 == 22 || t.Port.Num == 80 || t.Port.Num == 443:
		return result.Open
	case t.Port.Num%7 == 0:
		return result.Filtered
	}
	return result.Closed
}

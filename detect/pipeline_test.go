package detect

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// portCounter is a tiny analyser for pipeline tests: it fires one KindScan
// event when a source has touched limit distinct ports, and records the
// Advance calls it gets.
type portCounter struct {
	limit    int
	ports    map[netip.Addr]map[uint16]bool
	fired    map[netip.Addr]bool
	observed int
	advances []time.Time
	delay    time.Duration // per observation, to make analysis lag
}

func newPortCounter(limit int) *portCounter {
	return &portCounter{limit: limit, ports: map[netip.Addr]map[uint16]bool{}, fired: map[netip.Addr]bool{}}
}

func (a *portCounter) Observe(o *Observation, emit func(Event)) {
	a.observed++
	if a.delay > 0 {
		time.Sleep(a.delay)
	}
	m := a.ports[o.Src]
	if m == nil {
		m = map[uint16]bool{}
		a.ports[o.Src] = m
	}
	m[o.DstPort] = true
	if len(m) >= a.limit && !a.fired[o.Src] {
		a.fired[o.Src] = true
		emit(Event{Kind: KindScan, Detector: "ports", Time: o.Time, Source: o.Src, Shape: ShapeVertical,
			ScanType: ScanSYN, Hosts: 1, Ports: len(m), Attempts: a.observed})
	}
}

func (a *portCounter) Advance(now time.Time, emit func(Event)) { a.advances = append(a.advances, now) }
func (a *portCounter) MemoryBytes() int                        { return 1000 + 10*len(a.ports) }
func (a *portCounter) TrackedSources() int                     { return len(a.ports) }

// synScan returns n SYN observations from src to ports 1..n, gap apart.
func synScan(src netip.Addr, n int, start time.Time, gap time.Duration) []Observation {
	obs := make([]Observation, n)
	for i := range obs {
		obs[i] = Observation{Time: start.Add(time.Duration(i) * gap), Src: src, Dst: v4b, SrcPort: 40000,
			DstPort: uint16(i + 1), Proto: target.TCP, Flags: SYN, TTL: 64}
	}
	return obs
}

func TestPipelineRun(t *testing.T) {
	a := newPortCounter(10)
	obs := append(synScan(v4a, 30, t0, 100*time.Millisecond), synScan(netip.MustParseAddr("198.18.3.3"), 5, t0, time.Second)...)
	var got []Event
	bl := NewBlocklist(nil)
	p := mustPipeline(t, NewSliceSource(obs), a, WithResponder(Callback(func(e Event) { got = append(got, e) }), bl))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source != v4a || got[0].Ports != 10 || got[0].Attempts != 10 {
		t.Fatalf("events %+v", got)
	}
	if !bl.Blocked(v4a) {
		t.Error("blocklist responder not called")
	}
	st := p.Stats()
	if st.Packets != 35 || st.Observations != 35 || st.Events != 1 || st.Drops != 0 || st.MemoryBytes != 1020 || st.TrackedSources != 2 {
		t.Errorf("stats %+v", st)
	}
	// Packet time 0 … 4 s: Advance at each second, then the drain.
	want := []time.Time{t0.Add(time.Second), t0.Add(2 * time.Second), t0.Add(3 * time.Second), t0.Add(4 * time.Second), t0.Add(4*time.Second + time.Minute)}
	if fmt.Sprint(a.advances) != fmt.Sprint(want) {
		t.Errorf("advances\n%v\nwant\n%v", a.advances, want)
	}
	if err := p.Run(context.Background()); !errors.Is(err, ErrPipelineStarted) {
		t.Errorf("second Run: %v", err)
	}
}

func TestPipelineEvents(t *testing.T) {
	var obs []Observation
	for i := range 50 {
		obs = append(obs, synScan(netip.AddrFrom4([4]byte{198, 18, 4, byte(i)}), 3, t0, time.Millisecond)...)
	}
	p := mustPipeline(t, NewSliceSource(obs), newPortCounter(3), WithQueue(300))
	n := 0
	for e, err := range p.Events(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if e.Source != netip.AddrFrom4([4]byte{198, 18, 4, byte(n)}) {
			t.Fatalf("event %d out of order: %v", n, e.Source)
		}
		n++
	}
	if n != 50 {
		t.Fatalf("%d events", n)
	}
}

// A source error comes last, after the events found before it.
func TestPipelineEventsSourceError(t *testing.T) {
	boom := errors.New("disk on fire")
	obs := synScan(v4a, 3, t0, time.Millisecond)
	src := &scriptSource{obs: obs, err: boom}
	var kinds []string
	for e, err := range mustPipeline(t, src, newPortCounter(3)).Events(context.Background()) {
		if err != nil {
			kinds = append(kinds, "err")
			if !errors.Is(err, boom) {
				t.Errorf("error %v", err)
			}
			continue
		}
		kinds = append(kinds, e.Source.String())
	}
	if len(kinds) != 2 || kinds[0] != v4a.String() || kinds[1] != "err" {
		t.Fatalf("yielded %v, want the event then the error", kinds)
	}
}

// scriptSource yields obs, then err.
type scriptSource struct {
	obs []Observation
	err error
}

func (s *scriptSource) ReadObservation(o *Observation) error {
	if len(s.obs) == 0 {
		return s.err
	}
	*o, s.obs = s.obs[0], s.obs[1:]
	return nil
}

func TestPipelineOptionErrors(t *testing.T) {
	src, a := NewSliceSource(nil), newPortCounter(1)
	for name, o := range map[string]Option{
		"WithQueue(-5)":         WithQueue(-5),
		"WithAdvanceEvery(0)":   WithAdvanceEvery(0),
		"WithDrain(-1s)":        WithDrain(-time.Second),
		"WithResponder(nil)":    WithResponder(nil),
		"WithErrorHandler(nil)": WithErrorHandler(nil),
	} {
		if _, err := NewPipeline(src, a, o); err == nil {
			t.Errorf("%s accepted", name)
		} else if !strings.HasPrefix(err.Error(), "detect: With") {
			t.Errorf("%s: %v does not name the option", name, err)
		}
	}
	if _, err := NewPipeline(nil, a); err == nil {
		t.Error("nil source accepted")
	}
}

func mustPipeline(t testing.TB, src Source, a Analyzer, opts ...Option) *Pipeline {
	t.Helper()
	p, err := NewPipeline(src, a, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// errSource yields a fixed script of results.
type errSource struct {
	script []error
	i      int
}

func (s *errSource) ReadObservation(o *Observation) error {
	if s.i >= len(s.script) {
		return io.EOF
	}
	err := s.script[s.i]
	*o = Observation{Time: t0, Src: v4a, Dst: v4b, Proto: target.TCP, DstPort: uint16(s.i)}
	s.i++
	return err
}

func TestPipelineCounters(t *testing.T) {
	boom := errors.New("disk on fire")
	src := &errSource{script: []error{nil, errMalformedTest, ErrNotObserved, nil, boom, nil}}
	p := mustPipeline(t, src, newPortCounter(100))
	err := p.Run(context.Background())
	if !errors.Is(err, boom) {
		t.Fatalf("fatal source error lost: %v", err)
	}
	st := p.Stats()
	if st.Packets != 4 || st.Observations != 2 || st.Malformed != 1 || st.Skipped != 1 {
		t.Errorf("stats %+v", st)
	}
}

var errMalformedTest = fmt.Errorf("%w: test", ErrMalformed)

func TestPipelineResponderError(t *testing.T) {
	obs := synScan(v4a, 5, t0, time.Millisecond)
	for i := range 20 {
		obs = append(obs, synScan(netip.AddrFrom4([4]byte{198, 18, 5, byte(i)}), 5, t0, time.Millisecond)...)
	}
	bad := errors.New("nft down")
	fail := ResponderFunc(func(context.Context, Event) error { return bad })
	p := mustPipeline(t, NewSliceSource(obs), newPortCounter(5), WithResponder(fail))
	if err := p.Run(context.Background()); !errors.Is(err, bad) {
		t.Fatalf("responder error lost: %v", err)
	}
	p = mustPipeline(t, NewSliceSource(obs), newPortCounter(5), WithResponder(fail), WithErrorHandler(func(error) error { return nil }))
	if err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.ResponderErrors != 21 || st.Events != 21 {
		t.Errorf("stats %+v", st)
	}
}

// endless is a live-like source that never ends: it yields observations
// as fast as asked, pausing now and then to report ErrNoPacket.
type endless struct {
	n    atomic.Uint64
	live bool
}

func (s *endless) ReadObservation(o *Observation) error {
	n := s.n.Add(1)
	if n%1000 == 0 {
		time.Sleep(time.Millisecond)
		return ErrNoPacket
	}
	*o = Observation{Time: t0.Add(time.Duration(n) * time.Microsecond), Src: v4a, Dst: v4b, Proto: target.TCP, DstPort: uint16(n)}
	return nil
}

func (s *endless) Live() bool { return s.live }

func settle(t *testing.T, base int) {
	t.Helper()
	for range 100 {
		if runtime.NumGoroutine() <= base {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	buf := make([]byte, 1<<16)
	t.Fatalf("goroutines %d > %d after Run returned:\n%s", runtime.NumGoroutine(), base, buf[:runtime.Stack(buf, true)])
}

func TestPipelineCancel(t *testing.T) {
	for _, live := range []bool{false, true} {
		t.Run(fmt.Sprint("live=", live), func(t *testing.T) {
			base := runtime.NumGoroutine()
			ctx, cancel := context.WithCancel(context.Background())
			src := &endless{live: live}
			p := mustPipeline(t, src, newPortCounter(1<<20))
			done := make(chan error)
			go func() { done <- p.Run(ctx) }()
			for src.n.Load() < 5000 {
				time.Sleep(time.Millisecond)
			}
			cancel()
			select {
			case err := <-done:
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("Run after cancel: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Run did not return after cancel")
			}
			settle(t, base)
		})
	}
}

func TestPipelineEventsCancel(t *testing.T) {
	base := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Every observation is an event: cancel after the first.
	p := mustPipeline(t, &endless{live: true}, newPortCounter(1))
	var last error
	n := 0
	for _, err := range p.Events(ctx) {
		if n++; n == 1 {
			cancel()
		}
		last = err
	}
	if !errors.Is(last, context.Canceled) {
		t.Fatalf("last error %v", last)
	}
	settle(t, base)

	// Leaving the loop early stops the pipeline too.
	p = mustPipeline(t, &endless{live: true}, newPortCounter(1))
	for range p.Events(context.Background()) {
		break
	}
	settle(t, base)
}

func TestPipelineLiveDrops(t *testing.T) {
	a := newPortCounter(1 << 20)
	a.delay = 50 * time.Microsecond
	src := &endless{live: true}
	ctx, cancel := context.WithCancel(context.Background())
	p := mustPipeline(t, src, a, WithQueue(512))
	var wg sync.WaitGroup
	wg.Go(func() { p.Run(ctx) })
	for p.Stats().Drops == 0 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	wg.Wait()
	st := p.Stats()
	if st.Drops == 0 || st.Observations < st.Drops || uint64(a.observed)+st.Drops > st.Observations {
		t.Errorf("stats %+v, analysed %d", st, a.observed)
	}
}

// nopAnalyzer measures the pipeline's own cost.
type nopAnalyzer struct{ n int }

func (a *nopAnalyzer) Observe(o *Observation, emit func(Event)) { a.n++ }
func (a *nopAnalyzer) Advance(now time.Time, emit func(Event))  {}
func (a *nopAnalyzer) MemoryBytes() int                         { return 0 }

func BenchmarkPipeline(b *testing.B) {
	obs := synScan(v4a, 1<<16, t0, time.Microsecond)
	b.ReportAllocs()
	for b.Loop() {
		p := mustPipeline(b, NewSliceSource(obs), &nopAnalyzer{})
		if err := p.Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(obs)), "ns/obs")
}

// BenchmarkPipelinePcap is sense → analyse end to end: a pcap of 100,000
// packets in memory, decoded and run through a fresh default analyser
// (whose construction is included).
func BenchmarkPipelinePcap(b *testing.B) {
	pkts, ts := capture(b, 100000)
	data := pcapBytes(b, pkts, ts, false)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src, err := NewPcapSource(bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		if err := mustPipeline(b, src, NewDefaultAnalyzer(nil)).Run(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(pkts)), "ns/packet")
}

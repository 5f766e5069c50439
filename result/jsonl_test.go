package result

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
	"time"

	"github.com/portsense/portsense/target"
)

func TestJSONLRoundTrip(t *testing.T) {
	hosts, res := scanA()
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	feed(t, w, hosts, res)
	if n := strings.Count(buf.String(), "\n"); n != len(hosts)+len(res) {
		t.Fatalf("%d lines for %d records", n, len(hosts)+len(res))
	}
	gotHosts := map[netip.Addr]Host{}
	gotRes := map[netip.AddrPort]Result{}
	for rec, err := range NewJSONLReader(&buf).All() {
		if err != nil {
			t.Fatal(err)
		}
		if (rec.Host == nil) == (rec.Result == nil) {
			t.Fatalf("record %+v: want exactly one of Host and Result", rec)
		}
		if rec.Host != nil {
			gotHosts[rec.Host.Addr] = *rec.Host
		} else {
			gotRes[rec.Result.AddrPort] = *rec.Result
		}
	}
	for _, h := range hosts {
		if !sameHost(h, gotHosts[h.Addr]) {
			t.Errorf("host %v: got %+v", h, gotHosts[h.Addr])
		}
	}
	for _, r := range res {
		if !sameResult(r, gotRes[r.AddrPort]) {
			t.Errorf("result %v: got %+v", r, gotRes[r.AddrPort])
		}
	}
	if len(gotHosts) != len(hosts) || len(gotRes) != len(res) {
		t.Errorf("got %d hosts, %d results", len(gotHosts), len(gotRes))
	}
}

const goodLine = `{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack"}`

func TestJSONLReaderErrorsNameLines(t *testing.T) {
	in := goodLine + "\r\n" +
		"\n" + // blank lines are skipped but counted
		`{"type":"port","addr":"198.18.0.2","port":23,"proto":"tcp","state":"opne"}` + "\n" +
		"   \t\n" +
		`{"type":"host","addr":"198.18.0.2","state":"up"}` // no final newline
	r := NewJSONLReader(strings.NewReader(in))
	rec, err := r.Next()
	if err != nil || rec.Result == nil || rec.Result.AddrPort.Port() != 22 {
		t.Fatalf("line 1: %+v, %v", rec, err)
	}
	_, err = r.Next()
	if err == nil || err.Error() != `result: line 3: bad state "opne"` {
		t.Fatalf("line 3: got %v", err)
	}
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 3 || de.Field != "state" {
		t.Fatalf("line 3: got %#v", err)
	}
	rec, err = r.Next() // goes on after a bad line
	if err != nil || rec.Host == nil || rec.Host.State != HostUp {
		t.Fatalf("line 5: %+v, %v", rec, err)
	}
	for range 2 {
		if _, err := r.Next(); err != io.EOF {
			t.Fatalf("at end: got %v, want io.EOF", err)
		}
	}
}

func TestJSONLReaderAllGoesOnAfterBadLines(t *testing.T) {
	in := "nope\n" + goodLine + "\n{\n" + goodLine + "\n"
	var lines []int
	good := 0
	for rec, err := range NewJSONLReader(strings.NewReader(in)).All() {
		var de *DecodeError
		if errors.As(err, &de) {
			lines = append(lines, de.Line)
			continue
		}
		if err != nil || rec.Result == nil {
			t.Fatalf("%+v, %v", rec, err)
		}
		good++
	}
	if good != 2 || len(lines) != 2 || lines[0] != 1 || lines[1] != 3 {
		t.Errorf("good %d, bad lines %v", good, lines)
	}
}

func TestJSONLReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	src := io.MultiReader(strings.NewReader(goodLine+"\n"), iotest.ErrReader(boom))
	var errs []error
	n := 0
	for rec, err := range NewJSONLReader(src).All() {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if rec.Result != nil {
			n++
		}
	}
	if n != 1 || len(errs) != 1 || !errors.Is(errs[0], boom) {
		t.Errorf("records %d, errors %v", n, errs)
	}
}

func TestJSONLReaderLongLines(t *testing.T) {
	// A line longer than the reader's buffer but within MaxLineBytes.
	long := Host{Addr: netip.MustParseAddr("198.18.0.5"), State: HostUp, Warnings: []string{strings.Repeat("w", 200_000)}}
	b, err := long.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	tooLong := `{"type":"host","addr":"198.18.0.6","state":"up","x":"` + strings.Repeat("x", MaxLineBytes) + `"}`
	in := string(b) + "\n" + tooLong + "\n" + goodLine + "\n"
	r := NewJSONLReader(strings.NewReader(in))
	rec, err := r.Next()
	if err != nil || rec.Host == nil || len(rec.Host.Warnings[0]) != 200_000 {
		t.Fatalf("long line: %v", err)
	}
	_, err = r.Next()
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 2 || !strings.Contains(err.Error(), "longer than") {
		t.Fatalf("too long line: got %v", err)
	}
	rec, err = r.Next()
	if err != nil || rec.Result == nil {
		t.Fatalf("line after the long one: %+v, %v", rec, err)
	}
}

type failWriter struct{ n int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errors.New("disk full")
	}
	f.n--
	return len(p), nil
}

func TestJSONLWriterErrors(t *testing.T) {
	r := port("198.18.0.2", 22, target.TCP, Open, SynAck, 64)
	w := NewJSONLWriter(&failWriter{n: 1})
	if err := w.WriteResult(r); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteResult(r); err == nil {
		t.Fatal("write to a failing writer succeeded")
	}
	if err := w.WriteHost(host("198.18.0.2", HostUp, EchoReply)); err == nil || err.Error() != "disk full" {
		t.Fatalf("error is not sticky: %v", err)
	}
	if err := w.Close(); err == nil {
		t.Fatal("Close hid the write error")
	}
	if err := w.WriteResult(Result{}); err != ErrClosed {
		t.Fatalf("write after close: %v", err)
	}

	var buf bytes.Buffer
	w = NewJSONLWriter(&buf)
	if err := w.WriteResult(Result{Proto: target.TCP}); err == nil {
		t.Fatal("a result without address was written")
	}
	if buf.Len() != 0 {
		t.Fatalf("bad record left output %q", buf.String())
	}
}

func TestJSONLWriterFlushesOnClose(t *testing.T) {
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	w := NewJSONLWriter(bw)
	if err := w.WriteHost(host("198.18.0.2", HostUp, EchoReply)); err != nil {
		t.Fatal(err)
	}
	if buf.Len() != 0 {
		t.Fatal("bufio flushed early; test is broken")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), `{"type":"host"`) {
		t.Errorf("after Close: %q", buf.String())
	}
}

func TestJSONLWriterConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 100 {
				r := port("198.18.0.2", uint16(g*100+i), target.TCP, Closed, Reset, 64)
				if err := w.WriteResult(r); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	w.Close()
	n := 0
	for _, err := range NewJSONLReader(&buf).All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 400 {
		t.Errorf("read %d records, want 400", n)
	}
}

// recorder is a Writer that keeps what it gets.
type recorder struct {
	hosts  []Host
	res    []Result
	order  []string
	closed int
	err    error
}

func (r *recorder) WriteResult(x Result) error {
	r.res = append(r.res, x)
	r.order = append(r.order, x.AddrPort.String()+"/"+x.Proto.String())
	return r.err
}

func (r *recorder) WriteHost(h Host) error {
	r.hosts = append(r.hosts, h)
	r.order = append(r.order, h.Addr.String())
	return r.err
}

func (r *recorder) Close() error { r.closed++; return r.err }

func TestMulti(t *testing.T) {
	a, b := &recorder{}, &recorder{err: errors.New("b broke")}
	var buf bytes.Buffer
	m := Multi(a, b, NewJSONLWriter(&buf))
	err := m.WriteResult(port("198.18.0.2", 22, target.TCP, Open, SynAck, 64))
	if err == nil || !strings.Contains(err.Error(), "b broke") {
		t.Errorf("WriteResult: %v", err)
	}
	if err := m.WriteHost(host("198.18.0.2", HostUp, EchoReply)); err == nil {
		t.Error("WriteHost hid b's error")
	}
	if err := m.Close(); err == nil {
		t.Error("Close hid b's error")
	}
	if len(a.res) != 1 || len(a.hosts) != 1 || len(b.res) != 1 || a.closed != 1 || b.closed != 1 {
		t.Errorf("a %+v\nb %+v", a, b)
	}
	if strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("JSONL got %q", buf.String())
	}
}

func jsonl(t *testing.T, recs ...any) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for _, r := range recs {
		var err error
		switch r := r.(type) {
		case Result:
			err = w.WriteResult(r)
		case Host:
			err = w.WriteHost(r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return &buf
}

func TestMerge(t *testing.T) {
	later := func(r Result) Result { r.Time = r.Time.Add(time.Hour); return r }
	withSvc := func(r Result, conf int) Result {
		r.Service = &Service{Name: "x", Method: "probed", Conf: conf}
		return r
	}
	p := func(n uint16, st State, why Reason) Result { return port("198.18.0.2", n, target.TCP, st, why, 0) }

	shard1 := jsonl(t,
		p(1, Filtered, NoResponse),     // loses to open
		p(2, Open, SynAck),             // beats closed
		p(3, Filtered, NoResponse),     // loses to the ICMP reply
		p(4, Open, SynAck),             // loses to service info
		withSvc(p(5, Open, SynAck), 5), // loses to higher conf
		p(6, Closed, Reset),            // loses to the later one
		p(7, OpenFiltered, NoResponse), // loses to filtered
		port("198.18.0.1", 1, target.UDP, OpenFiltered, NoResponse, 0),
		Host{Addr: netip.MustParseAddr("198.18.0.2"), State: HostDown, Reason: NoResponse, Warnings: []string{"w1"}},
		host("2001:db8::1", HostUp, NDResponse),
	)
	shard2 := jsonl(t,
		p(1, Open, SynAck),
		p(2, Closed, Reset),
		p(3, Filtered, AdminProhibited),
		withSvc(p(4, Open, SynAck), 1),
		withSvc(p(5, Open, SynAck), 9),
		later(p(6, Closed, Reset)),
		p(7, Filtered, NoResponse),
		port("198.18.0.1", 1, target.TCP, Closed, Reset, 0), // same port, other protocol
		Host{Addr: netip.MustParseAddr("198.18.0.2"), State: HostUp, Reason: SynAck, Warnings: []string{"w2", "w1"}},
	)
	rec := &recorder{}
	if err := Merge(rec, shard1, shard2, strings.NewReader("")); err != nil {
		t.Fatal(err)
	}
	wantOrder := []string{
		"198.18.0.1:1/tcp", "198.18.0.1:1/udp",
		"198.18.0.2",
		"198.18.0.2:1/tcp", "198.18.0.2:2/tcp", "198.18.0.2:3/tcp", "198.18.0.2:4/tcp",
		"198.18.0.2:5/tcp", "198.18.0.2:6/tcp", "198.18.0.2:7/tcp",
		"2001:db8::1",
	}
	if strings.Join(rec.order, " ") != strings.Join(wantOrder, " ") {
		t.Fatalf("order\n got %v\nwant %v", rec.order, wantOrder)
	}
	byPort := map[uint16]Result{}
	for _, r := range rec.res[2:] {
		byPort[r.AddrPort.Port()] = r
	}
	check := func(n uint16, ok bool, what string) {
		if !ok {
			t.Errorf("port %d: %s: got %+v", n, what, byPort[n])
		}
	}
	check(1, byPort[1].State == Open, "open beats filtered")
	check(2, byPort[2].State == Open, "open beats closed")
	check(3, byPort[3].Reason == AdminProhibited, "a reply beats silence")
	check(4, byPort[4].Service != nil, "service info wins")
	check(5, byPort[5].Service != nil && byPort[5].Service.Conf == 9, "higher conf wins")
	check(6, byPort[6].Time.Equal(t0.Add(time.Hour+6*time.Millisecond)), "later wins")
	check(7, byPort[7].State == Filtered, "filtered beats open|filtered")
	h := rec.hosts[0]
	if h.State != HostUp || strings.Join(h.Warnings, ",") != "w2,w1" {
		t.Errorf("merged host %+v", h)
	}
	if rec.closed != 0 {
		t.Error("Merge closed dst")
	}
}

func TestMergeBadSource(t *testing.T) {
	rec := &recorder{}
	err := Merge(rec, jsonl(t, port("198.18.0.2", 1, target.TCP, Open, SynAck, 0)),
		strings.NewReader(goodLine+"\n"+`{"type":"port"}`+"\n"))
	if err == nil || err.Error() != `result: merge source 1: result: line 2: missing "addr"` {
		t.Errorf("got %v", err)
	}
	if len(rec.order) != 0 {
		t.Errorf("Merge wrote %v before failing", rec.order)
	}
}

func TestMoreInformativeIsStrict(t *testing.T) {
	// Antisymmetric on a spread of verdicts, so Merge's outcome does not
	// depend on which shard came first.
	var all []Result
	for st := range State(len(stateNames)) {
		for _, why := range []Reason{NoResponse, SynAck, AdminProhibited} {
			r := port("198.18.0.2", 1, target.TCP, st, why, 0)
			all = append(all, r, withTime(r, time.Hour))
			r.Service = &Service{Conf: 5}
			all = append(all, r)
		}
	}
	for _, a := range all {
		if a.MoreInformative(a) {
			t.Errorf("%v beats itself", a)
		}
		for _, b := range all {
			if a.MoreInformative(b) && b.MoreInformative(a) {
				t.Errorf("%v and %v beat each other", a, b)
			}
		}
	}
}

func withTime(r Result, d time.Duration) Result { r.Time = r.Time.Add(d); return r }

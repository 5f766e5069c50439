package service

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsense/portsense/result"
)

// serve runs fn for every connection to a loopback listener.
func serve(t *testing.T, fn func(net.Conn)) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).AddrPort()
}

// fast is a Detector with a short banner wait (the loopback servers of
// these tests answer at once or never) but patient probes: under -race on
// a loaded machine a TLS handshake can take a second.
func fast(t *testing.T, opts ...Option) *Detector {
	t.Helper()
	d, err := New(append([]Option{WithTimeouts(300*time.Millisecond, 5*time.Second, 15*time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestDetectUnknownGetsFingerprint(t *testing.T) {
	a := serve(t, func(c net.Conn) { c.Write([]byte("\x00\x01\x02zzz\xfe\r\n")) })
	svc, err := fast(t).Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Method != "table" || svc.Conf != 3 || svc.Fingerprint != `NULL:\x00\x01\x02zzz\xfe\r\n` {
		t.Fatalf("service = %+v", *svc)
	}
}

func TestDetectClosedPort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip(err)
	}
	a := ln.Addr().(*net.TCPAddr).AddrPort()
	ln.Close()
	if _, err := fast(t).Detect(context.Background(), a); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("err = %v, want ErrNotOpen", err)
	}
}

// A peer that floods: the detector keeps at most MaxRead bytes of a reply
// and at most 256 in the fingerprint.
func TestDetectHugeReplyCapped(t *testing.T) {
	junk := bytes.Repeat([]byte{0xee, 'A'}, 1<<20)
	a := serve(t, func(c net.Conn) { c.Write(junk) })
	var most atomic.Int64
	d := fast(t, WithMaxRead(4096), WithTrace(func(tr Trace) {
		if n := int64(len(tr.Reply)); n > most.Load() {
			most.Store(n)
		}
	}))
	svc, err := d.Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if most.Load() > 4096 {
		t.Errorf("kept a %d-byte reply, cap 4096", most.Load())
	}
	if !strings.HasSuffix(svc.Fingerprint, "…") || len(svc.Fingerprint) > len("NULL:")+4*maxFingerprint+len("…") {
		t.Errorf("fingerprint not capped: %d bytes", len(svc.Fingerprint))
	}
}

// A tarpit trickles bytes forever; the detector hangs up within its budget
// (the server sees every connection closed) and still reports the port.
func TestDetectTarpitHungUp(t *testing.T) {
	var open atomic.Int32
	a := serve(t, func(c net.Conn) {
		open.Add(1)
		defer open.Add(-1)
		for {
			if _, err := c.Write([]byte{'.'}); err != nil {
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	d, err := New(WithTimeouts(300*time.Millisecond, 300*time.Millisecond, 3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := d.Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svc.Fingerprint, "NULL:..") {
		t.Errorf("fingerprint = %q", svc.Fingerprint)
	}
	for i := 0; open.Load() != 0 && i < 100; i++ {
		time.Sleep(20 * time.Millisecond) // the server notices on its next write
	}
	if n := open.Load(); n != 0 {
		t.Errorf("%d tarpit connections still open after Detect returned", n)
	}
}

func TestDetectTLSThenHTTP(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "nginx/1.25.3")
		w.Write([]byte("hello"))
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	a := srv.Listener.Addr().(*net.TCPAddr).AddrPort()
	svc, err := fast(t).Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "http" || svc.Product != "nginx" || svc.Version != "1.25.3" || svc.Tunnel != "ssl" || svc.Conf != 10 {
		t.Fatalf("service = %+v", *svc)
	}
	tl := svc.TLS
	if tl == nil || tl.Version != "TLS 1.3" || tl.Cipher == "" || tl.ALPN != "http/1.1" ||
		!strings.Contains(tl.Subject, "Acme Co") || !strings.Contains(strings.Join(tl.SANs, ","), "127.0.0.1") || tl.NotAfter.IsZero() {
		t.Fatalf("TLS = %+v", tl)
	}
}

// Soft match then a probe that names the product: redis answers an HTTP
// request with errors (soft redis), and the redis probe names it.
func TestDetectSoftThenHard(t *testing.T) {
	a := serve(t, func(c net.Conn) {
		buf := make([]byte, 512)
		n, _ := c.Read(buf)
		switch {
		case bytes.HasPrefix(buf[:n], []byte("GET ")):
			c.Write([]byte("-ERR wrong number of arguments for 'get' command\r\n"))
		case bytes.HasPrefix(buf[:n], []byte("*1\r\n$4\r\nPING")):
			c.Write([]byte("+PONG\r\n$40\r\n# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n"))
		}
	})
	svc, err := fast(t, WithParallel(1)).Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "redis" || svc.Version != "7.2.4" || svc.Conf != 10 {
		t.Fatalf("service = %+v", *svc)
	}
}

// A banner that comes after the probes started (slow server) still names
// the service: the NULL connection keeps listening while probes run.
func TestDetectLateBanner(t *testing.T) {
	var n atomic.Int32
	a := serve(t, func(c net.Conn) {
		if n.Add(1) == 1 {
			time.Sleep(400 * time.Millisecond)
			c.Write([]byte("220 mail.lab ESMTP Exim 4.96 Thu, 03 Dec 2026 09:00:00 +0000\r\n"))
			time.Sleep(time.Second)
			return
		}
		io := make([]byte, 64)
		c.Read(io) // probes get nothing back
		time.Sleep(time.Second)
	})
	d, err := New(WithTimeouts(2*time.Second, 300*time.Millisecond, 5*time.Second), WithNullEarly(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := d.Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "smtp" || svc.Product != "Exim smtpd" || svc.Version != "4.96" {
		t.Fatalf("service = %+v", *svc)
	}
	if n.Load() < 2 {
		t.Errorf("only %d connections: the probes did not start while the NULL probe listened", n.Load())
	}
}

// A probe's maxread raises the default reply cap; WithMaxRead caps it.
func TestProbeMaxRead(t *testing.T) {
	junk := bytes.Repeat([]byte("x"), 64<<10)
	a := serve(t, func(c net.Conn) {
		buf := make([]byte, 16)
		c.Read(buf)
		c.Write(junk)
	})
	db, err := Parse("t.rules", strings.NewReader("probe NULL\n  wait 50ms\nprobe big\n  send \"hi\"\n  rarity 1\n  maxread 40000\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts []Option
		want int
	}{
		{nil, 40000},
		{[]Option{WithMaxRead(1000)}, 1000},
	} {
		var got atomic.Int64
		d := fast(t, append(c.opts, WithDB(db), WithTrace(func(tr Trace) {
			if tr.Probe == "big" {
				got.Store(int64(len(tr.Reply)))
			}
		}))...)
		if _, err := d.Detect(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		if got.Load() != int64(c.want) {
			t.Errorf("opts %d: kept %d bytes, want %d", len(c.opts), got.Load(), c.want)
		}
	}
}

// DetectConn on a TLS port: listen, then the TLS handshake on the caller's
// connection, then one HTTP request inside it.
func TestDetectConnTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "lighttpd/1.4.69")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	svc, err := fast(t).DetectConn(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "http" || svc.Product != "lighttpd" || svc.Version != "1.4.69" || svc.Tunnel != "ssl" || svc.TLS == nil {
		t.Fatalf("service = %+v", *svc)
	}
}

// lateDeadlineConn delays every deadline set in the past by 100 ms, as a
// loaded scheduler may delay the goroutine that sets it when a context
// ends, and lets a read that timed out return 50 ms late, so that the
// context behind that deadline has surely ended too. It counts I/O that
// starts while such a deadline is still on its way: that I/O would be cut
// off by a deadline meant for an exchange that is over.
type lateDeadlineConn struct {
	net.Conn
	pending atomic.Int32 // past deadlines not yet applied
	overlap atomic.Int32 // reads and writes begun while one was pending
	last    atomic.Pointer[time.Time]
}

func (c *lateDeadlineConn) SetDeadline(t time.Time) error {
	if !t.IsZero() && t.Before(time.Now()) {
		c.pending.Add(1)
		defer c.pending.Add(-1)
		time.Sleep(100 * time.Millisecond)
	}
	c.last.Store(&t)
	return c.Conn.SetDeadline(t)
}

func (c *lateDeadlineConn) Read(b []byte) (int, error) {
	if c.pending.Load() > 0 {
		c.overlap.Add(1)
	}
	n, err := c.Conn.Read(b)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		time.Sleep(50 * time.Millisecond)
	}
	return n, err
}

func (c *lateDeadlineConn) Write(b []byte) (int, error) {
	if c.pending.Load() > 0 {
		c.overlap.Add(1)
	}
	return c.Conn.Write(b)
}

// The cause of DetectConn's flaky TLS detection, made deterministic: the
// NULL probe's banner wait ends when its context's deadline passes; the
// context's callback then sets a past deadline on the connection from
// another goroutine. That deadline must land before the TLS handshake
// starts on the same connection, not during it. Before the fix the
// handshake's ClientHello was written while it was on its way ("write:
// i/o timeout", service "unknown", 3 of 50 runs of TestDetectConnTLS).
func TestDetectConnNoStaleDeadline(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "lighttpd/1.4.69")
	}))
	srv.StartTLS()
	t.Cleanup(srv.Close)
	raw, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	c := &lateDeadlineConn{Conn: raw}
	svc, err := fast(t).DetectConn(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	if n := c.overlap.Load(); n != 0 {
		t.Errorf("%d reads/writes began while a past deadline from an ended exchange was still being set", n)
	}
	if svc.Name != "http" || svc.Product != "lighttpd" || svc.Tunnel != "ssl" || svc.TLS == nil {
		t.Errorf("service = %+v", *svc)
	}
	time.Sleep(150 * time.Millisecond) // any stray deadline would land now
	if d := c.last.Load(); d == nil || !d.IsZero() {
		t.Errorf("the caller's connection was left with deadline %v, want none", d)
	}
}

// A borrowed connection whose peer accepts the TLS ClientHello and never
// answers: DetectConn gives up within its budget (closing a borrowed
// connection, which is how crypto/tls stops a handshake, is not allowed).
func TestDetectConnStalledHandshake(t *testing.T) {
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold) })
	a := serve(t, func(c net.Conn) {
		io.Copy(io.Discard, c) // read the ClientHello, never answer
		<-hold
	})
	c, err := net.Dial("tcp", a.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	d, err := New(WithTimeouts(100*time.Millisecond, 30*time.Second, time.Second))
	if err != nil {
		t.Fatal(err)
	}
	type res struct {
		svc *result.Service
		err error
	}
	done := make(chan res, 1)
	go func() {
		svc, err := d.DetectConn(context.Background(), c)
		done <- res{svc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatal(r.err)
		}
		if r.svc.Method != "table" || r.svc.TLS != nil {
			t.Errorf("service = %+v, want the port-table fallback", *r.svc)
		}
	case <-time.After(time.Minute): // far past the 1 s budget: it hangs
		t.Fatal("DetectConn still running a minute after its 1 s budget")
	}
}

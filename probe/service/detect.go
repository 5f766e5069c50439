package service

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// DialFunc opens a connection, as net.Dialer.DialContext does.
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Detector names the services behind open TCP ports. It is safe for
// concurrent use: one Detector may probe many ports at once. The zero
// value is not usable; call [New].
type Detector struct {
	db         *DB
	dial       DialFunc
	intensity  int
	nullWait   time.Duration
	probeWait  time.Duration
	quiet      time.Duration
	budget     time.Duration
	nullEarly  time.Duration
	maxRead    int
	maxReadSet bool // WithMaxRead was given: it caps probes' maxread too
	parallel   int
	noStartTLS bool // WithStartTLS(false)
	trace      func(Trace)
}

// Trace reports one probe's exchange, for logging and for collecting
// replies to write rules from.
type Trace struct {
	Addr  string        // the peer, as net.Conn's RemoteAddr or the dialled address
	Probe string        // the probe's name
	TLS   bool          // sent inside TLS
	Reply []byte        // what came back (capped); owned by the callee
	Err   error         // why the exchange ended early, if it did
	Took  time.Duration // how long the exchange took
}

// Option configures a Detector.
type Option func(*Detector) error

// Defaults of a Detector.
const (
	DefaultIntensity = 7
	DefaultNullWait  = 2 * time.Second  // how long the NULL probe waits for a banner
	DefaultProbeWait = 2 * time.Second  // how long a probe waits for a reply
	DefaultBudget    = 15 * time.Second // the most one port may cost
	DefaultMaxRead   = 16 << 10         // bytes kept of one reply
	DefaultParallel  = 4                // probes in flight to one port
	defaultQuiet     = 300 * time.Millisecond
	// DefaultNullEarly is how long the NULL probe listens alone before
	// the other probes start alongside it.
	DefaultNullEarly = 500 * time.Millisecond
)

// WithDB replaces the built-in rules with db (which may be Builtin()
// extended with DB.Add).
func WithDB(db *DB) Option {
	return func(d *Detector) error {
		if db == nil {
			return errors.New("service: nil DB")
		}
		if db.Probe("NULL") == nil {
			return errors.New("service: the DB has no NULL probe")
		}
		d.db = db
		return nil
	}
}

// WithIntensity sets how many probes a port may get, 0 (only the NULL
// probe and probes likely for the port number) to 9 (every probe), as
// nmap's --version-intensity. Probes of rarity up to n are tried.
func WithIntensity(n int) Option {
	return func(d *Detector) error {
		if n < 0 || n > 9 {
			return fmt.Errorf("service: bad intensity %d: want 0-9", n)
		}
		d.intensity = n
		return nil
	}
}

// WithDialer makes connections with fn instead of a net.Dialer, for
// example to bind a source address or go through a proxy.
func WithDialer(fn DialFunc) Option {
	return func(d *Detector) error {
		if fn == nil {
			return errors.New("service: nil dialer")
		}
		d.dial = fn
		return nil
	}
}

// WithTimeouts sets how long the NULL probe waits for a banner, how long
// any other probe waits for a reply, and the budget of one port: no port
// costs more than budget, however slowly it answers. Zero keeps a default.
func WithTimeouts(nullWait, probeWait, budget time.Duration) Option {
	return func(d *Detector) error {
		if nullWait < 0 || probeWait < 0 || budget < 0 {
			return fmt.Errorf("service: bad timeouts %v/%v/%v: must be >= 0", nullWait, probeWait, budget)
		}
		if nullWait > 0 {
			d.nullWait = nullWait
		}
		if probeWait > 0 {
			d.probeWait = probeWait
		}
		if budget > 0 {
			d.budget = budget
		}
		return nil
	}
}

// WithNullEarly sets how long the NULL probe listens alone before the
// other probes start while it keeps listening (default 500 ms). A banner
// that arrives later still counts: judged first if it comes before the
// probes' replies are judged. Zero makes probes wait for the NULL probe's
// whole wait, as nmap does.
func WithNullEarly(d time.Duration) Option {
	return func(det *Detector) error {
		if d < 0 {
			return fmt.Errorf("service: bad NULL early start %v: must be >= 0", d)
		}
		det.nullEarly = d
		return nil
	}
}

// WithParallel sets how many probes may be in flight to one port at once
// (default 4). Results are still judged in probe order, so a generic rule
// never shadows a more specific probe tried earlier.
func WithParallel(n int) Option {
	return func(d *Detector) error {
		if n < 1 || n > 64 {
			return fmt.Errorf("service: bad per-port parallelism %d: want 1-64", n)
		}
		d.parallel = n
		return nil
	}
}

// WithMaxRead caps the bytes kept of one reply (default 16 KiB); a peer
// that sends more is cut off. Without it, a probe's own maxread (see the
// rule format) may exceed the default; with it, n caps every probe.
func WithMaxRead(n int) Option {
	return func(d *Detector) error {
		if n < 64 || n > 1<<24 {
			return fmt.Errorf("service: bad max read %d: want 64 to 16 MiB", n)
		}
		d.maxRead, d.maxReadSet = n, true
		return nil
	}
}

// WithTrace calls fn after every probe exchange, from the goroutine that
// ran it: fn must be safe for concurrent use and quick.
func WithTrace(fn func(Trace)) Option {
	return func(d *Detector) error {
		d.trace = fn
		return nil
	}
}

// New returns a Detector with the built-in rules and default budgets,
// changed by opts.
func New(opts ...Option) (*Detector, error) {
	var nd net.Dialer
	d := &Detector{
		dial:      nd.DialContext,
		intensity: DefaultIntensity,
		nullWait:  DefaultNullWait,
		probeWait: DefaultProbeWait,
		quiet:     defaultQuiet,
		budget:    DefaultBudget,
		nullEarly: DefaultNullEarly,
		maxRead:   DefaultMaxRead,
		parallel:  DefaultParallel,
	}
	for _, o := range opts {
		if err := o(d); err != nil {
			return nil, err
		}
	}
	if d.db == nil {
		d.db = Builtin()
	}
	return d, nil
}

// DB returns the Detector's rule database.
func (d *Detector) DB() *DB { return d.db }

// ErrNotOpen is returned when the first connection to a port fails.
var ErrNotOpen = errors.New("service: port not open")

// Detect connects to addr as often as its probes need and names the
// service there. A plaintext mail, FTP, PostgreSQL or LDAP service that offers
// STARTTLS gets its TLS session described too (see [WithStartTLS]). An open port always gets a Service: when no rule matched,
// the name comes from the port table (method "table") and Fingerprint
// holds the first bytes the port sent. The error is non-nil only when the
// port could not be connected to at all (wrapping ErrNotOpen) or ctx ended
// before the first connection.
func (d *Detector) Detect(ctx context.Context, addr netip.AddrPort) (*result.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, d.budget)
	defer cancel()
	a := addr.String()
	s := &session{d: d, port: addr.Port(), addr: a, dial: func(ctx context.Context) (net.Conn, error) {
		return d.dial(ctx, "tcp", a)
	}}
	svc, err := s.run(ctx)
	if err != nil || d.noStartTLS || svc.Tunnel != "" || svc.TLS != nil || svc.Method != "probed" {
		return svc, err
	}
	if up := upgraders[svc.Name]; up != nil {
		svc.TLS = s.startTLS(ctx, svc.Name, up)
	}
	return svc, nil
}

// DetectConn names the service on an established connection. It listens
// for a banner, then sends at most one probe (the one most likely for the
// banner and the remote port), on c itself; when that probe is a TLS
// handshake it continues inside TLS the same way. It never closes c, and
// it leaves no deadline set on it. It does not try STARTTLS (see
// [WithStartTLS]), which needs a connection of its own.
// Use Detect where the Detector may open its own connections: it can try
// many probes, each on a fresh connection, and names more.
func (d *Detector) DetectConn(ctx context.Context, c net.Conn) (*result.Service, error) {
	ctx, cancel := context.WithTimeout(ctx, d.budget)
	defer cancel()
	var port uint16
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		port = uint16(ta.Port)
	}
	s := &session{d: d, port: port, addr: c.RemoteAddr().String(), single: &noClose{Conn: c}}
	return s.run(ctx)
}

// noClose lends a caller's connection to a session.
type noClose struct {
	net.Conn
	uses int
}

func (c *noClose) Close() error { return nil }

// session is the detection of one port.
type session struct {
	d      *Detector
	port   uint16
	addr   string
	dial   func(ctx context.Context) (net.Conn, error)
	single *noClose // DetectConn: the one connection, used for NULL and one probe
	tunnel bool     // inside TLS
	tls    *result.TLSInfo

	soft     *Match
	first    []byte // the first bytes any probe got back
	firstBy  string // the probe that got them
	wantTLS  bool   // a reply said "this is TLS"
	alpnHTTP bool   // inside TLS that negotiated an HTTP ALPN
	anyReply bool

	nullCh    chan outcome // the NULL probe, still listening while probes run
	nullErr   error        // why the NULL probe could not connect
	connected atomic.Bool  // some exchange connected
}

func (s *session) conn(ctx context.Context) (net.Conn, error) {
	if s.single != nil {
		s.single.uses++
		if s.single.uses > 2 {
			return nil, errors.New("service: connection already used")
		}
		return s.single, nil
	}
	return s.dial(ctx)
}

// outcome is what one probe got.
type outcome struct {
	reply []byte
	tls   *tlsOutcome
	err   error
}

type tlsOutcome struct {
	info *result.TLSInfo
	conn net.Conn // single mode: the established TLS connection
}

func (s *session) run(ctx context.Context) (*result.Service, error) {
	null := s.d.db.Probe("NULL")
	if null == nil {
		return nil, errors.New("service: the DB has no NULL probe")
	}
	var out outcome
	if !s.alpnHTTP {
		// Inside TLS that negotiated HTTP the server is known to wait for
		// the client: no banner to listen for.
		if s.single != nil || s.d.nullEarly <= 0 {
			out = s.exchange(ctx, null, "")
		} else {
			// Listen for a banner; after nullEarly of silence start the
			// probes while the NULL connection keeps listening.
			nctx, ncancel := context.WithCancel(ctx)
			defer ncancel()
			ch := make(chan outcome, 1)
			go func() { ch <- s.exchange(nctx, null, "") }()
			t := time.NewTimer(s.d.nullEarly)
			defer t.Stop()
			select {
			case out = <-ch:
			case <-t.C:
				s.nullCh = ch
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
	}
	if s.nullCh == nil {
		if out.err != nil && !s.tunnel {
			return nil, notOpen(out.err)
		}
		if m, ok := s.judge(null, out.reply); ok {
			return s.service(m), nil
		}
	}
	cands := s.candidates()
	if s.single != nil {
		cands = cands[:min(1, len(cands))]
	}
	if m, inner, ok := s.runProbes(ctx, cands); ok {
		if inner != nil {
			return inner, nil
		}
		return s.service(m), nil
	}
	if s.nullCh != nil {
		// The probes are done; the banner may still come.
		select {
		case o := <-s.nullCh:
			if m, ok := s.takeNull(o); ok {
				return s.service(m), nil
			}
		case <-ctx.Done():
		}
	}
	if s.nullErr != nil && !s.connected.Load() && !s.tunnel {
		return nil, notOpen(s.nullErr)
	}
	return s.fallbackService(), nil
}

func notOpen(err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return fmt.Errorf("%w: %v", ErrNotOpen, err)
}

// takeNull judges the NULL probe's late outcome.
func (s *session) takeNull(o outcome) (*Match, bool) {
	s.nullCh = nil
	if o.err != nil {
		s.nullErr = o.err
		return nil, false
	}
	return s.judge(s.d.db.Probe("NULL"), o.reply)
}

// judge matches a reply and records what it teaches. It reports a hard
// match.
func (s *session) judge(p *Probe, reply []byte) (*Match, bool) {
	if len(reply) == 0 {
		return nil, false
	}
	s.anyReply = true
	if s.first == nil {
		s.first, s.firstBy = reply, p.Name
	}
	only := ""
	if s.soft != nil {
		only = s.soft.Service
	}
	m, ok := s.d.db.Match(p.Name, reply, only)
	if !ok {
		return nil, false
	}
	if m.Service == "http" && m.Info == "" {
		if t := htmlTitle(reply); t != "" {
			m.Info = "title: " + t
		}
	}
	if m.Service == "ssl" {
		if !s.tunnel {
			s.wantTLS = true
		}
		return nil, false
	}
	if m.Soft {
		if s.soft == nil {
			s.soft = &m
		}
		return nil, false
	}
	return &m, true
}

// likely reports whether p is listed for the session's port.
func (s *session) likely(p *Probe) bool {
	pt := target.Port{Proto: target.TCP, Num: s.port}
	if s.tunnel {
		return slices.Contains(p.TLSPorts, pt)
	}
	return slices.Contains(p.Ports, pt)
}

// candidates orders the probes still worth sending: TLS first when a
// reply asked for it, then probes listed for the port, then the rest of
// rarity up to the intensity, rarest last.
func (s *session) candidates() []*Probe {
	var likely, rest []*Probe
	for _, p := range s.d.db.probes {
		if p.Name == "NULL" || (p.TLS && s.tunnel) {
			continue
		}
		if s.soft != nil && !s.hasRulesFor(p, s.soft.Service) {
			continue
		}
		switch {
		case s.alpnHTTP && strings.HasPrefix(p.Name, "http"):
			likely = append([]*Probe{p}, likely...)
		case p.TLS && s.wantTLS:
			likely = append([]*Probe{p}, likely...)
		case s.likely(p):
			likely = append(likely, p)
		case p.Rarity <= s.d.intensity:
			rest = append(rest, p)
		}
	}
	slices.SortStableFunc(rest, func(a, b *Probe) int { return a.Rarity - b.Rarity })
	return append(likely, rest...)
}

func (s *session) hasRulesFor(p *Probe, svc string) bool {
	if p.TLS {
		return true // TLS may carry anything
	}
	has := func(q *Probe) bool {
		return slices.ContainsFunc(q.Rules, func(r *Rule) bool { return r.Service == svc && !r.Soft })
	}
	if has(p) {
		return true
	}
	for _, f := range p.Fallback {
		if q := s.d.db.Probe(f); q != nil && has(q) {
			return true
		}
	}
	return false
}

// runProbes sends cands with up to d.parallel in flight and judges their
// outcomes in order, so an earlier probe's match wins over a later one's.
func (s *session) runProbes(ctx context.Context, cands []*Probe) (*Match, *result.Service, bool) {
	if len(cands) == 0 {
		return nil, nil, false
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel() // stop the probes still in flight, then wait for them
		wg.Wait()
	}()
	par := s.d.parallel
	if s.single != nil {
		par = 1
	}
	type slot struct {
		done chan struct{}
		out  outcome
	}
	slots := make([]*slot, len(cands))
	sem := make(chan struct{}, par)
	launch := func(i int) {
		sl := &slot{done: make(chan struct{})}
		slots[i] = sl
		p := cands[i]
		only := ""
		if s.soft != nil {
			only = s.soft.Service
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem; close(sl.done) }()
			if p.TLS {
				sl.out = s.handshake(ctx, p)
			} else {
				sl.out = s.exchange(ctx, p, only)
			}
		}()
	}
	next := 0
	for i := range cands {
		// Keep the pipe full: launch every probe up to the window.
		for next < len(cands) && (next <= i || len(sem) < cap(sem)) {
			if s.soft != nil && !s.hasRulesFor(cands[next], s.soft.Service) {
				next++
				continue
			}
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return nil, nil, false
			}
			launch(next)
			next++
		}
		sl := slots[i]
		if sl == nil {
			continue // skipped after a soft match
		}
	wait:
		for {
			select {
			case <-sl.done:
				break wait
			case o := <-s.nullCh: // a nil channel (no NULL pending) never fires
				if m, ok := s.takeNull(o); ok {
					return m, nil, true // a late banner names it
				}
			case <-ctx.Done():
				return nil, nil, false
			}
		}
		p := cands[i]
		if p.TLS {
			if sl.out.tls == nil {
				continue
			}
			cancel() // the port speaks TLS: plain probes in flight are moot
			return nil, s.inside(ctx, sl.out.tls), true
		}
		if m, ok := s.judge(p, sl.out.reply); ok {
			return m, nil, true
		}
		if s.wantTLS && s.single == nil && !s.tunnel {
			// Move the TLS probe up if it is still waiting its turn.
			for j := i + 1; j < len(cands); j++ {
				if cands[j].TLS && slots[j] == nil && j >= next {
					tp := cands[j]
					copy(cands[next+1:j+1], cands[next:j])
					cands[next] = tp
					break
				}
			}
		}
	}
	return nil, nil, false
}

// inside continues detection through TLS and returns what it found.
func (s *session) inside(parent context.Context, t *tlsOutcome) *result.Service {
	// runProbes cancelled parent to stop the plain probes in flight; the
	// port's deadline still holds.
	ctx := context.WithoutCancel(parent)
	if dl, ok := parent.Deadline(); ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, dl)
		defer cancel()
	}
	in := &session{d: s.d, port: s.port, addr: s.addr, tunnel: true, tls: t.info}
	in.alpnHTTP = t.info.ALPN == "h2" || t.info.ALPN == "http/1.1"
	if s.single != nil {
		in.single = &noClose{Conn: t.conn}
	} else {
		dial := s.dial
		in.dial = func(ctx context.Context) (net.Conn, error) {
			c, err := dial(ctx)
			if err != nil {
				return nil, err
			}
			// No ALPN here: a server that picked h2 would not answer the
			// HTTP/1 probes.
			tc := tls.Client(c, tlsConfig(false))
			if err := tc.HandshakeContext(ctx); err != nil {
				c.Close()
				return nil, err
			}
			return tc, nil
		}
	}
	svc, err := in.run(ctx)
	if err != nil || svc == nil {
		return in.fallbackService()
	}
	return svc
}

// service turns a match into a result.
func (s *session) service(m *Match) *result.Service {
	svc := &result.Service{
		Name: m.Service, Product: m.Product, Version: m.Version, ExtraInfo: m.Info,
		Method: "probed", Conf: 10, CPE: m.CPE,
	}
	if m.Soft {
		svc.Conf = 8
		svc.Fingerprint = s.fingerprint()
	}
	if s.tunnel {
		svc.Tunnel, svc.TLS = "ssl", s.tls
	}
	return svc
}

// maxFingerprint caps the bytes of a reply kept in Fingerprint.
const maxFingerprint = 256

func (s *session) fingerprint() string {
	if s.first == nil {
		return ""
	}
	return s.firstBy + ":" + Escape(s.first, maxFingerprint)
}

// fallbackService is the result for a port no rule named for sure.
func (s *session) fallbackService() *result.Service {
	if s.soft != nil {
		return s.service(s.soft)
	}
	if s.tunnel {
		svc := &result.Service{Name: "ssl", Method: "probed", Conf: 8, TLS: s.tls, Fingerprint: s.fingerprint()}
		if s.alpnHTTP {
			svc.Name, svc.Tunnel = "http", "ssl"
		}
		return svc
	}
	name := target.ServiceName(target.Port{Proto: target.TCP, Num: s.port})
	if name == "" {
		name = "unknown"
	}
	return &result.Service{Name: name, Method: "table", Conf: 3, Fingerprint: s.fingerprint()}
}

// exchange sends p's payload on a fresh connection (or the session's one)
// and reads the reply until the peer closes, goes quiet after sending,
// the reply names the service, the cap is reached, or p's wait is over.
func (s *session) exchange(ctx context.Context, p *Probe, only string) (out outcome) {
	wait := p.Wait
	if wait == 0 {
		wait = s.d.probeWait
		if len(p.Send) == 0 {
			wait = s.d.nullWait
		}
	}
	t0 := time.Now()
	if s.d.trace != nil {
		defer func() {
			s.d.trace(Trace{Addr: s.addr, Probe: p.Name, TLS: s.tunnel, Reply: out.reply, Err: out.err, Took: time.Since(t0)})
		}()
	}
	dctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := s.conn(dctx)
	if err != nil {
		return outcome{err: err}
	}
	s.connected.Store(true)
	defer c.Close()
	// The wait is the peer's time. Time spent matching the reply so far
	// is given back (a large reply costs tens of milliseconds to match,
	// seconds under the race detector), up to the port's deadline, which
	// bound enforces along with ctx's cancellation.
	limit, _ := ctx.Deadline()
	deadline := t0.Add(wait)
	if !limit.IsZero() && limit.Before(deadline) {
		deadline = limit
	}
	defer s.bound(ctx, c)()
	if len(p.Send) > 0 {
		c.SetWriteDeadline(deadline)
		if _, err := c.Write(p.Send); err != nil {
			return outcome{err: err}
		}
	}
	max := s.d.maxRead
	if p.MaxRead > 0 {
		if s.d.maxReadSet {
			max = min(max, p.MaxRead) // the caller's cap is a ceiling
		} else {
			max = p.MaxRead
		}
	}
	buf := make([]byte, 0, min(max, 4096))
	tmp := make([]byte, min(max, 4096))
	tried := 0
	for len(buf) < max {
		rd := deadline
		if len(buf) > 0 {
			if q := time.Now().Add(s.d.quiet); q.Before(rd) {
				rd = q
			}
		}
		c.SetReadDeadline(rd)
		n, err := c.Read(tmp[:min(len(tmp), max-len(buf))])
		buf = append(buf, tmp[:n]...)
		// Try the rules as the reply grows, but only when it has doubled
		// since the last try: a large reply costs linear time, not quadratic.
		if n > 0 && len(buf) >= 2*tried {
			tried = len(buf)
			t1 := time.Now()
			if m, ok := s.d.db.Match(p.Name, buf, only); ok && !m.Soft && m.Service != "ssl" {
				break
			}
			deadline = deadline.Add(time.Since(t1))
			if !limit.IsZero() && limit.Before(deadline) {
				deadline = limit
			}
		}
		if err != nil {
			break
		}
	}
	return outcome{reply: buf}
}

// bound makes c's I/O end by ctx's deadline or when ctx ends, whichever
// comes first. The returned release must be called before c is used for
// anything else: it waits until a deadline set because ctx ended has
// landed, then, on a borrowed connection, clears the deadline. Without
// that wait the past deadline set by a late-running ctx callback could
// land after the clear and break the next exchange on the connection
// (DetectConn's TLS handshake after the NULL probe's banner wait).
func (s *session) bound(ctx context.Context, c net.Conn) (release func()) {
	deadline, _ := ctx.Deadline()
	c.SetDeadline(deadline)
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		c.SetDeadline(time.Unix(1, 0))
	})
	return func() {
		if !stop() {
			<-fired // ctx ended: the callback is running or has run
		}
		if s.single != nil {
			c.SetDeadline(time.Time{}) // the caller keeps the connection
		}
	}
}

// handshake runs a TLS handshake and reports the session.
func (s *session) handshake(ctx context.Context, p *Probe) outcome {
	wait := p.Wait
	if wait == 0 {
		wait = s.d.probeWait
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	c, err := s.conn(ctx)
	if err != nil {
		return outcome{err: err}
	}
	// HandshakeContext stops a stalled handshake by closing c, which a
	// borrowed connection ignores: deadlines stop it in every mode.
	release := s.bound(ctx, c)
	defer release()
	tc := tls.Client(c, tlsConfig(true))
	if err := tc.HandshakeContext(ctx); err != nil {
		c.Close()
		return outcome{err: err}
	}
	info := describeTLS(tc.ConnectionState())
	if s.single != nil {
		return outcome{tls: &tlsOutcome{info: info, conn: tc}}
	}
	tc.Close()
	return outcome{tls: &tlsOutcome{info: info}}
}

// tlsConfig is the client side of detection. It does not verify the
// peer: detection reports certificates, it does not trust them.
func tlsConfig(alpn bool) *tls.Config {
	c := &tls.Config{
		InsecureSkipVerify: true, // we describe the certificate, we never trust it
		MinVersion:         tls.VersionTLS10,
	}
	if alpn {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}

func describeTLS(st tls.ConnectionState) *result.TLSInfo {
	info := &result.TLSInfo{
		Version: tls.VersionName(st.Version),
		Cipher:  tls.CipherSuiteName(st.CipherSuite),
		ALPN:    st.NegotiatedProtocol,
	}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		info.Subject = c.Subject.String()
		info.Issuer = c.Issuer.String()
		info.SANs = append(info.SANs, c.DNSNames...)
		for _, ip := range c.IPAddresses {
			info.SANs = append(info.SANs, ip.String())
		}
		info.NotAfter = c.NotAfter.UTC()
	}
	return info
}

var titleRE = regexp.MustCompile(`(?is)<title[^>]*>([^<]{1,400})</title>`)

// htmlTitle returns the <title> of an HTTP reply's body, cleaned and
// capped, or "".
func htmlTitle(reply []byte) string {
	i := bytes.Index(reply, []byte("\r\n\r\n"))
	if i < 0 {
		return ""
	}
	m := titleRE.FindSubmatch(reply[i:])
	if m == nil {
		return ""
	}
	return clean(latin1([]byte(strings.Join(strings.Fields(string(m[1])), " "))))
}

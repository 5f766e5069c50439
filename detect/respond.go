package detect

import (
	"context"
	"iter"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// A Responder acts on events: it is the respond stage of the pipeline.
// The pipeline calls Respond from one goroutine, in event order. An error
// stops the pipeline unless an error handler (WithErrorHandler) absorbs it.
// Responders must not modify the event's slices: every responder sees the
// same event.
type Responder interface {
	Respond(ctx context.Context, e Event) error
}

// ResponderFunc adapts a function to a Responder.
type ResponderFunc func(ctx context.Context, e Event) error

// Respond calls f.
func (f ResponderFunc) Respond(ctx context.Context, e Event) error { return f(ctx, e) }

// Callback returns a Responder that hands every event to fn and never fails.
func Callback(fn func(Event)) ResponderFunc {
	return ResponderFunc(func(_ context.Context, e Event) error {
		fn(e)
		return nil
	})
}

// Blocker is what blocking responders share: the in-memory Blocklist and
// the nftables responder.
type Blocker interface {
	// Block blocks addr for ttl (0: the blocker's default). Addresses
	// covered by the allowlist are refused with an error wrapping
	// ErrAllowlisted.
	Block(addr netip.Addr, ttl time.Duration) error
}

// BlockTargets yields the addresses the event asks a blocking responder to
// block: the source, and for a distributed campaign every member. A decoy
// scan's other members are never yielded (they are usually innocent
// addresses the real scanner forged), nor anything when the real source
// could not be told (Source zero); a KindScanEnd summary yields nothing.
func (e Event) BlockTargets() iter.Seq[netip.Addr] {
	return func(yield func(netip.Addr) bool) {
		if e.Kind == KindScanEnd {
			return
		}
		if e.Source.IsValid() && !yield(e.Source) {
			return
		}
		if e.Kind == KindDistributed {
			for _, a := range e.Sources {
				if a.IsValid() && a != e.Source && !yield(a) {
					return
				}
			}
		}
	}
}

// AlertLogConfig configures NewAlertLogger. A nil *AlertLogConfig means
// defaults.
type AlertLogConfig struct {
	// Rate and Burst limit how many events are logged: at most Burst at
	// once and Rate per second on average. Defaults: 1 per second, burst 10.
	Rate  rate.Limit
	Burst int
	// Level of the log records; default slog.LevelWarn.
	Level *slog.Level
	// Now is the clock the limiter reads; nil means time.Now.
	Now func() time.Time
}

// AlertLogger is a Responder that logs events through log/slog, rate
// limited so that a scan storm cannot flood the log. Events over the limit
// are counted, and the count is reported with the next record that gets
// through (attribute "suppressed").
type AlertLogger struct {
	log   *slog.Logger
	level slog.Level
	now   func() time.Time

	mu         sync.Mutex
	lim        *rate.Limiter
	suppressed uint64
	total      uint64
}

// NewAlertLogger returns an AlertLogger writing to l (nil: slog.Default()).
func NewAlertLogger(l *slog.Logger, cfg *AlertLogConfig) *AlertLogger {
	var c AlertLogConfig
	if cfg != nil {
		c = *cfg
	}
	if l == nil {
		l = slog.Default()
	}
	if c.Rate <= 0 {
		c.Rate = 1
	}
	if c.Burst <= 0 {
		c.Burst = 10
	}
	level := slog.LevelWarn
	if c.Level != nil {
		level = *c.Level
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &AlertLogger{log: l, level: level, now: c.Now, lim: rate.NewLimiter(c.Rate, c.Burst)}
}

// Respond logs e unless the rate limit is exhausted. It never fails.
func (a *AlertLogger) Respond(ctx context.Context, e Event) error {
	a.mu.Lock()
	a.total++
	if !a.lim.AllowN(a.now(), 1) {
		a.suppressed++
		a.mu.Unlock()
		return nil
	}
	sup := a.suppressed
	a.suppressed = 0
	a.mu.Unlock()
	attrs := []slog.Attr{
		slog.String("kind", e.Kind.String()),
		slog.String("detector", e.Detector),
		slog.String("source", e.Source.String()),
		slog.String("shape", e.Shape.String()),
		slog.String("scan_type", e.ScanType.String()),
		slog.Int("hosts", e.Hosts),
		slog.Int("ports", e.Ports),
		slog.Int("attempts", e.Attempts),
		slog.Time("time", e.Time),
	}
	if len(e.Sources) > 0 {
		s := make([]string, len(e.Sources))
		for i, a := range e.Sources {
			s[i] = a.String()
		}
		attrs = append(attrs, slog.Any("sources", s))
	}
	if e.Note != "" {
		attrs = append(attrs, slog.String("note", e.Note))
	}
	if sup > 0 {
		attrs = append(attrs, slog.Uint64("suppressed", sup))
	}
	a.log.LogAttrs(ctx, a.level, "port scan detected", attrs...)
	return nil
}

// Suppressed returns how many events the rate limit has kept out of the log
// since the last record that got through.
func (a *AlertLogger) Suppressed() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.suppressed
}

package service

import (
	"bufio"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/portsense/portsense/target"
)

//go:embed rules/builtin.rules
var builtinRules string

// A DB is a set of probes and the rules that name services from their
// replies. Build one with [Parse] or [Builtin], extend it with [DB.Add].
// A DB is not safe for concurrent modification; a Detector only reads it.
type DB struct {
	probes []*Probe
	byName map[string]*Probe
}

// Probe is one thing to send to a port: nothing (the NULL probe, which
// only listens for a banner), a fixed payload, or a TLS handshake.
type Probe struct {
	Name     string        // unique name, such as "NULL" or "http-get"
	Send     []byte        // payload; empty for the NULL probe and TLS
	TLS      bool          // the probe is a TLS handshake (crypto/tls)
	Ports    []target.Port // ports where the probe is likely to succeed (tried first)
	TLSPorts []target.Port // ports where the probe is likely inside TLS
	Rarity   int           // 1 (always) … 9 (rarely useful); tried when ≤ the intensity
	Wait     time.Duration // how long to wait for a reply; 0 = the Detector's default
	MaxRead  int           // bytes kept of the reply; 0 = the Detector's cap (WithMaxRead caps this too)
	Fallback []string      // other probes whose rules also apply to this probe's reply
	Rules    []*Rule       // rules matched against this probe's reply, in order
	Line     int           // line of the probe's header in its source

	set int // which lines a continuing section gave (setSend…)
}

// Rule names a service when its pattern matches a probe's reply.
// A pattern sees the reply as Latin-1 text: every byte is one character,
// so \x00-\xff in a pattern match those byte values.
type Rule struct {
	Service string         // service name, such as "ssh"; "ssl" means "speak TLS and look again"
	Soft    bool           // a soft match names the service but keeps probing for product and version
	Pattern *regexp.Regexp // compiled pattern
	// Templates for the fields. "{name}" is replaced by the named capture
	// group, "{1}" by the first group. A missing template takes the group
	// of the same name (product, version, info) when the pattern has one.
	Product, Version, Info string
	CPE                    []string
	Source                 string // file name or label given to Parse
	Line                   int    // line of the rule in its source
}

// ParseError is a problem in a rule source, with where it is.
type ParseError struct {
	Source string // the label given to Parse
	Line   int    // 1-based line number
	Err    error  // what is wrong
}

// Error formats e as "source:line: what is wrong".
func (e *ParseError) Error() string {
	return fmt.Sprintf("%s:%d: %v", e.Source, e.Line, e.Err)
}

// Unwrap returns the underlying error.
func (e *ParseError) Unwrap() error { return e.Err }

// Builtin returns a fresh copy of portsense's own rule database, written
// from the protocols' specifications and from what real servers send. It
// is embedded in the binary; the copy may be extended with [DB.Add].
func Builtin() *DB {
	db := &DB{byName: map[string]*Probe{}}
	if err := db.Add("builtin.rules", strings.NewReader(builtinRules)); err != nil {
		panic("service: builtin rules: " + err.Error())
	}
	return db
}

// Parse reads a rule source (see the package documentation for the
// format). name labels errors: "site.rules:12: …".
func Parse(name string, r io.Reader) (*DB, error) {
	db := &DB{byName: map[string]*Probe{}}
	if err := db.Add(name, r); err != nil {
		return nil, err
	}
	return db, nil
}

// Probes returns the probes in the order they were added.
func (db *DB) Probes() []*Probe { return db.probes }

// Probe returns the probe called name, or nil.
func (db *DB) Probe(name string) *Probe { return db.byName[name] }

// Add reads more rules into db. A "probe" header naming an existing probe
// continues it: new rules are appended to its list, and lines such as
// ports replace the old values. On error db is left unchanged.
func (db *DB) Add(name string, r io.Reader) error {
	p := &parser{src: name, db: db, pending: map[string]*Probe{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		p.line++
		if err := p.parseLine(sc.Text()); err != nil {
			return &ParseError{Source: name, Line: p.line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return &ParseError{Source: name, Line: p.line + 1, Err: err}
	}
	// Check fallbacks once everything is known.
	for _, pr := range p.order {
		for _, f := range pr.Fallback {
			if f == pr.Name {
				return &ParseError{Source: name, Line: pr.Line, Err: fmt.Errorf("probe %s falls back to itself", pr.Name)}
			}
			if db.byName[f] == nil && p.pending[f] == nil {
				return &ParseError{Source: name, Line: pr.Line, Err: fmt.Errorf("probe %s: unknown fallback probe %q", pr.Name, f)}
			}
		}
	}
	for _, pr := range p.order {
		if old := db.byName[pr.Name]; old != nil {
			mergeProbe(old, pr)
			continue
		}
		db.byName[pr.Name] = pr
		db.probes = append(db.probes, pr)
	}
	return nil
}

func mergeProbe(old, pr *Probe) {
	if pr.set&setSend != 0 {
		old.Send = pr.Send
	}
	if pr.set&setPorts != 0 {
		old.Ports = pr.Ports
	}
	if pr.set&setTLSPorts != 0 {
		old.TLSPorts = pr.TLSPorts
	}
	if pr.set&setRarity != 0 {
		old.Rarity = pr.Rarity
	}
	if pr.set&setWait != 0 {
		old.Wait = pr.Wait
	}
	if pr.set&setMaxRead != 0 {
		old.MaxRead = pr.MaxRead
	}
	old.Fallback = append(old.Fallback, pr.Fallback...)
	old.Rules = append(old.Rules, pr.Rules...)
}

type parser struct {
	src     string
	db      *DB
	line    int
	cur     *Probe
	pending map[string]*Probe // probes of this source, new or continuing
	order   []*Probe
}

const (
	setSend = 1 << iota
	setPorts
	setTLSPorts
	setRarity
	setWait
	setMaxRead
)

func (p *parser) parseLine(s string) error {
	s = strings.TrimSpace(s)
	if s == "" || s[0] == '#' {
		return nil
	}
	kw, rest, _ := strings.Cut(s, " ")
	rest = strings.TrimSpace(rest)
	if kw == "probe" {
		return p.probe(rest)
	}
	if p.cur == nil {
		return fmt.Errorf("%q before the first probe line", kw)
	}
	pr := p.cur
	switch kw {
	case "send":
		if pr.TLS {
			return errors.New("send: a tls probe sends a TLS handshake, not a payload")
		}
		v, tail, err := quoted(rest)
		if err != nil {
			return fmt.Errorf("send: %w", err)
		}
		if tail != "" {
			return fmt.Errorf("send: unexpected %q after the payload", tail)
		}
		if len(v) == 0 {
			return errors.New("send: empty payload (a probe without send listens only)")
		}
		pr.Send, pr.set = []byte(v), pr.set|setSend
	case "ports", "tlsports":
		ps, err := parsePorts(rest)
		if err != nil {
			return fmt.Errorf("%s: %w", kw, err)
		}
		if kw == "ports" {
			pr.Ports, pr.set = ps, pr.set|setPorts
		} else {
			pr.TLSPorts, pr.set = ps, pr.set|setTLSPorts
		}
	case "rarity":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > 9 {
			return fmt.Errorf("rarity %q: want 1-9", rest)
		}
		pr.Rarity, pr.set = n, pr.set|setRarity
	case "wait":
		d, err := time.ParseDuration(rest)
		if err != nil || d <= 0 || d > time.Minute {
			return fmt.Errorf("wait %q: want a duration such as 2s, at most 1m", rest)
		}
		pr.Wait, pr.set = d, pr.set|setWait
	case "maxread":
		n, err := strconv.Atoi(rest)
		if err != nil || n < 64 || n > 1<<20 {
			return fmt.Errorf("maxread %q: want 64 to 1048576 bytes", rest)
		}
		pr.MaxRead, pr.set = n, pr.set|setMaxRead
	case "fallback":
		for _, f := range strings.Fields(rest) {
			if !validName(f) {
				return fmt.Errorf("fallback: bad probe name %q", f)
			}
			pr.Fallback = append(pr.Fallback, f)
		}
		if len(pr.Fallback) == 0 {
			return errors.New("fallback: want probe names")
		}
	case "match", "softmatch":
		r, err := parseRule(rest, kw == "softmatch")
		if err != nil {
			return fmt.Errorf("%s: %w", kw, err)
		}
		r.Source, r.Line = p.src, p.line
		pr.Rules = append(pr.Rules, r)
	default:
		return fmt.Errorf("unknown keyword %q (want probe, send, ports, tlsports, rarity, wait, maxread, fallback, match or softmatch)", kw)
	}
	return nil
}

func (p *parser) probe(rest string) error {
	f := strings.Fields(rest)
	if len(f) == 0 {
		return errors.New("probe: want a name")
	}
	name := f[0]
	if !validName(name) {
		return fmt.Errorf("probe: bad name %q: want letters, digits, '-' and '_'", name)
	}
	isTLS := false
	for _, a := range f[1:] {
		switch a {
		case "tcp":
		case "tls":
			isTLS = true
		default:
			return fmt.Errorf("probe %s: unknown attribute %q (want tcp or tls)", name, a)
		}
	}
	if pr := p.pending[name]; pr != nil {
		p.cur = pr
		return nil
	}
	pr := &Probe{Name: name, TLS: isTLS, Rarity: 5, Line: p.line}
	if old := p.db.byName[name]; old != nil {
		if isTLS != old.TLS {
			return fmt.Errorf("probe %s: continues a probe defined with a different kind", name)
		}
		pr.Rarity = old.Rarity
	}
	p.pending[name] = pr
	p.order = append(p.order, pr)
	p.cur = pr
	return nil
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

func parsePorts(s string) ([]target.Port, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("want a port list such as 80,8000-8010")
	}
	var out []target.Port
	for _, tok := range strings.Split(s, ",") {
		tok = strings.TrimSpace(tok)
		lo, hi, isRange := strings.Cut(tok, "-")
		a, err := strconv.ParseUint(lo, 10, 16)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("bad port %q", tok)
		}
		b := a
		if isRange {
			b, err = strconv.ParseUint(hi, 10, 16)
			if err != nil || b < a {
				return nil, fmt.Errorf("bad port range %q", tok)
			}
		}
		if b-a > 1024 {
			return nil, fmt.Errorf("port range %q too wide (at most 1025 ports)", tok)
		}
		for n := a; n <= b; n++ {
			out = append(out, target.Port{Proto: target.TCP, Num: uint16(n)})
		}
	}
	return out, nil
}

// quoted reads a Go double-quoted string at the start of s and returns it
// and what follows, trimmed.
func quoted(s string) (val, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", fmt.Errorf("want a double-quoted string at %q", clip(s))
	}
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", fmt.Errorf("bad string %s: unterminated or with a bad escape (Go syntax)", clip(s))
	}
	v, err := strconv.Unquote(q)
	if err != nil {
		return "", "", fmt.Errorf("bad string %s: %v", clip(q), err)
	}
	return v, strings.TrimSpace(s[len(q):]), nil
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// parseRule reads `SERVICE /REGEX/FLAGS key="value" …`.
func parseRule(s string, soft bool) (*Rule, error) {
	svc, rest, _ := strings.Cut(s, " ")
	if !validName(svc) {
		return nil, fmt.Errorf("bad service name %q", svc)
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasPrefix(rest, "/") {
		return nil, fmt.Errorf("want /pattern/ after the service name, got %q", clip(rest))
	}
	end := -1
	for i := 1; i < len(rest); i++ {
		if rest[i] == '\\' {
			i++
			continue
		}
		if rest[i] == '/' {
			end = i
			break
		}
	}
	if end < 0 {
		return nil, fmt.Errorf("pattern %q has no closing /", clip(rest))
	}
	pat := rest[1:end]
	rest = rest[end+1:]
	flags := ""
	for rest != "" && rest[0] != ' ' {
		switch rest[0] {
		case 'i', 's':
			if !strings.ContainsRune(flags, rune(rest[0])) {
				flags += rest[:1]
			}
		default:
			return nil, fmt.Errorf("unknown pattern flag %q (want i or s)", rest[:1])
		}
		rest = rest[1:]
	}
	if flags != "" {
		pat = "(?" + flags + ")" + pat
	}
	re, err := regexp.Compile(pat)
	if err != nil {
		return nil, fmt.Errorf("bad pattern: %v", err)
	}
	r := &Rule{Service: svc, Soft: soft, Pattern: re}
	rest = strings.TrimSpace(rest)
	for rest != "" {
		key, tail, ok := strings.Cut(rest, "=")
		if !ok || !validName(key) {
			return nil, fmt.Errorf("want key=\"value\" at %q", clip(rest))
		}
		v, tail, err := quoted(tail)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		if err := checkTemplate(re, v); err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		switch key {
		case "product":
			r.Product = v
		case "version":
			r.Version = v
		case "info":
			r.Info = v
		case "cpe":
			if !strings.HasPrefix(v, "cpe:/") {
				return nil, fmt.Errorf("cpe %q: want a CPE 2.2 name starting cpe:/", v)
			}
			r.CPE = append(r.CPE, v)
		default:
			return nil, fmt.Errorf("unknown key %q (want product, version, info or cpe)", key)
		}
		rest = tail
	}
	return r, nil
}

// checkTemplate reports references to groups the pattern does not have.
func checkTemplate(re *regexp.Regexp, t string) error {
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			return nil
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			return fmt.Errorf("unclosed { in %q", t)
		}
		ref := t[i+1 : i+j]
		if n, err := strconv.Atoi(ref); err == nil {
			if n < 1 || n > re.NumSubexp() {
				return fmt.Errorf("{%s}: the pattern has %d groups", ref, re.NumSubexp())
			}
		} else if re.SubexpIndex(ref) < 0 {
			return fmt.Errorf("{%s}: the pattern has no group of that name", ref)
		}
		t = t[i+j+1:]
	}
}

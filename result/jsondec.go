package result

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/portsense/portsense/target"
)

// A DecodeError reports a JSON record that could not be decoded.
// Its message names the line (when known), the field and the bad value:
//
//	result: line 3: bad state "opne"
type DecodeError struct {
	Line  int    // 1-based line in a JSON Lines stream; 0 for a lone value
	Field string // the offending field, or "" for malformed JSON
	Err   error  // what was wrong
}

// Error formats e as "result: line N: what".
func (e *DecodeError) Error() string {
	if e.Line > 0 {
		return "result: line " + strconv.Itoa(e.Line) + ": " + e.Err.Error()
	}
	return "result: " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// UnmarshalJSON decodes an object of type "port" (the "type" field may be
// absent) into r.
func (r *Result) UnmarshalJSON(b []byte) error {
	var d decoder
	rec, err := d.decode(b, 0, kindPort)
	if err != nil {
		return err
	}
	*r = *rec.Result
	return nil
}

// UnmarshalJSON decodes an object of type "host" (the "type" field may be
// absent) into h.
func (h *Host) UnmarshalJSON(b []byte) error {
	var d decoder
	rec, err := d.decode(b, 0, kindHost)
	if err != nil {
		return err
	}
	*h = *rec.Host
	return nil
}

type kind uint8

const (
	kindNone kind = iota
	kindPort
	kindHost
)

// decoder holds the scratch space reused across records of one stream.
type decoder struct {
	lex lexer
}

// word keeps a short token (a state name) without allocating.
type word struct {
	n   int
	buf [16]byte
	s   string // set instead when the token is too long for buf
}

func (w *word) set(b []byte) {
	if len(b) <= len(w.buf) {
		w.n = copy(w.buf[:], b)
		w.s = ""
		return
	}
	w.n = -1
	w.s = string(b)
}

func (w *word) bytes() []byte {
	if w.n < 0 {
		return []byte(w.s)
	}
	return w.buf[:w.n]
}

// decode parses one JSON object. want is the kind a lone value must be;
// kindNone means the "type" field decides.
func (d *decoder) decode(b []byte, line int, want kind) (Record, error) {
	l := &d.lex
	l.b, l.i = b, 0
	var (
		k                 kind
		addr              netip.Addr
		source            netip.Addr
		port              uint64
		proto             target.Protocol
		state             word
		reason            Reason
		ttl               uint64
		rtt               time.Duration
		tries             int64
		tm                time.Time
		svc               *Service
		warn              []string
		mac               net.HardwareAddr
		hasAddr, hasState bool
		hasPort, hasProto bool
	)
	fail := func(field string, err error) error {
		return &DecodeError{Line: line, Field: field, Err: err}
	}
	bad := func(field string, v string) error {
		return fail(field, fmt.Errorf("bad %s %q", field, v))
	}
	var ferr error // a field error, kept apart from syntax errors
	err := l.object(func(key []byte) error {
		switch string(key) {
		case "type":
			v, err := l.str()
			if err != nil {
				return err
			}
			switch string(v) {
			case "port":
				k = kindPort
			case "host":
				k = kindHost
			default:
				ferr = bad("type", string(v))
			}
		case "addr":
			v, err := l.str()
			if err != nil {
				return err
			}
			a, ok := parseAddr(v)
			if !ok {
				ferr = bad("addr", string(v))
			}
			addr, hasAddr = a, true
		case "source":
			v, err := l.str()
			if err != nil {
				return err
			}
			a, ok := parseAddr(v)
			if !ok {
				ferr = bad("source", string(v))
			}
			source = a
		case "port":
			v, err := l.number()
			if err != nil {
				return err
			}
			n, ok := parseUint(v, math.MaxUint16)
			if !ok {
				ferr = fail("port", fmt.Errorf("bad port %s: want an integer 0-65535", v))
			}
			port, hasPort = n, true
		case "proto":
			v, err := l.str()
			if err != nil {
				return err
			}
			p, ok := parseProto(v)
			if !ok {
				ferr = bad("proto", string(v))
			}
			proto, hasProto = p, true
		case "state":
			v, err := l.str()
			if err != nil {
				return err
			}
			state.set(v)
			hasState = true
		case "reason":
			v, err := l.str()
			if err != nil {
				return err
			}
			n, ok := lookup(reasonNames[:], v)
			if !ok {
				ferr = bad("reason", string(v))
			}
			reason = Reason(n)
		case "ttl":
			v, err := l.number()
			if err != nil {
				return err
			}
			n, ok := parseUint(v, math.MaxUint8)
			if !ok {
				ferr = fail("ttl", fmt.Errorf("bad ttl %s: want an integer 0-255", v))
			}
			ttl = n
		case "rtt_us":
			v, err := l.number()
			if err != nil {
				return err
			}
			d, ok := parseMicros(v)
			if !ok {
				ferr = fail("rtt_us", fmt.Errorf("bad rtt_us %s: want decimal microseconds", v))
			}
			rtt = d
		case "tries":
			v, err := l.number()
			if err != nil {
				return err
			}
			n, ok := parseInt(v)
			if !ok {
				ferr = fail("tries", fmt.Errorf("bad tries %s: want an integer", v))
			}
			tries = n
		case "time":
			if l.isNull() {
				tm = time.Time{}
				return nil
			}
			v, err := l.str()
			if err != nil {
				return err
			}
			t, perr := parseTime(v)
			if perr != nil {
				ferr = fail("time", fmt.Errorf("bad time %q: want RFC 3339", v))
			}
			tm = t
		case "service":
			if l.isNull() {
				svc = nil
				return nil
			}
			s, err := d.service(line)
			if err != nil {
				return err
			}
			svc = s
		case "mac":
			v, err := l.str()
			if err != nil {
				return err
			}
			m, perr := net.ParseMAC(string(v))
			if perr != nil || len(m) != 6 {
				ferr = bad("mac", string(v))
			}
			mac = m
		case "warnings":
			w, err := l.strings()
			if err != nil {
				return err
			}
			warn = w
		default:
			return l.skip(1) // unknown fields are for newer writers
		}
		if ferr != nil {
			return ferr
		}
		return nil
	})
	if err != nil {
		if _, ok := err.(*DecodeError); ok {
			return Record{}, err
		}
		return Record{}, fail("", err)
	}
	if l.peek() != 0 {
		return Record{}, fail("", l.errorf("unexpected %q after object", l.b[l.i]))
	}
	if k == kindNone {
		if want == kindNone {
			return Record{}, fail("type", errors.New(`missing "type"`))
		}
		k = want
	} else if want != kindNone && k != want {
		return Record{}, fail("type", fmt.Errorf("type %q where %q was wanted", kindName(k), kindName(want)))
	}
	if !hasAddr {
		return Record{}, fail("addr", errors.New(`missing "addr"`))
	}
	if !hasState {
		return Record{}, fail("state", errors.New(`missing "state"`))
	}
	if k == kindHost {
		hs, ok := lookup(hostStateNames[:], state.bytes())
		if !ok {
			return Record{}, bad("state", string(state.bytes()))
		}
		return Record{Host: &Host{
			Addr: addr, State: HostState(hs), Reason: reason, ReplyTTL: uint8(ttl),
			RTT: rtt, Time: tm, MAC: mac, Warnings: warn,
		}}, nil
	}
	if !hasPort {
		return Record{}, fail("port", errors.New(`missing "port"`))
	}
	if !hasProto {
		return Record{}, fail("proto", errors.New(`missing "proto"`))
	}
	st, ok := lookup(stateNames[:], state.bytes())
	if !ok {
		return Record{}, bad("state", string(state.bytes()))
	}
	if tries > math.MaxInt32 || tries < math.MinInt32 {
		return Record{}, fail("tries", fmt.Errorf("bad tries %d: out of range", tries))
	}
	return Record{Result: &Result{
		AddrPort: netip.AddrPortFrom(addr, uint16(port)), Proto: proto,
		State: State(st), Reason: reason, ReplyTTL: uint8(ttl), RTT: rtt,
		Tries: int(tries), Time: tm, Service: svc, Source: source,
	}}, nil
}

// lookup returns the index of b in names.
func lookup(names []string, b []byte) (uint8, bool) {
	for i, n := range names {
		if n == string(b) {
			return uint8(i), true
		}
	}
	return 0, false
}

func kindName(k kind) string {
	if k == kindHost {
		return "host"
	}
	return "port"
}

func (d *decoder) service(line int) (*Service, error) {
	l := &d.lex
	s := new(Service)
	err := l.object(func(key []byte) error {
		var dst *string
		switch string(key) {
		case "name":
			dst = &s.Name
		case "product":
			dst = &s.Product
		case "version":
			dst = &s.Version
		case "extrainfo":
			dst = &s.ExtraInfo
		case "tunnel":
			dst = &s.Tunnel
		case "method":
			dst = &s.Method
		case "conf":
			v, err := l.number()
			if err != nil {
				return err
			}
			n, ok := parseInt(v)
			if !ok || n > math.MaxInt32 || n < math.MinInt32 {
				return &DecodeError{Line: line, Field: "service.conf",
					Err: fmt.Errorf("bad service.conf %s: want an integer", v)}
			}
			s.Conf = int(n)
			return nil
		case "cpe":
			c, err := l.strings()
			if err != nil {
				return err
			}
			s.CPE = c
			return nil
		case "fingerprint":
			dst = &s.Fingerprint
		case "tls":
			t, err := d.tlsInfo(line)
			if err != nil {
				return err
			}
			s.TLS = t
			return nil
		default:
			return l.skip(2)
		}
		v, err := l.str()
		if err != nil {
			return err
		}
		*dst = intern(v)
		return nil
	})
	return s, err
}

func (d *decoder) tlsInfo(line int) (*TLSInfo, error) {
	l := &d.lex
	t := new(TLSInfo)
	err := l.object(func(key []byte) error {
		var dst *string
		switch string(key) {
		case "version":
			dst = &t.Version
		case "cipher":
			dst = &t.Cipher
		case "alpn":
			dst = &t.ALPN
		case "subject":
			dst = &t.Subject
		case "issuer":
			dst = &t.Issuer
		case "sans":
			v, err := l.strings()
			if err != nil {
				return err
			}
			t.SANs = v
			return nil
		case "notafter":
			v, err := l.str()
			if err != nil {
				return err
			}
			tm, err := time.Parse(time.RFC3339, string(v))
			if err != nil {
				return &DecodeError{Line: line, Field: "service.tls.notafter",
					Err: fmt.Errorf("bad service.tls.notafter %q: want RFC 3339", v)}
			}
			t.NotAfter = tm
			return nil
		default:
			return l.skip(2)
		}
		v, err := l.str()
		if err != nil {
			return err
		}
		*dst = string(v)
		return nil
	})
	return t, err
}

// intern returns common service words without allocating.
func intern(b []byte) string {
	switch string(b) {
	case "":
		return ""
	case "table":
		return "table"
	case "probed":
		return "probed"
	case "ssl":
		return "ssl"
	}
	return string(b)
}

// strings reads an array of strings, or null; an empty array gives nil.
func (l *lexer) strings() ([]string, error) {
	if l.isNull() {
		return nil, nil
	}
	var out []string
	err := l.array(func() error {
		v, err := l.str()
		if err != nil {
			return err
		}
		out = append(out, string(v))
		return nil
	})
	return out, err
}

// parseAddr parses an address; dotted-quad IPv4, the common case, is
// parsed here without the allocation netip.ParseAddr costs on []byte.
func parseAddr(b []byte) (netip.Addr, bool) {
	var ip [4]byte
	i, n := 0, 0
	for n < 4 {
		start := i
		v := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' && i-start < 3 {
			v = v*10 + int(b[i]-'0')
			i++
		}
		if i == start || v > 255 || (i-start > 1 && b[start] == '0') {
			break // not plain IPv4: let netip decide
		}
		ip[n] = byte(v)
		n++
		if n < 4 {
			if i >= len(b) || b[i] != '.' {
				break
			}
			i++
		}
	}
	if n == 4 && i == len(b) {
		return netip.AddrFrom4(ip), true
	}
	a, err := netip.ParseAddr(string(b))
	return a, err == nil
}

func parseProto(b []byte) (target.Protocol, bool) {
	var p target.Protocol
	if p.UnmarshalText(b) == nil {
		return p, true
	}
	// Protocols without a name are written "proto-N" by Protocol.String.
	const pre = "proto-"
	if len(b) > len(pre) && string(b[:len(pre)]) == pre {
		if n, ok := parseUint(b[len(pre):], math.MaxUint8); ok && n > 0 && string(b[len(pre):]) == strconv.Itoa(int(n)) {
			return target.Protocol(n), true
		}
	}
	return 0, false
}

// parseUint parses a plain decimal integer no larger than max.
func parseUint(b []byte, max uint64) (uint64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n > (max-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	n, ok := parseUint(b, math.MaxInt64)
	if !ok {
		return 0, false
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// parseMicros parses decimal microseconds ("123", "-0.5", "1.25") into a
// Duration; digits beyond the nanosecond are dropped.
func parseMicros(b []byte) (time.Duration, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	intPart, frac := b, []byte(nil)
	for i, c := range b {
		if c == '.' {
			intPart, frac = b[:i], b[i+1:]
			break
		}
	}
	us, ok := parseUint(intPart, math.MaxInt64/1000)
	if !ok {
		return 0, false
	}
	var ns uint64
	for i, c := range frac {
		if c < '0' || c > '9' {
			return 0, false
		}
		if i < 3 {
			ns = ns*10 + uint64(c-'0')
		}
	}
	for i := len(frac); i < 3; i++ {
		ns *= 10
	}
	total := us*1000 + ns
	if neg && total <= 1<<63 {
		return time.Duration(-total), true
	}
	if total > math.MaxInt64 {
		return 0, false
	}
	return time.Duration(total), true
}

// parseTime parses RFC 3339 text; the common UTC form skips time.Parse.
func parseTime(b []byte) (time.Time, error) {
	if t, ok := parseUTC(b); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, string(b))
	if err != nil {
		return time.Time{}, err
	}
	if err := checkTime(t); err != nil {
		return time.Time{}, err
	}
	return t, nil
}

// parseUTC handles "2006-01-02T15:04:05[.fraction]Z" without allocating.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[len(b)-1] != 'Z' || b[4] != '-' || b[7] != '-' ||
		b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n, ok := parseUint(s, 9999)
		return int(n), ok
	}
	year, ok1 := num(b[0:4])
	month, ok2 := num(b[5:7])
	day, ok3 := num(b[8:10])
	hour, ok4 := num(b[11:13])
	minute, ok5 := num(b[14:16])
	sec, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return time.Time{}, false
	}
	nsec := 0
	rest := b[19 : len(b)-1]
	if len(rest) > 0 {
		if rest[0] != '.' || len(rest) < 2 || len(rest) > 10 {
			return time.Time{}, false
		}
		for _, c := range rest[1:] {
			if c < '0' || c > '9' {
				return time.Time{}, false
			}
			nsec = nsec*10 + int(c-'0')
		}
		for i := len(rest) - 1; i < 9; i++ {
			nsec *= 10
		}
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // 31 February and friends
		return time.Time{}, false
	}
	return t, true
}

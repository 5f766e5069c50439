package result

import (
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// lexer is a small JSON tokenizer over one record. It validates the
// grammar it walks (RFC 8259) and unescapes strings into a reusable
// scratch buffer, so decoding a record needs no allocation of its own.
type lexer struct {
	b       []byte
	i       int
	scratch []byte
}

const maxDepth = 64

func (l *lexer) errorf(format string, args ...any) error {
	return &syntaxError{off: l.i, msg: fmt.Sprintf(format, args...)}
}

// syntaxError is malformed JSON; off is the byte offset in the record.
type syntaxError struct {
	off int
	msg string
}

func (e *syntaxError) Error() string { return fmt.Sprintf("bad JSON at column %d: %s", e.off+1, e.msg) }

func (l *lexer) ws() {
	for l.i < len(l.b) {
		switch l.b[l.i] {
		case ' ', '\t', '\n', '\r':
			l.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (l *lexer) peek() byte {
	l.ws()
	if l.i >= len(l.b) {
		return 0
	}
	return l.b[l.i]
}

func (l *lexer) expect(c byte) error {
	if p := l.peek(); p != c {
		if p == 0 {
			return l.errorf("unexpected end, want %q", c)
		}
		return l.errorf("unexpected %q, want %q", p, c)
	}
	l.i++
	return nil
}

// str reads a string token. The result aliases l.b when the string has no
// escapes and l.scratch otherwise; it is valid until the next call.
// Invalid UTF-8 and lone surrogates become U+FFFD.
func (l *lexer) str() ([]byte, error) {
	if err := l.expect('"'); err != nil {
		return nil, err
	}
	start := l.i
	// Fast path: plain ASCII without escapes.
	for l.i < len(l.b) {
		c := l.b[l.i]
		if c == '"' {
			l.i++
			return l.b[start : l.i-1], nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		l.i++
	}
	out := append(l.scratch[:0], l.b[start:l.i]...)
	for {
		if l.i >= len(l.b) {
			return nil, l.errorf("unterminated string")
		}
		c := l.b[l.i]
		switch {
		case c == '"':
			l.i++
			l.scratch = out
			return out, nil
		case c < 0x20:
			return nil, l.errorf("control character %#02x in string", c)
		case c == '\\':
			if l.i+1 >= len(l.b) {
				return nil, l.errorf("unterminated string")
			}
			e := l.b[l.i+1]
			l.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, err := l.hex4()
				if err != nil {
					return nil, err
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(utf8.RuneError)
					if l.i+1 < len(l.b) && l.b[l.i] == '\\' && l.b[l.i+1] == 'u' {
						save := l.i
						l.i += 2
						lo, err := l.hex4()
						if err != nil {
							return nil, err
						}
						if d := utf16.DecodeRune(r, lo); d != utf8.RuneError {
							r2 = d
						} else {
							l.i = save // the next escape stands on its own
						}
					}
					r = r2
				}
				out = utf8.AppendRune(out, r)
			default:
				return nil, l.errorf("bad escape \\%c", e)
			}
		case c < utf8.RuneSelf:
			out = append(out, c)
			l.i++
		default:
			r, size := utf8.DecodeRune(l.b[l.i:])
			if r == utf8.RuneError && size == 1 {
				out = utf8.AppendRune(out, utf8.RuneError)
			} else {
				out = append(out, l.b[l.i:l.i+size]...)
			}
			l.i += size
		}
	}
}

func (l *lexer) hex4() (rune, error) {
	if l.i+4 > len(l.b) {
		return 0, l.errorf("short \\u escape")
	}
	var r rune
	for _, c := range l.b[l.i : l.i+4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, l.errorf("bad \\u escape")
		}
		r = r<<4 | rune(c)
	}
	l.i += 4
	return r, nil
}

// number reads a JSON number token and returns its text.
func (l *lexer) number() ([]byte, error) {
	l.ws()
	start := l.i
	if l.i < len(l.b) && l.b[l.i] == '-' {
		l.i++
	}
	if l.i >= len(l.b) {
		return nil, l.errorf("unexpected end in number")
	}
	switch c := l.b[l.i]; {
	case c == '0':
		l.i++
	case '1' <= c && c <= '9':
		l.digits()
	default:
		return nil, l.errorf("unexpected %q in number", c)
	}
	if l.i < len(l.b) && l.b[l.i] == '.' {
		l.i++
		if l.digits() == 0 {
			return nil, l.errorf("no digits after decimal point")
		}
	}
	if l.i < len(l.b) && (l.b[l.i] == 'e' || l.b[l.i] == 'E') {
		l.i++
		if l.i < len(l.b) && (l.b[l.i] == '+' || l.b[l.i] == '-') {
			l.i++
		}
		if l.digits() == 0 {
			return nil, l.errorf("no digits in exponent")
		}
	}
	return l.b[start:l.i], nil
}

func (l *lexer) digits() int {
	n := 0
	for l.i < len(l.b) && '0' <= l.b[l.i] && l.b[l.i] <= '9' {
		l.i++
		n++
	}
	return n
}

func (l *lexer) literal(word string) error {
	if len(l.b)-l.i < len(word) || string(l.b[l.i:l.i+len(word)]) != word {
		return l.errorf("bad literal")
	}
	l.i += len(word)
	return nil
}

// isNull consumes a null literal if one comes next.
func (l *lexer) isNull() bool {
	if l.peek() == 'n' && l.literal("null") == nil {
		return true
	}
	return false
}

// skip consumes one value of any kind (unknown fields).
func (l *lexer) skip(depth int) error {
	if depth > maxDepth {
		return l.errorf("nesting deeper than %d", maxDepth)
	}
	switch c := l.peek(); {
	case c == '"':
		_, err := l.str()
		return err
	case c == '{':
		return l.object(func(key []byte) error { return l.skip(depth + 1) })
	case c == '[':
		return l.array(func() error { return l.skip(depth + 1) })
	case c == 't':
		return l.literal("true")
	case c == 'f':
		return l.literal("false")
	case c == 'n':
		return l.literal("null")
	case c == '-' || ('0' <= c && c <= '9'):
		_, err := l.number()
		return err
	case c == 0:
		return l.errorf("unexpected end, want a value")
	default:
		return l.errorf("unexpected %q", c)
	}
}

// object walks an object, calling field with each key (valid only during
// the call, before the value is read); field must consume the value.
func (l *lexer) object(field func(key []byte) error) error {
	if err := l.expect('{'); err != nil {
		return err
	}
	if l.peek() == '}' {
		l.i++
		return nil
	}
	for {
		key, err := l.str()
		if err != nil {
			return err
		}
		if err := l.expect(':'); err != nil {
			return err
		}
		if err := field(key); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.i++
		case '}':
			l.i++
			return nil
		case 0:
			return l.errorf("unexpected end in object")
		default:
			return l.errorf("unexpected %q in object", l.b[l.i])
		}
	}
}

// array walks an array, calling elem for each element.
func (l *lexer) array(elem func() error) error {
	if err := l.expect('['); err != nil {
		return err
	}
	if l.peek() == ']' {
		l.i++
		return nil
	}
	for {
		if err := elem(); err != nil {
			return err
		}
		switch l.peek() {
		case ',':
			l.i++
		case ']':
			l.i++
			return nil
		case 0:
			return l.errorf("unexpected end in array")
		default:
			return l.errorf("unexpected %q in array", l.b[l.i])
		}
	}
}

package target

import (
	"errors"
	"strconv"
)

// ErrTooLarge is wrapped by errors for host sets, port sets or target spaces
// whose size does not fit in a uint64.
var ErrTooLarge = errors.New("size overflows uint64")

// SpecError reports a malformed host or port specification.
type SpecError struct {
	Kind  string // "host", "excluded host" or "port"
	Token string // the offending token
	Spec  string // the whole specification the token came from
	Line  int    // line number in a list file, 0 otherwise
	Err   error  // why the token is bad
}

// Error formats e as `target: bad port "70000" in "22,70000": out of range 0-65535`.
func (e *SpecError) Error() string {
	s := "target: "
	if e.Line > 0 {
		s += "line " + strconv.Itoa(e.Line) + ": "
	}
	s += "bad " + e.Kind + " " + strconv.Quote(e.Token)
	if e.Spec != e.Token {
		s += " in " + strconv.Quote(e.Spec)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns the underlying reason.
func (e *SpecError) Unwrap() error { return e.Err }

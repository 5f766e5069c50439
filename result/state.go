package result

import (
	"fmt"
)

// State is the state of one port, with nmap's six meanings.
// The zero value is Unknown and is never reported for a finished port.
type State uint8

// Port states, as nmap defines them.
const (
	Unknown        State = iota
	Open                 // an application accepts connections or datagrams
	Closed               // reachable, but nothing listens
	Filtered             // a filter stops the probe, or no reply came
	Unfiltered           // reachable, open or closed unknown (ACK scan)
	OpenFiltered         // open or filtered: no reply is the normal answer (UDP)
	ClosedFiltered       // closed or filtered (IP ID idle scan)
)

var stateNames = [...]string{
	Unknown:        "unknown",
	Open:           "open",
	Closed:         "closed",
	Filtered:       "filtered",
	Unfiltered:     "unfiltered",
	OpenFiltered:   "open|filtered",
	ClosedFiltered: "closed|filtered",
}

// String returns nmap's spelling of s ("open|filtered", …).
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("result: invalid state %d", uint8(s))
	}
	return []byte(stateNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *State) UnmarshalText(b []byte) error {
	for i, n := range stateNames {
		if n == string(b) {
			*s = State(i)
			return nil
		}
	}
	return fmt.Errorf("result: unknown port state %q", b)
}

// ParseState returns the State spelled name, as String spells it.
func ParseState(name string) (State, error) {
	var s State
	err := s.UnmarshalText([]byte(name))
	return s, err
}

package target

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// portSpan is an inclusive range of port numbers of one protocol.
type portSpan struct {
	proto  Protocol
	lo, hi uint16
}

func cmpPortSpan(a, b portSpan) int {
	if a.proto != b.proto {
		return int(a.proto) - int(b.proto)
	}
	return int(a.lo) - int(b.lo)
}

// Ports is an immutable, sorted, de-duplicated set of ports, grouped by
// protocol in protocol-number order (TCP before UDP). Its ports are
// numbered 0..Len()-1 in that order. The zero value and nil are empty sets.
type Ports struct {
	spans []portSpan
	ends  []uint64 // ends[k] = number of ports in spans[0..k]
}

func newPorts(ss []portSpan) *Ports {
	slices.SortFunc(ss, cmpPortSpan)
	var out []portSpan
	for _, s := range ss {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.proto == s.proto && int(s.lo) <= int(last.hi)+1 {
				last.hi = max(last.hi, s.hi)
				continue
			}
		}
		out = append(out, s)
	}
	p := &Ports{spans: out, ends: make([]uint64, len(out))}
	var total uint64
	for k, s := range out {
		total += uint64(s.hi) - uint64(s.lo) + 1
		p.ends[k] = total
	}
	return p
}

// PortsOf returns the set of the given port numbers of one protocol.
func PortsOf(proto Protocol, nums ...uint16) *Ports {
	ss := make([]portSpan, len(nums))
	for i, n := range nums {
		ss[i] = portSpan{proto, n, n}
	}
	return newPorts(ss)
}

// ParsePorts parses an nmap-style port list. Items are separated by commas:
//
//	22, 0              a port (0 only when written)
//	1000-2000          a range
//	-100, 60000-, -    open ranges: 1-100, 60000-65535, 1-65535
//	http, domain       a service name from our table (see ServicePort)
//	T:22,80,U:53       a protocol prefix (T: tcp, U: udp) applies to the
//	                   items after it until the next prefix
//
// Items before any prefix use defaultProto.
func ParsePorts(spec string, defaultProto Protocol) (*Ports, error) {
	if defaultProto == 0 {
		return nil, errors.New("target: bad default protocol: zero")
	}
	bad := func(tok string, err error) error {
		return &SpecError{Kind: "port", Token: tok, Spec: spec, Err: err}
	}
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("target: empty port spec")
	}
	proto := defaultProto
	var ss []portSpan
	for item := range strings.SplitSeq(spec, ",") {
		tok := strings.TrimSpace(item)
		if len(tok) >= 2 && tok[1] == ':' {
			switch tok[0] {
			case 'T', 't':
				proto = TCP
			case 'U', 'u':
				proto = UDP
			default:
				return nil, bad(tok, fmt.Errorf("unsupported protocol prefix %q (want T: or U:)", tok[:2]))
			}
			tok = strings.TrimSpace(tok[2:])
			if tok == "" {
				return nil, bad(item, errors.New("nothing after protocol prefix"))
			}
		}
		if tok == "" {
			return nil, bad(tok, errors.New("empty item"))
		}
		if isPortChars(tok) {
			lo, hi, err := parsePortRange(tok)
			if err != nil {
				return nil, bad(tok, err)
			}
			ss = append(ss, portSpan{proto, lo, hi})
			continue
		}
		ps, ok := ServicePort(tok)
		if !ok {
			return nil, bad(tok, errors.New("unknown service name"))
		}
		n := len(ss)
		for _, p := range ps {
			if p.Proto == proto {
				ss = append(ss, portSpan{proto, p.Num, p.Num})
			}
		}
		if len(ss) == n {
			return nil, bad(tok, fmt.Errorf("service has no %s port", proto))
		}
	}
	return newPorts(ss), nil
}

func isPortChars(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func parsePortRange(tok string) (lo, hi uint16, err error) {
	a, b, isRange := strings.Cut(tok, "-")
	if !isRange {
		v, err := parsePortNum(a)
		return v, v, err
	}
	if strings.Contains(b, "-") {
		return 0, 0, errors.New("too many dashes")
	}
	lo, hi = 1, 65535
	if a != "" {
		if lo, err = parsePortNum(a); err != nil {
			return 0, 0, err
		}
	}
	if b != "" {
		if hi, err = parsePortNum(b); err != nil {
			return 0, 0, err
		}
	}
	if lo > hi {
		return 0, 0, fmt.Errorf("range %d-%d is reversed", lo, hi)
	}
	return lo, hi, nil
}

func parsePortNum(s string) (uint16, error) {
	v, err := parseSmallUint(s, 65535)
	if err != nil {
		return 0, err
	}
	return uint16(v), nil
}

// Len returns the number of ports in p.
func (p *Ports) Len() uint64 {
	if p == nil || len(p.ends) == 0 {
		return 0
	}
	return p.ends[len(p.ends)-1]
}

// At returns the i-th port of p in sorted order. It panics if i >= p.Len().
func (p *Ports) At(i uint64) Port {
	if i >= p.Len() {
		panic(fmt.Sprintf("target: Ports.At(%d) out of range [0,%d)", i, p.Len()))
	}
	lo, hi := 0, len(p.ends)-1
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if p.ends[m] > i {
			hi = m
		} else {
			lo = m + 1
		}
	}
	var before uint64
	if lo > 0 {
		before = p.ends[lo-1]
	}
	s := &p.spans[lo]
	return Port{s.proto, s.lo + uint16(i-before)}
}

// Contains reports whether port is in p.
func (p *Ports) Contains(port Port) bool {
	if p == nil {
		return false
	}
	k, found := slices.BinarySearchFunc(p.spans, portSpan{proto: port.Proto, lo: port.Num}, cmpPortSpan)
	if found {
		return true
	}
	return k > 0 && p.spans[k-1].proto == port.Proto && p.spans[k-1].hi >= port.Num
}

// Merge returns the union of p and q.
func (p *Ports) Merge(q *Ports) *Ports {
	var ss []portSpan
	if p != nil {
		ss = append(ss, p.spans...)
	}
	if q != nil {
		ss = append(ss, q.spans...)
	}
	return newPorts(ss)
}

// Protocols returns the protocols that have ports in p, in ascending order.
func (p *Ports) Protocols() []Protocol {
	var out []Protocol
	if p == nil {
		return out
	}
	for _, s := range p.spans {
		if len(out) == 0 || out[len(out)-1] != s.proto {
			out = append(out, s.proto)
		}
	}
	return out
}

// String formats p the nmap way, with a prefix before each protocol's
// ports: "T:22,80,1000-2000,U:53". ParsePorts reads it back for TCP and UDP.
func (p *Ports) String() string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	var cur Protocol
	for k, s := range p.spans {
		if k > 0 {
			b.WriteByte(',')
		}
		if s.proto != cur {
			cur = s.proto
			b.WriteString(protoPrefix(cur))
		}
		b.WriteString(strconv.Itoa(int(s.lo)))
		if s.hi != s.lo {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(s.hi)))
		}
	}
	return b.String()
}

func protoPrefix(p Protocol) string {
	switch p {
	case TCP:
		return "T:"
	case UDP:
		return "U:"
	}
	return p.String() + ":"
}

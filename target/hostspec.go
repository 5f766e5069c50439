package target

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Resolver looks up host names. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// maxPatternSpans bounds how many disjoint ranges one octet pattern such as
// "*.*.*.1" may expand to, so that a short spec cannot exhaust memory.
const maxPatternSpans = 1 << 20

// hostName is an unresolved host name, optionally with a prefix length
// ("scanme.example/24"; bits < 0 means none).
type hostName struct {
	name string
	bits int
}

// String formats n as it was written, "name" or "name/bits".
func (n hostName) String() string {
	if n.bits < 0 {
		return n.name
	}
	return n.name + "/" + strconv.Itoa(n.bits)
}

// HostSpec is a parsed host specification: address ranges, host names still
// to be resolved, and exclusions. Build one with ParseHosts or ReadHosts,
// narrow it with Exclude, and turn it into Hosts with Resolve.
//
// Accepted syntax, per whitespace- or comma-separated token:
//
//	198.18.0.1, 2001:db8::1               literals
//	198.18.0.0/24, 2001:db8::/120         prefixes (host bits are masked off)
//	198.18.0-3.1-254, 198.18.*.1, 198.18.1,2.3
//	                                      IPv4 octet patterns: per octet a
//	                                      number, a-b, -b, a-, * or a comma list
//	198.18.0.10-198.18.0.50, 2001:db8::1-2001:db8::ff
//	                                      dash ranges
//	host.example, host.example/28         names, resolved by Resolve
//
// IPv4-mapped IPv6 literals (::ffff:198.18.0.1) stay IPv6; addresses from
// the resolver are unmapped. Zones are rejected. Octets with a leading zero
// are rejected because some tools read them as octal.
type HostSpec struct {
	incl, excl           []span // normalized after every exported call
	inclNames, exclNames []hostName
}

// ParseHosts parses host specifications. Each string may hold several
// tokens separated by commas, spaces or newlines. It is an error if a spec
// holds no host at all.
func ParseHosts(specs ...string) (*HostSpec, error) {
	s := &HostSpec{}
	if len(specs) == 0 {
		return nil, errors.New("target: empty host spec")
	}
	for _, spec := range specs {
		n, err := s.add(spec, "host", 0, &s.incl, &s.inclNames)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, fmt.Errorf("target: empty host spec %q", spec)
		}
	}
	s.incl = normalize(s.incl)
	return s, nil
}

// ReadHosts reads a list file: host specs separated by whitespace, commas or
// newlines, with '#' starting a comment that runs to the end of the line.
// It is an error if the list holds no host.
func ReadHosts(r io.Reader) (*HostSpec, error) {
	s := &HostSpec{}
	n, err := s.read(r, "host", &s.incl, &s.inclNames)
	if err != nil {
		return nil, err
	}
	if n == 0 {
		return nil, errors.New("target: no hosts in list")
	}
	return s, nil
}

// Exclude removes the hosts of specs (same syntax as ParseHosts) from s;
// like nmap's --exclude. Excluded names are resolved by Resolve.
// On error s is unchanged.
func (s *HostSpec) Exclude(specs ...string) error {
	tmp := &HostSpec{}
	for _, spec := range specs {
		if _, err := tmp.add(spec, "excluded host", 0, &tmp.excl, &tmp.exclNames); err != nil {
			return err
		}
	}
	s.mergeExcl(tmp)
	return nil
}

func (s *HostSpec) mergeExcl(tmp *HostSpec) {
	s.excl = normalize(append(s.excl, tmp.excl...))
	s.exclNames = append(s.exclNames, tmp.exclNames...)
}

// ExcludeReader removes the hosts of a list file (syntax as ReadHosts)
// from s; like nmap's --excludefile. On error s is unchanged.
func (s *HostSpec) ExcludeReader(r io.Reader) error {
	tmp := &HostSpec{}
	if _, err := tmp.read(r, "excluded host", &tmp.excl, &tmp.exclNames); err != nil {
		return err
	}
	s.mergeExcl(tmp)
	return nil
}

// Names returns the host names s will look up in Resolve, included and
// excluded, without duplicates, in first-seen order.
func (s *HostSpec) Names() []string { return s.names() }

func (s *HostSpec) names() []string {
	var out []string
	for _, n := range slices.Concat(s.inclNames, s.exclNames) {
		if !slices.Contains(out, n.name) {
			out = append(out, n.name)
		}
	}
	return out
}

// Resolve looks up the names in s with r (nil means net.DefaultResolver)
// and returns the included addresses minus the excluded ones. Every address
// a name resolves to is used. A spec without names makes no lookups. A
// name that fails to resolve is an error; so is a set larger than 2^64-1
// addresses (wrapping ErrTooLarge). s is not modified.
func (s *HostSpec) Resolve(ctx context.Context, r Resolver) (*Hosts, error) {
	var found map[string][]netip.Addr
	if names := s.names(); len(names) > 0 {
		if r == nil {
			r = net.DefaultResolver
		}
		found = make(map[string][]netip.Addr, len(names))
		for _, name := range names {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			addrs, err := r.LookupNetIP(ctx, "ip", name)
			if err != nil {
				return nil, fmt.Errorf("target: resolve %q: %w", name, err)
			}
			if len(addrs) == 0 {
				return nil, fmt.Errorf("target: resolve %q: no addresses", name)
			}
			for i, a := range addrs {
				addrs[i] = a.Unmap().WithZone("")
			}
			found[name] = addrs
		}
	}
	return s.resolveLiterals(found)
}

func (s *HostSpec) resolveLiterals(found map[string][]netip.Addr) (*Hosts, error) {
	incl, err := withNames(s.incl, s.inclNames, found)
	if err != nil {
		return nil, err
	}
	excl, err := withNames(s.excl, s.exclNames, found)
	if err != nil {
		return nil, err
	}
	return newHosts(subtract(incl, excl))
}

func withNames(base []span, names []hostName, found map[string][]netip.Addr) ([]span, error) {
	if len(names) == 0 {
		return base, nil
	}
	ss := slices.Clone(base)
	for _, n := range names {
		for _, a := range found[n.name] {
			if !a.IsValid() {
				continue
			}
			if n.bits < 0 {
				u := u128Of(a)
				ss = append(ss, span{u, u, !a.Is4()})
				continue
			}
			if n.bits > a.BitLen() {
				return nil, fmt.Errorf("target: bad host %q: prefix length %d too long for %s", n.String(), n.bits, a)
			}
			ss = append(ss, prefixSpan(netip.PrefixFrom(a, n.bits)))
		}
	}
	return normalize(ss), nil
}

func prefixSpan(p netip.Prefix) span {
	p = p.Masked()
	a := p.Addr()
	lo := u128Of(a)
	m := bitsMask(a.BitLen() - p.Bits())
	return span{lo, lo.or(m), !a.Is4()}
}

func (s *HostSpec) read(r io.Reader, kind string, ss *[]span, names *[]hostName) (int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	total := 0
	for line := 1; sc.Scan(); line++ {
		text, _, _ := strings.Cut(sc.Text(), "#")
		n, err := s.add(text, kind, line, ss, names)
		if err != nil {
			return 0, err
		}
		total += n
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("target: reading host list: %w", err)
	}
	*ss = normalize(*ss)
	return total, nil
}

// add parses one spec string into ss and names and returns how many
// tokens it held.
func (s *HostSpec) add(spec, kind string, line int, ss *[]span, names *[]hostName) (int, error) {
	n := 0
	var newSpans []span
	var newNames []hostName
	for _, field := range strings.Fields(spec) {
		for _, tok := range splitHostTokens(field) {
			sp, name, err := parseHostToken(tok)
			if err != nil {
				return 0, &SpecError{Kind: kind, Token: tok, Spec: strings.TrimSpace(spec), Line: line, Err: err}
			}
			if name.name != "" {
				newNames = append(newNames, name)
			}
			newSpans = append(newSpans, sp...)
			n++
		}
	}
	// Only a fully parsed spec changes s. Callers normalize once at the end
	// (not per line, which would be quadratic for long list files).
	*names = append(*names, newNames...)
	*ss = append(*ss, newSpans...)
	return n, nil
}

// splitHostTokens splits a field at commas. Commas also separate values
// inside an IPv4 octet ("198.18.0.1,2"), so a piece made only of octet
// characters without a dot continues the previous IPv4 pattern, and a field
// that parses as one IPv4 pattern as a whole is kept whole.
func splitHostTokens(field string) []string {
	if !strings.Contains(field, ",") {
		return []string{field}
	}
	if isV4Chars(field) {
		if _, err := parseOctets(field); err == nil {
			return []string{field}
		}
	}
	var out []string
	for piece := range strings.SplitSeq(field, ",") {
		if piece == "" {
			continue
		}
		if len(out) > 0 && isV4Chars(piece) && !strings.Contains(piece, ".") && isV4Chars(out[len(out)-1]) {
			out[len(out)-1] += "," + piece
			continue
		}
		out = append(out, piece)
	}
	return out
}

func isV4Chars(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c == '.' || c == '-' || c == '*' || c == ',') {
			return false
		}
	}
	return true
}

func parseHostToken(tok string) ([]span, hostName, error) {
	if base, bitsStr, ok := strings.Cut(tok, "/"); ok {
		bits, err := parseSmallUint(bitsStr, 128)
		if err != nil {
			return nil, hostName{}, fmt.Errorf("bad prefix length %q: %v", bitsStr, err)
		}
		if a, err := netip.ParseAddr(base); err == nil {
			if a.Zone() != "" {
				return nil, hostName{}, errors.New("zones are not supported")
			}
			if bits > a.BitLen() {
				return nil, hostName{}, fmt.Errorf("prefix length %d too long for %s", bits, familyName(a))
			}
			return []span{prefixSpan(netip.PrefixFrom(a, bits))}, hostName{}, nil
		}
		if isV4Chars(base) || strings.Contains(base, ":") {
			if _, err := parseOctets(base); err == nil {
				return nil, hostName{}, errors.New("prefix length on an octet range")
			}
			return nil, hostName{}, fmt.Errorf("%q is not an IP address", base)
		}
		if err := checkHostName(base); err != nil {
			return nil, hostName{}, err
		}
		return nil, hostName{base, bits}, nil
	}
	if strings.Contains(tok, ":") {
		sp, err := parseV6(tok)
		return sp, hostName{}, err
	}
	if isV4Chars(tok) {
		if a, b, ok := strings.Cut(tok, "-"); ok && !strings.Contains(b, "-") && strings.Count(a, ".") == 3 && strings.Count(b, ".") == 3 {
			sp, err := parseDashRange(a, b, false)
			return sp, hostName{}, err
		}
		sp, err := parseOctets(tok)
		return sp, hostName{}, err
	}
	if err := checkHostName(tok); err != nil {
		return nil, hostName{}, err
	}
	return nil, hostName{tok, -1}, nil
}

func familyName(a netip.Addr) string {
	if a.Is4() {
		return "IPv4"
	}
	return "IPv6"
}

func parseV6(tok string) ([]span, error) {
	if a, b, ok := strings.Cut(tok, "-"); ok {
		return parseDashRange(a, b, true)
	}
	a, err := netip.ParseAddr(tok)
	if err != nil {
		return nil, errors.New("not a valid IPv6 address")
	}
	if a.Zone() != "" {
		return nil, errors.New("zones are not supported")
	}
	u := u128Of(a)
	return []span{{u, u, true}}, nil
}

func parseDashRange(as, bs string, v6 bool) ([]span, error) {
	a, err := netip.ParseAddr(as)
	if err != nil {
		return nil, fmt.Errorf("range start %q is not an IP address", as)
	}
	b, err := netip.ParseAddr(bs)
	if err != nil {
		return nil, fmt.Errorf("range end %q is not an IP address", bs)
	}
	if a.Zone() != "" || b.Zone() != "" {
		return nil, errors.New("zones are not supported")
	}
	if a.Is4() != b.Is4() || a.Is4() == v6 {
		return nil, errors.New("range mixes IPv4 and IPv6")
	}
	if b.Less(a) {
		return nil, fmt.Errorf("range start %s is after end %s", a, b)
	}
	return []span{{u128Of(a), u128Of(b), v6}}, nil
}

// octetRange is an inclusive range of values of one IPv4 octet.
type octetRange struct{ lo, hi uint32 }

// parseOctets parses an IPv4 octet pattern such as "198.18.0-3.1,5,9-*".
func parseOctets(tok string) ([]span, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 4 {
		return nil, fmt.Errorf("IPv4 address needs 4 octets, found %d", len(parts))
	}
	var oct [4][]octetRange
	for i, p := range parts {
		rs, err := parseOctet(p)
		if err != nil {
			return nil, fmt.Errorf("octet %d %q: %v", i+1, p, err)
		}
		oct[i] = rs
	}
	full := func(rs []octetRange) bool { return len(rs) == 1 && rs[0] == octetRange{0, 255} }
	j := 3 // last octet that is not the full 0-255
	for j >= 0 && full(oct[j]) {
		j--
	}
	if j < 0 {
		return []span{{u128{}, u128{0, 1<<32 - 1}, false}}, nil
	}
	count := uint64(len(oct[j]))
	var vals [3][]uint32
	for i := range j {
		for _, r := range oct[i] {
			for v := r.lo; v <= r.hi; v++ {
				vals[i] = append(vals[i], v)
			}
		}
		count *= uint64(len(vals[i]))
	}
	if count > maxPatternSpans {
		return nil, fmt.Errorf("pattern expands to %d separate ranges (limit %d)", count, maxPatternSpans)
	}
	shift := uint(8 * (3 - j))
	out := make([]span, 0, count)
	var idx [3]int
	for {
		var pre uint32
		for i := range j {
			pre |= vals[i][idx[i]] << uint(8*(3-i))
		}
		for _, r := range oct[j] {
			lo := pre | r.lo<<shift
			hi := pre | r.hi<<shift | (1<<shift - 1)
			out = append(out, span{u128{0, uint64(lo)}, u128{0, uint64(hi)}, false})
		}
		// Advance the odometer over octets 0..j-1.
		i := j - 1
		for ; i >= 0; i-- {
			idx[i]++
			if idx[i] < len(vals[i]) {
				break
			}
			idx[i] = 0
		}
		if i < 0 {
			break
		}
	}
	return out, nil
}

// parseOctet parses one octet of a pattern: a comma list of n, a-b, -b, a-,
// - or *.
func parseOctet(p string) ([]octetRange, error) {
	if p == "" {
		return nil, errors.New("empty")
	}
	var rs []octetRange
	for item := range strings.SplitSeq(p, ",") {
		r, err := parseOctetItem(item)
		if err != nil {
			if item != p {
				err = fmt.Errorf("%q: %v", item, err)
			}
			return nil, err
		}
		rs = append(rs, r)
	}
	slices.SortFunc(rs, func(a, b octetRange) int { return int(a.lo) - int(b.lo) })
	out := rs[:1]
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		if r.lo <= last.hi+1 {
			last.hi = max(last.hi, r.hi)
			continue
		}
		out = append(out, r)
	}
	return out, nil
}

func parseOctetItem(item string) (octetRange, error) {
	switch {
	case item == "":
		return octetRange{}, errors.New("empty list item")
	case item == "*" || item == "-":
		return octetRange{0, 255}, nil
	case strings.Contains(item, "-"):
		a, b, _ := strings.Cut(item, "-")
		r := octetRange{0, 255}
		var err error
		if a != "" {
			if r.lo, err = parseOctetNum(a); err != nil {
				return r, err
			}
		}
		if b != "" {
			if r.hi, err = parseOctetNum(b); err != nil {
				return r, err
			}
		}
		if r.lo > r.hi {
			return r, fmt.Errorf("range %d-%d is reversed", r.lo, r.hi)
		}
		return r, nil
	}
	v, err := parseOctetNum(item)
	return octetRange{v, v}, err
}

func parseOctetNum(s string) (uint32, error) {
	if len(s) > 1 && s[0] == '0' {
		// Some parsers read a leading zero as octal; refuse the ambiguity.
		return 0, errors.New("leading zero")
	}
	v, err := parseSmallUint(s, 255)
	return uint32(v), err
}

// parseSmallUint parses a decimal number of at most 5 digits no larger
// than limit.
func parseSmallUint(s string, limit int) (int, error) {
	if s == "" {
		return 0, errors.New("missing number")
	}
	if len(s) > 5 {
		return 0, fmt.Errorf("out of range 0-%d", limit)
	}
	v := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, errors.New("not a number")
		}
		v = v*10 + int(c-'0')
	}
	if v > limit {
		return 0, fmt.Errorf("out of range 0-%d", limit)
	}
	return v, nil
}

// checkHostName accepts DNS names made of letters, digits, '-', '_' and
// dots whose last label is not all digits (so "198.18.0.300" is rejected
// as a bad address rather than looked up).
func checkHostName(s string) error {
	name := strings.TrimSuffix(s, ".")
	if name == "" || len(name) > 253 {
		return errors.New("not an address or host name")
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" || len(l) > 63 {
			return errors.New("not an address or host name: bad label length")
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return fmt.Errorf("not an address or host name: bad character %q", c)
			}
		}
	}
	last := labels[len(labels)-1]
	if strings.Trim(last, "0123456789") == "" {
		return errors.New("not an address or host name: last label is numeric")
	}
	return nil
}

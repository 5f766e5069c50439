package result

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/portsense/portsense/target"
)

// The JSON encoding is written by hand: a scan may emit millions of
// records, and the reflective encoder costs several allocations each.

// MarshalJSON encodes r as one JSON object of type "port"; see the
// package documentation for the schema.
func (r Result) MarshalJSON() ([]byte, error) {
	return r.AppendJSON(nil)
}

// AppendJSON appends r's JSON encoding (as MarshalJSON, without a newline)
// to b. It does not allocate when b has room.
func (r Result) AppendJSON(b []byte) ([]byte, error) {
	return r.appendJSON(b, nil)
}

// appendJSON is AppendJSON, taking the time's text from tc (when not nil)
// if it holds the same instant.
func (r *Result) appendJSON(b []byte, tc *timeCache) ([]byte, error) {
	if !r.AddrPort.Addr().IsValid() {
		return b, errors.New("result: cannot encode a result without an address")
	}
	if r.Proto == 0 {
		return b, errors.New("result: cannot encode protocol 0")
	}
	if int(r.State) >= len(stateNames) {
		return b, fmt.Errorf("result: cannot encode invalid state %d", uint8(r.State))
	}
	if int(r.Reason) >= len(reasonNames) {
		return b, fmt.Errorf("result: cannot encode invalid reason %d", uint8(r.Reason))
	}
	if tc == nil || !tc.holds(r.Time) {
		if err := checkTime(r.Time); err != nil {
			return b, err
		}
	}
	b = append(b, `{"type":"port","addr":"`...)
	b = r.AddrPort.Addr().AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(r.AddrPort.Port()), 10)
	b = append(b, `,"proto":`...)
	b = appendProto(b, r.Proto)
	b = append(b, `,"state":"`...)
	b = append(b, stateNames[r.State]...)
	b = append(b, `","reason":"`...)
	b = append(b, reasonNames[r.Reason]...)
	b = append(b, '"')
	if r.ReplyTTL != 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendUint(b, uint64(r.ReplyTTL), 10)
	}
	if r.RTT != 0 {
		b = append(b, `,"rtt_us":`...)
		b = appendMicros(b, r.RTT)
	}
	if r.Tries != 0 {
		b = append(b, `,"tries":`...)
		b = strconv.AppendInt(b, int64(r.Tries), 10)
	}
	if tc != nil {
		b = tc.append(b, r.Time)
	} else {
		b = appendTime(b, r.Time)
	}
	if r.Source.IsValid() {
		b = append(b, `,"source":"`...)
		b = r.Source.AppendTo(b)
		b = append(b, '"')
	}
	if r.Service != nil {
		b = append(b, `,"service":`...)
		b = r.Service.appendJSON(b)
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes h as one JSON object of type "host"; see the
// package documentation for the schema.
func (h Host) MarshalJSON() ([]byte, error) {
	return h.AppendJSON(nil)
}

// AppendJSON appends h's JSON encoding (as MarshalJSON, without a newline)
// to b.
func (h Host) AppendJSON(b []byte) ([]byte, error) {
	if !h.Addr.IsValid() {
		return b, errors.New("result: cannot encode a host without an address")
	}
	if int(h.State) >= len(hostStateNames) {
		return b, fmt.Errorf("result: cannot encode invalid host state %d", uint8(h.State))
	}
	if int(h.Reason) >= len(reasonNames) {
		return b, fmt.Errorf("result: cannot encode invalid reason %d", uint8(h.Reason))
	}
	if err := checkTime(h.Time); err != nil {
		return b, err
	}
	b = append(b, `{"type":"host","addr":"`...)
	b = h.Addr.AppendTo(b)
	b = append(b, `","state":"`...)
	b = append(b, hostStateNames[h.State]...)
	b = append(b, `","reason":"`...)
	b = append(b, reasonNames[h.Reason]...)
	b = append(b, '"')
	if h.ReplyTTL != 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendUint(b, uint64(h.ReplyTTL), 10)
	}
	if h.RTT != 0 {
		b = append(b, `,"rtt_us":`...)
		b = appendMicros(b, h.RTT)
	}
	b = appendTime(b, h.Time)
	if len(h.MAC) > 0 {
		b = append(b, `,"mac":"`...)
		b = appendMAC(b, h.MAC)
		b = append(b, '"')
	}
	if len(h.Warnings) > 0 {
		b = append(b, `,"warnings":`...)
		b = appendStrings(b, h.Warnings)
	}
	return append(b, '}'), nil
}

// MarshalJSON encodes s as the "service" object of the schema.
func (s Service) MarshalJSON() ([]byte, error) {
	return s.appendJSON(nil), nil
}

func (s *Service) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendString(b, s.Name)
	b = appendOptString(b, `,"product":`, s.Product)
	b = appendOptString(b, `,"version":`, s.Version)
	b = appendOptString(b, `,"extrainfo":`, s.ExtraInfo)
	b = appendOptString(b, `,"tunnel":`, s.Tunnel)
	b = append(b, `,"method":`...)
	b = appendString(b, s.Method)
	b = append(b, `,"conf":`...)
	b = strconv.AppendInt(b, int64(s.Conf), 10)
	if len(s.CPE) > 0 {
		b = append(b, `,"cpe":`...)
		b = appendStrings(b, s.CPE)
	}
	b = appendOptString(b, `,"fingerprint":`, s.Fingerprint)
	if t := s.TLS; t != nil {
		b = append(b, `,"tls":{"version":`...)
		b = appendString(b, t.Version)
		b = append(b, `,"cipher":`...)
		b = appendString(b, t.Cipher)
		b = appendOptString(b, `,"alpn":`, t.ALPN)
		b = appendOptString(b, `,"subject":`, t.Subject)
		b = appendOptString(b, `,"issuer":`, t.Issuer)
		if len(t.SANs) > 0 {
			b = append(b, `,"sans":`...)
			b = appendStrings(b, t.SANs)
		}
		if !t.NotAfter.IsZero() {
			b = append(b, `,"notafter":"`...)
			b = t.NotAfter.UTC().AppendFormat(b, time.RFC3339)
			b = append(b, '"')
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendProto(b []byte, p target.Protocol) []byte {
	b = append(b, '"')
	b = append(b, p.String()...)
	return append(b, '"')
}

// appendMicros writes d as decimal microseconds with up to three fraction
// digits, so that every nanosecond value survives a round trip.
func appendMicros(b []byte, d time.Duration) []byte {
	u := uint64(d)
	if d < 0 {
		b = append(b, '-')
		u = -u
	}
	b = strconv.AppendUint(b, u/1000, 10)
	if f := u % 1000; f != 0 {
		b = append(b, '.', byte('0'+f/100), byte('0'+f/10%10), byte('0'+f%10))
		for b[len(b)-1] == '0' {
			b = b[:len(b)-1]
		}
	}
	return b
}

func checkTime(t time.Time) error {
	if t.IsZero() {
		return nil
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return fmt.Errorf("result: cannot encode time with year %d", y)
	}
	return nil
}

// appendTime writes a non-zero t as ,"time":"…" in UTC RFC 3339 with
// nanoseconds; UTC keeps the output stable across machines.
func appendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return b
	}
	b = append(b, `,"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// timeCache keeps the encoding of the last time appendTime wrote: the
// results of one scan come in bursts that share their time (the engine
// finishes the silent ports of a whole block at once), and formatting a
// time costs more than the rest of a record.
type timeCache struct {
	t    time.Time
	text []byte // appendTime(nil, t)
}

// holds reports whether tc's text is that of t (the same instant).
func (tc *timeCache) holds(t time.Time) bool { return tc.text != nil && t.Equal(tc.t) }

// append is appendTime(b, t), remembering t's text for the next call.
func (tc *timeCache) append(b []byte, t time.Time) []byte {
	if !tc.holds(t) {
		tc.t, tc.text = t, appendTime(tc.text[:0], t)
		if tc.text == nil {
			tc.text = []byte{} // the zero time has text too: none
		}
	}
	return append(b, tc.text...)
}

func appendOptString(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	b = append(b, key...)
	return appendString(b, s)
}

func appendStrings(b []byte, ss []string) []byte {
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

const hexDigits = "0123456789abcdef"

// appendString writes s as a JSON string. Invalid UTF-8 becomes U+FFFD,
// as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// addrType returns "ipv4" or "ipv6" as nmap's addrtype attribute spells it.
func addrType(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// appendMAC writes a link-layer address as net.HardwareAddr.String does,
// without allocating.
func appendMAC(b []byte, m net.HardwareAddr) []byte {
	const hexDigit = "0123456789abcdef"
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hexDigit[c>>4], hexDigit[c&0xf])
	}
	return b
}

package service

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Match is what a rule learnt from a reply.
type Match struct {
	Service string   // service name
	Product string   // product, "" when unknown
	Version string   // version, "" when unknown
	Info    string   // extra information
	CPE     []string // CPE names with templates filled in
	Soft    bool     // a soft match: the service is known, the product may not be
	Rule    *Rule    // the rule that matched
	Probe   string   // the probe whose reply matched
}

// maxFieldLen caps a filled-in field: replies are the peer's to choose.
const maxFieldLen = 80

// Match tests reply, the bytes a probe got back, against the probe's rules,
// then those of its fallbacks, then those of the NULL probe (a banner may
// arrive on any connection). It returns the first hard match, or else
// the first soft match. With only set, only rules naming that service are
// tried (used after a soft match).
func (db *DB) Match(probe string, reply []byte, only string) (Match, bool) {
	pr := db.byName[probe]
	if pr == nil || len(reply) == 0 {
		return Match{}, false
	}
	text := latin1(reply)
	var soft, hard Match
	haveSoft := false
	try := func(p *Probe) bool {
		for _, r := range p.Rules {
			if (only != "" && r.Service != only) || (r.Soft && haveSoft) {
				continue
			}
			// A plain match test is much cheaper than one with
			// submatches, and most rules do not match.
			if !r.Pattern.MatchString(text) {
				continue
			}
			sub := r.Pattern.FindStringSubmatchIndex(text)
			if sub == nil {
				continue
			}
			m := r.fill(text, sub)
			m.Probe = probe
			if !r.Soft {
				hard = m
				return true
			}
			soft, haveSoft = m, true
		}
		return false
	}
	if try(pr) {
		return hard, true
	}
	for _, f := range pr.Fallback {
		if fp := db.byName[f]; fp != nil && try(fp) {
			return hard, true
		}
	}
	// Banners come first on any connection: every probe falls back to
	// the NULL probe's rules.
	if null := db.byName["NULL"]; null != nil && pr != null && !slices.Contains(pr.Fallback, "NULL") && try(null) {
		return hard, true
	}
	return soft, haveSoft
}

func (r *Rule) fill(text string, sub []int) Match {
	m := Match{Service: r.Service, Soft: r.Soft, Rule: r}
	group := func(name string) string {
		i := r.Pattern.SubexpIndex(name)
		if i < 0 || sub[2*i] < 0 {
			return ""
		}
		return text[sub[2*i]:sub[2*i+1]]
	}
	m.Product = r.expand(r.Product, "product", text, sub, group)
	m.Version = r.expand(r.Version, "version", text, sub, group)
	m.Info = r.expand(r.Info, "info", text, sub, group)
	for _, c := range r.CPE {
		v := r.expand(c, "", text, sub, group)
		// A CPE with an empty last part ("…:nginx:") names no version:
		// drop the trailing colon rather than emit a malformed name.
		m.CPE = append(m.CPE, strings.TrimRight(strings.ReplaceAll(v, " ", "_"), ":"))
	}
	return m
}

func (r *Rule) expand(tmpl, self, text string, sub []int, group func(string) string) string {
	if tmpl == "" {
		if self == "" {
			return ""
		}
		return clean(group(self))
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			break
		}
		b.WriteString(tmpl[:i])
		j := strings.IndexByte(tmpl[i:], '}')
		ref := tmpl[i+1 : i+j]
		if n, err := strconv.Atoi(ref); err == nil {
			if 2*n+1 < len(sub) && sub[2*n] >= 0 {
				b.WriteString(text[sub[2*n]:sub[2*n+1]])
			}
		} else {
			b.WriteString(group(ref))
		}
		tmpl = tmpl[i+j+1:]
	}
	return clean(b.String())
}

// latin1 turns bytes into a string with one rune per byte, so that
// patterns can match binary replies byte for byte.
func latin1(b []byte) string {
	ascii := true
	for _, c := range b {
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return string(b)
	}
	buf := make([]byte, 0, len(b)+len(b)/4)
	for _, c := range b {
		buf = utf8.AppendRune(buf, rune(c))
	}
	return string(buf)
}

// clean turns a captured Latin-1 string back into bytes, keeps it when it
// is printable UTF-8, escapes what is not, trims spaces and caps its length.
func clean(s string) string {
	raw := make([]byte, 0, len(s))
	for _, r := range s {
		raw = append(raw, byte(r))
	}
	out := raw
	if !utf8.Valid(raw) || hasControl(raw) {
		out = []byte(Escape(raw, maxFieldLen))
	}
	t := strings.Trim(string(out), " ;,")
	if len(t) > maxFieldLen {
		t = t[:maxFieldLen]
		for !utf8.ValidString(t) {
			t = t[:len(t)-1]
		}
	}
	return t
}

func hasControl(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c == 0x7f {
			return true
		}
	}
	return false
}

// Escape writes up to max bytes of b as printable ASCII: printable
// characters as themselves, \r \n \t as such, a backslash as \\, and any
// other byte as \xNN. Output longer than max bytes of input ends in "…".
func Escape(b []byte, max int) string {
	var s strings.Builder
	cut := false
	if len(b) > max {
		b, cut = b[:max], true
	}
	for _, c := range b {
		switch {
		case c == '\\':
			s.WriteString(`\\`)
		case c == '\r':
			s.WriteString(`\r`)
		case c == '\n':
			s.WriteString(`\n`)
		case c == '\t':
			s.WriteString(`\t`)
		case c >= 0x20 && c < 0x7f:
			s.WriteByte(c)
		default:
			s.WriteString(`\x`)
			s.WriteByte(hexDigits[c>>4])
			s.WriteByte(hexDigits[c&0xf])
		}
	}
	if cut {
		s.WriteString("…")
	}
	return s.String()
}

const hexDigits = "0123456789abcdef"

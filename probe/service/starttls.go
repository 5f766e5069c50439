package service

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/portsense/portsense/result"
)

// WithStartTLS turns the STARTTLS upgrade on (the default) or off. When
// Detect has named a plaintext SMTP, IMAP, POP3, FTP, PostgreSQL or LDAP
// service, it opens one more connection and, if the server offers it,
// upgrades to TLS the way the protocol says (SMTP STARTTLS, IMAP
// STARTTLS, POP3 STLS, FTP AUTH TLS, PostgreSQL SSLRequest, LDAP StartTLS
// extended operation). The TLS
// session is reported in the result's TLS field as for direct TLS;
// Tunnel stays empty, since the service is reached in plain text first.
// The upgrade counts against the port's budget like any probe.
func WithStartTLS(on bool) Option {
	return func(d *Detector) error {
		d.noStartTLS = !on
		return nil
	}
}

// upgrader runs a protocol's plaintext dialogue up to the point where the
// client starts the TLS handshake. It returns errNotOffered when the
// server does not offer TLS.
type upgrader func(l *lineConn) error

// upgraders by the service name detection gave.
var upgraders = map[string]upgrader{
	"smtp":       smtpStartTLS,
	"imap":       imapStartTLS,
	"pop3":       pop3StartTLS,
	"ftp":        ftpAuthTLS,
	"postgresql": pgSSLRequest,
	"ldap":       ldapStartTLS,
}

var errNotOffered = errors.New("server does not offer TLS")

// StartTLS caps: a reply line, the lines of one reply.
const (
	maxStartTLSLine  = 2048
	maxStartTLSLines = 200
)

// lineConn reads a line protocol's replies with caps, and keeps what was
// said for the trace.
type lineConn struct {
	c     net.Conn
	r     *bufio.Reader
	max   int // bytes the peer may send in all
	left  int // bytes it may still send
	trans bytes.Buffer
}

func (l *lineConn) send(s string) error {
	l.trans.WriteString("> " + strings.TrimRight(s, "\r\n") + "\n")
	_, err := io.WriteString(l.c, s)
	return err
}

// line reads one line without its CR LF.
func (l *lineConn) line() (string, error) {
	var b []byte
	for {
		if l.left <= 0 {
			return "", fmt.Errorf("replies longer than the %d-byte cap", l.max)
		}
		c, err := l.r.ReadByte()
		if err != nil {
			return "", err
		}
		l.left--
		if c == '\n' {
			break
		}
		if len(b) == maxStartTLSLine {
			return "", fmt.Errorf("reply line longer than %d bytes", maxStartTLSLine)
		}
		b = append(b, c)
	}
	s := strings.TrimSuffix(string(b), "\r")
	l.trans.WriteString("< " + s + "\n")
	return s, nil
}

// reply reads an SMTP or FTP reply (RFC 5321 §4.2, RFC 959 §4.2): lines
// "ddd-text" continue it, "ddd text" ends it. It returns the code and the
// text of every line.
func (l *lineConn) reply() (string, []string, error) {
	var texts []string
	for range maxStartTLSLines {
		s, err := l.line()
		if err != nil {
			return "", nil, err
		}
		if len(s) < 3 || !isDigits(s[:3]) {
			// FTP allows free text inside a multi-line reply.
			if len(texts) > 0 {
				texts = append(texts, s)
				continue
			}
			return "", nil, fmt.Errorf("bad reply line %q", clip(s))
		}
		texts = append(texts, strings.TrimSpace(s[min(4, len(s)):]))
		if len(s) == 3 || s[3] == ' ' {
			return s[:3], texts, nil
		}
	}
	return "", nil, fmt.Errorf("reply of more than %d lines", maxStartTLSLines)
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// hasWord reports whether a capability text lists word (case-insensitive).
func hasWord(text, word string) bool {
	for _, f := range strings.FieldsFunc(text, func(r rune) bool { return r == ' ' || r == '[' || r == ']' }) {
		if strings.EqualFold(f, word) {
			return true
		}
	}
	return false
}

// smtpStartTLS: RFC 3207.
func smtpStartTLS(l *lineConn) error {
	code, _, err := l.reply()
	if err != nil {
		return err
	}
	if code != "220" {
		return fmt.Errorf("greeting %s, want 220", code)
	}
	if err := l.send("EHLO portsense.invalid\r\n"); err != nil {
		return err
	}
	code, texts, err := l.reply()
	if err != nil {
		return err
	}
	if code != "250" {
		return fmt.Errorf("EHLO answered %s, want 250", code)
	}
	offered := false
	for _, t := range texts[1:] {
		if f := strings.Fields(t); len(f) > 0 && strings.EqualFold(f[0], "STARTTLS") {
			offered = true
		}
	}
	if !offered {
		return errNotOffered
	}
	if err := l.send("STARTTLS\r\n"); err != nil {
		return err
	}
	if code, _, err = l.reply(); err != nil {
		return err
	}
	if code != "220" {
		return fmt.Errorf("STARTTLS answered %s, want 220", code)
	}
	return nil
}

// ftpAuthTLS: RFC 4217 §4.
func ftpAuthTLS(l *lineConn) error {
	code, _, err := l.reply()
	if err != nil {
		return err
	}
	if code != "220" {
		return fmt.Errorf("greeting %s, want 220", code)
	}
	if err := l.send("AUTH TLS\r\n"); err != nil {
		return err
	}
	if code, _, err = l.reply(); err != nil {
		return err
	}
	switch {
	case code == "234":
		return nil
	case code[0] == '5':
		return errNotOffered
	}
	return fmt.Errorf("AUTH TLS answered %s, want 234", code)
}

// imapStartTLS: RFC 9051 §6.2.1 (and RFC 3501).
func imapStartTLS(l *lineConn) error {
	g, err := l.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(strings.ToUpper(g), "* OK") {
		return fmt.Errorf("greeting %q, want * OK", clip(g))
	}
	offered := hasWord(g, "STARTTLS")
	if !offered {
		lines, err := l.tagged("a", "CAPABILITY")
		if err != nil {
			return err
		}
		for _, s := range lines {
			if strings.HasPrefix(strings.ToUpper(s), "* CAPABILITY ") && hasWord(s, "STARTTLS") {
				offered = true
			}
		}
	}
	if !offered {
		return errNotOffered
	}
	_, err = l.tagged("b", "STARTTLS")
	return err
}

// tagged sends an IMAP command and reads up to its tagged OK.
func (l *lineConn) tagged(tag, cmd string) ([]string, error) {
	if err := l.send(tag + " " + cmd + "\r\n"); err != nil {
		return nil, err
	}
	var lines []string
	for range maxStartTLSLines {
		s, err := l.line()
		if err != nil {
			return nil, err
		}
		if rest, ok := strings.CutPrefix(s, tag+" "); ok {
			if !strings.HasPrefix(strings.ToUpper(rest), "OK") {
				return nil, fmt.Errorf("%s answered %q", cmd, clip(rest))
			}
			return lines, nil
		}
		lines = append(lines, s)
	}
	return nil, fmt.Errorf("%s: reply of more than %d lines", cmd, maxStartTLSLines)
}

// pop3StartTLS: RFC 2595 §4 and RFC 2449 (CAPA).
func pop3StartTLS(l *lineConn) error {
	g, err := l.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(g, "+OK") {
		return fmt.Errorf("greeting %q, want +OK", clip(g))
	}
	if err := l.send("CAPA\r\n"); err != nil {
		return err
	}
	s, err := l.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(s, "+OK") {
		return errNotOffered // no CAPA: no way to know; do not guess
	}
	offered := false
	for i := 0; ; i++ {
		if i == maxStartTLSLines {
			return fmt.Errorf("CAPA: reply of more than %d lines", maxStartTLSLines)
		}
		s, err := l.line()
		if err != nil {
			return err
		}
		if s == "." {
			break
		}
		if f := strings.Fields(s); len(f) > 0 && strings.EqualFold(f[0], "STLS") {
			offered = true
		}
	}
	if !offered {
		return errNotOffered
	}
	if err := l.send("STLS\r\n"); err != nil {
		return err
	}
	if s, err = l.line(); err != nil {
		return err
	}
	if !strings.HasPrefix(s, "+OK") {
		return fmt.Errorf("STLS answered %q", clip(s))
	}
	return nil
}

// pgSSLRequest: PostgreSQL protocol, "SSL Session Encryption": the
// client sends SSLRequest, the server answers one byte, S or N.
func pgSSLRequest(l *lineConn) error {
	l.trans.WriteString("> SSLRequest\n")
	if _, err := l.c.Write([]byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}); err != nil {
		return err
	}
	b, err := l.r.ReadByte()
	if err != nil {
		return err
	}
	l.trans.WriteString("< " + Escape([]byte{b}, 1) + "\n")
	switch b {
	case 'S':
		return nil
	case 'N':
		return errNotOffered
	}
	return fmt.Errorf("SSLRequest answered %s, want S or N", Escape([]byte{b}, 1))
}

// startTLS upgrades a fresh connection with up and returns the TLS
// session, or nil when the server does not offer TLS or the upgrade fails
// or runs out of time.
func (s *session) startTLS(ctx context.Context, name string, up upgrader) (info *result.TLSInfo) {
	ctx, cancel := context.WithTimeout(ctx, 2*s.d.probeWait)
	defer cancel()
	n := min(s.d.maxRead, DefaultMaxRead)
	l := &lineConn{max: n, left: n}
	var err error
	if s.d.trace != nil {
		t0 := time.Now()
		defer func() {
			s.d.trace(Trace{Addr: s.addr, Probe: "starttls-" + name, Reply: l.trans.Bytes(), Err: err, Took: time.Since(t0)})
		}()
	}
	c, err := s.dial(ctx)
	if err != nil {
		return nil
	}
	defer c.Close()
	defer s.bound(ctx, c)()
	l.c, l.r = c, bufio.NewReaderSize(c, 512)
	if err = up(l); err != nil {
		return nil
	}
	if n := l.r.Buffered(); n > 0 {
		// Plain text after the go-ahead would be taken as part of the TLS
		// session by a careless client (the STARTTLS injection of
		// CVE-2011-0411 and its kin): refuse.
		err = fmt.Errorf("server sent %d bytes after agreeing to TLS", n)
		return nil
	}
	tc := tls.Client(c, tlsConfig(false))
	if err = tc.HandshakeContext(ctx); err != nil {
		return nil
	}
	return describeTLS(tc.ConnectionState())
}

// ldapStartTLSRequest is LDAPMessage{messageID 1, ExtendedRequest{
// requestName "1.3.6.1.4.1.1466.20037"}} (RFC 4511 sections 4.12, 4.14).
var ldapStartTLSRequest = append([]byte{0x30, 0x1d, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16}, "1.3.6.1.4.1.1466.20037"...)

// ldapStartTLS: RFC 4511 section 4.14. The server answers an
// ExtendedResponse whose resultCode is success (0) when it will start
// TLS; a server without TLS answers an error code (protocolError,
// unavailable).
func ldapStartTLS(l *lineConn) error {
	l.trans.WriteString("> StartTLS extended request\n")
	if _, err := l.c.Write(ldapStartTLSRequest); err != nil {
		return err
	}
	msg, err := l.ber(0x30)
	if err != nil {
		return fmt.Errorf("LDAPMessage: %w", err)
	}
	id, rest, err := berNext(msg, 0x02)
	if err != nil || len(id) != 1 || id[0] != 1 {
		return fmt.Errorf("LDAPMessage: bad messageID %x (%v)", id, err)
	}
	resp, _, err := berNext(rest, 0x78)
	if err != nil {
		return fmt.Errorf("ExtendedResponse: %w", err)
	}
	code, _, err := berNext(resp, 0x0a)
	if err != nil || len(code) != 1 {
		return fmt.Errorf("ExtendedResponse: bad resultCode %x (%v)", code, err)
	}
	l.trans.WriteString(fmt.Sprintf("< ExtendedResponse resultCode %d\n", code[0]))
	if code[0] != 0 {
		return errNotOffered
	}
	return nil
}

// ber reads one BER element with the given tag and a definite length
// within the cap and returns its contents.
func (l *lineConn) ber(tag byte) ([]byte, error) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(l.r, head); err != nil {
		return nil, err
	}
	if head[0] != tag {
		return nil, fmt.Errorf("tag %#x, want %#x", head[0], tag)
	}
	n := int(head[1])
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 {
			return nil, fmt.Errorf("bad length form %#x", head[1])
		}
		lb := make([]byte, k)
		if _, err := io.ReadFull(l.r, lb); err != nil {
			return nil, err
		}
		n = 0
		for _, b := range lb {
			n = n<<8 | int(b)
		}
	}
	if n > l.left {
		return nil, fmt.Errorf("element of %d bytes, over the %d-byte cap", n, l.max)
	}
	l.left -= n
	b := make([]byte, n)
	_, err := io.ReadFull(l.r, b)
	return b, err
}

// berNext splits the element with the given tag (short lengths and long
// lengths of up to 3 bytes) off the front of b.
func berNext(b []byte, tag byte) (content, rest []byte, err error) {
	if len(b) < 2 {
		return nil, nil, errors.New("truncated")
	}
	if b[0] != tag {
		return nil, nil, fmt.Errorf("tag %#x, want %#x", b[0], tag)
	}
	n, i := int(b[1]), 2
	if n&0x80 != 0 {
		k := n & 0x7f
		if k == 0 || k > 3 || len(b) < 2+k {
			return nil, nil, fmt.Errorf("bad length form %#x", b[1])
		}
		n = 0
		for _, x := range b[2 : 2+k] {
			n = n<<8 | int(x)
		}
		i += k
	}
	if n > len(b)-i {
		return nil, nil, errors.New("truncated")
	}
	return b[i : i+n], b[i+n:], nil
}

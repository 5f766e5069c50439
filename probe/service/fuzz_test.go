package service

import (
	"bufio"
	"bytes"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse feeds arbitrary rule sources to the parser: it must never
// panic, and an error must carry a line number inside the source.
func FuzzParse(f *testing.F) {
	f.Add(builtinRules)
	f.Add("probe NULL\n  match ssh /^SSH-(?P<version>[\\d.]+)/ product=\"x\" cpe=\"cpe:/a:x:y:{version}\"\n")
	f.Add("probe a tls\n  ports 1-3,443\n  rarity 2\n  wait 1s\n")
	f.Add("probe a\n  send \"\\x00\\xff\"\n  fallback NULL\nprobe NULL\n  softmatch x /y/si info=\"{1}\"\n")
	f.Fuzz(func(t *testing.T, src string) {
		db, err := Parse("fuzz", strings.NewReader(src))
		if err != nil {
			pe, ok := err.(*ParseError)
			if !ok || pe.Line < 1 || pe.Line > strings.Count(src, "\n")+2 {
				t.Fatalf("error %v (%T) without a sane line", err, err)
			}
			return
		}
		for _, p := range db.Probes() {
			db.Match(p.Name, []byte("SSH-2.0-x\r\n"), "")
		}
	})
}

// FuzzMatch feeds arbitrary replies to every builtin probe's rules:
// no panic, and every filled-in field is valid UTF-8 and capped.
func FuzzMatch(f *testing.F) {
	files, _ := filepath.Glob("testdata/replies/*.bin")
	for _, fn := range files {
		if b, err := os.ReadFile(fn); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("\x15\x03\x03\x00\x02\x02\x28"))
	db := Builtin()
	f.Fuzz(func(t *testing.T, reply []byte) {
		for _, p := range db.Probes() {
			m, ok := db.Match(p.Name, reply, "")
			if !ok {
				continue
			}
			for _, s := range append([]string{m.Service, m.Product, m.Version, m.Info}, m.CPE...) {
				if !utf8.ValidString(s) || len(s) > 4*maxFieldLen {
					t.Fatalf("probe %s: bad field %q", p.Name, s)
				}
			}
		}
		e := Escape(reply, 64)
		if strings.ContainsFunc(e, func(r rune) bool { return r < 0x20 || r == 0x7f }) || !bytes.Equal([]byte(e), []byte(Escape(reply, 64))) {
			t.Fatalf("Escape(%q) = %q: control characters or unstable", reply, e)
		}
	})
}

// discardConn is a net.Conn whose writes vanish; only Write is used.
type discardConn struct{ net.Conn }

func (discardConn) Write(b []byte) (int, error) { return len(b), nil }

// FuzzStartTLS feeds arbitrary server replies to every STARTTLS dialogue:
// no panic, never more read than the cap, and a dialogue that accepts
// has seen the server's go-ahead.
func FuzzStartTLS(f *testing.F) {
	f.Add([]byte("220 vm ESMTP Exim 4.96\r\n250-vm Hello\r\n250-STARTTLS\r\n250 HELP\r\n220 TLS go ahead\r\n"))
	f.Add([]byte("* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot (Debian) ready.\r\nb OK Begin TLS negotiation now.\r\n"))
	f.Add([]byte("* OK Dovecot ready.\r\n* CAPABILITY IMAP4rev1 STARTTLS\r\na OK done\r\nb OK go\r\n"))
	f.Add([]byte("+OK Dovecot (Debian) ready.\r\n+OK\r\nTOP\r\nSTLS\r\n.\r\n+OK Begin TLS negotiation now.\r\n"))
	f.Add([]byte("220-(vsFTPd 3.0.3)\r\n free text\r\n220 end\r\n234 Proceed with negotiation.\r\n"))
	f.Add([]byte("S"))
	f.Add([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00})
	f.Add([]byte{0x30, 0x83, 0xff, 0xff, 0xff, 0x02, 0x01, 0x01})
	f.Fuzz(func(t *testing.T, replies []byte) {
		for name, up := range upgraders {
			l := &lineConn{c: discardConn{}, r: bufio.NewReader(bytes.NewReader(replies)), max: 1024, left: 1024}
			err := up(l)
			if l.left < 0 {
				t.Fatalf("%s: read %d bytes past the cap", name, -l.left)
			}
			if err == nil && name != "postgresql" && !bytes.Contains(replies, []byte("\n")) {
				t.Fatalf("%s: accepted %q without a reply line", name, replies)
			}
		}
	})
}

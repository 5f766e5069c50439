package service

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portsense/portsense/result"
)

// serverTLS is a TLS server configuration with a fresh self-signed
// certificate for starttls.portsense.test.
func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "starttls.portsense.test"},
		Issuer:       pkix.Name{CommonName: "starttls.portsense.test"},
		DNSNames:     []string{"starttls.portsense.test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: k}}}
}

// reply reads a reply captured from a lab daemon (testdata/replies).
func captured(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "replies", name+".bin"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// step is one command of a fake server's dialogue: a line starting with
// cmd gets answer, then, if tls, the TLS handshake.
type step struct {
	cmd, answer string
	tls         bool
}

// fakeLine serves a line protocol: banner, then the steps' answers.
func fakeLine(t *testing.T, banner []byte, steps ...step) netip.AddrPort {
	cfg := serverTLS(t)
	return serve(t, func(c net.Conn) {
		c.Write(banner)
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			for _, s := range steps {
				if strings.HasPrefix(line, s.cmd) {
					io.WriteString(c, s.answer)
					if s.tls {
						tc := tls.Server(c, cfg)
						if tc.Handshake() == nil {
							io.Copy(io.Discard, tc)
						}
						return
					}
				}
			}
		}
	})
}

func TestStartTLS(t *testing.T) {
	exim, dovecotIMAP, dovecotPOP3, vsftpd := captured(t, "exim_NULL"), captured(t, "imap_NULL"), captured(t, "pop3_NULL"), captured(t, "vsftpd_NULL")
	pgCfg := serverTLS(t)
	pg := serve(t, func(c net.Conn) {
		head := make([]byte, 8)
		if _, err := io.ReadFull(c, head); err != nil {
			return
		}
		if bytes.Equal(head, []byte{0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f}) {
			c.Write([]byte("S"))
			tc := tls.Server(c, pgCfg)
			if tc.Handshake() == nil {
				io.Copy(io.Discard, tc)
			}
			return
		}
		c.Write(captured(t, "postgres_postgres")) // the StartupMessage probe
	})
	slapd := captured(t, "slapd_ldap")
	ldapCfg := serverTLS(t)
	ldap := func(code byte) netip.AddrPort {
		return serve(t, func(c net.Conn) {
			buf := make([]byte, 512)
			n, err := c.Read(buf)
			if err != nil || buf[0] != 0x30 {
				return
			}
			if !bytes.Equal(buf[:n], ldapStartTLSRequest) {
				c.Write(slapd) // the root DSE search of the ldap probe
				return
			}
			c.Write([]byte{0x30, 0x0c, 0x02, 0x01, 0x01, 0x78, 0x07, 0x0a, 0x01, code, 0x04, 0x00, 0x04, 0x00})
			if code == 0 {
				tc := tls.Server(c, ldapCfg)
				if tc.Handshake() == nil {
					io.Copy(io.Discard, tc)
				}
			}
		})
	}
	imapWithCaps := bytes.Replace(dovecotIMAP, []byte("LOGINDISABLED]"), []byte("STARTTLS LOGINDISABLED]"), 1)
	for _, c := range []struct {
		name, svc, product string
		addr               netip.AddrPort
		want               bool // TLS expected
	}{
		{"smtp", "smtp", "Exim smtpd", fakeLine(t, exim,
			step{"EHLO ", "250-vm Hello portsense.invalid [127.0.0.1]\r\n250-SIZE 52428800\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 HELP\r\n", false},
			step{"STARTTLS", "220 TLS go ahead\r\n", true}), true},
		{"smtp-not-offered", "smtp", "Exim smtpd", fakeLine(t, exim,
			step{"EHLO ", "250-vm Hello portsense.invalid [127.0.0.1]\r\n250-SIZE 52428800\r\n250 HELP\r\n", false},
			step{"STARTTLS", "220 TLS go ahead\r\n", true}), false},
		{"imap-greeting-caps", "imap", "Dovecot imapd", fakeLine(t, imapWithCaps,
			step{"b STARTTLS", "b OK Begin TLS negotiation now.\r\n", true}), true},
		{"imap-capability", "imap", "Dovecot imapd", fakeLine(t, []byte("* OK Dovecot (Debian) ready.\r\n"),
			step{"a CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR STARTTLS AUTH=PLAIN\r\na OK Pre-login capabilities listed.\r\n", false},
			step{"b STARTTLS", "b OK Begin TLS negotiation now.\r\n", true}), true},
		{"imap-not-offered", "imap", "Dovecot imapd", fakeLine(t, dovecotIMAP,
			step{"a CAPABILITY", "* CAPABILITY IMAP4rev1 SASL-IR AUTH=PLAIN\r\na OK Pre-login capabilities listed.\r\n", false}), false},
		{"pop3", "pop3", "Dovecot pop3d", fakeLine(t, dovecotPOP3,
			step{"CAPA", "+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nSTLS\r\nUSER\r\nSASL PLAIN\r\n.\r\n", false},
			step{"STLS", "+OK Begin TLS negotiation now.\r\n", true}), true},
		{"ftp", "ftp", "vsftpd", fakeLine(t, vsftpd,
			step{"AUTH TLS", "234 Proceed with negotiation.\r\n", true}), true},
		{"ftp-not-offered", "ftp", "vsftpd", fakeLine(t, vsftpd,
			step{"AUTH TLS", "530 Please login with USER and PASS.\r\n", false}), false},
		{"postgresql", "postgresql", "PostgreSQL", pg, true},
		{"ldap", "ldap", "OpenLDAP", ldap(0), true},
		{"ldap-not-offered", "ldap", "OpenLDAP", ldap(2), false}, // protocolError
	} {
		t.Run(c.name, func(t *testing.T) {
			var mu sync.Mutex
			var trans string
			d := fast(t, WithTrace(func(tr Trace) {
				if strings.HasPrefix(tr.Probe, "starttls-") {
					mu.Lock()
					trans = tr.Probe + ": " + string(tr.Reply) + " err=" + errString(tr.Err)
					mu.Unlock()
				}
			}))
			svc, err := d.Detect(context.Background(), c.addr)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if svc.Name != c.svc || !strings.Contains(svc.Product, c.product) || svc.Tunnel != "" {
				t.Fatalf("service = %+v", *svc)
			}
			if !c.want {
				if svc.TLS != nil {
					t.Errorf("TLS %+v from a server that does not offer it", *svc.TLS)
				}
				if !strings.Contains(trans, "does not offer TLS") {
					t.Errorf("trace %q", trans)
				}
				return
			}
			checkTLS(t, svc.TLS, trans)
		})
	}
	// Off: no upgrade.
	a := fakeLine(t, vsftpd, step{"AUTH TLS", "234 Proceed with negotiation.\r\n", true})
	svc, err := fast(t, WithStartTLS(false)).Detect(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name != "ftp" || svc.TLS != nil {
		t.Errorf("WithStartTLS(false): service %+v", *svc)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func checkTLS(t *testing.T, tl *result.TLSInfo, trans string) {
	t.Helper()
	if tl == nil {
		t.Fatalf("no TLS; trace %s", trans)
	}
	if !strings.HasPrefix(tl.Version, "TLS 1.") || tl.Cipher == "" || tl.Subject != "CN=starttls.portsense.test" ||
		tl.Issuer != "CN=starttls.portsense.test" || strings.Join(tl.SANs, ",") != "starttls.portsense.test" || tl.NotAfter.IsZero() {
		t.Errorf("TLS = %+v", *tl)
	}
}

// Hostile STARTTLS replies: each ends within the port's budget, the
// service keeps its name without TLS, the trace says why, and the server
// sees its connections closed.
func TestStartTLSHostile(t *testing.T) {
	exim := captured(t, "exim_NULL")
	for _, c := range []struct {
		name string
		ehlo func(c net.Conn) // after EHLO
		why  string           // in the trace's error
	}{
		{"trickled-lines", func(c net.Conn) {
			for {
				if _, err := io.WriteString(c, "250-x\r\n"); err != nil {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}, "timeout"},
		{"endless-line", func(c net.Conn) {
			junk := bytes.Repeat([]byte("2"), 4096)
			for {
				if _, err := c.Write(junk); err != nil {
					return
				}
			}
		}, "longer than"},
		{"many-lines", func(c net.Conn) {
			for {
				if _, err := io.WriteString(c, "250-STARTTLS\r\n"); err != nil {
					return
				}
			}
		}, "more than 200 lines"},
		{"silent-handshake", func(c net.Conn) {
			io.WriteString(c, "250-vm\r\n250 STARTTLS\r\n")
			r := bufio.NewReader(c)
			r.ReadString('\n')
			io.WriteString(c, "220 go ahead\r\n")
			io.Copy(io.Discard, r) // take the ClientHello, never answer
		}, "timeout"},
		{"injected", func(c net.Conn) {
			io.WriteString(c, "250-vm\r\n250 STARTTLS\r\n")
			r := bufio.NewReader(c)
			r.ReadString('\n')
			io.WriteString(c, "220 go ahead\r\nRSET\r\n")
			io.Copy(io.Discard, r)
		}, "after agreeing to TLS"},
		{"bad-reply", func(c net.Conn) {
			io.WriteString(c, "\x16\x03\x01\x00\x02\x02\x28\r\n")
			io.Copy(io.Discard, c)
		}, "bad reply line"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var open atomic.Int32
			a := serve(t, func(conn net.Conn) {
				open.Add(1)
				defer open.Add(-1)
				conn.Write(exim)
				line, err := bufio.NewReader(conn).ReadString('\n')
				if err != nil || !strings.HasPrefix(line, "EHLO ") {
					io.Copy(io.Discard, conn)
					return
				}
				c.ehlo(conn)
			})
			var mu sync.Mutex
			var why string
			d, err := New(WithTimeouts(200*time.Millisecond, 500*time.Millisecond, 2*time.Second), WithTrace(func(tr Trace) {
				if tr.Probe == "starttls-smtp" {
					mu.Lock()
					why = errString(tr.Err)
					mu.Unlock()
				}
			}))
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan *result.Service, 1)
			go func() {
				svc, err := d.Detect(context.Background(), a)
				if err != nil {
					t.Error(err)
				}
				done <- svc
			}()
			var svc *result.Service
			select {
			case svc = <-done:
			case <-time.After(time.Minute): // 30 times the budget: it hangs
				t.Fatal("Detect still running a minute after its 2 s budget")
			}
			if svc == nil {
				return
			}
			if svc.Name != "smtp" || svc.TLS != nil {
				t.Errorf("service = %+v", *svc)
			}
			mu.Lock()
			if !strings.Contains(why, c.why) && !(c.why == "timeout" && strings.Contains(why, "deadline exceeded")) {
				t.Errorf("upgrade ended with %q, want %q", why, c.why)
			}
			mu.Unlock()
			for i := 0; open.Load() != 0 && i < 100; i++ {
				time.Sleep(20 * time.Millisecond)
			}
			if n := open.Load(); n != 0 {
				t.Errorf("%d connections still open after Detect returned", n)
			}
		})
	}
}

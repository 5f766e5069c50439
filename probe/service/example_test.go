package service_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"

	"github.com/portsense/portsense/probe/service"
)

// A rule of one's own, added to the built-in database at run time.
func ExampleDB_Add() {
	db := service.Builtin()
	err := db.Add("site.rules", strings.NewReader(`
probe NULL
  match acme /^ACME-(?P<version>\d+\.\d+) ready\r\n/ product="Acme queue" cpe="cpe:/a:acme:queue:{version}"
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	m, ok := db.Match("NULL", []byte("ACME-3.1 ready\r\n"), "")
	fmt.Println(ok, m.Service, m.Product, m.Version, m.CPE)
	// Output: true acme Acme queue 3.1 [cpe:/a:acme:queue:3.1]
}

// Bad rules are refused with the line and the reason.
func ExampleParse_error() {
	_, err := service.Parse("site.rules", strings.NewReader("probe NULL\n  match ssh /^SSH-(/\n"))
	fmt.Println(err)
	// Output: site.rules:2: match: bad pattern: error parsing regexp: missing closing ): `^SSH-(`
}

// The built-in rules on a real OpenSSH banner.
func ExampleDB_Match() {
	m, _ := service.Builtin().Match("NULL", []byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"), "")
	fmt.Printf("%s %q %q %q %v\n", m.Service, m.Product, m.Version, m.Info, m.CPE)
	// Output: ssh "OpenSSH" "9.2p1" "Debian-2+deb12u10; protocol 2.0" [cpe:/a:openbsd:openssh:9.2p1]
}

// Detection on a connection the caller already holds.
func ExampleDetector_DetectConn() {
	client, server := net.Pipe()
	go func() {
		server.Write([]byte("220 (vsFTPd 3.0.3)\r\n"))
		server.Close()
	}()
	d, _ := service.New()
	svc, err := d.DetectConn(context.Background(), client)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svc.Name, svc.Product, svc.Version, svc.Method, svc.Conf)
	// Output: ftp vsftpd 3.0.3 probed 10
}

// An unnamed port still gets a result: the first bytes it sent.
func ExampleEscape() {
	fmt.Println(service.Escape([]byte("\x00\x01hi\r\n\xff"), 5))
	// Output: \x00\x01hi\r…
}

// A plaintext FTP server that offers AUTH TLS: Detect names it from its
// banner, then takes the upgrade and describes the TLS session.
func ExampleWithStartTLS() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "ftp.example.test"},
		DNSNames:     []string{"ftp.example.test"},
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	cfg := &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("220 (vsFTPd 3.0.3)\r\n"))
				r := bufio.NewReader(c)
				if line, _ := r.ReadString('\n'); line == "AUTH TLS\r\n" {
					c.Write([]byte("234 Proceed with negotiation.\r\n"))
					tls.Server(c, cfg).Handshake()
				}
			}()
		}
	}()

	d, _ := service.New(service.WithStartTLS(true)) // true is the default
	svc, err := d.Detect(context.Background(), ln.Addr().(*net.TCPAddr).AddrPort())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(svc.Name, svc.Product, svc.Version, svc.TLS.Version, svc.TLS.Subject, svc.TLS.SANs)
	// Output: ftp vsftpd 3.0.3 TLS 1.3 CN=ftp.example.test [ftp.example.test]
}

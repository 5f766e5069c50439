package main

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestVersionDetection runs -sT -sV against a loopback listener that
// greets like an SSH server and checks the nmap XML and greppable output.
func TestVersionDetection(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skipf("no loopback listener: %v", err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u10\r\n"))
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	dir := t.TempDir()
	xmlOut, grepOut := filepath.Join(dir, "scan.xml"), filepath.Join(dir, "scan.gnmap")
	code, _, stderr := runScan(t, t.Context(), "-sT", "-sV", "--version-intensity", "3", "-p", port,
		"-oX", xmlOut, "-oG", grepOut, "127.0.0.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	x, _ := os.ReadFile(xmlOut)
	want := `<service name="ssh" product="OpenSSH" version="9.2p1" extrainfo="Debian-2+deb12u10; protocol 2.0" method="probed" conf="10"><cpe>cpe:/a:openbsd:openssh:9.2p1</cpe></service>`
	if !strings.Contains(string(x), want) {
		t.Errorf("XML lacks %s:\n%s", want, x)
	}
	g, _ := os.ReadFile(grepOut)
	if !strings.Contains(string(g), port+"/open/tcp//ssh//OpenSSH 9.2p1 (Debian-2+deb12u10; protocol 2.0)/") {
		t.Errorf("greppable output lacks the service:\n%s", g)
	}
	if lint, err := exec.LookPath("xmllint"); err == nil {
		if out, err := exec.Command(lint, "--noout", "--dtdvalid", "/usr/share/nmap/nmap.dtd", xmlOut).CombinedOutput(); err != nil {
			t.Errorf("xmllint: %v: %s", err, out)
		}
	}
}

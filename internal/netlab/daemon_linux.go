package netlab

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitUDP waits until something in the host's namespace has bound each of
// the given UDP ports (IPv4 or IPv6), as a daemon started with [Host.Start]
// does once it is ready. It fails t after timeout.
func (h *Host) WaitUDP(t testing.TB, timeout time.Duration, ports ...uint16) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bound := map[uint16]bool{}
		err := h.Do(func() error {
			for _, f := range []string{"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"} {
				if err := udpPorts(f, bound); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("netlab: %s: %v", h.Name, err)
		}
		missing := []string{}
		for _, p := range ports {
			if !bound[p] {
				missing = append(missing, strconv.Itoa(int(p)))
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("netlab: %s: udp ports %s not bound after %v", h.Name, strings.Join(missing, ","), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpPorts adds the local ports listed in a /proc/net/udp{,6} file.
func udpPorts(name string, into map[uint16]bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		_, port, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(port, 16, 16); err == nil {
			into[uint16(p)] = true
		}
	}
	return sc.Err()
}

// StartDNSmasq runs dnsmasq in the host as a DNS server on port 53 of its
// two addresses: no upstream, no hosts file, answering what it knows
// (version.bind among it). It waits until the port is bound; Cleanup kills
// it by PID. The binary comes from Debian's dnsmasq package.
func (h *Host) StartDNSmasq(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	h.Start(t, "dnsmasq", "--keep-in-foreground", "--conf-file=/dev/null", "--port=53", "--no-resolv", "--no-hosts",
		"--user=root", "--pid-file="+filepath.Join(dir, "dnsmasq.pid"), "--bind-interfaces",
		"--listen-address="+h.Addr4.String()+","+h.Addr6.String(), "--log-facility=-")
	h.WaitUDP(t, 10*time.Second, 53)
}

// StartChrony runs chronyd in the host as an NTP server on port 123 (IPv4
// and IPv6) that serves its local clock at stratum 8 and never sets the
// clock (-x); no command port. From Debian's chrony package.
func (h *Host) StartChrony(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "chrony.conf")
	err := os.WriteFile(conf, fmt.Appendf(nil, "port 123\ncmdport 0\nbindcmdaddress /\nallow all\nlocal stratum 8\npidfile %s\ndriftfile %s\n",
		filepath.Join(dir, "chronyd.pid"), filepath.Join(dir, "drift")), 0o600)
	if err != nil {
		t.Fatalf("netlab: %v", err)
	}
	h.Start(t, "chronyd", "-d", "-x", "-u", "root", "-f", conf)
	h.WaitUDP(t, 10*time.Second, 123)
}

// StartSNMPd runs snmpd in the host as an SNMP v1/v2c agent on port 161 of
// its two addresses, read-only community "public", sysDescr "portsense lab
// snmpd". From Debian's snmpd package.
func (h *Host) StartSNMPd(t testing.TB) {
	t.Helper()
	dir := t.TempDir()
	conf := filepath.Join(dir, "snmpd.conf")
	if err := os.WriteFile(conf, []byte("rocommunity public default\nrocommunity6 public default\nsysDescr portsense lab snmpd\n"), 0o600); err != nil {
		t.Fatalf("netlab: %v", err)
	}
	h.Start(t, "snmpd", "-f", "-Lf", filepath.Join(dir, "snmpd.log"), "-C", "-c", conf, "-p", filepath.Join(dir, "snmpd.pid"),
		fmt.Sprintf("udp:%s:161,udp6:[%s]:161", h.Addr4, h.Addr6))
	h.WaitUDP(t, 10*time.Second, 161)
}

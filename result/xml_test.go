package result

import (
	"bytes"
	"encoding/xml"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

const nmapDTD = "/usr/share/nmap/nmap.dtd"

// nmapRun is the part of nmap's XML the tests look at.
type nmapRun struct {
	Scanner   string `xml:"scanner,attr"`
	Args      string `xml:"args,attr"`
	Start     string `xml:"start,attr"`
	ScanInfos []struct {
		Type        string `xml:"type,attr"`
		Protocol    string `xml:"protocol,attr"`
		NumServices string `xml:"numservices,attr"`
		Services    string `xml:"services,attr"`
	} `xml:"scaninfo"`
	Hosts []struct {
		Status struct {
			State     string `xml:"state,attr"`
			Reason    string `xml:"reason,attr"`
			ReasonTTL string `xml:"reason_ttl,attr"`
		} `xml:"status"`
		Address struct {
			Addr     string `xml:"addr,attr"`
			AddrType string `xml:"addrtype,attr"`
		} `xml:"address"`
		Ports *struct {
			Extra []struct {
				State   string `xml:"state,attr"`
				Count   int    `xml:"count,attr"`
				Reasons []struct {
					Reason string `xml:"reason,attr"`
					Count  int    `xml:"count,attr"`
					Proto  string `xml:"proto,attr"`
					Ports  string `xml:"ports,attr"`
				} `xml:"extrareasons"`
			} `xml:"extraports"`
			Ports []struct {
				Protocol string `xml:"protocol,attr"`
				PortID   int    `xml:"portid,attr"`
				State    struct {
					State     string `xml:"state,attr"`
					Reason    string `xml:"reason,attr"`
					ReasonTTL string `xml:"reason_ttl,attr"`
				} `xml:"state"`
				Service *struct {
					Name      string   `xml:"name,attr"`
					Product   string   `xml:"product,attr"`
					Version   string   `xml:"version,attr"`
					ExtraInfo string   `xml:"extrainfo,attr"`
					Tunnel    string   `xml:"tunnel,attr"`
					Method    string   `xml:"method,attr"`
					Conf      string   `xml:"conf,attr"`
					CPE       []string `xml:"cpe"`
				} `xml:"service"`
			} `xml:"port"`
		} `xml:"ports"`
		Times *struct {
			SRTT string `xml:"srtt,attr"`
		} `xml:"times"`
	} `xml:"host"`
	RunStats struct {
		Finished struct {
			Time    string `xml:"time,attr"`
			Elapsed string `xml:"elapsed,attr"`
			Summary string `xml:"summary,attr"`
		} `xml:"finished"`
		Hosts struct {
			Up    int `xml:"up,attr"`
			Down  int `xml:"down,attr"`
			Total int `xml:"total,attr"`
		} `xml:"hosts"`
	} `xml:"runstats"`
}

func writeXML(t *testing.T, info RunInfo, hosts []Host, res []Result) []byte {
	t.Helper()
	var buf bytes.Buffer
	feed(t, NewXMLWriter(&buf, info), hosts, res)
	return buf.Bytes()
}

func parseXML(t *testing.T, doc []byte) nmapRun {
	t.Helper()
	var run nmapRun
	if err := xml.Unmarshal(doc, &run); err != nil {
		t.Fatalf("encoding/xml: %v\n%s", err, doc)
	}
	return run
}

// xmllint validates doc against nmap's DTD.
func xmllint(t *testing.T, doc []byte) {
	t.Helper()
	lint, err := exec.LookPath("xmllint")
	if err != nil {
		t.Skip("xmllint not installed (apt-get install libxml2-utils)")
	}
	if _, err := os.Stat(nmapDTD); err != nil {
		t.Skip(nmapDTD + " missing (apt-get install nmap-common)")
	}
	f := filepath.Join(t.TempDir(), "scan.xml")
	if err := os.WriteFile(f, doc, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(lint, "--noout", "--dtdvalid", nmapDTD, f).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Fatalf("xmllint --dtdvalid: %v\n%s\n%s", err, out, doc)
	}
}

func TestXMLValidatesAgainstNmapDTD(t *testing.T) {
	hosts, res := scanA()
	nasty := "tab\tnl\n<b>&\"q\" -- end-\x01\xff\ufffe"
	ping := RunInfo{ScanType: "ping", Start: t0, End: t0.Add(time.Second)}
	cases := map[string]struct {
		info  RunInfo
		hosts []Host
		res   []Result
	}{
		"syn scan":   {runA, hosts, res},
		"empty run":  {RunInfo{}, nil, nil},
		"ping scan":  {ping, hosts, nil},
		"ports only": {RunInfo{ScanType: "connect"}, nil, res},
		"udp and odd protocols": {RunInfo{ScanType: "udp"}, nil, []Result{
			port("198.18.0.3", 53, target.UDP, Open, UDPResponse, 64),
			port("198.18.0.3", 54, target.UDP, OpenFiltered, NoResponse, 0),
			port("198.18.0.3", 1, target.ICMP, Open, EchoReply, 64), // no DTD protocol: left out
			port("198.18.0.3", 9, 132, Closed, Reset, 64),
		}},
		"hostile strings": {RunInfo{Args: nasty, Scanner: nasty, Version: nasty, ScanType: nasty},
			[]Host{{Addr: netip.MustParseAddr("fe80::1%eth0"), State: HostUp, Reason: UserSet, Warnings: []string{nasty, "--"}}},
			[]Result{{AddrPort: netip.MustParseAddrPort("[fe80::1%eth0]:80"), Proto: target.TCP, State: Open, Reason: SynAck,
				Service: &Service{Name: nasty, Product: nasty, Version: nasty, ExtraInfo: nasty, Tunnel: "tls", Method: nasty,
					Conf: 42, CPE: []string{nasty}}}}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			doc := writeXML(t, tc.info, tc.hosts, tc.res)
			parseXML(t, doc) // well-formed for Go's parser too
			xmllint(t, doc)
		})
	}
}

func TestXMLContent(t *testing.T) {
	hosts, res := scanA()
	doc := writeXML(t, runA, hosts, res)
	for _, line := range []string{
		`<?xml version="1.0" encoding="UTF-8"?>`,
		`<!DOCTYPE nmaprun>`,
		`<?xml-stylesheet href="file:///usr/bin/../share/nmap/nmap.xsl" type="text/xsl"?>`,
		`<!-- portsense 0.1 scan initiated Fri Nov 27 16:16:53 2026 as: portsense -sS -p 22,80,1000-1030,443 198.18.0.0/28 - -reason -->`,
	} {
		if !bytes.Contains(doc, []byte(line+"\n")) {
			t.Errorf("missing line %s", line)
		}
	}
	run := parseXML(t, doc)
	if run.Scanner != "nmap" || run.Start != "1795796213" || len(run.ScanInfos) != 1 ||
		run.ScanInfos[0].Type != "syn" || run.ScanInfos[0].NumServices != "34" || run.ScanInfos[0].Services != runA.Ports {
		t.Errorf("run header %+v", run)
	}
	if len(run.Hosts) != 3 {
		t.Fatalf("%d hosts", len(run.Hosts))
	}
	// Sorted by address: IPv4 first.
	h := run.Hosts[0]
	if h.Address.Addr != "198.18.0.2" || h.Address.AddrType != "ipv4" || h.Status.State != "up" ||
		h.Status.Reason != "echo-reply" || h.Status.ReasonTTL != "64" || h.Times == nil || h.Times.SRTT != "135" {
		t.Errorf("host 0: %+v", h)
	}
	ex := h.Ports.Extra
	if len(ex) != 1 || ex[0].State != "filtered" || ex[0].Count != 31 || len(ex[0].Reasons) != 2 ||
		ex[0].Reasons[0].Reason != "no-response" || ex[0].Reasons[0].Count != 30 || ex[0].Reasons[0].Ports != "1000-1029" ||
		ex[0].Reasons[0].Proto != "tcp" || ex[0].Reasons[1].Ports != "1030" {
		t.Errorf("extraports %+v", ex)
	}
	ps := h.Ports.Ports
	if len(ps) != 2 || ps[0].PortID != 22 || ps[1].PortID != 80 || ps[1].State.State != "closed" || ps[1].State.Reason != "reset" {
		t.Fatalf("ports %+v", ps)
	}
	if s := ps[0].Service; s == nil || s.Name != "ssh" || s.Product != "OpenSSH" || s.Version != "9.2p1" ||
		s.ExtraInfo != "protocol 2.0" || s.Method != "probed" || s.Conf != "10" || len(s.CPE) != 1 {
		t.Errorf("service %+v", s)
	}
	// Port 80 has no service info: the port table names it.
	if s := ps[1].Service; s == nil || s.Name != target.ServiceName(target.Port{Proto: target.TCP, Num: 80}) ||
		s.Method != "table" || s.Conf != "3" {
		t.Errorf("table service %+v", s)
	}
	if d := run.Hosts[1]; d.Address.Addr != "198.18.0.9" || d.Status.State != "down" || d.Ports != nil {
		t.Errorf("down host %+v", d)
	}
	v6 := run.Hosts[2]
	if v6.Address.Addr != "2001:db8::2" || v6.Address.AddrType != "ipv6" || v6.Ports == nil ||
		v6.Ports.Ports[0].Service.Tunnel != "ssl" || v6.Ports.Ports[0].Service.Name != "http" {
		t.Errorf("IPv6 host %+v", v6)
	}
	st := run.RunStats
	if st.Hosts.Up != 2 || st.Hosts.Down != 1 || st.Hosts.Total != 3 || st.Finished.Elapsed != "2.50" ||
		st.Finished.Time != "1795796215" ||
		st.Finished.Summary != "Nmap done at Fri Nov 27 16:16:55 2026; 3 IP addresses (2 hosts up) scanned in 2.50 seconds" {
		t.Errorf("runstats %+v", st)
	}
}

func TestXMLPingScan(t *testing.T) {
	hosts := []Host{
		{Addr: netip.MustParseAddr("198.18.0.1"), State: HostUp, Reason: ARPResponse, RTT: time.Millisecond, Time: t0},
		{Addr: netip.MustParseAddr("198.18.0.3"), State: HostDown, Reason: NoResponse, Time: t0},
		{Addr: netip.MustParseAddr("2001:db8::7"), State: HostUp, Reason: EchoReply, ReplyTTL: 64, Time: t0},
	}
	doc := writeXML(t, RunInfo{ScanType: "ping", Args: "ping sweep"}, hosts, nil)
	run := parseXML(t, doc)
	if len(run.ScanInfos) != 0 {
		t.Errorf("ping scan has scaninfo %+v", run.ScanInfos)
	}
	for _, h := range run.Hosts {
		if h.Ports != nil {
			t.Errorf("ping scan host has ports: %+v", h)
		}
	}
	if run.Hosts[0].Status.Reason != "arp-response" || run.Hosts[2].Address.AddrType != "ipv6" ||
		run.Hosts[2].Status.ReasonTTL != "64" || run.RunStats.Hosts.Up != 2 || run.RunStats.Hosts.Total != 3 {
		t.Errorf("ping run %+v", run)
	}
	xmllint(t, doc)
}

func TestXMLHostsWithoutVerdict(t *testing.T) {
	// Ports only (a -Pn scan): hosts are reported up, "user-set".
	doc := writeXML(t, RunInfo{ScanType: "connect"}, nil, []Result{
		port("198.18.0.4", 443, target.TCP, Filtered, NoResponse, 0),
		port("198.18.0.4", 443, target.TCP, Open, SynAck, 64), // a later, better verdict
		port("198.18.0.4", 443, target.TCP, Filtered, NoResponse, 0),
	})
	run := parseXML(t, doc)
	h := run.Hosts[0]
	if h.Status.State != "up" || h.Status.Reason != "user-set" || len(h.Ports.Ports) != 1 || h.Ports.Ports[0].State.State != "open" {
		t.Errorf("%+v", h)
	}
	if si := run.ScanInfos; len(si) != 1 || si[0].Type != "connect" || si[0].Services != "443" || si[0].NumServices != "1" {
		t.Errorf("scaninfo %+v", si)
	}
}

func TestXMLManyStatesSummarised(t *testing.T) {
	var res []Result
	for p := uint16(1); p <= 100; p++ {
		st, why := Closed, Reset
		switch {
		case p <= 30:
			st, why = Filtered, NoResponse
		case p == 50:
			st, why = Open, SynAck
		case p > 90:
			st, why = OpenFiltered, NoResponse // 10: under the threshold, listed
		}
		res = append(res, port("198.18.0.5", p, target.TCP, st, why, 64))
	}
	doc := writeXML(t, RunInfo{}, nil, res)
	h := parseXML(t, doc).Hosts[0]
	ex := h.Ports.Extra
	if len(ex) != 2 || ex[0].State != "closed" || ex[0].Count != 59 || ex[1].State != "filtered" || ex[1].Count != 30 ||
		ex[0].Reasons[0].Ports != "31-49,51-90" {
		t.Errorf("extraports %+v", ex)
	}
	if len(h.Ports.Ports) != 11 || h.Ports.Ports[0].PortID != 50 || h.Ports.Ports[1].State.State != "open|filtered" {
		t.Errorf("ports %+v", h.Ports.Ports)
	}
	xmllint(t, doc)
}

func TestXMLWriterClose(t *testing.T) {
	var buf bytes.Buffer
	w := NewXMLWriter(&buf, RunInfo{})
	if err := w.WriteResult(Result{}); err == nil {
		t.Error("accepted a result without address")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	n := buf.Len()
	if err := w.Close(); err != nil || buf.Len() != n {
		t.Errorf("second Close: %v, wrote %d bytes", err, buf.Len()-n)
	}
	if err := w.WriteHost(host("198.18.0.2", HostUp, EchoReply)); !errors.Is(err, ErrClosed) {
		t.Errorf("write after Close: %v", err)
	}
	w = NewXMLWriter(&failWriter{}, RunInfo{})
	if err := w.Close(); err == nil {
		t.Error("Close hid the write error")
	}
}

// ndiff compares two of our XML files with nmap's ndiff.
func TestNdiffReadsOurXML(t *testing.T) {
	nd, err := exec.LookPath("ndiff")
	if err != nil {
		t.Skip("ndiff not installed (apt-get install ndiff)")
	}
	dir := t.TempDir()
	hosts, res := scanA()
	a := writeXML(t, runA, hosts, res)
	// Scan B: 80/tcp opened, 22/tcp's version changed.
	res2 := append([]Result(nil), res...)
	res2[1] = port("198.18.0.2", 80, target.TCP, Open, SynAck, 64)
	svc := *res2[0].Service
	svc.Version = "9.6p1"
	res2[0].Service = &svc
	b := writeXML(t, runA, hosts, res2)
	fa, fb := filepath.Join(dir, "a.xml"), filepath.Join(dir, "b.xml")
	os.WriteFile(fa, a, 0o644)
	os.WriteFile(fb, b, 0o644)

	out, err := exec.Command(nd, fa, fb).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("ndiff a b: %v, want exit status 1\n%s", err, out)
	}
	for _, want := range []string{"198.18.0.2", "-80/tcp closed", "+80/tcp open", "9.6p1"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("ndiff output lacks %q:\n%s", want, out)
		}
	}
	out, err = exec.Command(nd, fa, fa).CombinedOutput()
	if err != nil {
		t.Fatalf("ndiff a a: %v, want exit status 0\n%s", err, out)
	}
	// ndiff's XML mode parses too.
	out, err = exec.Command(nd, "--xml", fa, fb).CombinedOutput()
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !bytes.Contains(out, []byte(`portid="80"`)) {
		t.Errorf("ndiff --xml: %v\n%s", err, out)
	}
}

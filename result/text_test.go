package result

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

func TestGrepWriter(t *testing.T) {
	hosts, res := scanA()
	res = append(res, port("198.18.0.2", 53, target.UDP, OpenFiltered, NoResponse, 0))
	res[len(res)-1].Service = &Service{Name: "domain", Product: "a/b, c", ExtraInfo: "x\ty", Method: "probed", Conf: 10}
	var buf bytes.Buffer
	feed(t, NewGrepWriter(&buf, runA), hosts, res)
	want := "# portsense 0.1 scan initiated Fri Nov 27 16:16:53 2026 as: portsense -sS -p 22,80,1000-1030,443 198.18.0.0/28 --reason\n" +
		"# Ports scanned: TCP(34;22,80,443,1000-1030)\n" +
		"Host: 198.18.0.2 ()\tStatus: Up\n" +
		"Host: 198.18.0.2 ()\tPorts: 22/open/tcp//ssh//OpenSSH 9.2p1 (protocol 2.0)/, 80/closed/tcp//http///, " +
		"53/open|filtered/udp//domain//a|b, c (x y)/\tIgnored State: filtered (31)\n" +
		"Host: 198.18.0.9 ()\tStatus: Down\n" +
		"Host: 2001:db8::2 ()\tStatus: Up\n" +
		"Host: 2001:db8::2 ()\tPorts: 443/open/tcp//ssl|http///\n" +
		"# portsense done at Fri Nov 27 16:16:55 2026 -- 3 IP addresses (2 hosts up) scanned in 2.50 seconds\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestGrepWriterPingScan(t *testing.T) {
	var buf bytes.Buffer
	feed(t, NewGrepWriter(&buf, RunInfo{ScanType: "ping", Scanner: "ps", Start: t0, End: t0}),
		[]Host{host("198.18.0.1", HostUp, EchoReply)}, nil)
	want := "# ps " + buildVersion() + " scan initiated Fri Nov 27 16:16:53 2026 as: \n" +
		"Host: 198.18.0.1 ()\tStatus: Up\n" +
		"# ps done at Fri Nov 27 16:16:53 2026 -- 1 IP address (1 host up) scanned in 0.00 seconds\n"
	if got := buf.String(); got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
}

func TestTableWriter(t *testing.T) {
	hosts, res := scanA()
	var buf bytes.Buffer
	feed(t, NewTableWriter(&buf), hosts, res)
	want := `Scan report for 198.18.0.2
Host is up, received echo-reply ttl 64 (0.00014s latency).
Not shown: 30 filtered tcp ports (no-response), 1 filtered tcp port (admin-prohibited)
PORT   STATE  SERVICE REASON         VERSION
22/tcp open   ssh     syn-ack ttl 64 OpenSSH 9.2p1 (protocol 2.0)
80/tcp closed http    reset ttl 64

Scan report for 198.18.0.9
Host is down, received no-response.

Scan report for 2001:db8::2
Host is up, received nd-response.
PORT    STATE SERVICE  REASON
443/tcp open  ssl/http syn-ack ttl 64

Done: 3 IP addresses (2 hosts up)
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestTableWriterAllIgnored(t *testing.T) {
	var res []Result
	for p := uint16(1); p <= 40; p++ {
		res = append(res, port("198.18.0.7", p, target.TCP, Closed, Reset, 64))
	}
	h := Host{Addr: netip.MustParseAddr("198.18.0.7"), State: HostUp, Reason: SynAck, Warnings: []string{"syn-proxy:\nall open"}}
	var buf bytes.Buffer
	feed(t, NewTableWriter(&buf), []Host{h}, res)
	want := `Scan report for 198.18.0.7
Host is up, received syn-ack.
Warning: syn-proxy: all open
All 40 scanned ports on 198.18.0.7 are in ignored states.
Not shown: 40 closed tcp ports (reset)

Done: 1 IP address (1 host up)
`
	if got := buf.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestLatency(t *testing.T) {
	for d, want := range map[time.Duration]string{
		120 * time.Microsecond: "0.00012", time.Millisecond: "0.0010", 25 * time.Millisecond: "0.025",
		1500 * time.Millisecond: "1.5", 12 * time.Second: "12", 0: "0",
	} {
		if got := latency(d); got != want {
			t.Errorf("latency(%v) = %s, want %s", d, got, want)
		}
	}
}

func TestCountPorts(t *testing.T) {
	for spec, want := range map[string]int{"1-1000": 1000, "22,80,443": 3, "22,20-25": 6, "0": 1, "1-65535,0": 65536} {
		if n, ok := countPorts(spec); !ok || n != want {
			t.Errorf("countPorts(%q) = %d, %v; want %d", spec, n, ok, want)
		}
	}
	for _, bad := range []string{"", "T:80", "5-1", "65536", "a-b", "1,,2"} {
		if _, ok := countPorts(bad); ok {
			t.Errorf("countPorts(%q) accepted", bad)
		}
	}
	var s summary
	s.hasPortsResults = true
	s.ports = map[target.Protocol][]uint16{target.TCP: {1, 2, 3, 7}}
	r := run{RunInfo: RunInfo{Proto: target.TCP, Ports: "T:1-3,7"}}
	if sc := r.scannedPorts(&s); len(sc) != 1 || sc[0].services != "1-3,7" || sc[0].count != 4 {
		t.Errorf("unparsable Ports falls back to seen ports: %+v", sc)
	}
	if !strings.Contains(string(appendRanges(nil, []uint16{0, 1, 65535})), "0-1,65535") {
		t.Error("appendRanges")
	}
}

func TestTextWritersReportWriteErrors(t *testing.T) {
	for name, w := range map[string]Writer{
		"grep":  NewGrepWriter(&failWriter{}, RunInfo{}),
		"table": NewTableWriter(&failWriter{}),
	} {
		if err := w.WriteHost(host("198.18.0.2", HostUp, EchoReply)); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err == nil {
			t.Errorf("%s: Close hid the write error", name)
		}
		if err := w.WriteHost(host("198.18.0.2", HostUp, EchoReply)); err != ErrClosed {
			t.Errorf("%s: write after Close: %v", name, err)
		}
	}
}

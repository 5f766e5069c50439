package result

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

var t0 = time.Date(2026, 11, 27, 16, 16, 53, 0, time.UTC)

func port(addr string, num uint16, proto target.Protocol, st State, why Reason, ttl uint8) Result {
	return Result{
		AddrPort: netip.AddrPortFrom(netip.MustParseAddr(addr), num), Proto: proto,
		State: st, Reason: why, ReplyTTL: ttl, Tries: 1, Time: t0.Add(time.Duration(num) * time.Millisecond),
	}
}

func host(addr string, st HostState, why Reason) Host {
	return Host{Addr: netip.MustParseAddr(addr), State: st, Reason: why, Time: t0}
}

// scanA is a small SYN scan: one host with 22 open, 80 closed and 30
// filtered ports (summarised as extraports), one IPv6 host, one down host.
func scanA() ([]Host, []Result) {
	hosts := []Host{
		{Addr: netip.MustParseAddr("198.18.0.2"), State: HostUp, Reason: EchoReply, ReplyTTL: 64, RTT: 120 * time.Microsecond, Time: t0},
		host("2001:db8::2", HostUp, NDResponse),
		host("198.18.0.9", HostDown, NoResponse),
	}
	ssh := port("198.18.0.2", 22, target.TCP, Open, SynAck, 64)
	ssh.RTT = 150 * time.Microsecond
	ssh.Service = &Service{Name: "ssh", Product: "OpenSSH", Version: "9.2p1", ExtraInfo: "protocol 2.0",
		Method: "probed", Conf: 10, CPE: []string{"cpe:/a:openbsd:openssh:9.2p1"}}
	res := []Result{ssh, port("198.18.0.2", 80, target.TCP, Closed, Reset, 64)}
	for p := uint16(1000); p < 1030; p++ {
		res = append(res, port("198.18.0.2", p, target.TCP, Filtered, NoResponse, 0))
	}
	res = append(res, port("198.18.0.2", 1030, target.TCP, Filtered, AdminProhibited, 63))
	res = append(res, port("2001:db8::2", 443, target.TCP, Open, SynAck, 64))
	res[len(res)-1].Service = &Service{Name: "http", Tunnel: "ssl", Method: "probed", Conf: 8}
	return hosts, res
}

var runA = RunInfo{Scanner: "portsense", Args: "portsense -sS -p 22,80,1000-1030,443 198.18.0.0/28 --reason", Version: "0.1",
	Start: t0, End: t0.Add(2500 * time.Millisecond), ScanType: "syn", Proto: target.TCP, Ports: "22,80,443,1000-1030"}

func feed(t testing.TB, w Writer, hosts []Host, res []Result) {
	t.Helper()
	// Interleave and reverse to show that order does not matter.
	for i := max(len(res), len(hosts)) - 1; i >= 0; i-- {
		if i < len(res) {
			if err := w.WriteResult(res[i]); err != nil {
				t.Fatal(err)
			}
		}
		if i < len(hosts) {
			if err := w.WriteHost(hosts[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

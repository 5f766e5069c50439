package result_test

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

var start = time.Date(2026, 11, 27, 16, 16, 53, 0, time.UTC)

// scan returns a small scan of 198.18.0.2: ssh open, http closed and 40
// filtered ports.
func scan() (result.Host, []result.Result) {
	h := result.Host{Addr: netip.MustParseAddr("198.18.0.2"), State: result.HostUp,
		Reason: result.EchoReply, ReplyTTL: 64, RTT: 210 * time.Microsecond, Time: start}
	at := func(port uint16, st result.State, why result.Reason, ttl uint8) result.Result {
		return result.Result{AddrPort: netip.AddrPortFrom(h.Addr, port), Proto: target.TCP,
			State: st, Reason: why, ReplyTTL: ttl, Tries: 1, Time: start}
	}
	rs := []result.Result{at(22, result.Open, result.SynAck, 64), at(80, result.Closed, result.Reset, 64)}
	rs[0].Service = &result.Service{Name: "ssh", Product: "OpenSSH", Version: "9.2p1", Method: "probed", Conf: 10}
	for p := uint16(8000); p < 8040; p++ {
		rs = append(rs, at(p, result.Filtered, result.NoResponse, 0))
	}
	return h, rs
}

func writeAll(w result.Writer) {
	h, rs := scan()
	w.WriteHost(h)
	for _, r := range rs {
		w.WriteResult(r)
	}
	if err := w.Close(); err != nil {
		fmt.Println(err)
	}
}

func ExampleJSONLWriter() {
	var buf bytes.Buffer
	w := result.NewJSONLWriter(&buf)
	w.WriteResult(result.Result{
		AddrPort: netip.MustParseAddrPort("198.18.0.2:22"), Proto: target.TCP,
		State: result.Open, Reason: result.SynAck, ReplyTTL: 64,
		RTT: 123456 * time.Nanosecond, Tries: 1, Time: start,
	})
	w.WriteHost(result.Host{Addr: netip.MustParseAddr("2001:db8::1"), State: result.HostDown, Reason: result.NoResponse})
	w.Close()
	fmt.Print(buf.String())

	// Read the stream back.
	for rec, err := range result.NewJSONLReader(&buf).All() {
		switch {
		case err != nil:
			fmt.Println(err)
		case rec.Result != nil:
			fmt.Println("port:", rec.Result, rec.Result.RTT)
		case rec.Host != nil:
			fmt.Println("host:", rec.Host)
		}
	}
	// Output:
	// {"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"rtt_us":123.456,"tries":1,"time":"2026-11-27T16:16:53Z"}
	// {"type":"host","addr":"2001:db8::1","state":"down","reason":"no-response"}
	// port: 198.18.0.2:22/tcp open syn-ack 123.456µs
	// host: 2001:db8::1 down no-response
}

func ExampleJSONLReader_Next() {
	in := `{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack"}

{"type":"port","addr":"198.18.0.2","port":23,"proto":"tcp","state":"opne"}
`
	r := result.NewJSONLReader(strings.NewReader(in))
	for {
		rec, err := r.Next()
		if err != nil {
			fmt.Println(err)
			if _, bad := err.(*result.DecodeError); bad {
				continue // skip the bad line
			}
			break
		}
		fmt.Println(rec.Result)
	}
	// Output:
	// 198.18.0.2:22/tcp open syn-ack
	// result: line 3: bad state "opne"
	// EOF
}

func ExampleMerge() {
	shard := func(lines ...string) *strings.Reader { return strings.NewReader(strings.Join(lines, "\n")) }
	a := shard(`{"type":"port","addr":"198.18.0.2","port":80,"proto":"tcp","state":"filtered","reason":"no-response"}`,
		`{"type":"port","addr":"198.18.0.1","port":22,"proto":"tcp","state":"open","reason":"syn-ack"}`)
	b := shard(`{"type":"port","addr":"198.18.0.2","port":80,"proto":"tcp","state":"open","reason":"syn-ack"}`,
		`{"type":"host","addr":"198.18.0.2","state":"up","reason":"echo-reply"}`)
	w := result.NewJSONLWriter(os.Stdout)
	if err := result.Merge(w, a, b); err != nil {
		fmt.Println(err)
	}
	w.Close()
	// Output:
	// {"type":"port","addr":"198.18.0.1","port":22,"proto":"tcp","state":"open","reason":"syn-ack"}
	// {"type":"host","addr":"198.18.0.2","state":"up","reason":"echo-reply"}
	// {"type":"port","addr":"198.18.0.2","port":80,"proto":"tcp","state":"open","reason":"syn-ack"}
}

func ExampleGrepWriter() {
	writeAll(result.NewGrepWriter(os.Stdout, result.RunInfo{
		Scanner: "portsense", Version: "0.1", Args: "scan -p 22,80,8000-8039 198.18.0.2",
		Start: start, End: start.Add(1500 * time.Millisecond),
		ScanType: "syn", Proto: target.TCP, Ports: "22,80,8000-8039",
	}))
	// Output:
	// # portsense 0.1 scan initiated Fri Nov 27 16:16:53 2026 as: scan -p 22,80,8000-8039 198.18.0.2
	// # Ports scanned: TCP(42;22,80,8000-8039)
	// Host: 198.18.0.2 ()	Status: Up
	// Host: 198.18.0.2 ()	Ports: 22/open/tcp//ssh//OpenSSH 9.2p1/, 80/closed/tcp//http///	Ignored State: filtered (40)
	// # portsense done at Fri Nov 27 16:16:54 2026 -- 1 IP address (1 host up) scanned in 1.50 seconds
}

func ExampleTableWriter() {
	writeAll(result.NewTableWriter(os.Stdout))
	// Output:
	// Scan report for 198.18.0.2
	// Host is up, received echo-reply ttl 64 (0.00021s latency).
	// Not shown: 40 filtered tcp ports (no-response)
	// PORT   STATE  SERVICE REASON         VERSION
	// 22/tcp open   ssh     syn-ack ttl 64 OpenSSH 9.2p1
	// 80/tcp closed http    reset ttl 64
	//
	// Done: 1 IP address (1 host up)
}

// A ReportWriter buffers the run once for several formats: here the
// greppable output and the table, each the bytes of its own writer.
func ExampleReportWriter() {
	var grep, table bytes.Buffer
	writeAll(result.NewReportWriter(result.RunInfo{
		Scanner: "portsense", Version: "0.1", Args: "scan -p 22,80,8000-8039 198.18.0.2",
		Start: start, End: start.Add(1500 * time.Millisecond),
		ScanType: "syn", Proto: target.TCP, Ports: "22,80,8000-8039",
	}, nil, &grep, &table))
	fmt.Print(grep.String(), "--\n", table.String())
	// Output:
	// # portsense 0.1 scan initiated Fri Nov 27 16:16:53 2026 as: scan -p 22,80,8000-8039 198.18.0.2
	// # Ports scanned: TCP(42;22,80,8000-8039)
	// Host: 198.18.0.2 ()	Status: Up
	// Host: 198.18.0.2 ()	Ports: 22/open/tcp//ssh//OpenSSH 9.2p1/, 80/closed/tcp//http///	Ignored State: filtered (40)
	// # portsense done at Fri Nov 27 16:16:54 2026 -- 1 IP address (1 host up) scanned in 1.50 seconds
	// --
	// Scan report for 198.18.0.2
	// Host is up, received echo-reply ttl 64 (0.00021s latency).
	// Not shown: 40 filtered tcp ports (no-response)
	// PORT   STATE  SERVICE REASON         VERSION
	// 22/tcp open   ssh     syn-ack ttl 64 OpenSSH 9.2p1
	// 80/tcp closed http    reset ttl 64
	//
	// Done: 1 IP address (1 host up)
}

func ExampleXMLWriter() {
	var buf bytes.Buffer
	writeAll(result.NewXMLWriter(&buf, result.RunInfo{
		Args: "scan 198.18.0.2", Start: start, End: start.Add(time.Second),
		ScanType: "syn", Proto: target.TCP, Ports: "22,80,8000-8039",
	}))
	// Print the <ports> part of the document.
	doc := buf.String()
	fmt.Print(doc[strings.Index(doc, "<ports>"):strings.Index(doc, "</ports>")])
	// Output:
	// <ports><extraports state="filtered" count="40">
	// <extrareasons reason="no-response" count="40" proto="tcp" ports="8000-8039"/>
	// </extraports>
	// <port protocol="tcp" portid="22"><state state="open" reason="syn-ack" reason_ttl="64"/><service name="ssh" product="OpenSSH" version="9.2p1" method="probed" conf="10"/></port>
	// <port protocol="tcp" portid="80"><state state="closed" reason="reset" reason_ttl="64"/><service name="http" method="table" conf="3"/></port>
}

func ExampleParseState() {
	s, err := result.ParseState("open|filtered")
	fmt.Println(s, err)
	_, err = result.ParseState("opne")
	fmt.Println(err)
	// Output:
	// open|filtered <nil>
	// result: unknown port state "opne"
}

func ExampleParseReason() {
	r, err := result.ParseReason("port-unreach")
	fmt.Println(r, err)
	_, err = result.ParseReason("because")
	fmt.Println(err)
	// Output:
	// port-unreach <nil>
	// result: unknown reason "because"
}

func ExampleResult_MoreInformative() {
	silent := result.Result{State: result.Filtered, Reason: result.NoResponse}
	icmp := result.Result{State: result.Filtered, Reason: result.AdminProhibited}
	open := result.Result{State: result.Open, Reason: result.SynAck}
	fmt.Println(icmp.MoreInformative(silent), open.MoreInformative(icmp), silent.MoreInformative(open))
	// Output: true true false
}

// A LiveTableWriter prints open ports as they come and counts the rest.
func ExampleLiveTableWriter() {
	w := result.NewLiveTableWriter(os.Stdout, 2)
	a, b := netip.MustParseAddr("198.18.0.2"), netip.MustParseAddr("198.18.0.3")
	for p := uint16(20); p < 25; p++ {
		r := result.Result{AddrPort: netip.AddrPortFrom(a, p), Proto: target.TCP, State: result.Closed, Reason: result.Reset}
		if p == 22 {
			r.State, r.Reason, r.ReplyTTL = result.Open, result.SynAck, 64
		}
		w.WriteResult(r)
	}
	w.WriteResult(result.Result{AddrPort: netip.AddrPortFrom(b, 80), Proto: target.TCP, State: result.Filtered, Reason: result.NoResponse})
	w.Close()
	// Output:
	// HOST            PORT      STATE SERVICE      REASON
	// 198.18.0.2      22/tcp    open  ssh          syn-ack ttl 64
	// Not shown: 4 closed tcp ports (reset), 1 filtered tcp port (no-response)
	// Done: 1 open port on 2 IP addresses scanned
}

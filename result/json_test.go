package result

import (
	"encoding/json"
	"errors"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// sameResult compares results, times by instant.
func sameResult(a, b Result) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func sameHost(a, b Host) bool {
	if !a.Time.Equal(b.Time) {
		return false
	}
	a.Time, b.Time = time.Time{}, time.Time{}
	return reflect.DeepEqual(a, b)
}

func TestResultJSONRoundTrip(t *testing.T) {
	_, res := scanA()
	extra := []Result{
		{AddrPort: netip.MustParseAddrPort("198.18.0.1:0"), Proto: target.UDP, State: OpenFiltered, Reason: NoResponse},
		{AddrPort: netip.MustParseAddrPort("[fe80::1%eth0]:65535"), Proto: 132, State: ClosedFiltered, Reason: Sent,
			RTT: 1234567 * time.Nanosecond, Tries: 3, Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))},
		{AddrPort: netip.MustParseAddrPort("198.18.0.1:7"), Proto: target.TCP, State: Unfiltered, Reason: Reset,
			RTT: -1500 * time.Nanosecond, Tries: -1},
		{AddrPort: netip.MustParseAddrPort("198.18.0.1:8"), Proto: target.TCP, State: Open, Reason: ServiceBanner,
			RTT: 1, Service: &Service{Name: "we\"ird\\\n\t\x01<>&", Product: "日本語 😀", Method: "table", Conf: 3}},
		{AddrPort: netip.MustParseAddrPort("[::ffff:198.18.0.1]:9"), Proto: target.TCP, State: Open, Reason: SynAck},
		{AddrPort: netip.MustParseAddrPort("198.18.0.1:10"), Proto: target.TCP, State: Closed, Reason: Reset,
			Source: netip.MustParseAddr("198.18.0.200")},
		{AddrPort: netip.MustParseAddrPort("[2001:db8::1]:11"), Proto: target.TCP, State: Open, Reason: SynAck,
			Source: netip.MustParseAddr("2001:db8::99")},
	}
	for _, r := range append(res, extra...) {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("marshal %v: %v", r, err)
		}
		var got Result
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !sameResult(r, got) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, got, r)
		}
		// The output is plain JSON that encoding/json reads the same way.
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("encoding/json rejects %s: %v", b, err)
		}
		if m["type"] != "port" || m["addr"] != r.AddrPort.Addr().String() || m["port"] != float64(r.AddrPort.Port()) ||
			m["state"] != r.State.String() || m["reason"] != r.Reason.String() || m["proto"] != r.Proto.String() {
			t.Errorf("fields of %s as encoding/json sees them: %v", b, m)
		}
		if r.Service != nil {
			svc := m["service"].(map[string]any)
			if svc["name"] != r.Service.Name || svc["method"] != r.Service.Method || svc["conf"] != float64(r.Service.Conf) {
				t.Errorf("service of %s: %v", b, svc)
			}
		}
	}
}

func TestResultJSONSchema(t *testing.T) {
	r := Result{
		AddrPort: netip.MustParseAddrPort("198.18.0.2:22"), Proto: target.TCP, State: Open, Reason: SynAck,
		ReplyTTL: 64, RTT: 123456 * time.Nanosecond, Tries: 1, Time: time.Date(2026, 11, 27, 16, 16, 53, 500, time.UTC),
		Service: &Service{Name: "ssh", Method: "table", Conf: 3},
	}
	b, err := r.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,` +
		`"rtt_us":123.456,"tries":1,"time":"2026-11-27T16:16:53.0000005Z","service":{"name":"ssh","method":"table","conf":3}}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	h := Host{Addr: netip.MustParseAddr("2001:db8::1"), State: HostUp, Reason: EchoReply, ReplyTTL: 64,
		RTT: 98 * time.Microsecond, Warnings: []string{"a", "b"}}
	b, err = h.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	want = `{"type":"host","addr":"2001:db8::1","state":"up","reason":"echo-reply","ttl":64,"rtt_us":98,"warnings":["a","b"]}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
}

func TestHostJSONRoundTrip(t *testing.T) {
	hosts, _ := scanA()
	hosts = append(hosts, Host{Addr: netip.MustParseAddr("198.18.0.3"), State: HostUnknown, Reason: HostTimeout,
		Warnings: []string{"syn-proxy: every probed port answered SYN-ACK", "ünïcode \u2028"}})
	for _, h := range hosts {
		b, err := json.Marshal(h)
		if err != nil {
			t.Fatal(err)
		}
		var got Host
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("unmarshal %s: %v", b, err)
		}
		if !sameHost(h, got) {
			t.Errorf("round trip of %s:\n got %+v\nwant %+v", b, got, h)
		}
	}
}

func TestJSONReadsForeignEncodings(t *testing.T) {
	// What other producers may write: escapes, other key order, spaces,
	// time offsets, unknown fields, nulls.
	in := ` { "state" : "open" , "unknown":{"a":[1,2.5e3,true,false,null,"x"]}, "proto":"udp",
		"port":53, "addr":"198.18.0.\u0033", "type":"port", "reason":"udp-response",
		"time":"2026-11-27T17:16:53.25+01:00", "service":null,
		"rtt_us": 0.5 , "ttl":255 } `
	var r Result
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	want := Result{AddrPort: netip.MustParseAddrPort("198.18.0.3:53"), Proto: target.UDP, State: Open,
		Reason: UDPResponse, ReplyTTL: 255, RTT: 500 * time.Nanosecond,
		Time: time.Date(2026, 11, 27, 16, 16, 53, 250_000_000, time.UTC)}
	if !sameResult(r, want) {
		t.Errorf("got %+v\nwant %+v", r, want)
	}

	var h Host
	if err := json.Unmarshal([]byte(`{"addr":"198.18.0.4","state":"down","warnings":["\ud83d\ude00\u00e9\/","\ud800"]}`), &h); err != nil {
		t.Fatal(err)
	}
	if h.State != HostDown || h.Reason != NoReason || !reflect.DeepEqual(h.Warnings, []string{"😀é/", "\uFFFD"}) {
		t.Errorf("got %+v", h)
	}
}

func TestJSONDecodeErrors(t *testing.T) {
	for _, tc := range []struct {
		in, field, msg string
	}{
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"opne"}`, "state", `bad state "opne"`},
		{`{"type":"host","addr":"198.18.0.2","state":"open"}`, "state", `bad state "open"`},
		{`{"type":"port","addr":"198.18.0.256","port":22,"proto":"tcp","state":"open"}`, "addr", `bad addr "198.18.0.256"`},
		{`{"type":"port","addr":"198.18.0.2","port":65536,"proto":"tcp","state":"open"}`, "port", `bad port 65536`},
		{`{"type":"port","addr":"198.18.0.2","port":-1,"proto":"tcp","state":"open"}`, "port", `bad port -1`},
		{`{"type":"port","addr":"198.18.0.2","port":2.5,"proto":"tcp","state":"open"}`, "port", `bad port 2.5`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"sctp","state":"open"}`, "proto", `bad proto "sctp"`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"proto-0","state":"open"}`, "proto", `bad proto "proto-0"`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"because"}`, "reason", `bad reason "because"`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","ttl":256}`, "ttl", `bad ttl 256`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","rtt_us":1e3}`, "rtt_us", `bad rtt_us 1e3`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","time":"yesterday"}`, "time", `bad time "yesterday"`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","time":"2026-02-31T00:00:00Z"}`, "time", `bad time`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","tries":99999999999}`, "tries", `bad tries`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","service":{"conf":"high"}}`, "", `bad JSON`},
		{`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","service":{"conf":1.5}}`, "service.conf", `bad service.conf 1.5`},
		{`{"type":"service","addr":"198.18.0.2"}`, "type", `bad type "service"`},
		{`{"type":"host","state":"up"}`, "addr", `missing "addr"`},
		{`{"type":"host","addr":"198.18.0.2"}`, "state", `missing "state"`},
		{`{"type":"port","addr":"198.18.0.2","proto":"tcp","state":"open"}`, "port", `missing "port"`},
		{`{"type":"port","addr":"198.18.0.2","port":1,"state":"open"}`, "proto", `missing "proto"`},
		{`{"addr":"198.18.0.2","state":"up"}`, "type", `missing "type"`},
		{`{"type":"port",`, "", `bad JSON at column 16: unexpected end`},
		{`{"type":"port"} x`, "", `bad JSON at column 17: unexpected 'x' after object`},
		{`{"type":"po` + "\x01" + `rt"}`, "", `control character`},
		{`{"type":"\x"}`, "", `bad escape`},
		{`{"type":"\u12"}`, "", `bad \u escape`},
		{`[1,2]`, "", `bad JSON at column 1`},
		{``, "", `unexpected end`},
		{`{"a":tru}`, "", `bad literal`},
		{`{"a":01}`, "", `unexpected`},
		{`{"a":-}`, "", `unexpected`},
		{`{"a":1.}`, "", `no digits after decimal point`},
		{`{"a":1e}`, "", `no digits in exponent`},
		{`{"a":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, "", `nesting deeper than 64`},
	} {
		var d decoder
		_, err := d.decode([]byte(tc.in), 3, kindNone)
		var de *DecodeError
		if !errors.As(err, &de) {
			t.Errorf("%s: error %v is not a *DecodeError", tc.in, err)
			continue
		}
		if de.Line != 3 || de.Field != tc.field || !strings.HasPrefix(err.Error(), "result: line 3: ") ||
			!strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s:\n got %q (field %q)\nwant %q (field %q)", tc.in, err, de.Field, tc.msg, tc.field)
		}
	}
	// The message the package documents, exactly.
	var d decoder
	_, err := d.decode([]byte(`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"opne"}`), 3, kindNone)
	if got := err.Error(); got != `result: line 3: bad state "opne"` {
		t.Errorf("got %q", got)
	}
	// A lone value has no line.
	var r Result
	if err := r.UnmarshalJSON([]byte(`{"type":"host","addr":"198.18.0.2","state":"up"}`)); err == nil ||
		err.Error() != `result: type "host" where "port" was wanted` {
		t.Errorf("got %v", err)
	}
}

func TestJSONMarshalErrors(t *testing.T) {
	ok := port("198.18.0.2", 22, target.TCP, Open, SynAck, 64)
	for name, r := range map[string]Result{
		"no address":  {Proto: target.TCP, State: Open},
		"proto 0":     {AddrPort: ok.AddrPort, State: Open},
		"bad state":   {AddrPort: ok.AddrPort, Proto: target.TCP, State: 99},
		"bad reason":  {AddrPort: ok.AddrPort, Proto: target.TCP, Reason: 200},
		"year 10000":  {AddrPort: ok.AddrPort, Proto: target.TCP, Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
		"year before": {AddrPort: ok.AddrPort, Proto: target.TCP, Time: time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		if b, err := r.MarshalJSON(); err == nil || !strings.HasPrefix(err.Error(), "result: ") {
			t.Errorf("%s: got %s, %v; want an error", name, b, err)
		}
	}
	for name, h := range map[string]Host{
		"no address": {State: HostUp},
		"bad state":  {Addr: ok.AddrPort.Addr(), State: 9},
		"bad reason": {Addr: ok.AddrPort.Addr(), Reason: 99},
	} {
		if b, err := h.MarshalJSON(); err == nil {
			t.Errorf("%s: got %s; want an error", name, b)
		}
	}
}

func TestJSONStringEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          `"plain"`,
		"a\"b\\c":        `"a\"b\\c"`,
		"\n\r\t\x00\x1f": `"\n\r\t\u0000\u001f"`,
		"bad\xffutf8":    `"bad\ufffdutf8"`,
		"ok é 😀 <&>":     `"ok é 😀 <&>"`,
	} {
		if got := string(appendString(nil, in)); got != want {
			t.Errorf("appendString(%q) = %s, want %s", in, got, want)
		}
		var back string
		if err := json.Unmarshal([]byte(appendString(nil, in)), &back); err != nil {
			t.Errorf("%q: %v", in, err)
		}
	}
}

func TestMicros(t *testing.T) {
	for d, want := range map[time.Duration]string{
		1: "0.001", 10: "0.01", 1000: "1", 1500: "1.5", 123456: "123.456", -1500: "-1.5",
		time.Duration(-1 << 63): "-9223372036854775.808", 1<<63 - 1: "9223372036854775.807",
	} {
		got := string(appendMicros(nil, d))
		if got != want {
			t.Errorf("appendMicros(%d) = %s, want %s", d, got, want)
		}
		back, ok := parseMicros([]byte(got))
		if !ok || back != d {
			t.Errorf("parseMicros(%s) = %d, %v; want %d", got, back, ok, d)
		}
	}
	if d, ok := parseMicros([]byte("1.23456")); !ok || d != 1234 {
		t.Errorf("extra digits: got %d, %v", d, ok)
	}
	for _, bad := range []string{"", "-", "1.x", "9223372036854776", "1e3"} {
		if _, ok := parseMicros([]byte(bad)); ok {
			t.Errorf("parseMicros(%q) accepted", bad)
		}
	}
}

func TestAppendJSONAllocs(t *testing.T) {
	_, res := scanA()
	r := res[0] // with service and CPE
	h, _ := scanA()
	buf := make([]byte, 0, 1024)
	if n := testing.AllocsPerRun(100, func() {
		buf, _ = r.AppendJSON(buf[:0])
		buf, _ = h[0].AppendJSON(buf[:0])
	}); n != 0 {
		t.Errorf("AppendJSON allocates %v times, want 0", n)
	}
}

func TestDecodeAllocs(t *testing.T) {
	line := []byte(`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","ttl":64,"rtt_us":150,"tries":1,"time":"2026-11-27T16:16:53.022Z"}`)
	var d decoder
	// One allocation: the *Result the Record points to.
	if n := testing.AllocsPerRun(100, func() {
		if _, err := d.decode(line, 1, kindNone); err != nil {
			t.Fatal(err)
		}
	}); n > 1 {
		t.Errorf("decode allocates %v times, want at most 1", n)
	}
}

package result

import (
	"bytes"
	"encoding/json"
	"io"
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

func benchResults(n int, v6 bool) []Result {
	base := netip.MustParseAddr("198.18.0.0")
	if v6 {
		base = netip.MustParseAddr("2001:db8::")
	}
	rs := make([]Result, n)
	for i := range rs {
		a := base
		for range i % 250 {
			a = a.Next()
		}
		rs[i] = Result{AddrPort: netip.AddrPortFrom(a, uint16(i)), Proto: target.TCP, State: Closed, Reason: Reset,
			ReplyTTL: 64, RTT: time.Duration(100_000 + i), Tries: 1, Time: t0.Add(time.Duration(i) * time.Microsecond)}
	}
	return rs
}

func BenchmarkJSONLEncode(b *testing.B) {
	rs := benchResults(1000, false)
	w := NewJSONLWriter(io.Discard)
	line, _ := rs[0].AppendJSON(nil)
	b.SetBytes(int64(len(line) + 1))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := w.WriteResult(rs[i%len(rs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONLEncodeService(b *testing.B) {
	_, res := scanA()
	r := res[0] // service with CPE
	w := NewJSONLWriter(io.Discard)
	b.ReportAllocs()
	for b.Loop() {
		if err := w.WriteResult(r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONStdlibEncode is the reflective baseline the hand-written
// encoder replaces: the same fields through encoding/json.
func BenchmarkJSONStdlibEncode(b *testing.B) {
	type wire struct {
		Type   string  `json:"type"`
		Addr   string  `json:"addr"`
		Port   uint16  `json:"port"`
		Proto  string  `json:"proto"`
		State  string  `json:"state"`
		Reason string  `json:"reason"`
		TTL    uint8   `json:"ttl,omitempty"`
		RTT    float64 `json:"rtt_us,omitempty"`
		Tries  int     `json:"tries,omitempty"`
		Time   string  `json:"time,omitempty"`
	}
	rs := benchResults(1000, false)
	enc := json.NewEncoder(io.Discard)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r := rs[i%len(rs)]
		enc.Encode(wire{"port", r.AddrPort.Addr().String(), r.AddrPort.Port(), r.Proto.String(), r.State.String(),
			r.Reason.String(), r.ReplyTTL, float64(r.RTT) / 1e3, r.Tries, r.Time.Format(time.RFC3339Nano)})
	}
}

// cycle reads b over and over.
type cycle struct {
	b   []byte
	off int
}

func (c *cycle) Read(p []byte) (int, error) {
	n := copy(p, c.b[c.off:])
	c.off = (c.off + n) % len(c.b)
	return n, nil
}

func benchDecode(b *testing.B, rs []Result) {
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for _, r := range rs {
		w.WriteResult(r)
	}
	b.SetBytes(int64(buf.Len() / len(rs)))
	r := NewJSONLReader(&cycle{b: buf.Bytes()})
	b.ReportAllocs()
	for b.Loop() {
		rec, err := r.Next()
		if err != nil || rec.Result == nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkJSONLDecode(b *testing.B)     { benchDecode(b, benchResults(1000, false)) }
func BenchmarkJSONLDecodeIPv6(b *testing.B) { benchDecode(b, benchResults(1000, true)) }

func BenchmarkJSONStdlibDecode(b *testing.B) {
	line, _ := benchResults(1, false)[0].AppendJSON(nil)
	var m struct {
		Type, Addr, Proto, State, Reason, Time string
		Port                                   uint16
		TTL                                    uint8 `json:"ttl"`
		RTT                                    float64
		Tries                                  int
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkXMLWriter writes a 1000-port scan of one host (mostly closed,
// so summarised) as one op.
func BenchmarkXMLWriter(b *testing.B) {
	rs := benchResults(1000, false)
	for i := range rs {
		rs[i].AddrPort = netip.AddrPortFrom(netip.MustParseAddr("198.18.0.2"), uint16(i+1))
	}
	rs[21].State, rs[21].Reason = Open, SynAck
	b.ReportAllocs()
	for b.Loop() {
		w := NewXMLWriter(io.Discard, RunInfo{Start: t0, End: t0})
		w.WriteHost(host("198.18.0.2", HostUp, EchoReply))
		for _, r := range rs {
			w.WriteResult(r)
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJSONLEncodeDark writes the common record of a dark scan:
// filtered, no-response, one try, in bursts of 64 that share their time
// (the engine finishes a block of silent first tries at once).
func BenchmarkJSONLEncodeDark(b *testing.B) {
	rs := make([]Result, 4096)
	for i := range rs {
		a := netip.AddrFrom4([4]byte{198, 18, 128 + byte(i>>8&127), byte(i)})
		rs[i] = Result{AddrPort: netip.AddrPortFrom(a, uint16(1+i%32)), Proto: target.TCP, State: Filtered,
			Reason: NoResponse, Tries: 1, Time: t0.Add(time.Duration(i/64) * 250 * time.Microsecond)}
	}
	w := NewJSONLWriter(io.Discard)
	line, _ := rs[0].AppendJSON(nil)
	b.SetBytes(int64(len(line) + 1))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := w.WriteResult(rs[i%len(rs)]); err != nil {
			b.Fatal(err)
		}
	}
}

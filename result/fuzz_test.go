package result

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"io"
	"testing"
)

// FuzzJSONLReader feeds arbitrary streams to the decoder. It checks that
// nothing panics, that whatever decodes re-encodes and decodes to an equal
// record with identical bytes, that every accepted line is valid JSON to
// encoding/json, and that JSONLReader agrees with line-by-line decoding.
// The seed corpus is in testdata/fuzz/FuzzJSONLReader.
func FuzzJSONLReader(f *testing.F) {
	hosts, res := scanA()
	var buf bytes.Buffer
	w := NewJSONLWriter(&buf)
	for _, h := range hosts {
		w.WriteHost(h)
	}
	for _, r := range res[:3] {
		w.WriteResult(r)
	}
	f.Add(buf.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		var d decoder
		good := 0
		for line := range bytes.SplitSeq(in, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			rec, err := d.decode(line, 1, kindNone)
			if err != nil {
				if _, ok := err.(*DecodeError); !ok {
					t.Fatalf("error %v is %T, not *DecodeError", err, err)
				}
				continue
			}
			good++
			if !json.Valid(line) {
				t.Fatalf("accepted invalid JSON %q", line)
			}
			var enc []byte
			if rec.Host != nil {
				enc, err = rec.Host.AppendJSON(nil)
			} else {
				enc, err = rec.Result.AppendJSON(nil)
			}
			if err != nil {
				t.Fatalf("decoded %q but cannot re-encode: %v", line, err)
			}
			var d2 decoder
			rec2, err := d2.decode(enc, 1, kindNone)
			if err != nil {
				t.Fatalf("re-encoding %q of %q does not decode: %v", enc, line, err)
			}
			var enc2 []byte
			if rec.Host != nil {
				if rec2.Host == nil || !sameHost(*rec.Host, *rec2.Host) {
					t.Fatalf("host changed: %q -> %q", line, enc)
				}
				enc2, _ = rec2.Host.AppendJSON(nil)
			} else {
				if rec2.Result == nil || !sameResult(*rec.Result, *rec2.Result) {
					t.Fatalf("result changed: %q -> %q\n%+v\n%+v", line, enc, *rec.Result, *rec2.Result)
				}
				enc2, _ = rec2.Result.AppendJSON(nil)
			}
			if !bytes.Equal(enc, enc2) {
				t.Fatalf("encoding not stable:\n%s\n%s", enc, enc2)
			}
		}
		n := 0
		r := NewJSONLReader(bytes.NewReader(in))
		for {
			_, err := r.Next()
			if err == io.EOF {
				break
			}
			if err == nil {
				n++
			} else if _, ok := err.(*DecodeError); !ok {
				t.Fatalf("reader error %v", err)
			}
		}
		if n != good {
			t.Fatalf("reader decoded %d records, line by line %d", n, good)
		}
	})
}

// FuzzXMLWriter writes whatever decodes from a JSON Lines stream as nmap
// XML, greppable and table output, and checks that the XML stays
// well-formed (encoding/xml rejects characters XML forbids) and that the
// text outputs keep one record per line.
func FuzzXMLWriter(f *testing.F) {
	f.Add([]byte(`{"type":"port","addr":"198.18.0.2","port":22,"proto":"tcp","state":"open","service":{"name":"a\u0000<b>\"--","method":"probed","conf":99,"cpe":["\ud800"]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var xbuf, gbuf, tbuf bytes.Buffer
		w := Multi(NewXMLWriter(&xbuf, RunInfo{Args: string(in)}), NewGrepWriter(&gbuf, RunInfo{}), NewTableWriter(&tbuf))
		hosts := map[string]bool{}
		for rec, err := range NewJSONLReader(bytes.NewReader(in)).All() {
			switch {
			case err != nil:
			case rec.Host != nil:
				w.WriteHost(*rec.Host)
				hosts[rec.Host.Addr.String()] = true
			default:
				w.WriteResult(*rec.Result)
				hosts[rec.Result.AddrPort.Addr().String()] = true
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		var run nmapRun
		if err := xml.Unmarshal(xbuf.Bytes(), &run); err != nil {
			t.Fatalf("XML does not parse: %v\n%s", err, xbuf.Bytes())
		}
		if len(run.Hosts) != len(hosts) {
			t.Fatalf("%d hosts in XML, %d written", len(run.Hosts), len(hosts))
		}
		for line := range bytes.SplitSeq(gbuf.Bytes(), []byte("\n")) {
			if len(line) > 0 && !bytes.HasPrefix(line, []byte("# ")) && !bytes.HasPrefix(line, []byte("Host: ")) {
				t.Fatalf("greppable line %q", line)
			}
		}
	})
}

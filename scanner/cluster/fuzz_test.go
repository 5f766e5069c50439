package cluster

import (
	"bytes"
	"encoding/json"
	"testing"
)

// Result chunks come from any client of the NATS server: decoding must
// never panic, and what decodes must encode back to the same bytes.
func FuzzDecodeChunk(f *testing.F) {
	b, _ := appendChunk(nil, sampleChunk())
	f.Add(b)
	f.Add([]byte("PSC\x01\x00\x00\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := decodeChunk(in)
		if err != nil {
			return
		}
		out, err := appendChunk(nil, c)
		if err != nil {
			t.Fatalf("decoded chunk does not encode: %v", err)
		}
		c2, err := decodeChunk(out)
		if err != nil {
			t.Fatalf("re-encoded chunk does not decode: %v", err)
		}
		out2, _ := appendChunk(nil, c2)
		if !bytes.Equal(out, out2) {
			t.Fatalf("encoding not stable:\n%x\n%x", out, out2)
		}
	})
}

func FuzzDecodeTask(f *testing.F) {
	f.Add(encodeTask(3))
	f.Add([]byte(`{"version":1,"task":18446744073709551615}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		k, err := decodeTask(in)
		if err != nil {
			return
		}
		if k2, err := decodeTask(encodeTask(k)); err != nil || k2 != k {
			t.Fatalf("task %d does not round-trip: %d, %v", k, k2, err)
		}
	})
}

// Scan records (with their spec) come from the key-value bucket.
func FuzzDecodeRecord(f *testing.F) {
	s := testSpec()
	sj, _ := json.Marshal(s)
	rec := record{Version: recordVersion, Spec: sj, Tasks: s.Tasks(), State: stateRunning}
	f.Add(rec.encode())
	f.Add(sj)
	f.Fuzz(func(t *testing.T, in []byte) {
		_, spec, err := decodeRecord(in)
		if err != nil {
			return
		}
		b, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("decoded spec does not encode: %v", err)
		}
		var again Spec
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("re-encoded spec does not decode: %v\n%s", err, b)
		}
	})
}

package cluster

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func sampleChunk() *chunk {
	at := time.Unix(1_800_000_000, 123456789)
	return &chunk{
		Task: 17, Attempt: 2, Index: 1, Final: true, Chunks: 2, Count: 4097,
		Elapsed: 1500 * time.Millisecond, Sent: 4200, Worker: "host-1",
		Results: []result.Result{
			{AddrPort: netip.MustParseAddrPort("198.18.0.1:22"), Proto: target.TCP, State: result.Open, Reason: result.SynAck, ReplyTTL: 64, RTT: 300 * time.Microsecond, Tries: 1, Time: at},
			{AddrPort: netip.MustParseAddrPort("[2001:db8::1]:443"), Proto: target.TCP, State: result.Filtered, Reason: result.NoResponse, Tries: 3},
		},
	}
}

func TestChunkRoundTrip(t *testing.T) {
	c := sampleChunk()
	b, err := appendChunk(nil, c)
	require.NoError(t, err)
	got, err := decodeChunk(b)
	require.NoError(t, err)
	require.Len(t, got.Results, 2)
	assert.True(t, got.Results[0].Time.Equal(c.Results[0].Time))
	got.Results[0].Time = c.Results[0].Time
	assert.Equal(t, c, got)

	c.Final, c.Chunks, c.Count, c.Elapsed, c.Sent = false, 0, 0, 0, 0
	c.Results = nil
	b, err = appendChunk(nil, c)
	require.NoError(t, err)
	got, err = decodeChunk(b)
	require.NoError(t, err)
	c.Results = []result.Result{}
	assert.Equal(t, c, got)
}

func TestChunkBadInput(t *testing.T) {
	good, err := appendChunk(nil, sampleChunk())
	require.NoError(t, err)
	mod := func(i int, v byte) []byte {
		b := append([]byte(nil), good...)
		b[i] = v
		return b
	}
	for _, c := range []struct {
		in  []byte
		err string
	}{
		{nil, "bad magic"},
		{[]byte("PSX\x01"), "bad magic"},
		{mod(3, 9), "unsupported version 9"},
		{good[:len(good)-1], "truncated"},
		{append(append([]byte(nil), good...), 0), "1 trailing bytes"},
		{good[:8], "truncated"},
		{[]byte("PSC\x01\x00\x00\x00\x04"), "unknown flags 0x4"},
		{[]byte("PSC\x01\x00\x00\x05\x01\x02\x00\x00\x00\x00\x00"), "final chunk index 5 not below chunk count 2"},
		{[]byte("PSC\x01\x00\x00\x00\x00\xff\x01"), "worker id of 255 bytes"},
		{[]byte("PSC\x01\x00\x00\x00\x00\x00\xff\xff\x03"), "cannot fit"},
		{[]byte("PSC\x01\x00\x00\x00\x00\x00\x01\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"), "unknown address family 5"},
		{[]byte("PSC\x01\x00\x00\x00\x00\x00\x01\x04\x01\x02\x03\x04\x00\x16\x06\x00\x01\x40\x00\x01\x00"), "unknown state 0"},
		{[]byte("PSC\x01\x00\x00\x00\x00\x00\x01\x04\x01\x02\x03\x04\x00\x16\x09\x01\x01\x40\x00\x01\x00"), "unknown protocol 9"},
		{[]byte("PSC\x01\x00\x00\x00\x00\x00\x01\x04\x01\x02\x03\x04\x00\x16\x06\x01\xfe\x40\x00\x01\x00"), "unknown reason 254"},
	} {
		_, err := decodeChunk(c.in)
		if assert.Error(t, err, "%q", c.in) {
			assert.Contains(t, err.Error(), c.err, "%q", c.in)
		}
	}
	_, err = appendChunk(nil, &chunk{Worker: string(make([]byte, 200))})
	assert.ErrorContains(t, err, "at most 128 bytes")
	_, err = appendChunk(nil, &chunk{Results: []result.Result{{}}})
	assert.ErrorContains(t, err, "invalid address")
	_, err = appendChunk(nil, &chunk{Results: []result.Result{{AddrPort: netip.MustParseAddrPort("198.18.0.1:1"), Service: &result.Service{}}}})
	assert.ErrorContains(t, err, "service information is not carried")
}

func TestTaskMessage(t *testing.T) {
	k, err := decodeTask(encodeTask(12345))
	require.NoError(t, err)
	assert.Equal(t, uint64(12345), k)
	for _, c := range []struct{ in, err string }{
		{``, "EOF"},
		{`{"task":1}`, "missing version"},
		{`{"version":2,"task":1}`, "unsupported version 2"},
		{`{"version":1}`, "missing task"},
		{`{"version":1,"task":-1}`, "cannot unmarshal number -1"},
		{`{"version":1,"task":1,"x":0}`, `unknown field "x"`},
		{`{"version":1,"task":1}{}`, "trailing data"},
	} {
		_, err := decodeTask([]byte(c.in))
		if assert.Error(t, err, c.in) {
			assert.Contains(t, err.Error(), c.err, c.in)
		}
	}
}

func BenchmarkChunkEncode(b *testing.B) {
	c := sampleChunk()
	for len(c.Results) < 2048 {
		c.Results = append(c.Results, c.Results[0])
	}
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf, _ = appendChunk(buf[:0], c)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkChunkDecode(b *testing.B) {
	c := sampleChunk()
	for len(c.Results) < 2048 {
		c.Results = append(c.Results, c.Results[0])
	}
	buf, _ := appendChunk(nil, c)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeChunk(buf); err != nil {
			b.Fatal(err)
		}
	}
}

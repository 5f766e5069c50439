package cluster

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"time"
	"unicode/utf8"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Wire formats of the messages workers read and write. Both are
// versioned; a reader rejects a version it does not know.
//
// A task message (work stream, subject <prefix>.task.<scan>) is JSON:
//
//	{"version":1,"task":17}
//
// Task k is shard k of Spec.Tasks() shards of the scan's permuted space
// (target.IterConfig{Seed, Shard: k, Shards: n}).
//
// A result chunk (results stream, subject <prefix>.res.<scan>) is binary,
// integers as unsigned varints unless noted:
//
//	"PSC" 0x01                     magic and version
//	task, attempt, index           the task, its delivery count, chunk number
//	flags (1 byte)                 bit 0: last chunk of the attempt
//	if last: chunks, results, elapsed (ns), probes sent
//	worker                         length (at most 128) and UTF-8 bytes
//	n                              results in this chunk, then n records:
//	  family (1 byte: 4 or 6), address (4 or 16 bytes), port (2 bytes, big
//	  endian), protocol, state, reason, reply TTL (1 byte each),
//	  RTT (ns), tries, time (signed varint, Unix ns; 0 = zero time)
//
// Service information is not carried (no v1 prober produces it).
const (
	taskVersion  = 1
	chunkVersion = 1
	maxWorkerLen = 128
	minRecord    = 1 + 4 + 2 + 4 + 3 // smallest encoded record
)

var chunkMagic = [4]byte{'P', 'S', 'C', chunkVersion}

type taskMsg struct {
	Version int    `json:"version"`
	Task    uint64 `json:"task"`
}

func encodeTask(k uint64) []byte {
	b, _ := json.Marshal(taskMsg{Version: taskVersion, Task: k})
	return b
}

// decodeTask parses a task message strictly.
func decodeTask(b []byte) (uint64, error) {
	var t struct {
		Version *int    `json:"version"`
		Task    *uint64 `json:"task"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return 0, fmt.Errorf("cluster: task message: %w", err)
	}
	if d.More() {
		return 0, errors.New("cluster: task message: trailing data")
	}
	switch {
	case t.Version == nil:
		return 0, errors.New("cluster: task message: missing version")
	case *t.Version != taskVersion:
		return 0, fmt.Errorf("cluster: task message: unsupported version %d (this reader knows %d)", *t.Version, taskVersion)
	case t.Task == nil:
		return 0, errors.New("cluster: task message: missing task")
	}
	return *t.Task, nil
}

// chunk is one message of a task attempt's results.
type chunk struct {
	Task, Attempt uint64
	Index         uint64
	Final         bool
	// Set on the final chunk only:
	Chunks  uint64        // chunks in the attempt
	Count   uint64        // results in the attempt
	Elapsed time.Duration // the task's scan time
	Sent    uint64        // probes the task sent
	Worker  string
	Results []result.Result
}

// appendChunk appends the wire form of c to b.
func appendChunk(b []byte, c *chunk) ([]byte, error) {
	if len(c.Worker) > maxWorkerLen || !utf8.ValidString(c.Worker) {
		return nil, fmt.Errorf("cluster: worker id %q: want at most %d bytes of UTF-8", c.Worker, maxWorkerLen)
	}
	b = append(b, chunkMagic[:]...)
	b = binary.AppendUvarint(b, c.Task)
	b = binary.AppendUvarint(b, c.Attempt)
	b = binary.AppendUvarint(b, c.Index)
	if c.Final {
		b = append(b, 1)
		b = binary.AppendUvarint(b, c.Chunks)
		b = binary.AppendUvarint(b, c.Count)
		b = binary.AppendUvarint(b, uint64(max(c.Elapsed, 0)))
		b = binary.AppendUvarint(b, c.Sent)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(c.Worker)))
	b = append(b, c.Worker...)
	b = binary.AppendUvarint(b, uint64(len(c.Results)))
	for i := range c.Results {
		r := &c.Results[i]
		if r.Service != nil {
			return nil, fmt.Errorf("cluster: result %v: service information is not carried by chunk version %d", r, chunkVersion)
		}
		a := r.AddrPort.Addr()
		switch {
		case a.Is4():
			b = append(b, 4)
			a4 := a.As4()
			b = append(b, a4[:]...)
		case a.Is6():
			b = append(b, 6)
			a16 := a.As16()
			b = append(b, a16[:]...)
		default:
			return nil, fmt.Errorf("cluster: result with invalid address %v", r.AddrPort)
		}
		b = binary.BigEndian.AppendUint16(b, r.AddrPort.Port())
		b = append(b, byte(r.Proto), byte(r.State), byte(r.Reason), r.ReplyTTL)
		b = binary.AppendUvarint(b, uint64(max(r.RTT, 0)))
		b = binary.AppendUvarint(b, uint64(max(r.Tries, 0)))
		var t int64
		if !r.Time.IsZero() {
			t = r.Time.UnixNano()
		}
		b = binary.AppendVarint(b, t)
	}
	return b, nil
}

// chunkReader reads the fields of a chunk and remembers the first error.
type chunkReader struct {
	b   []byte
	off int
	err error
}

func (r *chunkReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("cluster: result chunk: byte %d: %s", r.off, fmt.Sprintf(format, args...))
	}
}

func (r *chunkReader) uvarint(what string) uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad or truncated varint (%s)", what)
		return 0
	}
	r.off += n
	return v
}

func (r *chunkReader) varint(what string) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b[r.off:])
	if n <= 0 {
		r.fail("bad or truncated varint (%s)", what)
		return 0
	}
	r.off += n
	return v
}

func (r *chunkReader) bytes(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n > len(r.b)-r.off {
		r.fail("truncated %s: want %d bytes, have %d", what, n, len(r.b)-r.off)
		return nil
	}
	s := r.b[r.off : r.off+n]
	r.off += n
	return s
}

// decodeChunk parses a result chunk. Every record is checked: a known
// family, protocol, state and reason, and no trailing bytes.
func decodeChunk(b []byte) (*chunk, error) {
	if len(b) < len(chunkMagic) || !bytes.Equal(b[:3], chunkMagic[:3]) {
		return nil, errors.New("cluster: result chunk: bad magic (not a portsense result chunk)")
	}
	if b[3] != chunkVersion {
		return nil, fmt.Errorf("cluster: result chunk: unsupported version %d (this reader knows %d)", b[3], chunkVersion)
	}
	r := &chunkReader{b: b, off: 4}
	c := &chunk{}
	c.Task = r.uvarint("task")
	c.Attempt = r.uvarint("attempt")
	c.Index = r.uvarint("index")
	flags := r.bytes(1, "flags")
	if r.err == nil {
		if flags[0]&^1 != 0 {
			r.fail("unknown flags %#x", flags[0])
		}
		c.Final = flags[0]&1 != 0
	}
	if c.Final {
		c.Chunks = r.uvarint("chunks")
		c.Count = r.uvarint("count")
		el := r.uvarint("elapsed")
		if el > 1<<62 {
			r.fail("elapsed %d out of range", el)
		}
		c.Elapsed = time.Duration(el)
		c.Sent = r.uvarint("sent")
		if r.err == nil && c.Index >= c.Chunks {
			r.fail("final chunk index %d not below chunk count %d", c.Index, c.Chunks)
		}
	}
	wl := r.uvarint("worker length")
	if r.err == nil && wl > maxWorkerLen {
		r.fail("worker id of %d bytes: at most %d", wl, maxWorkerLen)
	}
	w := r.bytes(int(wl), "worker id")
	if r.err == nil && !utf8.Valid(w) {
		r.fail("worker id is not UTF-8")
	}
	c.Worker = string(w)
	n := r.uvarint("result count")
	if r.err == nil && n > uint64(len(b)-r.off)/minRecord {
		r.fail("%d results cannot fit in %d bytes", n, len(b)-r.off)
	}
	if r.err != nil {
		return nil, r.err
	}
	c.Results = make([]result.Result, 0, n)
	for range n {
		var res result.Result
		var a netip.Addr
		switch fam := r.bytes(1, "family"); {
		case fam == nil:
		case fam[0] == 4:
			if ab := r.bytes(4, "IPv4 address"); ab != nil {
				a = netip.AddrFrom4([4]byte(ab))
			}
		case fam[0] == 6:
			if ab := r.bytes(16, "IPv6 address"); ab != nil {
				a = netip.AddrFrom16([16]byte(ab))
			}
		default:
			r.fail("unknown address family %d", fam[0])
		}
		pb := r.bytes(2, "port")
		f := r.bytes(4, "protocol, state, reason and TTL")
		if r.err != nil {
			return nil, r.err
		}
		res.AddrPort = netip.AddrPortFrom(a, binary.BigEndian.Uint16(pb))
		res.Proto, res.State, res.Reason, res.ReplyTTL = target.Protocol(f[0]), result.State(f[1]), result.Reason(f[2]), f[3]
		if res.Proto != target.TCP && res.Proto != target.UDP {
			r.fail("unknown protocol %d", f[0])
		}
		if res.State == result.Unknown || res.State > result.ClosedFiltered {
			r.fail("unknown state %d", f[1])
		}
		if res.Reason > result.Sent {
			r.fail("unknown reason %d", f[2])
		}
		rtt := r.uvarint("rtt")
		if rtt > 1<<62 {
			r.fail("rtt %d out of range", rtt)
		}
		res.RTT = time.Duration(rtt)
		tries := r.uvarint("tries")
		if tries > 1<<20 {
			r.fail("tries %d out of range", tries)
		}
		res.Tries = int(tries)
		if t := r.varint("time"); t != 0 {
			res.Time = time.Unix(0, t)
		}
		if r.err != nil {
			return nil, r.err
		}
		c.Results = append(c.Results, res)
	}
	if r.off != len(b) {
		r.fail("%d trailing bytes", len(b)-r.off)
		return nil, r.err
	}
	return c, nil
}

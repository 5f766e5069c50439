package result

import (
	"bufio"
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/portsense/portsense/target"
)

// A buffering writer (XML, greppable, table) must see every record of a
// host before it writes the host, and a scan visits hosts in a random
// order. So that its memory stays bounded whatever the size of the scan,
// the collector keeps port verdicts in a compact form and, past
// spillChunk of them, sorts them and writes them as a run to an unlinked
// temporary file. Close merges the runs (and what is still in memory) by
// address, one host at a time. Runs are merged level by level, spillFanIn
// at a time, so that Close reads fewer than spillFanIn runs per level
// (1 MiB of read buffers in all) and a scan of up to 2 M verdicts writes
// each verdict to disk once.
const (
	spillChunk = 1 << 15 // records in memory before a run is written: 1.25 MiB
	spillFanIn = 64      // runs of one level merged into one run of the next
	recSize    = 40      // bytes of an encoded record
)

// rec is one port verdict in the collector's compact form. The address is
// kept as 16 bytes (IPv4 as 4-in-6, with is4 set) so that records sort
// with netip.Addr.Compare's order: IPv4 before IPv6, then by address.
type rec struct {
	hi, lo uint64
	rtt    int64
	unix   int64
	num    uint16
	proto  target.Protocol
	state  State
	reason Reason
	ttl    uint8
	is4    bool
}

func recOf(r Result) rec {
	x := rec{
		rtt: int64(r.RTT), num: r.AddrPort.Port(), proto: r.Proto,
		state: r.State, reason: r.Reason, ttl: r.ReplyTTL,
	}
	x.hi, x.lo, x.is4 = addrBits(r.AddrPort.Addr())
	if !r.Time.IsZero() {
		x.unix = r.Time.UnixNano()
	}
	return x
}

func (x *rec) addr() netip.Addr { return bitsAddr(x.hi, x.lo, x.is4) }

// addrBits splits a into the form records keep: 16 bytes (IPv4 as
// 4-in-6) and whether it is IPv4. The zone is the caller's to keep.
func addrBits(a netip.Addr) (hi, lo uint64, is4 bool) {
	b := a.As16()
	return binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]), a.Is4()
}

// bitsAddr is addrBits' inverse.
func bitsAddr(hi, lo uint64, is4 bool) netip.Addr {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	a := netip.AddrFrom16(b)
	if is4 {
		a = a.Unmap()
	}
	return a
}

// cmpAddrBits orders two addresses in addrBits' form as
// netip.Addr.Compare does (zones aside): IPv4 first, then by address.
func cmpAddrBits(x4 bool, xhi, xlo uint64, y4 bool, yhi, ylo uint64) int {
	if x4 != y4 {
		if x4 {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(xhi, yhi); c != 0 {
		return c
	}
	return cmp.Compare(xlo, ylo)
}

func (x *rec) entry() portEntry {
	return portEntry{rtt: time.Duration(x.rtt), unix: x.unix, num: x.num, proto: x.proto, state: x.state, reason: x.reason, ttl: x.ttl}
}

// cmpRec orders records by address, then protocol and port.
func cmpRec(x, y *rec) int {
	if c := cmpAddrBits(x.is4, x.hi, x.lo, y.is4, y.hi, y.lo); c != 0 {
		return c
	}
	if c := cmp.Compare(x.proto, y.proto); c != 0 {
		return c
	}
	return cmp.Compare(x.num, y.num)
}

func sameAddr(x, y *rec) bool { return x.is4 == y.is4 && x.hi == y.hi && x.lo == y.lo }

func (x *rec) encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], x.hi)
	binary.LittleEndian.PutUint64(b[8:], x.lo)
	binary.LittleEndian.PutUint64(b[16:], uint64(x.rtt))
	binary.LittleEndian.PutUint64(b[24:], uint64(x.unix))
	binary.LittleEndian.PutUint16(b[32:], x.num)
	b[34], b[35], b[36], b[37] = byte(x.proto), byte(x.state), byte(x.reason), x.ttl
	b[38], b[39] = 0, 0
	if x.is4 {
		b[38] = 1
	}
}

func (x *rec) decode(b []byte) {
	x.hi = binary.LittleEndian.Uint64(b[0:])
	x.lo = binary.LittleEndian.Uint64(b[8:])
	x.rtt = int64(binary.LittleEndian.Uint64(b[16:]))
	x.unix = int64(binary.LittleEndian.Uint64(b[24:]))
	x.num = binary.LittleEndian.Uint16(b[32:])
	x.proto, x.state, x.reason, x.ttl = target.Protocol(b[34]), State(b[35]), Reason(b[36]), b[37]
	x.is4 = b[38] == 1
}

// codec says how one kind of record is kept on disk and ordered: port
// verdicts (rec) and host verdicts (hrec) each have one.
type codec[T any] struct {
	size int // bytes of an encoded record
	enc  func(x *T, b []byte)
	dec  func(x *T, b []byte)
	cmp  func(x, y *T) int
	// key, when not nil, maps a record to a number in cmp's order: if
	// key(x) < key(y) then cmp(x, y) < 0; equal keys say nothing. The
	// merger compares keys first, so that most comparisons are one
	// integer comparison instead of a call.
	key func(x *T) uint64
}

var recCodec = &codec[rec]{size: recSize, enc: (*rec).encode, dec: (*rec).decode, cmp: cmpRec, key: recKey}

// recKey is cmpRec's order in one number for IPv4 records (address,
// protocol, port); every IPv6 record gets the same key, above them all.
func recKey(x *rec) uint64 {
	if !x.is4 {
		return 1 << 63
	}
	return uint64(uint32(x.lo))<<24 | uint64(x.proto)<<16 | uint64(x.num)
}

// recDigits is the number of key bytes of a rec: port (2), protocol (1),
// address (16) and family (1).
const recDigits = 20

// recDigit is key byte d of x, d = 0 being the least significant of
// cmpRec's order: the port's two bytes, the protocol, the address's
// sixteen bytes from the last, then the family (IPv4 first).
func recDigit(x *rec, d int) byte {
	switch {
	case d < 2:
		return byte(x.num >> (8 * d))
	case d == 2:
		return byte(x.proto)
	case d < 11:
		return byte(x.lo >> (8 * (d - 3)))
	case d < 19:
		return byte(x.hi >> (8 * (d - 11)))
	case x.is4:
		return 0
	default:
		return 1
	}
}

// radixSortRecs sorts rs in cmpRec's order, stably: records of one port
// keep the order they came in. It is a least-significant-digit radix sort
// that skips the key bytes all of rs share, which in a scan are most of
// them (a dark /17 × 32 ports differs in three bytes), so it costs a few
// passes over an index instead of n log n record comparisons. idx and tmp
// are scratch space of len(rs) each.
func radixSortRecs(rs []rec, idx, tmp []uint32) {
	if len(rs) < 2 {
		return
	}
	x0 := &rs[0]
	var num uint16
	var proto target.Protocol
	var lo, hi uint64
	fam := false
	for i := range rs {
		x := &rs[i]
		num |= x.num ^ x0.num
		proto |= x.proto ^ x0.proto
		lo |= x.lo ^ x0.lo
		hi |= x.hi ^ x0.hi
		fam = fam || x.is4 != x0.is4
	}
	varies := func(d int) bool {
		switch {
		case d < 2:
			return byte(num>>(8*d)) != 0
		case d == 2:
			return proto != 0
		case d < 11:
			return byte(lo>>(8*(d-3))) != 0
		case d < 19:
			return byte(hi>>(8*(d-11))) != 0
		default:
			return fam
		}
	}
	idx, tmp = idx[:len(rs)], tmp[:len(rs)]
	for i := range idx {
		idx[i] = uint32(i)
	}
	for d := range recDigits {
		if !varies(d) {
			continue
		}
		var count [256]uint32
		for _, i := range idx {
			count[recDigit(&rs[i], d)]++
		}
		var sum uint32
		for b, c := range count {
			count[b] = sum
			sum += c
		}
		for _, i := range idx {
			k := recDigit(&rs[i], d)
			tmp[count[k]] = i
			count[k]++
		}
		idx, tmp = tmp, idx
	}
	// Put rs in the order idx gives (rs[j] = old rs[idx[j]]), one
	// cycle of the permutation at a time, marking places done.
	for i := range rs {
		if idx[i] == uint32(i) {
			continue
		}
		t := rs[i]
		j := i
		for {
			k := int(idx[j])
			idx[j] = uint32(j)
			if k == i {
				rs[j] = t
				break
			}
			rs[j] = rs[k]
			j = k
		}
	}
}

// spillRun is a sorted stretch of records in the spill file.
type spillRun struct {
	off, n int64 // byte offset and record count
	level  int
}

// spillFile holds the runs of one collector in one temporary file, removed
// as soon as it is made (where the OS allows) and closed by release.
type spillFile[T any] struct {
	c     *codec[T]
	fanIn int // runs of one level merged into one of the next
	f     *os.File
	name  string
	end   int64
	runs  []spillRun
}

func newSpillFile[T any](c *codec[T], fanIn int) (*spillFile[T], error) {
	f, err := os.CreateTemp("", "portsense-results-*")
	if err != nil {
		return nil, fmt.Errorf("result: buffering results on disk: %w", err)
	}
	if fanIn < 2 {
		fanIn = spillFanIn
	}
	s := &spillFile[T]{c: c, fanIn: fanIn, f: f, name: f.Name()}
	if os.Remove(f.Name()) == nil {
		s.name = "" // gone already; the data lives until the file is closed
	}
	return s, nil
}

// write appends sorted records as a run of level 0, then merges full levels.
func (s *spillFile[T]) write(rs []T) error {
	if err := s.appendRun(0, int64(len(rs)), func(emit func(*T) error) error {
		for i := range rs {
			if err := emit(&rs[i]); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	for level := 0; ; level++ {
		var same []spillRun
		var rest []spillRun
		for _, r := range s.runs {
			if r.level == level {
				same = append(same, r)
			} else {
				rest = append(rest, r)
			}
		}
		if len(same) < s.fanIn {
			return nil
		}
		var n int64
		for _, r := range same {
			n += r.n
		}
		s.runs = rest
		if err := s.appendRun(level+1, n, func(emit func(*T) error) error {
			return mergeRuns(s.c, s.readers(same), emit)
		}); err != nil {
			return err
		}
	}
}

// appendRun writes n records produced by fill at the end of the file.
func (s *spillFile[T]) appendRun(level int, n int64, fill func(emit func(*T) error) error) error {
	w := bufio.NewWriterSize(io.NewOffsetWriter(s.f, s.end), 64<<10)
	buf := make([]byte, s.c.size)
	var wrote int64
	err := fill(func(x *T) error {
		s.c.enc(x, buf)
		wrote++
		_, err := w.Write(buf)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil && wrote != n {
		err = fmt.Errorf("run of %d records, want %d", wrote, n)
	}
	if err != nil {
		return fmt.Errorf("result: buffering results on disk: %w", err)
	}
	s.runs = append(s.runs, spillRun{off: s.end, n: n, level: level})
	s.end += n * int64(s.c.size)
	return nil
}

func (s *spillFile[T]) readers(runs []spillRun) []recReader[T] {
	out := make([]recReader[T], 0, len(runs))
	size := max(4<<10, min(64<<10, (1<<20)/max(len(runs), 1)))
	sz := int64(s.c.size)
	for _, r := range runs {
		out = append(out, &runReader[T]{c: s.c, r: io.NewSectionReader(s.f, r.off, r.n*sz), left: r.n, block: make([]byte, size/s.c.size*s.c.size)})
	}
	return out
}

func (s *spillFile[T]) release() {
	s.f.Close()
	if s.name != "" {
		os.Remove(s.name)
	}
}

// recReader yields sorted records.
type recReader[T any] interface {
	next(x *T) (bool, error)
}

// runReader reads a run a buffer of whole records at a time.
type runReader[T any] struct {
	c     *codec[T]
	r     io.Reader
	left  int64  // records not yet read into buf
	block []byte // whole records
	buf   []byte // the part of block read and not yet decoded
}

func (r *runReader[T]) next(x *T) (bool, error) {
	if len(r.buf) == 0 {
		if r.left == 0 {
			return false, nil
		}
		n := min(r.left, int64(len(r.block)/r.c.size))
		r.buf = r.block[:n*int64(r.c.size)]
		if _, err := io.ReadFull(r.r, r.buf); err != nil {
			return false, fmt.Errorf("result: reading buffered results: %w", err)
		}
		r.left -= n
	}
	r.c.dec(x, r.buf[:r.c.size])
	r.buf = r.buf[r.c.size:]
	return true, nil
}

// sliceReader yields the records of a sorted slice.
type sliceReader[T any] struct {
	rs []T
	i  int
}

func (r *sliceReader[T]) next(x *T) (bool, error) {
	if r.i >= len(r.rs) {
		return false, nil
	}
	*x = r.rs[r.i]
	r.i++
	return true, nil
}

// merger merges sorted readers into one sorted stream (a small binary
// heap of the readers' heads).
type merger[T any] struct {
	c    *codec[T]
	src  []recReader[T]
	head []T
	keys []uint64 // c.key of each head; zero without c.key
	heap []int    // indexes into src, ordered by head
}

func newMerger[T any](c *codec[T], src []recReader[T]) (*merger[T], error) {
	m := &merger[T]{c: c, src: src, head: make([]T, len(src)), keys: make([]uint64, len(src))}
	for i, r := range src {
		ok, err := r.next(&m.head[i])
		if err != nil {
			return nil, err
		}
		if ok {
			m.setKey(i)
			m.push(i)
		}
	}
	return m, nil
}

func (m *merger[T]) setKey(i int) {
	if m.c.key != nil {
		m.keys[i] = m.c.key(&m.head[i])
	}
}

func (m *merger[T]) less(a, b int) bool {
	i, j := m.heap[a], m.heap[b]
	if ki, kj := m.keys[i], m.keys[j]; ki != kj {
		return ki < kj
	}
	return m.c.cmp(&m.head[i], &m.head[j]) < 0
}

func (m *merger[T]) push(i int) {
	m.heap = append(m.heap, i)
	for j := len(m.heap) - 1; j > 0; {
		p := (j - 1) / 2
		if !m.less(j, p) {
			break
		}
		m.heap[j], m.heap[p] = m.heap[p], m.heap[j]
		j = p
	}
}

func (m *merger[T]) down() {
	n := len(m.heap)
	for j := 0; ; {
		l, r, s := 2*j+1, 2*j+2, j
		if l < n && m.less(l, s) {
			s = l
		}
		if r < n && m.less(r, s) {
			s = r
		}
		if s == j {
			return
		}
		m.heap[j], m.heap[s] = m.heap[s], m.heap[j]
		j = s
	}
}

// peek returns the smallest head, or nil at the end.
func (m *merger[T]) peek() *T {
	if len(m.heap) == 0 {
		return nil
	}
	return &m.head[m.heap[0]]
}

// pop drops the smallest head, reading the next record of its reader.
func (m *merger[T]) pop() error {
	i := m.heap[0]
	ok, err := m.src[i].next(&m.head[i])
	if err != nil {
		return err
	}
	if ok {
		m.setKey(i)
	} else {
		last := len(m.heap) - 1
		m.heap[0] = m.heap[last]
		m.heap = m.heap[:last]
	}
	m.down()
	return nil
}

func mergeRuns[T any](c *codec[T], src []recReader[T], emit func(*T) error) error {
	m, err := newMerger(c, src)
	if err != nil {
		return err
	}
	for x := m.peek(); x != nil; x = m.peek() {
		if err := emit(x); err != nil {
			return err
		}
		if err := m.pop(); err != nil {
			return err
		}
	}
	return nil
}

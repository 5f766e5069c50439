package detect

import (
	"net/netip"
	"time"
	"unsafe"

	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/target"
)

// Outcome is how a first contact from a source to a (host, port) ended, as
// seen on the wire.
type Outcome uint8

// Contact outcomes. Every outcome after OutcomeSuccess counts as a failure.
const (
	OutcomeUnknown     Outcome = iota // zero value: not known
	OutcomeSuccess                    // SYN-ACK, or any UDP reply
	OutcomeRefused                    // RST from the destination
	OutcomeUnreachable                // ICMP destination unreachable quoting the probe
	OutcomeTimeout                    // no answer within the timeout
	OutcomeProbe                      // FIN, NULL, Xmas or ACK probe that belongs to no flow
)

// Failed reports whether o counts as a failed first contact.
func (o Outcome) Failed() bool { return o >= OutcomeRefused }

// String returns a short lower-case name.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeRefused:
		return "refused"
	case OutcomeUnreachable:
		return "unreachable"
	case OutcomeTimeout:
		return "timeout"
	case OutcomeProbe:
		return "probe"
	}
	return "unknown"
}

// MarshalText implements encoding.TextMarshaler (the String form).
func (o Outcome) MarshalText() ([]byte, error) { return []byte(o.String()), nil }

// FollowUp is what the initiator of a TCP contact sent after the SYN-ACK.
type FollowUp uint8

// Follow-ups after a SYN-ACK.
const (
	FollowNone FollowUp = iota // nothing within the follow-up wait
	FollowACK                  // the handshake completed (connect scan or a real client)
	FollowRST                  // the initiator reset (half-open SYN scan, or a host that never sent the SYN)
)

var followNames = [...]string{"none", "ack", "rst"}

// String returns "none", "ack" or "rst".
func (f FollowUp) String() string { return enumName(followNames[:], int(f)) }

// MarshalText implements encoding.TextMarshaler (the String form).
func (f FollowUp) MarshalText() ([]byte, error) { return []byte(f.String()), nil }

// Contact is one first contact from Src to (Dst, DstPort) and its outcome,
// reported by an OutcomeTracker once the outcome is known.
type Contact struct {
	Start    time.Time // packet time of the first packet
	End      time.Time // packet time the outcome became known
	Src, Dst netip.Addr
	SrcPort  uint16
	DstPort  uint16
	Proto    target.Protocol
	Type     ScanType // probe technique of this contact (SYN for every TCP SYN)
	Outcome  Outcome
	FollowUp FollowUp // TCP successes only
	// NewHost is true when Src had not contacted Dst before (within the
	// tracker's memory); NewPort likewise for (Dst, DstPort, Proto).
	// Contacts are only reported when NewPort is true.
	NewHost  bool
	NewPort  bool
	ProbeTTL uint8 // TTL of the first packet
	ReplyTTL uint8 // TTL of the initiator's follow-up, when FollowUp != FollowNone
	// Data is true when the initiator sent payload after completing the
	// handshake (within FollowUpWait): a client using the service, which
	// a connect scan never does.
	Data bool
}

// OutcomeConfig configures an OutcomeTracker. The zero value and nil mean
// the documented defaults.
type OutcomeConfig struct {
	// Timeout after which an unanswered contact fails. Default 3 s.
	Timeout time.Duration
	// FollowUpWait is how long to wait after a SYN-ACK for the initiator's
	// ACK or RST. Default 500 ms.
	FollowUpWait time.Duration
	// Capacity is the number of contacts that may await an answer at once.
	// When a bucket of the table is full its oldest contact is expired
	// early (as a timeout). Default 32768.
	Capacity int
	// MemoryWindow is how long a (source, host, port) stays "seen", so
	// that retries are not first contacts. Memory is two filter
	// generations; a generation also ends early when it fills. Default 1 h.
	MemoryWindow time.Duration
	// FilterBitsLog2 sizes each filter generation (2^n bits). Default 23
	// (1 MiB per generation).
	FilterBitsLog2 uint
}

func (c *OutcomeConfig) withDefaults() OutcomeConfig {
	var d OutcomeConfig
	if c != nil {
		d = *c
	}
	if d.Timeout <= 0 {
		d.Timeout = 3 * time.Second
	}
	if d.FollowUpWait <= 0 {
		d.FollowUpWait = 500 * time.Millisecond
	}
	if d.Capacity <= 0 {
		d.Capacity = 32768
	}
	if d.MemoryWindow <= 0 {
		d.MemoryWindow = time.Hour
	}
	if d.FilterBitsLog2 < 10 || d.FilterBitsLog2 > 32 {
		d.FilterBitsLog2 = 23
	}
	return d
}

// pending states
const (
	stFree uint8 = iota
	stSyn
	stSynAck
	stAck
	stUDP
	stEst // handshake completed; waiting for the initiator's first payload
)

type pendingSlot struct {
	h        uint64
	deadline int64
	start    int64
	seq      uint32
	state    uint8
	ttl      uint8
	rttl     uint8 // TTL of the initiator's ACK (stEst)
	newHost  bool
	src, dst netip.Addr
	sport    uint16
	dport    uint16
	proto    target.Protocol
}

type ringRec struct {
	deadline int64
	slot     uint32
	seq      uint32
}

// expiry is a FIFO of deadlines; one per timeout class keeps it sorted.
type expiry struct {
	recs       []ringRec
	head, tail uint64
	mask       uint64
}

func newExpiry(n int) expiry {
	s := 1
	for s < n {
		s <<= 1
	}
	return expiry{recs: make([]ringRec, s), mask: uint64(s - 1)}
}

// OutcomeTracker follows first contacts to their outcome. It holds a
// fixed-capacity table of contacts awaiting an answer and fixed-size
// filters remembering which (source, host, port) were already contacted;
// its memory does not grow with traffic.
//
// An OutcomeTracker is used from one goroutine.
type OutcomeTracker struct {
	cfg     OutcomeConfig
	hash    keyHasher
	slots   []pendingSlot
	mask    uint64
	seq     uint32
	rings   [2]expiry // 0: answer timeout, 1: follow-up wait
	seen    *bloom    // host, port and flow keys
	timeout int64
	follow  int64
	window  int64
	out     []Contact
}

// NewOutcomeTracker returns a tracker; cfg nil means defaults.
func NewOutcomeTracker(cfg *OutcomeConfig) *OutcomeTracker {
	c := cfg.withDefaults()
	nb := 1
	for nb*tableWays < c.Capacity {
		nb <<= 1
	}
	n := nb * tableWays
	return &OutcomeTracker{
		cfg:     c,
		hash:    newKeyHasher(),
		slots:   make([]pendingSlot, n),
		mask:    uint64(nb - 1),
		rings:   [2]expiry{newExpiry(2 * n), newExpiry(n)},
		seen:    newBloom(c.FilterBitsLog2),
		timeout: int64(c.Timeout),
		follow:  int64(c.FollowUpWait),
		window:  int64(c.MemoryWindow),
		out:     make([]Contact, 0, 2*outBatch),
	}
}

// Observe feeds one packet and calls report for every contact whose outcome
// became known (including contacts that timed out by o.Time). The *Contact
// is only valid during the call.
func (t *OutcomeTracker) Observe(o *Observation, report func(*Contact)) {
	for t.advance(o.Time.UnixNano()) {
		t.flush(report)
	}
	t.observe(o)
	t.flush(report)
}

// Advance expires contacts whose answer is overdue at packet time now.
func (t *OutcomeTracker) Advance(now time.Time, report func(*Contact)) {
	for t.advance(now.UnixNano()) {
		t.flush(report)
	}
	t.flush(report)
}

// MemoryBytes estimates the tracker's fixed memory.
func (t *OutcomeTracker) MemoryBytes() int {
	return len(t.slots)*int(unsafe.Sizeof(pendingSlot{})) +
		(len(t.rings[0].recs)+len(t.rings[1].recs))*int(unsafe.Sizeof(ringRec{})) +
		t.seen.bytes() + cap(t.out)*int(unsafe.Sizeof(Contact{}))
}

func (t *OutcomeTracker) flush(report func(*Contact)) {
	for i := range t.out {
		report(&t.out[i])
	}
	t.out = t.out[:0]
}

// canonical orders the two endpoints so both directions of a flow share
// one key.
func (t *OutcomeTracker) flowHash(a, b netip.Addr, pa, pb uint16, proto target.Protocol) uint64 {
	if c := a.Compare(b); c > 0 || (c == 0 && pa > pb) {
		a, b, pa, pb = b, a, pb, pa
	}
	return t.hash.tuple('f', a, b, pa, pb, uint8(proto))
}

func (t *OutcomeTracker) bucket(h uint64) []pendingSlot {
	i := int((h>>7)&t.mask) * tableWays
	return t.slots[i : i+tableWays : i+tableWays]
}

func (t *OutcomeTracker) lookup(h uint64, a, b netip.Addr, pa, pb uint16, proto target.Protocol) (*pendingSlot, bool) {
	bk := t.bucket(h)
	for i := range bk {
		s := &bk[i]
		if s.h != h || s.proto != proto {
			continue
		}
		if s.src == a && s.dst == b && s.sport == pa && s.dport == pb {
			return s, true // same direction as the first packet
		}
		if s.src == b && s.dst == a && s.sport == pb && s.dport == pa {
			return s, false
		}
	}
	return nil, false
}

func (t *OutcomeTracker) slotIndex(h uint64, s *pendingSlot) int {
	base := int((h>>7)&t.mask) * tableWays
	bk := t.bucket(h)
	for i := range bk {
		if &bk[i] == s {
			return base + i
		}
	}
	return base
}

// outBatch bounds the contacts collected before the caller must drain
// them, so that a mass expiry never grows the output buffer.
const outBatch = 64

// advance expires overdue contacts; it returns true when it stopped
// because the output buffer is full and must be drained first.
func (t *OutcomeTracker) advance(now int64) bool {
	for r := range t.rings {
		ex := &t.rings[r]
		for ex.head != ex.tail {
			if len(t.out) >= outBatch {
				return true
			}
			rec := ex.recs[ex.head&ex.mask]
			if rec.deadline > now {
				break
			}
			ex.head++
			t.expire(rec)
		}
	}
	return false
}

func (t *OutcomeTracker) expire(rec ringRec) {
	s := &t.slots[rec.slot]
	if s.h == 0 || s.seq != rec.seq || s.deadline != rec.deadline {
		return // answered, or re-armed with a later deadline
	}
	t.finishTimeout(s, rec.deadline)
}

func (t *OutcomeTracker) finishTimeout(s *pendingSlot, at int64) {
	switch s.state {
	case stSynAck:
		t.emit(s, at, OutcomeSuccess, FollowNone, 0)
	case stAck:
		t.emit(s, at, OutcomeProbe, FollowNone, 0)
	case stEst:
		t.emit(s, at, OutcomeSuccess, FollowACK, s.rttl)
	default:
		t.emit(s, at, OutcomeTimeout, FollowNone, 0)
	}
	s.h = 0
}

func (t *OutcomeTracker) arm(ring int, slot int, s *pendingSlot, deadline int64) {
	s.deadline = deadline
	ex := &t.rings[ring]
	if ex.tail-ex.head == uint64(len(ex.recs)) { // full: expire the oldest early
		rec := ex.recs[ex.head&ex.mask]
		ex.head++
		t.expire(rec)
	}
	ex.recs[ex.tail&ex.mask] = ringRec{deadline: deadline, slot: uint32(slot), seq: s.seq}
	ex.tail++
}

func (t *OutcomeTracker) emit(s *pendingSlot, at int64, out Outcome, f FollowUp, replyTTL uint8) {
	t.emitData(s, at, out, f, replyTTL, false)
}

func (t *OutcomeTracker) emitData(s *pendingSlot, at int64, out Outcome, f FollowUp, replyTTL uint8, data bool) {
	typ := ScanSYN
	switch s.state {
	case stAck:
		typ = ScanACK
	case stUDP:
		typ = ScanUDP
	}
	if f == FollowACK {
		typ = ScanConnect
	}
	t.out = append(t.out, Contact{
		Start: time.Unix(0, s.start), End: time.Unix(0, at),
		Src: s.src, Dst: s.dst, SrcPort: s.sport, DstPort: s.dport, Proto: s.proto,
		Type: typ, Outcome: out, FollowUp: f,
		NewHost: s.newHost, NewPort: true, ProbeTTL: s.ttl, ReplyTTL: replyTTL, Data: data,
	})
}

// newContact checks the seen filters; it returns newHost, newPort.
func (t *OutcomeTracker) newContact(o *Observation) (bool, bool) {
	hp := t.hash.tuple('p', o.Src, o.Dst, 0, o.DstPort, uint8(o.Proto))
	if t.seen.testAndAdd(hp) {
		return false, false
	}
	hh := t.hash.tuple('h', o.Src, o.Dst, 0, 0, 0)
	return !t.seen.testAndAdd(hh), true
}

func (t *OutcomeTracker) open(o *Observation, h uint64, state uint8, newHost bool, now int64) {
	bk := t.bucket(h)
	base := int((h>>7)&t.mask) * tableWays
	victim := -1
	for i := range bk {
		if bk[i].h == 0 {
			victim = i
			break
		}
		if victim < 0 || bk[i].start < bk[victim].start {
			victim = i
		}
	}
	s := &bk[victim]
	if s.h != 0 {
		t.finishTimeout(s, now) // bucket full: the oldest gives up early
	}
	t.seq++
	*s = pendingSlot{
		h: h, start: now, seq: t.seq, state: state, ttl: o.TTL, newHost: newHost,
		src: o.Src, dst: o.Dst, sport: o.SrcPort, dport: o.DstPort, proto: o.Proto,
	}
	t.arm(0, base+victim, s, now+t.timeout)
}

// stealth reports a flow-less FIN/NULL/Xmas probe at once: its outcome is
// a failure whatever the answer.
func (t *OutcomeTracker) stealth(o *Observation, typ ScanType, now int64) {
	newHost, newPort := t.newContact(o)
	if !newPort {
		return
	}
	t.out = append(t.out, Contact{
		Start: o.Time, End: o.Time, Src: o.Src, Dst: o.Dst, SrcPort: o.SrcPort, DstPort: o.DstPort,
		Proto: o.Proto, Type: typ, Outcome: OutcomeProbe, NewHost: newHost, NewPort: true, ProbeTTL: o.TTL,
	})
}

func (t *OutcomeTracker) observe(o *Observation) {
	now := o.Time.UnixNano()
	if t.seen.start == 0 {
		t.seen.start = now
	} else if now-t.seen.start >= t.window {
		t.seen.rotate(now)
	}
	switch o.Proto {
	case target.TCP:
		t.tcp(o, now)
	case target.UDP:
		t.udp(o, now)
	case target.ICMP, target.ICMPv6:
		t.icmp(o, now)
	}
}

func (t *OutcomeTracker) tcp(o *Observation, now int64) {
	f := o.Flags
	h := t.flowHash(o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto)
	s, fwd := t.lookup(h, o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto)
	if s != nil {
		switch {
		case fwd && s.state == stSynAck && f&RST != 0:
			t.emit(s, now, OutcomeSuccess, FollowRST, o.TTL)
			s.h = 0
		case fwd && s.state == stSynAck && f&(ACK|SYN) == ACK && o.Payload > 0:
			t.emitData(s, now, OutcomeSuccess, FollowACK, o.TTL, true)
			s.h = 0
		case fwd && s.state == stSynAck && f&(ACK|SYN) == ACK:
			// Wait a little for the client's first data: a client
			// uses the service, a connect scan closes at once.
			s.state, s.rttl = stEst, o.TTL
			t.arm(1, t.slotIndex(h, s), s, now+t.follow)
		case fwd && s.state == stEst && (o.Payload > 0 || f&(FIN|RST) != 0):
			t.emitData(s, now, OutcomeSuccess, FollowACK, s.rttl, o.Payload > 0)
			s.h = 0
		case fwd:
			// retransmission of the first packet: keep waiting
		case s.state == stSyn && f&(SYN|ACK) == SYN|ACK:
			s.state = stSynAck
			t.arm(1, t.slotIndex(h, s), s, now+t.follow)
		case s.state == stSyn && f&RST != 0:
			t.emit(s, now, OutcomeRefused, FollowNone, 0)
			s.h = 0
		case s.state == stAck && f&RST != 0:
			t.emit(s, now, OutcomeProbe, FollowNone, 0)
			s.h = 0
		case s.state == stAck:
			s.h = 0 // the other side continues a flow: not a probe
		case s.state == stEst && f&RST != 0:
			t.emitData(s, now, OutcomeSuccess, FollowACK, s.rttl, false)
			s.h = 0
		}
		return
	}
	switch {
	case f&RST != 0:
		return
	case f&SYN != 0 && f&ACK == 0:
		t.seen.testAndAdd(mix64(h))
		newHost, newPort := t.newContact(o)
		if newPort {
			t.open(o, h, stSyn, newHost, now)
		}
	case f&SYN != 0: // SYN-ACK without a tracked SYN: remember the flow
		t.seen.testAndAdd(mix64(h))
	case f&ACK == 0: // no SYN, no ACK, no RST: FIN, NULL or Xmas probe
		typ := ScanFIN
		switch {
		case f == 0:
			typ = ScanNULL
		case f&(FIN|PSH|URG) == FIN|PSH|URG:
			typ = ScanXmas
		}
		t.stealth(o, typ, now)
	default: // ACK without SYN: mid-flow, or an ACK probe
		if t.seen.testAndAdd(mix64(h)) || o.Payload > 0 {
			return
		}
		newHost, newPort := t.newContact(o)
		if newPort {
			t.open(o, h, stAck, newHost, now)
		}
	}
}

func (t *OutcomeTracker) udp(o *Observation, now int64) {
	h := t.flowHash(o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto)
	if s, fwd := t.lookup(h, o.Src, o.Dst, o.SrcPort, o.DstPort, o.Proto); s != nil {
		if !fwd {
			t.emit(s, now, OutcomeSuccess, FollowNone, 0)
			s.h = 0
		}
		return
	}
	if t.seen.testAndAdd(mix64(h)) {
		return
	}
	newHost, newPort := t.newContact(o)
	if newPort {
		t.open(o, h, stUDP, newHost, now)
	}
}

func (t *OutcomeTracker) icmp(o *Observation, now int64) {
	if !o.HasQuote {
		return
	}
	// The one ICMP classification table, shared with the probers.
	if wire.ClassifyICMP(o.Proto == target.ICMPv6, o.ICMPType, o.ICMPCode).Kind != wire.ICMPUnreachable {
		return
	}
	q := &o.Quoted
	h := t.flowHash(q.Src, q.Dst, q.SrcPort, q.DstPort, q.Proto)
	s, fwd := t.lookup(h, q.Src, q.Dst, q.SrcPort, q.DstPort, q.Proto)
	if s == nil || !fwd {
		return
	}
	if s.state == stAck {
		t.emit(s, now, OutcomeProbe, FollowNone, 0)
	} else if s.state != stSynAck && s.state != stEst {
		t.emit(s, now, OutcomeUnreachable, FollowNone, 0)
	} else {
		return
	}
	s.h = 0
}

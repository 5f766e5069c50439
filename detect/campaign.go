package detect

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"time"
	"unsafe"
)

// CampaignConfig configures the detection of distributed scans and decoy
// scans. The zero value and nil mean the documented defaults.
type CampaignConfig struct {
	// Capacity is the number of target prefixes watched for distributed
	// scans. Default 256.
	Capacity int
	// PrefixBits4 and PrefixBits6 group targets: sources aiming at one
	// prefix may be one campaign. Defaults 24 and 64.
	PrefixBits4, PrefixBits6 int
	// MinMemberFailures is the number of failed first contacts into the
	// prefix a tracked source needs to count as a member. Default 4.
	MinMemberFailures int
	// MinCampaignFailures is the total a campaign needs. Default 12.
	MinCampaignFailures int
	// MaxOverlap is the largest share of its targets a member may share
	// with another member; members of one campaign split the work, while
	// independent scanners of the same targets overlap. Default 0.5.
	MaxOverlap float64
	// Settle is the quiet time after the last member joined before the
	// campaign is reported (again, if it grew). Default 30 s.
	Settle time.Duration
	// StartSpread is the largest gap between the start times of
	// consecutive members: the parts of one job are launched together,
	// and a later cluster is reported on its own. Default 5 min.
	StartSpread time.Duration
	// Window is the idle time after which a member no longer counts.
	// Default 10 min.
	Window time.Duration
	// DecoyWindow is how close in time two sources' probes of one
	// (host, port) must be to count as lockstep. Default 10 ms.
	DecoyWindow time.Duration
	// DecoyMinRounds is the number of lockstep probes each member of a
	// decoy group needs before the group is reported. Default 3.
	DecoyMinRounds int
	// DecoySettle is the quiet time after the last member joined a decoy
	// group before it is reported. Default 2 s.
	DecoySettle time.Duration
}

const (
	campMax   = 32 // members per campaign
	decoyMax  = 16 // members per decoy group
	groupsN   = 64 // decoy groups
	recentLog = 12 // 4096 recent-probe slots
)

type campMember struct {
	addr        netip.Addr
	fails       uint32
	reported    bool // listed in an event already
	first, last int64
	bits        [8]uint64 // 512-bit set of failed (host, port)
}

type campaign struct {
	members  [campMax]campMember
	n        int
	lastJoin int64
	pending  bool
}

type recentSlot struct {
	h   uint64
	at  int64
	src netip.Addr
}

// campaigns links sources: distributed scans (per target prefix) and
// decoy groups (lockstep probes).
type campaigns struct {
	cfg     CampaignConfig
	table   *srcTable[campaign]
	locks   *srcTable[decoyState] // sources seen probing in lockstep
	groups  [groupsN]decoyGroup
	recent  []recentSlot
	nextDue int64
	now     int64
	window  int64
}

func newCampaigns(cfg *CampaignConfig) *campaigns {
	var d CampaignConfig
	if cfg != nil {
		d = *cfg
	}
	if d.Capacity <= 0 {
		d.Capacity = 256
	}
	if d.PrefixBits4 <= 0 || d.PrefixBits4 > 32 {
		d.PrefixBits4 = 24
	}
	if d.PrefixBits6 <= 0 || d.PrefixBits6 > 128 {
		d.PrefixBits6 = 64
	}
	if d.MinMemberFailures <= 0 {
		d.MinMemberFailures = 4
	}
	if d.MinCampaignFailures <= 0 {
		d.MinCampaignFailures = 12
	}
	if d.MaxOverlap <= 0 || d.MaxOverlap > 1 {
		d.MaxOverlap = 0.5
	}
	if d.Settle <= 0 {
		d.Settle = 30 * time.Second
	}
	if d.StartSpread <= 0 {
		d.StartSpread = 5 * time.Minute
	}
	if d.Window <= 0 {
		d.Window = 10 * time.Minute
	}
	if d.DecoyWindow <= 0 {
		d.DecoyWindow = 10 * time.Millisecond
	}
	if d.DecoyMinRounds <= 0 {
		d.DecoyMinRounds = 3
	}
	if d.DecoySettle <= 0 {
		d.DecoySettle = 2 * time.Second
	}
	c := &campaigns{cfg: d, recent: make([]recentSlot, 1<<recentLog), window: int64(d.Window)}
	c.table = newSrcTable[campaign](d.Capacity, c.weight)
	c.locks = newSrcTable[decoyState](4096, c.lockWeight)
	return c
}

func (c *campaigns) weight(p *campaign) float64 {
	var w float64
	for i := 0; i < p.n; i++ {
		m := &p.members[i]
		if c.now-m.last < c.window {
			w += float64(m.fails)
		}
	}
	return w
}

func (c *campaigns) memoryBytes() int {
	return c.table.cap()*int(unsafe.Sizeof(tableSlot[campaign]{})) +
		c.locks.cap()*int(unsafe.Sizeof(tableSlot[decoyState]{})) +
		int(unsafe.Sizeof(c.groups)) + len(c.recent)*int(unsafe.Sizeof(recentSlot{}))
}

func (c *campaigns) prefix(a netip.Addr) netip.Addr {
	bitsN := c.cfg.PrefixBits6
	if a.Is4() {
		bitsN = c.cfg.PrefixBits4
	}
	p, err := a.Prefix(bitsN)
	if err != nil {
		return a
	}
	return p.Addr()
}

// member credits a failed first contact to the campaign of its target
// prefix.
func (c *campaigns) member(e *engine, s *srcState, ct *Contact) {
	key := c.prefix(ct.Dst)
	kh := e.hash.addr(key)
	p := c.table.get(kh, key)
	if p == nil {
		p, _ = c.table.insert(kh, key)
	}
	now := e.now
	var m *campMember
	for i := 0; i < p.n; i++ {
		if p.members[i].addr == ct.Src {
			m = &p.members[i]
			break
		}
	}
	if m == nil {
		if p.n < campMax {
			m = &p.members[p.n]
			p.n++
		} else {
			// replace the idlest member, or one that never qualified
			for i := range p.members {
				q := &p.members[i]
				if now-q.last > c.window || int(q.fails) < c.cfg.MinMemberFailures {
					if m == nil || q.last < m.last {
						m = q
					}
				}
			}
			if m == nil {
				return
			}
		}
		*m = campMember{addr: ct.Src, first: now}
	}
	m.fails++
	m.last = now
	b := mix64(e.hash.addr(ct.Dst)^uint64(ct.DstPort)<<16) & 511
	m.bits[b>>6] |= 1 << (b & 63)
	if int(m.fails) == c.cfg.MinMemberFailures {
		p.lastJoin = now
		p.pending = true
		if due := now + int64(c.cfg.Settle); c.nextDue == 0 || due < c.nextDue {
			c.nextDue = due
		}
	}
}

func overlap(a, b *[8]uint64) float64 {
	var and, na, nb int
	for i := range a {
		and += bits.OnesCount64(a[i] & b[i])
		na += bits.OnesCount64(a[i])
		nb += bits.OnesCount64(b[i])
	}
	m := min(na, nb)
	if m == 0 {
		return 0
	}
	return float64(and) / float64(m)
}

// due reports settled campaigns and decoy groups at packet time now.
func (c *campaigns) due(e *engine, now int64) {
	c.now = now
	at := time.Unix(0, now)
	for i := range c.groups {
		if g := &c.groups[i]; g.n >= 2 && (g.n > g.emittedN || !g.named) {
			c.checkGroup(e, g, at)
		}
	}
	if c.nextDue == 0 || now < c.nextDue {
		return
	}
	c.nextDue = 0
	for i := range c.table.slots {
		sl := &c.table.slots[i]
		p := &sl.val
		if sl.h == 0 || !p.pending {
			continue
		}
		if due := p.lastJoin + int64(c.cfg.Settle); due > now {
			if c.nextDue == 0 || due < c.nextDue {
				c.nextDue = due
			}
			continue
		}
		p.pending = false
		c.report(e, p, at)
	}
}

func (c *campaigns) report(e *engine, p *campaign, at time.Time) {
	now := at.UnixNano()
	var q [campMax]int
	var strong [campMax]bool // indexed by member slot
	nq := 0
	for i := 0; i < p.n; i++ {
		m := &p.members[i]
		if int(m.fails) < c.cfg.MinMemberFailures || now-m.last > c.window {
			continue
		}
		// A member concentrates on this prefix (a slice of one job), is
		// still tracked, fails like a scanner once failures with an
		// innocent explanation are discounted (a client of a server in
		// the prefix does not ride along), and does not move in lockstep
		// (decoys).
		ms := e.table.get(e.hash.addr(m.addr), m.addr)
		if ms == nil || 2*m.fails < ms.fails || 2*ms.fails < ms.attempts || ms.failShare() < minFailShare || c.lockstep(e, m.addr) {
			continue
		}
		q[nq] = i
		strong[i] = scanning(e, ms)
		nq++
	}
	// Members of one job start together: cluster by start time and
	// report the cluster that holds the newest member.
	slices.SortFunc(q[:nq], func(a, b int) int { return cmp.Compare(p.members[a].first, p.members[b].first) })
	for i := 1; i < nq; i++ {
		if p.members[q[i]].first-p.members[q[i-1]].first > int64(c.cfg.StartSpread) {
			copy(q[:], q[i:nq])
			nq -= i
			i = 0
		}
	}
	// One job runs one tool: members share the technique and a probe
	// rate (within 4×) with the majority; others just happened by.
	var typ [campMax]ScanType
	var rate [campMax]float64
	var votes [ScanUDP + 1]int
	for i := 0; i < nq; i++ {
		m := &p.members[q[i]]
		if ms := e.table.get(e.hash.addr(m.addr), m.addr); ms != nil {
			typ[i] = ms.shape.scanType()
		}
		votes[typ[i]]++
		rate[i] = float64(m.fails) / float64(max(m.last-m.first, int64(time.Second)))
	}
	major := ScanTypeUnknown
	for t := range votes {
		if votes[t] > votes[major] {
			major = ScanType(t)
		}
	}
	var rbuf [campMax]float64
	rates := rbuf[:0]
	for i := 0; i < nq; i++ {
		if typ[i] == major {
			rates = append(rates, rate[i])
		}
	}
	slices.Sort(rates)
	med := 0.0
	if len(rates) > 0 {
		med = rates[len(rates)/2]
	}
	var same, keep [campMax]bool
	for i := 0; i < nq; i++ {
		same[i] = typ[i] == major && rate[i] <= 4*med && 4*rate[i] >= med
	}
	// drop members that duplicate another member's targets
	for i := 0; i < nq; i++ {
		keep[i] = same[i]
		for j := 0; j < nq && keep[i]; j++ {
			if i != j && same[j] && overlap(&p.members[q[i]].bits, &p.members[q[j]].bits) > c.cfg.MaxOverlap {
				keep[i] = false
			}
		}
	}
	total, n, top, fresh := 0, 0, -1, false
	for i := 0; i < nq; i++ {
		if !keep[i] {
			continue
		}
		m := &p.members[q[i]]
		total += int(m.fails)
		n++
		fresh = fresh || !m.reported
		if top < 0 || m.fails > p.members[top].fails {
			top = q[i]
		}
	}
	// Members not reported on their own (mixed outcomes) ride along only
	// with at least two that were: clients that merely fail often (P2P)
	// never make a campaign by themselves.
	nStrong := 0
	for i := 0; i < nq; i++ {
		if keep[i] && strong[q[i]] {
			nStrong++
		}
	}
	if n < 2 || nStrong < 2 || !fresh || total < c.cfg.MinCampaignFailures {
		return
	}
	ev := Event{Kind: KindDistributed, Detector: "campaign", Time: at, Source: p.members[top].addr,
		Attempts: total, Score: float64(n)}
	ev.Sources = make([]netip.Addr, 0, n)
	for i := 0; i < nq; i++ {
		if keep[i] {
			p.members[q[i]].reported = true
			ev.Sources = append(ev.Sources, p.members[q[i]].addr)
		}
	}
	slices.SortFunc(ev.Sources, netip.Addr.Compare)
	if ts := e.table.get(e.hash.addr(ev.Source), ev.Source); ts != nil {
		ev.Shape, ev.ScanType = ts.shape.shape(), ts.shape.scanType()
	}
	if e.emit != nil {
		e.emit(ev)
	}
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// scanning reports whether a tracked source was reported as a scanner on
// its own. Clients that merely fail often (P2P) are not.
func scanning(e *engine, s *srcState) bool { return s.lastScan != 0 }

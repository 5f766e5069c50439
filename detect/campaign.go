package detect

import (
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
	// Window is the idle time after which a member no longer counts.
	// Default 10 min.
	Window time.Duration
	// DecoyWindow is how close in time two sources' probes of one
	// (host, port) must be to count as lockstep. Default 50 ms.
	DecoyWindow time.Duration
	// DecoyMinRounds is the number of lockstep probes each member of a
	// decoy group needs before the group is reported. Default 3.
	DecoyMinRounds int
	// DecoySettle is the quiet time after the last member joined a decoy
	// group before it is reported. Default 2 s.
	DecoySettle time.Duration
}

const (
	campMax   = 24 // members per campaign
	decoyMax  = 16 // members per decoy group
	groupsN   = 64 // decoy groups
	recentLog = 12 // 4096 recent-probe slots
)

type campMember struct {
	addr        netip.Addr
	fails       uint32
	first, last int64
	bits        [8]uint64 // 512-bit set of failed (host, port)
}

type campaign struct {
	members  [campMax]campMember
	n        int
	lastJoin int64
	pending  bool
	emittedN int
}

type decoyState struct {
	cooc                  uint16 // first contacts made in lockstep with another source
	group                 uint16 // index+1 into campaigns.groups
	gen                   uint32
	handshakes, rstFollow uint16
	silent, ttlOK, ttlBad uint16
}

// lockstep reports whether most of a source's first contacts moved in
// lockstep with other sources: a decoy group member, never a KindScan.
func (d *decoyState) lockstep(attempts uint32) bool {
	return d.cooc > 0 && 2*uint32(d.cooc) >= attempts
}

// realness scores how likely a decoy-group member is the real scanner:
// only the real one can complete handshakes, and only it answers a SYN-ACK
// from the hop distance its probes came from; dead decoys stay silent and
// live ones answer from elsewhere.
func (d *decoyState) realness() int {
	return 4*int(d.handshakes) + 2*int(d.ttlOK) + int(d.rstFollow) - 2*int(d.ttlBad) - 2*int(d.silent)
}

type decoyGroup struct {
	gen      uint32
	members  [decoyMax]netip.Addr
	n        int
	lastJoin int64
	last     int64
	emittedN int
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
	if d.Window <= 0 {
		d.Window = 10 * time.Minute
	}
	if d.DecoyWindow <= 0 {
		d.DecoyWindow = 50 * time.Millisecond
	}
	if d.DecoyMinRounds <= 0 {
		d.DecoyMinRounds = 3
	}
	if d.DecoySettle <= 0 {
		d.DecoySettle = 2 * time.Second
	}
	c := &campaigns{cfg: d, recent: make([]recentSlot, 1<<recentLog), window: int64(d.Window)}
	c.table = newSrcTable[campaign](d.Capacity, c.weight)
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
		int(unsafe.Sizeof(c.groups)) + len(c.recent)*int(unsafe.Sizeof(recentSlot{}))
}

// lockstepHit checks the recent-probe table for another source that made
// the same first contact moments ago, and records this one.
func (c *campaigns) lockstepHit(e *engine, ct *Contact) (partner netip.Addr, ok bool) {
	h := e.hash.tuple('d', ct.Dst, ct.Dst, 0, ct.DstPort, uint8(ct.Proto))
	r := &c.recent[h&(1<<recentLog-1)]
	at := ct.Start.UnixNano()
	if r.h == h && r.src != ct.Src {
		d := at - r.at
		if d < 0 {
			d = -d
		}
		if d <= int64(c.cfg.DecoyWindow) {
			partner, ok = r.src, true
		}
	}
	r.h, r.at, r.src = h, at, ct.Src
	return partner, ok
}

// recentOnly records a contact of a not yet admitted source, and credits
// its admitted partner.
func (c *campaigns) recentOnly(e *engine, ct *Contact) {
	if p, ok := c.lockstepHit(e, ct); ok {
		if ps := e.table.get(e.hash.addr(p), p); ps != nil && ps.dec.cooc < 0xffff {
			ps.dec.cooc++
		}
	}
}

// contact updates decoy and campaign state for one contact of an admitted
// source s.
func (c *campaigns) contact(e *engine, s *srcState, h uint64, ct *Contact, failed bool) *decoyGroup {
	c.now = e.now
	d := &s.dec
	if ct.Outcome == OutcomeSuccess && ct.Proto == 6 {
		switch ct.FollowUp {
		case FollowACK:
			d.handshakes++
		case FollowRST:
			d.rstFollow++
		default:
			d.silent++
		}
		if ct.FollowUp != FollowNone {
			if hopDistance(ct.ReplyTTL) == hopDistance(ct.ProbeTTL) {
				d.ttlOK++
			} else {
				d.ttlBad++
			}
		}
	}
	var g *decoyGroup
	if p, ok := c.lockstepHit(e, ct); ok {
		if d.cooc < 0xffff {
			d.cooc++
		}
		ph := e.hash.addr(p)
		if ps := e.table.get(ph, p); ps != nil {
			if ps.dec.cooc < 0xffff {
				ps.dec.cooc++
			}
			g = c.link(e, s, ct.Src, ps, p)
		}
	}
	if g == nil {
		g = c.group(d)
	}
	if g != nil {
		g.last = e.now
		c.checkGroup(e, g, ct.End)
	}
	if failed {
		c.member(e, s, ct)
	}
	return g
}

func (c *campaigns) group(d *decoyState) *decoyGroup {
	if d.group == 0 {
		return nil
	}
	g := &c.groups[d.group-1]
	if g.gen != d.gen || g.n == 0 {
		return nil
	}
	return g
}

func (c *campaigns) join(g *decoyGroup, idx int, s *srcState, a netip.Addr) {
	if g.n >= decoyMax {
		return
	}
	g.members[g.n] = a
	g.n++
	g.lastJoin = c.now
	s.dec.group, s.dec.gen = uint16(idx+1), g.gen
}

// link puts two lockstep sources into one decoy group.
func (c *campaigns) link(e *engine, s *srcState, sa netip.Addr, p *srcState, pa netip.Addr) *decoyGroup {
	gs, gp := c.group(&s.dec), c.group(&p.dec)
	switch {
	case gs != nil && gs == gp:
		return gs
	case gs == nil && gp == nil:
		idx := 0
		for i := range c.groups {
			if c.groups[i].n == 0 {
				idx = i
				break
			}
			if c.groups[i].last < c.groups[idx].last {
				idx = i
			}
		}
		g := &c.groups[idx]
		gen := g.gen + 1
		*g = decoyGroup{gen: gen, last: c.now}
		c.join(g, idx, s, sa)
		c.join(g, idx, p, pa)
		return g
	case gs == nil:
		c.join(gp, int(p.dec.group-1), s, sa)
		return gp
	case gp == nil:
		c.join(gs, int(s.dec.group-1), p, pa)
		return gs
	}
	// merge the smaller group into the larger
	if gs.n < gp.n {
		gs, gp = gp, gs
		s = p
	}
	idx := int(s.dec.group - 1)
	for i := 0; i < gp.n; i++ {
		a := gp.members[i]
		if ms := e.table.get(e.hash.addr(a), a); ms != nil {
			c.join(gs, idx, ms, a)
		}
	}
	gp.n = 0
	gp.gen++
	return gs
}

// checkGroup reports a decoy group once its members have moved in
// lockstep often enough and no member joined for DecoySettle.
func (c *campaigns) checkGroup(e *engine, g *decoyGroup, at time.Time) {
	if g.n < 2 || g.n <= g.emittedN || e.now-g.lastJoin < int64(c.cfg.DecoySettle) {
		return
	}
	best, bestScore := -1, 0
	var states [decoyMax]*srcState
	for i := 0; i < g.n; i++ {
		a := g.members[i]
		ms := e.table.get(e.hash.addr(a), a)
		if ms == nil || int(ms.dec.cooc) < c.cfg.DecoyMinRounds {
			return
		}
		states[i] = ms
		if sc := ms.dec.realness(); best < 0 || sc > bestScore {
			best, bestScore = i, sc
		}
	}
	g.emittedN = g.n
	if e.emit == nil {
		return
	}
	rs := states[best]
	ev := Event{
		Kind: KindDecoy, Detector: "decoy", Time: at, Source: g.members[best],
		Shape: rs.shape.shape(), ScanType: rs.shape.scanType(),
		Hosts: rs.shape.hosts.estimate(), Ports: rs.shape.ports.estimate(),
		Attempts: int(rs.attempts), Score: float64(bestScore),
	}
	ev.Sources = make([]netip.Addr, 0, g.n-1)
	for i := 0; i < g.n; i++ {
		if i != best {
			ev.Sources = append(ev.Sources, g.members[i])
		}
	}
	e.emit(ev)
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
			// replace a member that never qualified or went idle
			for i := range p.members {
				q := &p.members[i]
				if int(q.fails) < c.cfg.MinMemberFailures || now-q.last > c.window {
					m = q
					break
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
		if g := &c.groups[i]; g.n >= 2 && g.n > g.emittedN {
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
	nq := 0
	for i := 0; i < p.n; i++ {
		m := &p.members[i]
		if int(m.fails) >= c.cfg.MinMemberFailures && now-m.last <= c.window {
			q[nq] = i
			nq++
		}
	}
	// drop members that duplicate another's targets
	var keep [campMax]bool
	for i := 0; i < nq; i++ {
		keep[i] = true
		for j := 0; j < nq; j++ {
			if i != j && overlap(&p.members[q[i]].bits, &p.members[q[j]].bits) > c.cfg.MaxOverlap {
				keep[i] = false
				break
			}
		}
	}
	total, n, top := 0, 0, -1
	for i := 0; i < nq; i++ {
		if !keep[i] {
			continue
		}
		m := &p.members[q[i]]
		total += int(m.fails)
		n++
		if top < 0 || m.fails > p.members[top].fails {
			top = q[i]
		}
	}
	if n < 2 || n <= p.emittedN || total < c.cfg.MinCampaignFailures {
		return
	}
	p.emittedN = n
	if e.emit == nil {
		return
	}
	ev := Event{Kind: KindDistributed, Detector: "campaign", Time: at, Source: p.members[top].addr,
		Attempts: total, Score: float64(n)}
	ev.Sources = make([]netip.Addr, 0, n)
	for i := 0; i < nq; i++ {
		if keep[i] {
			ev.Sources = append(ev.Sources, p.members[q[i]].addr)
		}
	}
	slices.SortFunc(ev.Sources, netip.Addr.Compare)
	if ts := e.table.get(e.hash.addr(ev.Source), ev.Source); ts != nil {
		ev.Shape, ev.ScanType = ts.shape.shape(), ts.shape.scanType()
	}
	e.emit(ev)
}

package detect

import (
	"net/netip"
	"time"
)

// decoyState is what the lockstep table keeps per source: how often its
// probes moved in lockstep with another source's, and the evidence that
// it is the real scanner of its decoy group.
type decoyState struct {
	probes, hits          uint16 // probe packets since the first lockstep hit, and hits
	group                 uint16 // index+1 into campaigns.groups
	gen                   uint32
	last                  int64
	handshakes, rstFollow uint16
	silent, ttlOK, ttlBad uint16
}

// realness scores how likely a decoy-group member is the real scanner:
// only the real one can complete handshakes; dead decoys never answer a
// SYN-ACK (the server retransmits it to them), while the real source's
// kernel resets it. Hop distance is a weak tie-breaker: a live decoy
// answers from its own distance, but raw scanners forge probe TTLs (nmap
// picks them at random), so the real source's reset need not match its
// probes either. Live decoys answer exactly like the real source; then no
// member stands out and the group's event names nobody. Without a SYN-ACK
// (no open port probed) there is no evidence at all.
func (d *decoyState) realness() int {
	return 4*int(d.handshakes) + 2*int(d.rstFollow) + int(d.ttlOK) - int(d.ttlBad) - 2*int(d.silent)
}

type decoyGroup struct {
	gen      uint32
	members  [decoyMax]netip.Addr
	n        int
	lastJoin int64
	last     int64
	emittedN int
	named    bool // an event named the real source
}

func (c *campaigns) lockWeight(d *decoyState) float64 {
	idle := float64(c.now-d.last) / float64(10*time.Minute)
	return float64(d.hits) / (1 + max(idle, 0))
}

// lock returns the lockstep entry of a, creating it when create is set.
func (c *campaigns) lock(e *engine, a netip.Addr, create bool) *decoyState {
	h := e.hash.addr(a)
	if d := c.locks.get(h, a); d != nil || !create {
		return d
	}
	d, _ := c.locks.insert(h, a)
	return d
}

// lockstep reports whether most of a's probes since its first lockstep
// hit moved in lockstep with other sources: a decoy-group member, which
// gets no KindScan of its own.
func (c *campaigns) lockstep(e *engine, a netip.Addr) bool {
	d := c.lock(e, a, false)
	return d != nil && d.hits > 0 && 2*d.hits >= d.probes
}

// probe checks the recent-probe table for another source that sent the
// same probe (same host, port, protocol) moments ago, and records this
// one. It runs on the probe packet itself, in wire order: outcomes come
// back in round-trip order, which scrambles the lockstep. A spoofed flood
// only churns the lockstep table's one-hit entries; evidence-rich ones
// survive.
func (c *campaigns) probe(e *engine, o *Observation) {
	switch o.Proto {
	case 6:
		if o.Flags&(ACK|RST) != 0 {
			return
		}
	case 17:
	default:
		return
	}
	c.now = e.now
	self := c.lock(e, o.Src, false)
	if self != nil && self.probes < 0xffff {
		self.probes++
		self.last = e.now
	}
	h := e.hash.tuple('d', o.Dst, o.Dst, 0, o.DstPort, uint8(o.Proto))
	r := &c.recent[h&(1<<recentLog-1)]
	at := o.Time.UnixNano()
	if r.h == h && r.src != o.Src && abs64(at-r.at) <= int64(c.cfg.DecoyWindow) {
		if self == nil {
			self = c.lock(e, o.Src, true)
			self.probes, self.last = 1, e.now
		}
		other := c.lock(e, r.src, true)
		if other.probes == 0 {
			other.probes = 1
		}
		other.last = e.now
		self.hits = min(self.hits+1, 0xfffe)
		other.hits = min(other.hits+1, 0xfffe)
		if g := c.link(e, self, o.Src, other, r.src); g != nil {
			g.last = e.now
		}
	}
	r.h, r.at, r.src = h, at, o.Src
}

// decoyContact gathers realness evidence from a contact of a source in
// the lockstep table, and reports its group when it is ripe.
func (c *campaigns) decoyContact(e *engine, h uint64, ct *Contact) {
	c.now = e.now
	d := c.locks.get(h, ct.Src)
	if d == nil {
		return
	}
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
	if g := c.group(d); g != nil {
		c.checkGroup(e, g, ct.End)
	}
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

func (c *campaigns) join(g *decoyGroup, idx int, d *decoyState, a netip.Addr) {
	if g.n >= decoyMax {
		return
	}
	g.members[g.n] = a
	g.n++
	g.lastJoin = c.now
	d.group, d.gen = uint16(idx+1), g.gen
}

// link puts two lockstep sources into one decoy group.
func (c *campaigns) link(e *engine, s *decoyState, sa netip.Addr, p *decoyState, pa netip.Addr) *decoyGroup {
	gs, gp := c.group(s), c.group(p)
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
		c.join(gp, int(p.group-1), s, sa)
		return gp
	case gp == nil:
		c.join(gs, int(s.group-1), p, pa)
		return gs
	}
	// merge the smaller group into the larger
	if gs.n < gp.n {
		gs, gp = gp, gs
		s = p
	}
	idx := int(s.group - 1)
	for i := 0; i < gp.n; i++ {
		a := gp.members[i]
		if d := c.lock(e, a, false); d != nil {
			c.join(gs, idx, d, a)
		}
	}
	gp.n = 0
	gp.gen++
	return gs
}

// checkGroup reports a decoy group once each member has moved in lockstep
// often enough and no member joined for DecoySettle.
//
// A group whose event named nobody is checked again as evidence comes in
// (SYN-ACKs of open ports probed later), and reported once more when a
// member then stands out. A group is only reported when some member fails
// like a scanner: clients that merely repeat the same requests on the
// same timer (two mail clients polling together) also move in lockstep.
func (c *campaigns) checkGroup(e *engine, g *decoyGroup, at time.Time) {
	if g.n < 2 || (g.named && g.n <= g.emittedN) || e.now-g.lastJoin < int64(c.cfg.DecoySettle) {
		return
	}
	// Members count when they moved in lockstep often enough and for most
	// of their probes: a client whose request happened to coincide with a
	// decoy probe once joins the group but does not belong to it.
	var q [decoyMax]int
	nq, best, bestScore, tie, scanlike := 0, -1, 0, false, false
	for i := 0; i < g.n; i++ {
		d := c.lock(e, g.members[i], false)
		if d == nil || int(d.hits) < c.cfg.DecoyMinRounds || 2*int(d.hits) < int(d.probes) {
			continue
		}
		q[nq] = i
		nq++
		if ms := e.table.get(e.hash.addr(g.members[i]), g.members[i]); ms != nil &&
			ms.wfail >= float32(c.cfg.MinMemberFailures) && ms.failShare() >= minFailShare {
			scanlike = true
		}
		switch sc := d.realness(); {
		case best < 0 || sc > bestScore:
			best, bestScore, tie = i, sc, false
		case sc == bestScore:
			tie = true
		}
	}
	if nq < 2 || !scanlike {
		return
	}
	if tie || bestScore <= 0 {
		best = -1
	}
	if nq <= g.emittedN && best < 0 {
		return // reported already, and still nobody stands out
	}
	g.emittedN = nq
	g.named = best >= 0
	if e.emit == nil {
		return
	}
	ev := Event{Kind: KindDecoy, Detector: "decoy", Time: at, Score: float64(bestScore)}
	if best < 0 {
		// No member stands out (live decoys answer like the real source,
		// or no open port was probed): name nobody rather than blame a
		// decoy, and say so.
		ev.Note = NoteDecoyUndetermined
	} else {
		ev.Source = g.members[best]
	}
	// The numbers come from the named source or, when nobody could be
	// named, from the tracked member with the most evidence: every member
	// of a decoy group carries the same probes.
	var rs *srcState
	if best >= 0 {
		rs = e.table.get(e.hash.addr(ev.Source), ev.Source)
	} else {
		for _, i := range q[:nq] {
			if ms := e.table.get(e.hash.addr(g.members[i]), g.members[i]); ms != nil && (rs == nil || ms.attempts > rs.attempts) {
				rs = ms
			}
		}
	}
	if rs != nil {
		ev.FirstSeen = time.Unix(0, rs.first)
		ev.Shape, ev.ScanType = rs.shape.shape(), rs.shape.scanType()
		ev.Hosts, ev.Ports, ev.Attempts = rs.shape.hosts.estimate(), rs.shape.ports.estimate(), int(rs.attempts)
		ev.Sample = rs.sample
	}
	ev.Sources = make([]netip.Addr, 0, nq)
	for _, i := range q[:nq] {
		if i != best {
			ev.Sources = append(ev.Sources, g.members[i])
		}
	}
	e.emit(ev)
}

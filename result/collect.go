package result

import (
	"cmp"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/portsense/portsense/target"
)

// ExtraPortsThreshold is how many ports of one host must share a state,
// other than open, before the XML, greppable and table writers summarise
// them (nmap's <extraports>, "Ignored State", "Not shown") instead of
// listing each. Every such state above the threshold is summarised; nmap
// uses the same number by default.
const ExtraPortsThreshold = 25

// portEntry is one port verdict kept by a buffering writer: 32 bytes, so
// that a large scan buffers cheaply.
type portEntry struct {
	svc    *Service
	rtt    time.Duration
	unix   int64 // Time as Unix nanoseconds; 0 when unset
	num    uint16
	proto  target.Protocol
	state  State
	reason Reason
	ttl    uint8
}

func (e *portEntry) result(a netip.Addr) Result {
	r := Result{
		AddrPort: netip.AddrPortFrom(a, e.num), Proto: e.proto, State: e.state,
		Reason: e.reason, ReplyTTL: e.ttl, RTT: e.rtt, Service: e.svc,
	}
	if e.unix != 0 {
		r.Time = time.Unix(0, e.unix)
	}
	return r
}

func (e *portEntry) port() target.Port { return target.Port{Proto: e.proto, Num: e.num} }

// hostAgg is what each gathers on one host: its folded verdict and its
// ports. In the collector's map it holds the ports kept in memory.
type hostAgg struct {
	host    Host
	hasHost bool
	ports   []portEntry
}

// collector buffers a stream for the writers that must see every record
// before writing (they sort, count and summarise). Port verdicts go to a
// compact buffer that spills to disk past spillChunk records (spill.go),
// host verdicts to one that spills past hostSpillChunk (spill_host.go);
// port verdicts that carry service information or a zoned address stay
// in memory.
type collector struct {
	mu    sync.Mutex
	hosts map[netip.Addr]*hostAgg // ports kept in memory, by host
	recs  []rec
	spill *spillFile[rec]
	// sortIdx and sortTmp are the radix sort's scratch (sortRecs).
	sortIdx, sortTmp []uint32
	err              error // the first spill error: every later write returns it
	closed           bool
	chunk            int // records buffered before a spill; 0 means spillChunk (tests lower it)

	hrecs  []hrec // host verdicts not yet spilled
	hspill *spillFile[hrec]
	hchunk int // host verdicts buffered before a spill; 0 means hostSpillChunk
	fanIn  int // runs merged into one on disk; 0 means spillFanIn (tests lower both)
	hcodec *codec[hrec]
	hseq   uint64      // arrival number of the next host verdict
	zones  []string    // interned zones of host addresses
	hextra []hostExtra // warnings and long MACs of host verdicts

	first, last time.Time
	seen        map[target.Protocol]*[65536 / 64]uint64 // ports seen per protocol
	seenProto   target.Protocol                         // the protocol of seenSet
	seenSet     *[65536 / 64]uint64                     // seen[seenProto], the last one used
	hasPorts    bool
}

func (c *collector) agg(a netip.Addr) *hostAgg {
	if c.hosts == nil {
		c.hosts = make(map[netip.Addr]*hostAgg)
	}
	h := c.hosts[a]
	if h == nil {
		h = &hostAgg{}
		c.hosts[a] = h
	}
	return h
}

func (c *collector) noteTime(t time.Time) {
	if t.IsZero() {
		return
	}
	c.first = earliest(c.first, t)
	c.last = latest(c.last, t)
}

func (c *collector) addResult(r Result) error {
	if !r.AddrPort.Addr().IsValid() {
		return errNoAddr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.err != nil {
		return c.err
	}
	c.noteTime(r.Time)
	c.hasPorts = true
	set := c.seenSet
	if set == nil || c.seenProto != r.Proto { // a map lookup per result cost more than a compare
		if c.seen == nil {
			c.seen = make(map[target.Protocol]*[65536 / 64]uint64)
		}
		set = c.seen[r.Proto]
		if set == nil {
			set = new([65536 / 64]uint64)
			c.seen[r.Proto] = set
		}
		c.seenProto, c.seenSet = r.Proto, set
	}
	n := r.AddrPort.Port()
	set[n/64] |= 1 << (n % 64)
	if r.Service == nil && r.AddrPort.Addr().Zone() == "" {
		if c.recs == nil {
			c.recs = make([]rec, 0, 64)
		}
		c.recs = append(c.recs, recOf(r))
		if chunk := c.chunk; len(c.recs) >= spillChunk || chunk > 0 && len(c.recs) >= chunk {
			c.err = c.spillLocked()
			return c.err
		}
		return nil
	}
	e := portEntry{
		svc: r.Service, rtt: r.RTT, num: r.AddrPort.Port(), proto: r.Proto,
		state: r.State, reason: r.Reason, ttl: r.ReplyTTL,
	}
	if !r.Time.IsZero() {
		e.unix = r.Time.UnixNano()
	}
	h := c.agg(r.AddrPort.Addr())
	h.ports = append(h.ports, e)
	return nil
}

// spillLocked writes the buffered records to disk as a sorted run.
func (c *collector) spillLocked() error {
	if c.spill == nil {
		f, err := newSpillFile(recCodec, c.fanIn)
		if err != nil {
			return err
		}
		c.spill = f
	}
	c.sortRecs()
	err := c.spill.write(c.recs)
	c.recs = c.recs[:0]
	return err
}

// sortRecs sorts the buffered port verdicts (radixSortRecs), keeping its
// scratch space for the next run.
func (c *collector) sortRecs() {
	if n := len(c.recs); cap(c.sortIdx) < n {
		c.sortIdx, c.sortTmp = make([]uint32, n, cap(c.recs)), make([]uint32, n, cap(c.recs))
	}
	radixSortRecs(c.recs, c.sortIdx, c.sortTmp)
}

// addHost buffers a host verdict. Verdicts on the same host are folded
// on Close, in the order they came (foldHost). Every verdict's time counts
// for the run's first and last record time, also one that loses the fold.
func (c *collector) addHost(h Host) error {
	if !h.Addr.IsValid() {
		return errNoAddr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if c.err != nil {
		return c.err
	}
	c.noteTime(h.Time)
	if c.hrecs == nil {
		c.hrecs = make([]hrec, 0, 64)
	}
	c.hrecs = append(c.hrecs, c.hrecOf(&h))
	if chunk := c.hchunk; len(c.hrecs) >= hostSpillChunk || chunk > 0 && len(c.hrecs) >= chunk {
		c.err = c.spillHostsLocked()
	}
	return c.err
}

// spillHostsLocked writes the buffered host verdicts to disk as a run.
func (c *collector) spillHostsLocked() error {
	hc := c.hostCodec()
	if c.hspill == nil {
		f, err := newSpillFile(hc, c.fanIn)
		if err != nil {
			return err
		}
		c.hspill = f
	}
	c.sortHosts()
	err := c.hspill.write(c.hrecs)
	c.hrecs = c.hrecs[:0]
	return err
}

// close marks the collector closed and reports whether it was open.
func (c *collector) close() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	return true
}

// hostView is one host ready to print.
type hostView struct {
	host        Host // the verdict; synthesized (user-set) when none came
	synthesized bool
	shown       []portEntry  // listed ports, by protocol then number
	extra       []extraGroup // summarised states, largest first
	nports      int          // distinct ports scanned
	start, end  time.Time    // earliest and latest record time
	srtt        time.Duration
	rttvar      time.Duration
	hasRTT      bool
}

type extraGroup struct {
	state   State
	count   int
	reasons []extraReason
}

type extraReason struct {
	reason Reason
	proto  target.Protocol
	ports  []uint16 // ascending
}

// summary describes the whole buffered run. Hosts come one at a time
// from each, in address order; up, down and total are complete once each
// has returned.
type summary struct {
	c               *collector
	up, down, total int
	first, last     time.Time
	ports           map[target.Protocol][]uint16 // distinct ports seen, ascending
	hasPortsResults bool
}

// finish summarises what was collected; the hosts follow from each.
func (c *collector) finish() *summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := &summary{c: c, first: c.first, last: c.last, hasPortsResults: c.hasPorts}
	s.ports = make(map[target.Protocol][]uint16, len(c.seen))
	for p, set := range c.seen {
		var l []uint16
		for i, w := range set {
			for ; w != 0; w &= w - 1 {
				l = append(l, uint16(i*64+bits.TrailingZeros64(w)))
			}
		}
		s.ports[p] = l
	}
	return s
}

// each calls fn with every host in address order, merging what is on disk
// with what is in memory, and releases the buffers. fn must not keep v.
func (s *summary) each(fn func(v *hostView)) error {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	defer func() {
		if c.spill != nil {
			c.spill.release()
			c.spill = nil
		}
		if c.hspill != nil {
			c.hspill.release()
			c.hspill = nil
		}
		c.recs, c.hosts, c.hrecs, c.hextra = nil, nil, nil, nil
		c.sortIdx, c.sortTmp = nil, nil
	}()
	if c.err != nil {
		return c.err
	}
	addrs := make([]netip.Addr, 0, len(c.hosts))
	for a := range c.hosts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	c.sortRecs()
	src := []recReader[rec]{&sliceReader[rec]{rs: c.recs}}
	if c.spill != nil {
		src = append(src, c.spill.readers(c.spill.runs)...)
	}
	m, err := newMerger(recCodec, src)
	if err != nil {
		return err
	}
	hc := c.hostCodec()
	c.sortHosts()
	hsrc := []recReader[hrec]{&sliceReader[hrec]{rs: c.hrecs}}
	if c.hspill != nil {
		hsrc = append(hsrc, c.hspill.readers(c.hspill.runs)...)
	}
	hm, err := newMerger(hc, hsrc)
	if err != nil {
		return err
	}
	var ports []portEntry
	for i := 0; ; {
		x := m.peek()
		y := hm.peek()
		// The next host is the least address of the three sources.
		var a netip.Addr
		have := false
		if x != nil {
			a, have = x.addr(), true
		}
		if i < len(addrs) && (!have || addrs[i].Compare(a) < 0) {
			a, have = addrs[i], true
		}
		if y != nil {
			if b := c.hostAddr(y); !have || b.Compare(a) < 0 {
				a, have = b, true
			}
		}
		if !have {
			return nil
		}
		agg := hostAgg{}
		if i < len(addrs) && addrs[i] == a {
			agg = *c.hosts[a]
			i++
		}
		if y != nil && c.hostAddr(y) == a {
			first := *y
			for y != nil && y.sameAddr(&first) {
				foldHost(&agg.host, agg.hasHost, c.host(y))
				agg.hasHost = true
				if err := hm.pop(); err != nil {
					return err
				}
				y = hm.peek()
			}
		}
		ports = append(ports[:0], agg.ports...)
		if x != nil && x.addr() == a {
			first := *x
			for x != nil && sameAddr(x, &first) {
				ports = append(ports, x.entry())
				if err := m.pop(); err != nil {
					return err
				}
				x = m.peek()
			}
		}
		agg.ports = ports
		v := buildView(a, &agg)
		ports = agg.ports[:0]
		switch v.host.State {
		case HostUp:
			s.up++
		case HostDown:
			s.down++
		}
		s.total++
		fn(&v)
	}
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func latest(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func buildView(a netip.Addr, h *hostAgg) hostView {
	v := hostView{host: h.host}
	if !h.hasHost {
		// Ports without a host verdict: the host was scanned as if up,
		// which nmap reports as "user-set" (-Pn).
		v.host = Host{Addr: a, State: HostUp, Reason: UserSet}
		v.synthesized = true
	}
	v.start, v.end = v.host.Time, v.host.Time

	ports := h.ports
	slices.SortStableFunc(ports, func(x, y portEntry) int {
		if c := cmp.Compare(x.proto, y.proto); c != 0 {
			return c
		}
		return cmp.Compare(x.num, y.num)
	})
	// Collapse duplicates, keeping the most informative verdict.
	out := ports[:0]
	for _, e := range ports {
		if n := len(out); n > 0 && out[n-1].proto == e.proto && out[n-1].num == e.num {
			if e.result(a).MoreInformative(out[n-1].result(a)) {
				out[n-1] = e
			}
			continue
		}
		out = append(out, e)
	}
	ports = out
	h.ports = out
	v.nports = len(ports)

	var sum, n int64
	var counts [256]int32 // by State: an array, not a map, as this runs once per host
	for i := range ports {
		e := &ports[i]
		counts[e.state]++
		if e.unix != 0 {
			t := time.Unix(0, e.unix)
			v.start = earliest(v.start, t)
			v.end = latest(v.end, t)
		}
		if e.rtt > 0 {
			sum += int64(e.rtt)
			n++
		}
	}
	if v.host.RTT > 0 {
		sum += int64(v.host.RTT)
		n++
	}
	if n > 0 {
		mean := sum / n
		var dev int64
		for i := range ports {
			if d := int64(ports[i].rtt); d > 0 {
				dev += abs64(d - mean)
			}
		}
		if d := int64(v.host.RTT); d > 0 {
			dev += abs64(d - mean)
		}
		v.srtt, v.rttvar, v.hasRTT = time.Duration(mean), time.Duration(dev/n), true
	}

	var hidden [256]bool
	for st, cnt := range counts {
		if State(st) != Open && cnt > ExtraPortsThreshold {
			hidden[st] = true
			v.extra = append(v.extra, extraGroup{state: State(st), count: int(cnt)})
		}
	}
	slices.SortFunc(v.extra, func(x, y extraGroup) int {
		if c := cmp.Compare(y.count, x.count); c != 0 {
			return c
		}
		return cmp.Compare(x.state, y.state)
	})
	for i := range ports {
		e := &ports[i]
		if !hidden[e.state] {
			v.shown = append(v.shown, *e)
			continue
		}
		g := &v.extra[slices.IndexFunc(v.extra, func(g extraGroup) bool { return g.state == e.state })]
		j := slices.IndexFunc(g.reasons, func(r extraReason) bool { return r.reason == e.reason && r.proto == e.proto })
		if j < 0 {
			g.reasons = append(g.reasons, extraReason{reason: e.reason, proto: e.proto})
			j = len(g.reasons) - 1
		}
		g.reasons[j].ports = append(g.reasons[j].ports, e.num)
	}
	for i := range v.extra {
		slices.SortStableFunc(v.extra[i].reasons, func(x, y extraReason) int {
			return cmp.Compare(len(y.ports), len(x.ports))
		})
	}
	return v
}

func abs64(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// appendRanges writes ascending ports as "1-3,7,9-10".
func appendRanges(b []byte, ports []uint16) []byte {
	for i := 0; i < len(ports); {
		j := i
		for j+1 < len(ports) && ports[j+1] == ports[j]+1 {
			j++
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendUint(b, uint64(ports[i]))
		if j > i {
			b = append(b, '-')
			b = appendUint(b, uint64(ports[j]))
		}
		i = j + 1
	}
	return b
}

package result

import (
	"cmp"
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
		Target: netip.AddrPortFrom(a, e.num), Proto: e.proto, State: e.state,
		Reason: e.reason, ReplyTTL: e.ttl, RTT: e.rtt, Service: e.svc,
	}
	if e.unix != 0 {
		r.Time = time.Unix(0, e.unix)
	}
	return r
}

func (e *portEntry) port() target.Port { return target.Port{Proto: e.proto, Num: e.num} }

type hostAgg struct {
	host    Host
	hasHost bool
	ports   []portEntry
}

// collector buffers a stream for the writers that must see every record
// before writing (they sort, count and summarise).
type collector struct {
	mu     sync.Mutex
	hosts  map[netip.Addr]*hostAgg
	closed bool
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

func (c *collector) addResult(r Result) error {
	if !r.Target.Addr().IsValid() {
		return errNoAddr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	e := portEntry{
		svc: r.Service, rtt: r.RTT, num: r.Target.Port(), proto: r.Proto,
		state: r.State, reason: r.Reason, ttl: r.ReplyTTL,
	}
	if !r.Time.IsZero() {
		e.unix = r.Time.UnixNano()
	}
	h := c.agg(r.Target.Addr())
	h.ports = append(h.ports, e)
	return nil
}

func (c *collector) addHost(h Host) error {
	if !h.Addr.IsValid() {
		return errNoAddr
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	a := c.agg(h.Addr)
	if a.hasHost {
		if h.MoreInformative(a.host) {
			h.Warnings = unionStrings(slices.Clone(h.Warnings), a.host.Warnings)
			if len(h.MAC) == 0 {
				h.MAC = a.host.MAC
			}
		} else {
			a.host.Warnings = unionStrings(a.host.Warnings, h.Warnings)
			if len(a.host.MAC) == 0 {
				a.host.MAC = h.MAC
			}
			return nil
		}
	}
	if !a.hasHost {
		h.Warnings = slices.Clone(h.Warnings) // later merges append to it
	}
	a.host, a.hasHost = h, true
	return nil
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

// summary describes the whole buffered run.
type summary struct {
	hosts           []hostView
	up, down, total int
	first, last     time.Time
	ports           map[target.Protocol][]uint16 // distinct ports seen, ascending
	hasPortsResults bool
}

// finish sorts, de-duplicates and summarises what was collected.
func (c *collector) finish() summary {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s summary
	addrs := make([]netip.Addr, 0, len(c.hosts))
	for a := range c.hosts {
		addrs = append(addrs, a)
	}
	slices.SortFunc(addrs, netip.Addr.Compare)
	seen := make(map[target.Protocol]map[uint16]bool)
	for _, a := range addrs {
		v := buildView(a, c.hosts[a])
		for _, e := range v.shown {
			markSeen(seen, e.proto, e.num)
		}
		for _, g := range v.extra {
			for _, r := range g.reasons {
				for _, p := range r.ports {
					markSeen(seen, r.proto, p)
				}
			}
		}
		s.hasPortsResults = s.hasPortsResults || v.nports > 0
		switch v.host.State {
		case HostUp:
			s.up++
		case HostDown:
			s.down++
		}
		s.total++
		s.first = earliest(s.first, v.start)
		s.last = latest(s.last, v.end)
		s.hosts = append(s.hosts, v)
	}
	s.ports = make(map[target.Protocol][]uint16, len(seen))
	for p, m := range seen {
		l := make([]uint16, 0, len(m))
		for n := range m {
			l = append(l, n)
		}
		slices.Sort(l)
		s.ports[p] = l
	}
	return s
}

func markSeen(seen map[target.Protocol]map[uint16]bool, p target.Protocol, n uint16) {
	if seen[p] == nil {
		seen[p] = make(map[uint16]bool)
	}
	seen[p][n] = true
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
	counts := make(map[State]int)
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

	hidden := make(map[State]bool)
	for st, cnt := range counts {
		if st != Open && cnt > ExtraPortsThreshold {
			hidden[st] = true
			v.extra = append(v.extra, extraGroup{state: st, count: cnt})
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

package eval

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// Scenario sizes a generated trace. Zero fields mean zero actors of that
// kind; DefaultScenario returns the sizes the package test uses.
type Scenario struct {
	Seed     uint64
	Duration time.Duration // benign traffic spans [0, Duration)

	WebClients, Crawlers, Monitors, Flaky, P2P, DNSClients int

	FastScanners  bool // every shape × technique × {line rate, 10 ms, 1 s}
	SlowScanners  bool // 30 s, 60 s and 5 min between probes
	IPv6Scanners  bool
	Evaders       int   // TRW evaders interleaving successes
	Distributed   []int // one campaign per entry: k sources
	Decoys        []int // one decoy scan per entry: d decoys besides the real source
	SpoofedFlood  int   // spoofed one-packet sources
	FloodDuration time.Duration
}

// DefaultScenario is sized for `go test ./detect/eval/` (well under a
// minute with -race on two cores).
func DefaultScenario() Scenario {
	return Scenario{
		Seed: 1, Duration: 4 * time.Hour,
		WebClients: 1500, Crawlers: 15, Monitors: 5, Flaky: 40, P2P: 100, DNSClients: 200,
		FastScanners: true, SlowScanners: true, IPv6Scanners: true, Evaders: 3,
		Distributed:  []int{2, 3, 4, 6, 8, 12, 16, 2, 4, 8},
		Decoys:       []int{2, 4, 8, 3},
		SpoofedFlood: 20000, FloodDuration: time.Minute,
	}
}

// BigScenario is a larger run (PORTSENSE_EVAL_BIG=1): more benign
// sources and a flood of 10^6 spoofed sources.
func BigScenario() Scenario {
	s := DefaultScenario()
	s.Seed = 2
	s.WebClients, s.P2P, s.DNSClients, s.Crawlers, s.Flaky = 6000, 400, 800, 40, 150
	s.SpoofedFlood, s.FloodDuration = 1_000_000, 2*time.Minute
	return s
}

// Role is what an actor is, for scoring.
type Role uint8

// Actor roles.
const (
	Benign  Role = iota // an ordinary client, including hard negatives
	Scanner             // a scan: one source, a distributed campaign or a decoy scan
	Spoofed             // a spoofed flood source: innocent, must never be reported
)

// Actor is one labelled participant: a benign client, a scanner (possibly
// several sources: a distributed campaign or a decoy scan) or a spoofed
// address.
type Actor struct {
	Role    Role
	Kind    string          // "web", "p2p", "vertical", "distributed", "decoy", …
	Sources []netip.Addr    // every address the actor sends from (real ones)
	Decoys  []netip.Addr    // decoy addresses (decoy scans only): innocent
	Shape   detect.Shape    // scanners: true geometry
	Type    detect.ScanType // scanners: true technique
	Gap     time.Duration   // scanners: time between probes
	Probes  []time.Time     // scanners: time of every first-contact probe
	RTT     time.Duration   // scanners: round trip between the (first) source and the network
	// Answers holds, in time order, when answers to the probes came back,
	// where the trace knows (real captures); otherwise probes count as
	// answered one RTT after they were sent.
	Answers []time.Time
	// DecoysSilent is true for a decoy scan whose decoys never answer
	// (they are down): the wire tells the real source, which must be named.
	DecoysSilent bool
}

// Fast reports whether a scanner probes at least once a second.
func (a *Actor) Fast() bool { return a.Role == Scanner && a.Gap <= time.Second }

// Slow reports whether a scanner waits 10 s or more between probes.
func (a *Actor) Slow() bool { return a.Role == Scanner && a.Gap >= 10*time.Second }

// Traffic is a generated trace: observations in time order and labels.
type Traffic struct {
	Start, End time.Time
	Obs        []detect.Observation
	Actors     []*Actor
}

type hostInfo struct {
	addr       netip.Addr
	open       map[uint32]bool // proto<<16 | port
	firewalled bool            // drops instead of RST / port unreachable
}

type gen struct {
	rng              *rand.Rand
	t0               time.Time
	obs              []detect.Observation
	hosts            map[netip.Addr]*hostInfo
	live             []netip.Addr // v4 live hosts, sorted
	live6            []netip.Addr
	web              []netip.Addr // hosts with 80 and 443 open
	p2p              []netip.Addr // hosts that ran a P2P client on 6881 (some still do)
	dns              []netip.Addr
	svcs             []svc // every open TCP service
	used             map[netip.Addr]bool
	router4, router6 netip.Addr
}

type svc struct {
	addr netip.Addr
	port uint16
}

func key(proto target.Protocol, port uint16) uint32 { return uint32(proto)<<16 | uint32(port) }

// Generate builds the trace for s. It is deterministic in s.Seed.
func Generate(s Scenario) *Traffic {
	g := &gen{
		rng:     rand.New(rand.NewPCG(s.Seed, 0x5ca1ab1e)),
		t0:      time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC),
		hosts:   map[netip.Addr]*hostInfo{},
		used:    map[netip.Addr]bool{},
		router4: netip.MustParseAddr("198.18.3.254"),
		router6: netip.MustParseAddr("2001:db8:1::fffe"),
	}
	g.buildNetwork()
	tr := &Traffic{Start: g.t0, End: g.t0.Add(s.Duration)}
	add := func(a *Actor) { tr.Actors = append(tr.Actors, a) }
	for range s.WebClients {
		add(g.webClient(s.Duration))
	}
	for range s.Crawlers {
		add(g.crawler(s.Duration))
	}
	for range s.Monitors {
		add(g.monitor(s.Duration))
	}
	for range s.Flaky {
		add(g.flaky(s.Duration))
	}
	for range s.P2P {
		add(g.p2pClient(s.Duration))
	}
	for range s.DNSClients {
		add(g.dnsClient(s.Duration))
	}
	if s.FastScanners {
		for _, a := range g.fastScanners(s.Duration) {
			add(a)
		}
	}
	if s.SlowScanners {
		for _, gap := range []time.Duration{30 * time.Second, time.Minute, 5 * time.Minute} {
			add(g.singleScan("slow-vertical", detect.ShapeVertical, detect.ScanSYN, gap, 40, false, s.Duration))
			add(g.singleScan("slow-horizontal", detect.ShapeHorizontal, detect.ScanSYN, gap, 40, false, s.Duration))
		}
	}
	if s.IPv6Scanners {
		add(g.singleScan("v6-vertical", detect.ShapeVertical, detect.ScanSYN, 10*time.Millisecond, 200, true, s.Duration))
		add(g.singleScan("v6-horizontal", detect.ShapeHorizontal, detect.ScanSYN, 10*time.Millisecond, 100, true, s.Duration))
		add(g.singleScan("v6-udp", detect.ShapeVertical, detect.ScanUDP, time.Second, 100, true, s.Duration))
	}
	for range s.Evaders {
		add(g.evader(s.Duration))
	}
	for i, k := range s.Distributed {
		// campaigns get their own time slots: two campaigns on one /24 at
		// once are reported as one (a known limitation, not what this
		// measures)
		slot := s.Duration / 2 / time.Duration(len(s.Distributed))
		add(g.distributed(k, i%2 == 0, time.Duration(i)*slot, slot/2))
	}
	for _, d := range s.Decoys {
		add(g.decoyScan(d, s.Duration))
	}
	if s.SpoofedFlood > 0 {
		add(g.flood(s.SpoofedFlood, s.FloodDuration, s.Duration))
	}
	slices.SortStableFunc(g.obs, func(a, b detect.Observation) int { return a.Time.Compare(b.Time) })
	tr.Obs = g.obs
	for _, a := range tr.Actors {
		slices.SortFunc(a.Probes, time.Time.Compare)
		if a.Role == Scanner {
			a.RTT = rtt(a.Sources[0])
		}
	}
	return tr
}

func (g *gen) buildNetwork() {
	// 198.18.0.0/22: about 300 live hosts; the rest is dark.
	for i := 1; i < 1024; i++ {
		if g.rng.IntN(100) >= 30 {
			continue
		}
		a := netip.AddrFrom4([4]byte{198, 18, byte(i >> 8), byte(i)})
		if a == g.router4 {
			continue
		}
		h := &hostInfo{addr: a, open: map[uint32]bool{}, firewalled: g.rng.IntN(100) < 20}
		g.populate(h)
		g.hosts[a] = h
		g.live = append(g.live, a)
	}
	for i := 1; i <= 40; i++ {
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(i >> 8), 15: byte(i)})
		h := &hostInfo{addr: a, open: map[uint32]bool{}, firewalled: g.rng.IntN(100) < 20}
		g.populate(h)
		g.hosts[a] = h
		g.live6 = append(g.live6, a)
	}
	for _, a := range append(slices.Clone(g.live), g.live6...) {
		h := g.hosts[a]
		if h.open[key(target.TCP, 80)] {
			g.web = append(g.web, a)
		}
		if h.open[key(target.UDP, 53)] {
			g.dns = append(g.dns, a)
		}
		for _, p := range []uint16{21, 22, 25, 80, 443, 3306, 5432, 6881, 8080} {
			if h.open[key(target.TCP, p)] {
				g.svcs = append(g.svcs, svc{a, p})
			}
		}
	}
	// P2P peers: half still listen on 6881, the other half are stale
	// (the address is dark or the client is gone).
	for _, a := range g.live {
		if g.rng.IntN(100) < 15 {
			g.p2p = append(g.p2p, a)
		}
	}
	for i := 0; i < len(g.p2p)/2; i++ {
		g.hosts[g.p2p[i]].open[key(target.TCP, 6881)] = true
		g.svcs = append(g.svcs, svc{g.p2p[i], 6881})
	}
}

func (g *gen) populate(h *hostInfo) {
	set := func(p target.Protocol, port uint16, pct int) {
		if g.rng.IntN(100) < pct {
			h.open[key(p, port)] = true
		}
	}
	set(target.TCP, 22, 70)
	if g.rng.IntN(100) < 25 {
		h.open[key(target.TCP, 80)] = true
		h.open[key(target.TCP, 443)] = true
	}
	set(target.TCP, 25, 5)
	set(target.TCP, 21, 3)
	set(target.TCP, 3306, 5)
	set(target.TCP, 5432, 4)
	set(target.TCP, 8080, 6)
	if g.rng.IntN(100) < 4 { // DNS servers answer on UDP and TCP
		h.open[key(target.UDP, 53)] = true
		h.open[key(target.TCP, 53)] = true
	}
	set(target.UDP, 123, 10)
	set(target.UDP, 161, 8)
}

// newSource returns an unused outside address.
func (g *gen) newSource(v6 bool) netip.Addr {
	for {
		var a netip.Addr
		if v6 {
			var b [16]byte
			b[0], b[1], b[2], b[3], b[4], b[5] = 0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff
			for i := 8; i < 16; i++ {
				b[i] = byte(g.rng.Uint32())
			}
			a = netip.AddrFrom16(b)
		} else {
			x := g.rng.Uint32()
			a = netip.AddrFrom4([4]byte{198, 19, byte(x >> 8), byte(x)})
			if byte(x) == 0 || byte(x) == 255 {
				continue
			}
		}
		if !g.used[a] {
			g.used[a] = true
			return a
		}
	}
}

func (g *gen) at(d time.Duration) time.Time { return g.t0.Add(d) }

// startIn picks a start in [0, d−span), or 0 when span does not fit.
func (g *gen) startIn(d, span time.Duration) time.Time {
	if d-span <= 0 {
		return g.t0
	}
	return g.at(time.Duration(g.rng.Int64N(int64(d - span))))
}

// hops is a stable path length per outside source.
func hops(a netip.Addr) int {
	b := a.As16()
	return 4 + int(b[15]^b[14]^b[13])%16
}

func rtt(a netip.Addr) time.Duration { return time.Duration(2*hops(a)) * time.Millisecond }

func (g *gen) emit(o detect.Observation) { g.obs = append(g.obs, o) }

func tcpObs(t time.Time, src, dst netip.Addr, sp, dp uint16, f detect.TCPFlags, ttl uint8, payload uint16) detect.Observation {
	return detect.Observation{Time: t, Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: target.TCP,
		Flags: f, TTL: ttl, Payload: payload}
}

func udpObs(t time.Time, src, dst netip.Addr, sp, dp uint16, ttl uint8, payload uint16) detect.Observation {
	return detect.Observation{Time: t, Src: src, Dst: dst, SrcPort: sp, DstPort: dp, Proto: target.UDP,
		TTL: ttl, Payload: payload}
}

// unreach builds an ICMP(v6) destination unreachable from `from` to the
// probe's source, quoting the probe. port: port rather than host
// unreachable.
func unreach(t time.Time, from netip.Addr, probe *detect.Observation, port bool) detect.Observation {
	o := detect.Observation{Time: t, Src: from, Dst: probe.Src, TTL: 63, HasQuote: true,
		Quoted: detect.Quote{Src: probe.Src, Dst: probe.Dst, SrcPort: probe.SrcPort, DstPort: probe.DstPort, Proto: probe.Proto}}
	if probe.Src.Is4() {
		o.Proto, o.ICMPType, o.ICMPCode = target.ICMP, 3, 1
		if port {
			o.ICMPCode = 3
		}
	} else {
		o.Proto, o.ICMPType, o.ICMPCode = target.ICMPv6, 1, 3
		if port {
			o.ICMPCode = 4
		}
	}
	return o
}

// answer is what the protected network did with a probe.
type answer uint8

const (
	ansNone answer = iota
	ansSynAck
	ansRST
	ansUnreach
	ansUDP
)

// dark addresses in the lower half of the /22 get ICMP host unreachable
// from the router; the upper half is silently black-holed.
func (g *gen) darkAnswer(t time.Time, p *detect.Observation) answer {
	b := p.Dst.As16()
	if (p.Dst.Is4() && b[14] < 2) || (!p.Dst.Is4() && b[15]%2 == 0) {
		r := g.router4
		if !p.Dst.Is4() {
			r = g.router6
		}
		g.emit(unreach(t, r, p, false))
		return ansUnreach
	}
	return ansNone
}

// respond simulates the protected network's reply to one probe.
func (g *gen) respond(p *detect.Observation) answer {
	t := p.Time.Add(rtt(p.Src))
	h := g.hosts[p.Dst]
	if h == nil {
		return g.darkAnswer(t, p)
	}
	open := h.open[key(p.Proto, p.DstPort)]
	switch p.Proto {
	case target.UDP:
		switch {
		case open:
			g.emit(udpObs(t, p.Dst, p.Src, p.DstPort, p.SrcPort, 63, 80))
			return ansUDP
		case h.firewalled:
			return ansNone
		}
		g.emit(unreach(t, p.Dst, p, true))
		return ansUnreach
	case target.TCP:
		rst := tcpObs(t, p.Dst, p.Src, p.DstPort, p.SrcPort, detect.RST|detect.ACK, 63, 0)
		switch f := p.Flags; {
		case f&detect.SYN != 0:
			if open {
				g.emit(tcpObs(t, p.Dst, p.Src, p.DstPort, p.SrcPort, detect.SYN|detect.ACK, 63, 0))
				return ansSynAck
			}
		case f&detect.ACK != 0: // ACK probe: unfiltered hosts reset
			if h.firewalled {
				return ansNone
			}
			rst.Flags = detect.RST
			g.emit(rst)
			return ansRST
		default: // FIN, NULL, Xmas: open ports stay silent
			if open {
				return ansNone
			}
		}
		if h.firewalled {
			return ansNone
		}
		g.emit(rst)
		return ansRST
	}
	return ansNone
}

// follow is what the initiator does after a SYN-ACK.
type follow uint8

const (
	followClient  follow = iota // full connection with data
	followSYNScan               // kernel RST (half-open scan)
	followConnect               // ACK, then close
	followLiveDecoy
	followNone
)

// connect sends a SYN (and client retransmissions when unanswered) and
// plays out the rest of the exchange. It returns the network's answer.
func (g *gen) connect(t time.Time, src netip.Addr, sport uint16, dst netip.Addr, dport uint16, fl follow, ttl uint8, retries int) answer {
	syn := tcpObs(t, src, dst, sport, dport, detect.SYN, ttl, 0)
	g.emit(syn)
	ans := g.respond(&syn)
	for i := 0; ans == ansNone && i < retries; i++ {
		syn.Time = syn.Time.Add(time.Duration(1<<i) * time.Second)
		g.emit(syn)
		ans = g.respond(&syn)
	}
	if ans != ansSynAck {
		return ans
	}
	r := rtt(src)
	t2 := syn.Time.Add(r + time.Millisecond)
	switch fl {
	case followClient:
		g.emit(tcpObs(t2, src, dst, sport, dport, detect.ACK, ttl, 0))
		g.emit(tcpObs(t2.Add(time.Millisecond), src, dst, sport, dport, detect.ACK|detect.PSH, ttl, 200))
		t3 := t2.Add(r)
		g.emit(tcpObs(t3, dst, src, dport, sport, detect.ACK|detect.PSH, 63, 1200))
		g.emit(tcpObs(t3.Add(time.Millisecond), src, dst, sport, dport, detect.FIN|detect.ACK, ttl, 0))
		g.emit(tcpObs(t3.Add(r), dst, src, dport, sport, detect.FIN|detect.ACK, 63, 0))
	case followSYNScan:
		g.emit(tcpObs(t2, src, dst, sport, dport, detect.RST, ttl, 0))
	case followConnect:
		g.emit(tcpObs(t2, src, dst, sport, dport, detect.ACK, ttl, 0))
		g.emit(tcpObs(t2.Add(time.Millisecond), src, dst, sport, dport, detect.RST|detect.ACK, ttl, 0))
	}
	return ans
}

func (g *gen) ephemeral() uint16 { return uint16(32768 + g.rng.IntN(28000)) }

func ttlOf(a netip.Addr) uint8 { return uint8(64 - hops(a)) }

// ---- benign actors ----

func (g *gen) pick(list []netip.Addr) netip.Addr {
	// Zipf-ish popularity: low indexes are popular.
	i := int(float64(len(list)) * g.rng.Float64() * g.rng.Float64())
	return list[min(i, len(list)-1)]
}

func (g *gen) webClient(d time.Duration) *Actor {
	src := g.newSource(g.rng.IntN(10) == 0)
	a := &Actor{Role: Benign, Kind: "web", Sources: []netip.Addr{src}}
	webs := filter(g.web, src.Is4())
	sessions := 1 + g.rng.IntN(5)
	for range sessions {
		t := g.startIn(d, 0)
		for range 1 + g.rng.IntN(3) {
			dst := g.pick(webs)
			port := uint16(443)
			if g.rng.IntN(4) == 0 {
				port = 80
			}
			for range 1 + g.rng.IntN(4) {
				g.connect(t, src, g.ephemeral(), dst, port, followClient, ttlOf(src), 2)
				t = t.Add(time.Duration(200+g.rng.IntN(5000)) * time.Millisecond)
			}
		}
		if src.Is4() && g.rng.IntN(20) == 0 { // a stale bookmark: one dark or closed host
			g.connect(t, src, g.ephemeral(), g.live[g.rng.IntN(len(g.live))], 443, followClient, ttlOf(src), 2)
		}
	}
	return a
}

func filter(list []netip.Addr, v4 bool) []netip.Addr {
	var out []netip.Addr
	for _, a := range list {
		if a.Is4() == v4 {
			out = append(out, a)
		}
	}
	return out
}

// crawler fetches from every web server (many hosts, one open port) and
// a few stale addresses.
func (g *gen) crawler(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Benign, Kind: "crawler", Sources: []netip.Addr{src}}
	t := g.startIn(d, d/2)
	targets := filter(g.web, true)
	g.rng.Shuffle(len(targets), func(i, j int) { targets[i], targets[j] = targets[j], targets[i] })
	for i, dst := range targets {
		g.connect(t, src, g.ephemeral(), dst, 80, followClient, ttlOf(src), 2)
		t = t.Add(time.Duration(500+g.rng.IntN(4000)) * time.Millisecond)
		if i%15 == 7 { // stale DNS: the site moved away
			dark := netip.AddrFrom4([4]byte{198, 18, byte(g.rng.IntN(4)), byte(g.rng.IntN(254) + 1)})
			g.connect(t, src, g.ephemeral(), dark, 80, followClient, ttlOf(src), 2)
		}
	}
	return a
}

// monitor checks a fixed list of services every 5 minutes; a few of them
// are down for good.
func (g *gen) monitor(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Benign, Kind: "monitor", Sources: []netip.Addr{src}}
	var list []svc
	for len(list) < 27 {
		if s := g.svcs[g.rng.IntN(len(g.svcs))]; s.addr.Is4() {
			list = append(list, s)
		}
	}
	for range 3 { // dead checks
		list = append(list, svc{g.live[g.rng.IntN(len(g.live))], 9100})
	}
	for t := g.at(time.Duration(g.rng.IntN(300)) * time.Second); t.Before(g.at(d)); t = t.Add(5 * time.Minute) {
		for i, s := range list {
			g.connect(t.Add(time.Duration(i)*200*time.Millisecond), src, g.ephemeral(), s.addr, s.port, followClient, ttlOf(src), 0)
		}
	}
	return a
}

// flaky retries one dead service every 10–30 s for 20 minutes.
func (g *gen) flaky(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Benign, Kind: "flaky", Sources: []netip.Addr{src}}
	dst := netip.AddrFrom4([4]byte{198, 18, byte(g.rng.IntN(4)), byte(g.rng.IntN(254) + 1)})
	port := []uint16{443, 22, 3306, 8080}[g.rng.IntN(4)]
	if h := g.hosts[dst]; h != nil {
		delete(h.open, key(target.TCP, port)) // make sure it is dead
	}
	t := g.startIn(d, 30*time.Minute)
	end := t.Add(20 * time.Minute)
	for ; t.Before(end); t = t.Add(time.Duration(10+g.rng.IntN(20)) * time.Second) {
		g.connect(t, src, g.ephemeral(), dst, port, followClient, ttlOf(src), 1)
	}
	return a
}

// p2pClient tries peers from a stale peer list on 6881: failure-heavy,
// with retries.
func (g *gen) p2pClient(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Benign, Kind: "p2p", Sources: []netip.Addr{src}}
	n := 3 + g.rng.IntN(8)
	t := g.startIn(d, time.Hour)
	var peers []netip.Addr
	for range n {
		peers = append(peers, g.p2p[g.rng.IntN(len(g.p2p))])
	}
	for round := range 3 {
		for _, p := range peers {
			if round > 0 && g.hosts[p].open[key(target.TCP, 6881)] {
				continue // connected already
			}
			g.connect(t, src, g.ephemeral(), p, 6881, followClient, ttlOf(src), 1)
			t = t.Add(time.Duration(1+g.rng.IntN(3000)) * time.Millisecond)
		}
		t = t.Add(time.Duration(60+g.rng.IntN(600)) * time.Second)
	}
	return a
}

// dnsClient queries the DNS servers over UDP, sometimes over TCP.
func (g *gen) dnsClient(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Benign, Kind: "dns", Sources: []netip.Addr{src}}
	servers := filter(g.dns, true)
	for range 5 + g.rng.IntN(20) {
		t := g.startIn(d, 0)
		dst := servers[g.rng.IntN(len(servers))]
		q := udpObs(t, src, dst, g.ephemeral(), 53, ttlOf(src), 40)
		g.emit(q)
		g.respond(&q)
		if g.rng.IntN(10) == 0 {
			g.connect(t.Add(time.Second), src, g.ephemeral(), dst, 53, followClient, ttlOf(src), 1)
		}
	}
	return a
}

// ---- scanners ----

var techniques = []detect.ScanType{detect.ScanSYN, detect.ScanConnect, detect.ScanFIN, detect.ScanNULL,
	detect.ScanXmas, detect.ScanACK, detect.ScanUDP}

func (g *gen) fastScanners(d time.Duration) []*Actor {
	var out []*Actor
	for _, shape := range []detect.Shape{detect.ShapeVertical, detect.ShapeHorizontal, detect.ShapeBlock} {
		for _, typ := range techniques {
			for _, gap := range []time.Duration{100 * time.Microsecond, 10 * time.Millisecond, time.Second} {
				n := 200
				if gap == time.Second {
					n = 120
				}
				out = append(out, g.singleScan("fast", shape, typ, gap, n, false, d))
			}
		}
	}
	return out
}

// targets lays out n (host, port) pairs of the given shape.
func (g *gen) targets(shape detect.Shape, typ detect.ScanType, n int, v6 bool) []svc {
	var out []svc
	ports := tcpPorts
	if typ == detect.ScanUDP {
		ports = udpPorts
	}
	hosts := g.live
	if v6 {
		hosts = g.live6
	}
	randHost := func() netip.Addr {
		if v6 {
			return hosts[g.rng.IntN(len(hosts))]
		}
		return netip.AddrFrom4([4]byte{198, 18, byte(g.rng.IntN(4)), byte(1 + g.rng.IntN(254))})
	}
	switch shape {
	case detect.ShapeVertical:
		h := hosts[g.rng.IntN(len(hosts))]
		for _, p := range g.portList(ports, n) {
			out = append(out, svc{h, p})
		}
	case detect.ShapeHorizontal:
		p := []uint16{22, 80, 445, 3389, 23}[g.rng.IntN(5)]
		if typ == detect.ScanUDP {
			p = []uint16{161, 123, 53}[g.rng.IntN(3)]
		}
		seen := map[netip.Addr]bool{}
		for len(out) < n {
			h := randHost()
			if v6 {
				b := h.As16()
				b[14], b[15] = byte(g.rng.IntN(2)), byte(g.rng.IntN(256))
				h = netip.AddrFrom16(b)
			}
			if !seen[h] {
				seen[h] = true
				out = append(out, svc{h, p})
			}
		}
	default:
		nh := 20
		var hs []netip.Addr
		seen := map[netip.Addr]bool{}
		for len(hs) < nh {
			if h := randHost(); !seen[h] {
				seen[h] = true
				hs = append(hs, h)
			}
		}
		ps := g.portList(ports, (n+nh-1)/nh)
		for _, h := range hs {
			for _, p := range ps {
				out = append(out, svc{h, p})
			}
		}
		g.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
		out = out[:n]
	}
	return out
}

var tcpPorts = []uint16{21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995, 1723, 3306, 3389, 5900, 8080}
var udpPorts = []uint16{53, 67, 69, 123, 137, 138, 161, 500, 514, 520, 1900, 4500, 5353}

// portList returns n distinct ports: the well-known ones first (in random
// order), then random ones.
func (g *gen) portList(known []uint16, n int) []uint16 {
	seen := map[uint16]bool{}
	var out []uint16
	for _, p := range known {
		if len(out) < n {
			out = append(out, p)
			seen[p] = true
		}
	}
	for len(out) < n {
		p := uint16(1 + g.rng.IntN(65535))
		if !seen[p] {
			seen[p] = true
			out = append(out, p)
		}
	}
	g.rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// probe sends one scan probe of technique typ and plays out the answer.
func (g *gen) probe(t time.Time, src netip.Addr, sport uint16, dst netip.Addr, port uint16, typ detect.ScanType, ttl uint8) answer {
	switch typ {
	case detect.ScanSYN:
		return g.connect(t, src, sport, dst, port, followSYNScan, ttl, 1)
	case detect.ScanConnect:
		return g.connect(t, src, g.ephemeral(), dst, port, followConnect, ttl, 1)
	case detect.ScanUDP:
		o := udpObs(t, src, dst, sport, port, ttl, 0)
		g.emit(o)
		return g.respond(&o)
	}
	f := map[detect.ScanType]detect.TCPFlags{detect.ScanFIN: detect.FIN, detect.ScanNULL: 0,
		detect.ScanXmas: detect.FIN | detect.PSH | detect.URG, detect.ScanACK: detect.ACK}[typ]
	o := tcpObs(t, src, dst, sport, port, f, ttl, 0)
	g.emit(o)
	return g.respond(&o)
}

func (g *gen) jitter(gap time.Duration) time.Duration {
	return gap/2 + time.Duration(g.rng.Int64N(int64(gap)+1))
}

func (g *gen) singleScan(kind string, shape detect.Shape, typ detect.ScanType, gap time.Duration, n int, v6 bool, d time.Duration) *Actor {
	src := g.newSource(v6)
	a := &Actor{Role: Scanner, Kind: kind, Sources: []netip.Addr{src}, Shape: shape, Type: typ, Gap: gap}
	span := time.Duration(n) * gap
	t := g.startIn(d, span)
	sport := g.ephemeral()
	for _, s := range g.targets(shape, typ, n, v6) {
		g.probe(t, src, sport, s.addr, s.port, typ, ttlOf(src))
		a.Probes = append(a.Probes, t)
		t = t.Add(g.jitter(gap))
	}
	return a
}

// evader alternates a probe with a fresh connection to an open service,
// so its TRW walk never climbs.
func (g *gen) evader(d time.Duration) *Actor {
	src := g.newSource(false)
	a := &Actor{Role: Scanner, Kind: "evader", Sources: []netip.Addr{src}, Shape: detect.ShapeBlock,
		Type: detect.ScanSYN, Gap: time.Second}
	t := g.startIn(d, d/2)
	svcs := slices.Clone(g.svcs)
	g.rng.Shuffle(len(svcs), func(i, j int) { svcs[i], svcs[j] = svcs[j], svcs[i] })
	probes := g.targets(detect.ShapeBlock, detect.ScanSYN, 150, false)
	for i, p := range probes {
		g.probe(t, src, g.ephemeral(), p.addr, p.port, detect.ScanSYN, ttlOf(src))
		a.Probes = append(a.Probes, t)
		t = t.Add(g.jitter(time.Second))
		if i < len(svcs) && svcs[i].addr.Is4() {
			g.connect(t, src, g.ephemeral(), svcs[i].addr, svcs[i].port, followClient, ttlOf(src), 0)
			t = t.Add(g.jitter(time.Second))
		}
	}
	return a
}

// distributed splits one scan (a host's ports, or a /24 on one port)
// into k disjoint slices probed at the same time by k sources.
func (g *gen) distributed(k int, vertical bool, from, spread time.Duration) *Actor {
	a := &Actor{Role: Scanner, Kind: "distributed", Type: detect.ScanSYN, Gap: 100 * time.Millisecond}
	for range k {
		a.Sources = append(a.Sources, g.newSource(false))
	}
	per := 24
	var tg []svc
	if vertical {
		a.Shape = detect.ShapeVertical
		tg = g.targets(detect.ShapeVertical, detect.ScanSYN, per*k, false)
	} else {
		a.Shape = detect.ShapeHorizontal
		third := byte(g.rng.IntN(4))
		port := []uint16{22, 445, 3389}[g.rng.IntN(3)]
		for i := 0; i < min(per*k, 254); i++ {
			tg = append(tg, svc{netip.AddrFrom4([4]byte{198, 18, third, byte(i + 1)}), port})
		}
	}
	start := g.at(from + time.Duration(g.rng.Int64N(int64(spread))))
	for m, src := range a.Sources {
		t := start.Add(time.Duration(g.rng.IntN(2000)) * time.Millisecond)
		sport := g.ephemeral()
		for i := m; i < len(tg); i += k {
			g.probe(t, src, sport, tg[i].addr, tg[i].port, detect.ScanSYN, ttlOf(src))
			a.Probes = append(a.Probes, t)
			t = t.Add(g.jitter(a.Gap * time.Duration(max(1, k/4))))
		}
	}
	return a
}

// decoyScan is nmap -D: every probe is sent from d spoofed decoys and the
// real source within a millisecond, in random order. The real source's
// kernel resets SYN-ACKs from its own hop distance; live decoys reset
// from theirs, dead ones stay silent.
func (g *gen) decoyScan(d int, dur time.Duration) *Actor {
	real := g.newSource(false)
	a := &Actor{Role: Scanner, Kind: "decoy", Sources: []netip.Addr{real}, Shape: detect.ShapeVertical,
		Type: detect.ScanSYN, Gap: 5 * time.Millisecond}
	for range d {
		a.Decoys = append(a.Decoys, g.newSource(false))
	}
	live := map[netip.Addr]bool{}
	for i, dc := range a.Decoys {
		live[dc] = i%2 == 0
	}
	all := append([]netip.Addr{real}, a.Decoys...)
	t := g.startIn(dur, dur/2)
	scanTTL := ttlOf(real)
	sport := g.ephemeral()
	for _, s := range g.targets(detect.ShapeVertical, detect.ScanSYN, 150, false) {
		g.rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		for j, src := range all {
			ts := t.Add(time.Duration(j) * 100 * time.Microsecond)
			syn := tcpObs(ts, src, s.addr, sport, s.port, detect.SYN, scanTTL, 0)
			g.emit(syn)
			if src == real {
				a.Probes = append(a.Probes, ts)
			}
			if g.respond(&syn) != ansSynAck {
				continue
			}
			back := ts.Add(rtt(src) + time.Millisecond)
			switch {
			case src == real:
				g.emit(tcpObs(back, src, s.addr, sport, s.port, detect.RST, scanTTL, 0))
			case live[src]:
				// the decoy host's own kernel: another hop distance
				g.emit(tcpObs(back, src, s.addr, sport, s.port, detect.RST, uint8(128-hops(src)-7), 0))
			}
		}
		t = t.Add(g.jitter(a.Gap))
	}
	return a
}

// flood sends one SYN from each of n spoofed sources to random targets.
func (g *gen) flood(n int, span, d time.Duration) *Actor {
	a := &Actor{Role: Spoofed, Kind: "spoofed"}
	start := g.startIn(d, span)
	for i := range n {
		// 198.19.0.0/16 holds 65,536 addresses: beyond 20,000 the flood
		// spoofs IPv6 sources (2001:db8:ffff::/48) against the v6 network.
		v6 := i >= 20000
		src := g.newSource(v6)
		a.Sources = append(a.Sources, src)
		t := start.Add(span * time.Duration(i) / time.Duration(n))
		dst := netip.AddrFrom4([4]byte{198, 18, byte(g.rng.IntN(4)), byte(1 + g.rng.IntN(254))})
		if v6 {
			dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 1, 14: byte(g.rng.IntN(2)), 15: byte(g.rng.IntN(256))})
		}
		port := tcpPorts[g.rng.IntN(len(tcpPorts))]
		syn := tcpObs(t, src, dst, g.ephemeral(), port, detect.SYN, uint8(40+g.rng.IntN(20)), 0)
		g.emit(syn)
		g.respond(&syn)
	}
	return a
}

//go:build benchcompare && linux

package bench

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	addrA = netip.MustParseAddr("198.18.1.2")
	addrB = netip.MustParseAddr("198.19.0.1")
)

func TestParseNmapXML(t *testing.T) {
	const doc = `<?xml version="1.0"?>
<nmaprun><host><status state="up" reason="user-set"/>
<address addr="198.18.1.2" addrtype="ipv4"/>
<ports><extraports state="closed" count="4">
<extrareasons reason="reset" count="4" proto="tcp" ports="1-3,5"/>
</extraports>
<extraports state="filtered" count="2">
<extrareasons reason="no-response" count="1" proto="tcp" ports="6"/>
<extrareasons reason="admin-prohibited" count="1" proto="tcp" ports="7"/>
</extraports>
<port protocol="tcp" portid="4"><state state="open" reason="syn-ack"/><service name="http" method="probed"/></port>
</ports></host>
<host><status state="up"/><address addr="198.19.0.1" addrtype="ipv4"/></host>
</nmaprun>`
	o, err := parseNmapXML(writeTemp(t, doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[key]string{
		{addrA, 0}: "up", {addrA, 1}: "closed", {addrA, 2}: "closed", {addrA, 3}: "closed",
		{addrA, 4}: "open", {addrA, 5}: "closed", {addrA, 6}: "filtered", {addrA, 7}: "filtered",
		{addrB, 0}: "up",
	}
	if len(o.states) != len(want) {
		t.Errorf("got %d states, want %d: %v", len(o.states), len(want), o.states)
	}
	for k, v := range want {
		if o.states[k] != v {
			t.Errorf("%v:%d: got %q, want %q", k.addr, k.port, o.states[k], v)
		}
	}
	if o.services[key{addrA, 4}] != "http" {
		t.Errorf("service of port 4: got %q, want http", o.services[key{addrA, 4}])
	}
}

func TestParseJSONL(t *testing.T) {
	const doc = `{"type":"port","addr":"198.18.1.2","port":22,"proto":"tcp","state":"open","reason":"syn-ack","service":{"name":"ssh","method":"probed","conf":10}}
{"type":"port","addr":"198.18.1.2","port":23,"proto":"tcp","state":"closed","reason":"reset"}

{"type":"host","addr":"198.19.0.1","state":"up","reason":"echo-reply"}
`
	o, err := parseJSONL(writeTemp(t, doc), 0)
	if err != nil {
		t.Fatal(err)
	}
	if o.states[key{addrA, 22}] != "open" || o.states[key{addrA, 23}] != "closed" || o.states[key{addrB, 0}] != "up" {
		t.Errorf("states: %v", o.states)
	}
	if o.services[key{addrA, 22}] != "ssh" {
		t.Errorf("services: %v", o.services)
	}
	if _, err := parseJSONL(writeTemp(t, "{\"type\":\"port\",\"addr\":\"nope\"}\n"), 0); err == nil {
		t.Error("bad address: no error")
	}
}

func TestParseMasscanAndZmap(t *testing.T) {
	o, err := parseMasscanList(writeTemp(t, "#masscan\nopen tcp 80 198.19.0.1 1700000000\nopen icmp 0 198.18.1.2 1700000000\n# end\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.states) != 2 || o.states[key{addrB, 80}] != "open" || o.states[key{addrA, 0}] != "up" {
		t.Errorf("masscan: %v", o.states)
	}
	o, err = parseZmapCSV(writeTemp(t, "saddr\n198.19.0.1\n\n"), 80)
	if err != nil {
		t.Fatal(err)
	}
	if len(o.states) != 1 || o.states[key{addrB, 80}] != "open" {
		t.Errorf("zmap: %v", o.states)
	}
	o, err = parseZmapCSV(writeTemp(t, "saddr\n198.19.0.1\n"), 0)
	if err != nil || o.states[key{addrB, 0}] != "up" {
		t.Errorf("zmap icmp: %v, %v", o.states, err)
	}
}

func TestScoreRun(t *testing.T) {
	truth := map[uint16]string{1: "open", 2: "closed", 3: "filtered", 4: "open"}
	e := expectation{
		positive: "open",
		each: func(yield func(key, string) bool) {
			for p := uint16(1); p <= 4; p++ {
				if !yield(key{addrA, p}, truth[p]) {
					return
				}
			}
		},
		has: func(k key) bool { return k.addr == addrA && k.port >= 1 && k.port <= 4 },
	}
	o := newObserved()
	o.states[key{addrA, 1}] = "open"
	o.states[key{addrA, 2}] = "closed"
	o.states[key{addrA, 3}] = "closed" // wrong
	// 4 left out: missed
	o.states[key{addrB, 80}] = "open" // extra
	s := scoreRun(e, o, false)
	if s.Total != 4 || s.Correct != 2 || s.Missed != 1 || s.Wrong != 1 || s.Extra != 1 || s.Found != 1 || s.Positives != 2 {
		t.Errorf("full: %+v", s)
	}
	s = scoreRun(e, o, true)
	if s.Correct != 3 || s.Missed != 1 || s.Wrong != 0 || s.Extra != 1 {
		t.Errorf("open only: %+v", s)
	}
}

func TestCoverExcept(t *testing.T) {
	ps := coverExcept(anyNet, darkNet)
	if len(ps) != 8 {
		t.Fatalf("got %d prefixes, want 8: %v", len(ps), ps)
	}
	n := 0
	for _, p := range ps {
		if !anyNet.Contains(p.Addr()) || p.Overlaps(darkNet) {
			t.Errorf("%v: outside %v or overlapping %v", p, anyNet, darkNet)
		}
		for _, q := range ps {
			if p != q && p.Overlaps(q) {
				t.Errorf("%v overlaps %v", p, q)
			}
		}
		n += 1 << (32 - p.Bits())
	}
	if want := 1<<16 - 1<<8; n != want {
		t.Errorf("cover holds %d addresses, want %d", n, want)
	}
}

func TestPortMix(t *testing.T) {
	m := newPortMix(mixSeed)
	if len(m.open) != nOpen || len(m.dropped) != nDropped || len(m.rejected) != nRejected {
		t.Fatalf("mix sizes %d/%d/%d", len(m.open), len(m.dropped), len(m.rejected))
	}
	if len(m.tcp) != nOpen+nDropped+nRejected {
		t.Errorf("classes overlap: %d ports in the map", len(m.tcp))
	}
	low := 0
	for p := range m.tcp {
		if p <= quickPorts {
			low++
		}
	}
	if low < (nOpen+nDropped+nRejected)/2 {
		t.Errorf("only %d ports below %d", low, quickPorts)
	}
	if m2 := newPortMix(mixSeed); m2.open[5] != m.open[5] || m2.dropped[100] != m.dropped[100] {
		t.Error("mix not reproducible")
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := median([]float64{3, 1, 2}); got != 2 {
		t.Errorf("median odd: %v", got)
	}
	if got := median([]uint64{4, 1, 2, 3}); got != 2 {
		t.Errorf("median even: %v", got)
	}
	if got := thousands(1234567); got != "1,234,567" {
		t.Errorf("thousands: %q", got)
	}
	if got, err := parsePortList("1-3,7"); err != nil || len(got) != 4 || got[3] != 7 {
		t.Errorf("parsePortList: %v %v", got, err)
	}
	if _, err := parsePortList("5-3"); err == nil {
		t.Error("parsePortList 5-3: no error")
	}
}

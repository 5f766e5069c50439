package target

import (
	"slices"
	"testing"
)

func TestParsePortsExact(t *testing.T) {
	tests := []struct {
		spec  string
		proto Protocol
		want  string
		n     uint64
	}{
		{"22,80,1000-2000", TCP, "T:22,80,1000-2000", 1003},
		{"-", TCP, "T:1-65535", 65535},
		{"-100", TCP, "T:1-100", 100},
		{"60000-", UDP, "U:60000-65535", 5536},
		{"0", TCP, "T:0", 1},
		{"0-2", TCP, "T:0-2", 3},
		{"80,22,80,21-23", TCP, "T:21-23,80", 4},
		{"T:80,U:53", UDP, "T:80,U:53", 2},
		{"53,T:80,443,U:53,161", UDP, "T:80,443,U:53,161", 4},
		{"t:22, u:500", TCP, "T:22,U:500", 2},
		{"ssh,http,https", TCP, "T:22,80,443", 3},
		{"domain,U:domain", TCP, "T:53,U:53", 2},
		{"HTTP,www", TCP, "T:80", 1},
		{"snmp", UDP, "U:161", 1},
		{"65535", TCP, "T:65535", 1},
	}
	for _, tt := range tests {
		p, err := ParsePorts(tt.spec, tt.proto)
		if err != nil {
			t.Errorf("%q: %v", tt.spec, err)
			continue
		}
		if p.String() != tt.want || p.Len() != tt.n {
			t.Errorf("%q: got %q (%d), want %q (%d)", tt.spec, p.String(), p.Len(), tt.want, tt.n)
		}
		// String round-trips.
		q, err := ParsePorts(p.String(), TCP)
		if err != nil || q.String() != p.String() {
			t.Errorf("%q: round trip %q -> %v %v", tt.spec, p.String(), q, err)
		}
	}
}

func TestParsePortsErrors(t *testing.T) {
	tests := []struct{ spec, want string }{
		{"22,70000", `target: bad port "70000" in "22,70000": out of range 0-65535`},
		{"100-20", `target: bad port "100-20": range 100-20 is reversed`},
		{"22,,80", `target: bad port "" in "22,,80": empty item`},
		{"22,", `target: bad port "" in "22,": empty item`},
		{"1-2-3", `target: bad port "1-2-3": too many dashes`},
		{"nosuchservice", `target: bad port "nosuchservice": unknown service name`},
		{"U:ssh", `target: bad port "ssh" in "U:ssh": service has no udp port`},
		{"S:80", `target: bad port "S:80": unsupported protocol prefix "S:" (want T: or U:)`},
		{"T:", `target: bad port "T:": nothing after protocol prefix`},
		{"80a", `target: bad port "80a": unknown service name`},
		{"-0", `target: bad port "-0": range 1-0 is reversed`},
		{"123456", `target: bad port "123456": out of range 0-65535`},
		{"", `target: empty port spec`},
	}
	for _, tt := range tests {
		_, err := ParsePorts(tt.spec, TCP)
		if err == nil {
			t.Errorf("%q: no error", tt.spec)
			continue
		}
		if err.Error() != tt.want {
			t.Errorf("%q:\n got %s\nwant %s", tt.spec, err, tt.want)
		}
	}
	if _, err := ParsePorts("80", 0); err == nil {
		t.Error("zero default protocol: no error")
	}
}

func TestPortsAtMergeProtocols(t *testing.T) {
	p := PortsOf(TCP, 443, 80, 22, 80)
	q := PortsOf(UDP, 53)
	m := p.Merge(q).Merge(PortsOf(TCP, 81, 23))
	want := []Port{{TCP, 22}, {TCP, 23}, {TCP, 80}, {TCP, 81}, {TCP, 443}, {UDP, 53}}
	if m.Len() != uint64(len(want)) {
		t.Fatalf("Len = %d", m.Len())
	}
	for i, w := range want {
		if got := m.At(uint64(i)); got != w {
			t.Errorf("At(%d) = %v, want %v", i, got, w)
		}
		if !m.Contains(w) {
			t.Errorf("Contains(%v) = false", w)
		}
	}
	if m.Contains(Port{UDP, 22}) || m.Contains(Port{TCP, 53}) || m.Contains(Port{TCP, 24}) {
		t.Error("Contains reports a missing port")
	}
	if got := m.Protocols(); !slices.Equal(got, []Protocol{TCP, UDP}) {
		t.Errorf("Protocols = %v", got)
	}
	if m.String() != "T:22-23,80-81,443,U:53" {
		t.Errorf("String = %q", m.String())
	}
	if p.Len() != 3 {
		t.Errorf("Merge modified its receiver: %v", p)
	}
	var nilPorts *Ports
	if nilPorts.Len() != 0 || nilPorts.Merge(q).String() != "U:53" || len(nilPorts.Protocols()) != 0 {
		t.Error("nil Ports misbehaves")
	}
}

func TestServices(t *testing.T) {
	ps, ok := ServicePort("domain")
	if !ok || !slices.Equal(ps, []Port{{TCP, 53}, {UDP, 53}}) {
		t.Errorf("domain = %v %v", ps, ok)
	}
	ps, ok = ServicePort("SSH")
	if !ok || !slices.Equal(ps, []Port{{TCP, 22}}) {
		t.Errorf("SSH = %v %v", ps, ok)
	}
	if _, ok := ServicePort("no-such"); ok {
		t.Error("unknown service found")
	}
	for p, want := range map[Port]string{
		{TCP, 22}: "ssh", {TCP, 80}: "http", {UDP, 53}: "domain", {UDP, 514}: "syslog",
		{TCP, 514}: "shell", {TCP, 8080}: "http-alt", {UDP, 22}: "", {TCP, 1}: "", {ICMP, 0}: "",
	} {
		if got := ServiceName(p); got != want {
			t.Errorf("ServiceName(%v) = %q, want %q", p, got, want)
		}
	}
	// Every table row round-trips and names are lower case.
	for _, s := range services {
		ps, ok := ServicePort(s.name)
		if !ok || len(ps) == 0 {
			t.Errorf("%s: not found", s.name)
		}
		for _, a := range serviceAliases {
			if a[0] == s.name {
				t.Errorf("alias %q shadows a table name", a[0])
			}
		}
	}
	for _, a := range serviceAliases {
		if _, ok := ServicePort(a[0]); !ok {
			t.Errorf("alias %q points nowhere", a[0])
		}
	}
	if len(services) < 150 {
		t.Errorf("only %d services", len(services))
	}
}

func TestTop(t *testing.T) {
	if TopLen(TCP) < 1000 || TopLen(UDP) < 100 {
		t.Fatalf("TopLen TCP %d UDP %d", TopLen(TCP), TopLen(UDP))
	}
	for _, proto := range []Protocol{TCP, UDP} {
		list := topList(proto)
		seen := map[uint16]bool{}
		for _, p := range list {
			if seen[p] || p == 0 {
				t.Errorf("%s: port %d duplicated or zero", proto, p)
			}
			seen[p] = true
		}
		all, err := Top(len(list), proto)
		if err != nil || all.Len() != uint64(len(list)) {
			t.Errorf("%s: Top(all) = %v, %v", proto, all, err)
		}
	}
	p, err := Top(3, TCP)
	if err != nil || p.String() != "T:22,80,443" {
		t.Errorf("Top(3, TCP) = %v, %v", p, err)
	}
	p, err = Top(2, UDP)
	if err != nil || p.String() != "U:53,123" {
		t.Errorf("Top(2, UDP) = %v, %v", p, err)
	}
	p, _ = Top(1000, TCP)
	if p.Len() != 1000 || p.Protocols()[0] != TCP {
		t.Errorf("Top(1000) Len = %d", p.Len())
	}
	for _, n := range []int{0, -1, TopLen(TCP) + 1} {
		if _, err := Top(n, TCP); err == nil {
			t.Errorf("Top(%d): no error", n)
		}
	}
	if _, err := Top(1, ICMP); err == nil {
		t.Error("Top(ICMP): no error")
	}
}

func TestPortsAllocs(t *testing.T) {
	p, _ := ParsePorts("T:1-100,200,300-400,U:53,161", TCP)
	var sink Port
	if n := testing.AllocsPerRun(1000, func() { sink = p.At(150) }); n != 0 {
		t.Errorf("Ports.At allocs = %v", n)
	}
	_ = sink
}

package cluster

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/scanner"
	"github.com/portsense/portsense/target"
)

func testSpec() Spec {
	three := 3
	return Spec{
		Hosts: target.MustParseHosts("198.18.0.0/20,2001:db8::1-2001:db8::3"), Ports: target.PortsOf(target.TCP, 22, 80, 443),
		Seed: 7, Prober: ProberSpec{Kind: KindConnect, Connect: &ConnectSpec{MaxInFlight: 512}},
		Timing: scanner.T4, MaxRetries: &three, Rate: 10000, Slots: 4, TaskSize: 1000,
		AckWait: 5 * time.Second, MaxDeliver: 3,
	}
}

func TestSpecRoundTrip(t *testing.T) {
	for _, s := range []Spec{
		testSpec(),
		{Hosts: target.MustParseHosts("198.18.1.1"), Ports: target.PortsOf(target.TCP, 1), Prober: ProberSpec{Kind: KindSYN, SYN: &SYNSpec{SourcePort: 50000, TTL: 32, BatchSize: 8}}},
		{Hosts: target.MustParseHosts("198.18.1.1"), Ports: target.PortsOf(target.TCP, 1), Prober: ProberSpec{Kind: KindSYN}},
	} {
		b, err := json.Marshal(s)
		require.NoError(t, err)
		var got Spec
		require.NoError(t, json.Unmarshal(b, &got), "%s", b)
		assert.Equal(t, s.Hosts.String(), got.Hosts.String())
		assert.Equal(t, s.Ports.String(), got.Ports.String())
		got.Hosts, got.Ports, s.Hosts, s.Ports = nil, nil, nil, nil
		assert.Equal(t, s, got)
	}
}

func TestSpecWireFormat(t *testing.T) {
	b, err := json.Marshal(testSpec())
	require.NoError(t, err)
	assert.JSONEq(t, `{"version":1,"hosts":"198.18.0.0/20,2001:db8::1-2001:db8::3","ports":"T:22,80,443","seed":7,
		"prober":{"kind":"connect","connect":{"max_in_flight":512}},"timing":"T4","max_retries":3,
		"rate":10000,"slots":4,"task_size":1000,"ack_wait":"5s","max_deliver":3,"targets":12297}`, string(b))
}

func TestSpecBadInput(t *testing.T) {
	good, err := json.Marshal(testSpec())
	require.NoError(t, err)
	edit := func(old, new string) string {
		require.Contains(t, string(good), old)
		return strings.Replace(string(good), old, new, 1)
	}
	for _, c := range []struct{ in, err string }{
		{``, "unexpected end of JSON"},
		{`[]`, "cannot unmarshal array"},
		{`{}`, "missing version"},
		{edit(`"version":1`, `"version":2`), "unsupported version 2 (this reader knows 1)"},
		{edit(`"seed":7`, `"seed":7,"colour":"blue"`), `unknown field "colour"`},
		{edit(`"kind":"connect"`, `"kind":"udp"`), `unknown kind "udp"`},
		{edit(`"kind":"connect"`, `"kind":""`), "missing kind"},
		{edit(`"kind":"connect"`, `"kind":"syn"`), `connect options given for kind "syn"`},
		{edit(`"max_in_flight":512`, `"max_in_flight":512,"ttl":3`), `unknown field "ttl"`},
		{edit(`"max_in_flight":512`, `"max_in_flight":-1`), "max_in_flight -1: must be >= 0"},
		{edit(`"hosts":"198.18.0.0/20,`, `"hosts":"scanme.example,`), `unresolved name "scanme.example"`},
		{edit(`"hosts":"198.18.0.0/20,`, `"hosts":"198.18.0.0/40,`), "hosts:"},
		{edit(`"ports":"T:22,80,443"`, `"ports":"T:22,U:53"`), "protocol udp not supported"},
		{edit(`"ports":"T:22,80,443"`, `"ports":"T:99999"`), "ports:"},
		{edit(`"targets":12297`, `"targets":12`), "hosts × ports is 12297, spec says 12"},
		{edit(`"timing":"T4"`, `"timing":"T9"`), "bad timing template"},
		{edit(`"max_retries":3`, `"max_retries":99`), "max_retries 99: want 0-50"},
		{edit(`"rate":10000`, `"rate":-1`), "rate -1: must be >= 0"},
		{edit(`"ack_wait":"5s"`, `"ack_wait":"soon"`), "ack_wait"},
		{edit(`"ack_wait":"5s"`, `"ack_wait":"1ms"`), "at least 100ms"},
		{edit(`"slots":4`, `"slots":-4`), "slots -4"},
		{string(good) + `{}`, "after top-level value"},
	} {
		var s Spec
		err := json.Unmarshal([]byte(c.in), &s)
		if assert.Error(t, err, "%s", c.in) {
			assert.Contains(t, err.Error(), c.err, "%s", c.in)
		}
	}
	// Marshal checks too.
	bad := testSpec()
	bad.Prober = ProberSpec{Kind: KindConnect, SYN: &SYNSpec{}}
	_, err = json.Marshal(bad)
	assert.ErrorContains(t, err, `syn options given for kind "connect"`)
	_, err = json.Marshal(Spec{Prober: ProberSpec{Kind: KindConnect}})
	assert.ErrorContains(t, err, "no hosts")
}

func TestSpecDefaultsAndTasks(t *testing.T) {
	s := Spec{Hosts: target.MustParseHosts("198.18.0.0/24"), Ports: target.PortsOf(target.TCP, 1, 2, 3), Prober: ProberSpec{Kind: KindConnect}}
	d := s.withDefaults()
	assert.Equal(t, DefaultSlots, d.Slots)
	assert.Equal(t, uint64(DefaultTaskSize), d.TaskSize)
	assert.Equal(t, uint64(1), s.Tasks(), "768 targets fit one task")
	s.Rate = 800 // 100 per slot: 500 targets a task
	assert.Equal(t, uint64(500), s.withDefaults().TaskSize)
	assert.Equal(t, uint64(2), s.Tasks())
}

func TestValidID(t *testing.T) {
	for _, id := range []string{"a", "scan-1_B", strings.Repeat("x", 64)} {
		assert.NoError(t, validID(id), id)
	}
	for _, id := range []string{"", "a.b", "a*", "a>", "ä", strings.Repeat("x", 65)} {
		assert.Error(t, validID(id), id)
	}
}

// Package udppayload holds the datagrams a UDP scan sends: for well-known
// ports, a request the service there is bound to answer, and for every
// other port an empty datagram.
//
// Most UDP services ignore an empty or malformed datagram, so an empty
// probe cannot tell an open port from a dropped one: both stay silent. A
// protocol-correct request makes the service answer, the answer proves the
// port open, and when the answer parses as the protocol's reply it also
// names the service.
//
// The built-in payloads are written from the protocols' RFCs and
// specifications (DNS, NTP, SNMP, NetBIOS, SSDP, mDNS, IKE, TFTP,
// memcached, SIP, RADIUS, DHCP, ONC RPC, OpenVPN, STUN, WireGuard, CoAP,
// QUIC, CLDAP, Kerberos and a few more); see [Default] for the list. Where
// services that share a port disagree (IKEv1 and IKEv2, SNMP v1 and v2c,
// two DNS questions) a port has several payloads, and a probe sends all of
// them. Users add their own with [Table.Register].
//
// Payloads never ask a service to change state: DHCP uses INFORM (no
// address is leased), RADIUS an Access-Request that no real secret signs,
// TFTP a read of a file name no server holds.
package udppayload

import (
	"errors"
	"fmt"
	"slices"
	"sync"
)

// MaxSize is the largest payload a Table accepts: it keeps a probe in one
// unfragmented IPv6 packet on a 1280-byte link (1280 - 40 - 8).
const MaxSize = 1232

// Payload is one probe datagram for a UDP service.
type Payload struct {
	// Name identifies the payload ("dns-version-bind"); unique in a Table.
	Name string
	// Service is the service name a matching reply names ("domain",
	// "ntp"), spelt as in target.ServiceNames.
	Service string
	// Ports are the UDP ports the payload is sent to.
	Ports []uint16
	// Data is the datagram. It may be empty.
	Data []byte
	// Match reports whether reply parses as this protocol's answer to
	// Data. A reply proves the port open either way; a match also names
	// Service. nil matches nothing. Match must not keep or modify reply
	// and must handle any input: replies come from the network.
	Match func(reply []byte) bool
}

// Table maps ports to payloads. The zero Table is empty and ready to use;
// a Table is safe for concurrent use.
type Table struct {
	mu     sync.RWMutex
	byPort map[uint16][]*Payload
	names  map[string]bool
}

// New returns an empty table.
func New() *Table { return &Table{} }

// Default returns a new table holding the built-in payloads. Each call
// returns a fresh table, so registering into it affects no other.
func Default() *Table {
	t := New()
	for _, p := range builtin() {
		if err := t.Register(p); err != nil {
			panic("udppayload: built-in payload: " + err.Error())
		}
	}
	return t
}

// Register adds p to the table. It fails when p has no name, a name the
// table already holds, no ports, port 0 or a datagram above MaxSize.
// Register copies p's slices.
func (t *Table) Register(p Payload) error {
	if p.Name == "" {
		return errors.New("udppayload: payload without a name")
	}
	if len(p.Ports) == 0 {
		return fmt.Errorf("udppayload: payload %q: no ports", p.Name)
	}
	if slices.Contains(p.Ports, 0) {
		return fmt.Errorf("udppayload: payload %q: port 0 cannot be probed", p.Name)
	}
	if len(p.Data) > MaxSize {
		return fmt.Errorf("udppayload: payload %q: %d bytes, above the maximum %d", p.Name, len(p.Data), MaxSize)
	}
	p.Ports = slices.Clone(p.Ports)
	p.Data = slices.Clone(p.Data)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.names[p.Name] {
		return fmt.Errorf("udppayload: payload %q registered twice", p.Name)
	}
	if t.byPort == nil {
		t.byPort = map[uint16][]*Payload{}
		t.names = map[string]bool{}
	}
	t.names[p.Name] = true
	for _, port := range p.Ports {
		if !slices.ContainsFunc(t.byPort[port], func(q *Payload) bool { return q.Name == p.Name }) {
			t.byPort[port] = append(t.byPort[port], &p)
		}
	}
	return nil
}

// Datagrams returns the datagrams to send to port, in registration order:
// one per payload for the port, or a single empty datagram when the table
// has none. The slices are shared: callers must not modify them.
func (t *Table) Datagrams(port uint16) [][]byte {
	if t == nil {
		return emptyDatagram
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	ps := t.byPort[port]
	if len(ps) == 0 {
		return emptyDatagram
	}
	out := make([][]byte, len(ps))
	for i, p := range ps {
		out[i] = p.Data
	}
	return out
}

var emptyDatagram = [][]byte{{}}

// Payloads returns copies of the payloads registered for port.
func (t *Table) Payloads(port uint16) []Payload {
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]Payload, 0, len(t.byPort[port]))
	for _, p := range t.byPort[port] {
		q := *p
		q.Ports, q.Data = slices.Clone(p.Ports), slices.Clone(p.Data)
		out = append(out, q)
	}
	return out
}

// Ports returns the ports that have payloads, in ascending order.
func (t *Table) Ports() []uint16 {
	if t == nil {
		return nil
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	out := make([]uint16, 0, len(t.byPort))
	for p := range t.byPort {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Identify returns the service a reply from port names: the Service of the
// first payload for port whose Match accepts reply. ok is false when none
// does; the port is open all the same.
func (t *Table) Identify(port uint16, reply []byte) (service string, ok bool) {
	if t == nil {
		return "", false
	}
	t.mu.RLock()
	defer t.mu.RUnlock()
	for _, p := range t.byPort[port] {
		if p.Match != nil && p.Match(reply) {
			return p.Service, true
		}
	}
	return "", false
}

package udppayload

import (
	"bytes"
	"encoding/asn1"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
)

// Replies recorded from real daemons in a netlab namespace (dnsmasq 2.90,
// chrony 4.3, net-snmp 5.9.3, memcached) answering the built-in payloads.
func TestIdentifyRecordedReplies(t *testing.T) {
	tab := Default()
	cases := []struct {
		file    string
		port    uint16
		service string
	}{
		{"dns-version-bind.bin", 53, "domain"},
		{"dns-root-ns.bin", 53, "domain"},
		{"ntp-client.bin", 123, "ntp"},
		{"snmp-v1-sysdescr.bin", 161, "snmp"},
		{"snmp-v2c-sysdescr.bin", 161, "snmp"},
		{"memcached-stats.bin", 11211, "memcache"},
	}
	for _, c := range cases {
		b, err := os.ReadFile(filepath.Join("testdata", "replies", c.file))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := tab.Identify(c.port, b)
		if !ok || got != c.service {
			t.Errorf("%s on port %d: Identify = %q, %v; want %q", c.file, c.port, got, ok, c.service)
		}
		// The same bytes from a port whose payloads speak another
		// protocol name nothing.
		for _, other := range []uint16{123, 161, 53, 1900} {
			if other == c.port {
				continue
			}
			if s, ok := tab.Identify(other, b); ok {
				t.Errorf("%s on port %d: named %q", c.file, other, s)
			}
		}
	}
}

// Our own requests are not answers: no matcher may accept the request it
// sent (a reflecting echo service must not be named as the protocol).
func TestRequestsAreNotReplies(t *testing.T) {
	tab := Default()
	for _, port := range tab.Ports() {
		for _, p := range tab.Payloads(port) {
			if s, ok := tab.Identify(port, p.Data); ok {
				t.Errorf("payload %s echoed back on port %d is named %q", p.Name, port, s)
			}
		}
	}
}

func TestDefaultTable(t *testing.T) {
	tab := Default()
	want := map[uint16]int{53: 2, 123: 1, 161: 2, 137: 1, 1900: 1, 5353: 1, 500: 2, 4500: 1, 69: 1, 11211: 1,
		5060: 1, 1812: 1, 67: 1, 111: 1, 1194: 1, 3478: 1, 51820: 1, 5683: 1, 443: 1, 389: 1, 88: 1}
	for port, n := range want {
		if got := len(tab.Datagrams(port)); got != n {
			t.Errorf("port %d: %d datagrams, want %d", port, got, n)
		}
	}
	if d := tab.Datagrams(40000); len(d) != 1 || len(d[0]) != 0 {
		t.Errorf("port without payloads: %q, want one empty datagram", d)
	}
	var nilTab *Table
	if d := nilTab.Datagrams(53); len(d) != 1 || len(d[0]) != 0 {
		t.Errorf("nil table: %q, want one empty datagram", d)
	}
	for _, port := range tab.Ports() {
		for _, p := range tab.Payloads(port) {
			if len(p.Data) == 0 || len(p.Data) > MaxSize || p.Service == "" || p.Match == nil {
				t.Errorf("payload %s: %d bytes, service %q, match %v", p.Name, len(p.Data), p.Service, p.Match != nil)
			}
		}
	}
	// Fresh tables are independent.
	if err := tab.Register(Payload{Name: "x", Ports: []uint16{9999}, Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	if len(Default().Datagrams(9999)[0]) != 0 {
		t.Error("Register on one Default table changed another")
	}
}

func TestRegisterErrors(t *testing.T) {
	tab := New()
	for _, c := range []struct {
		p    Payload
		want string
	}{
		{Payload{Ports: []uint16{1}}, "without a name"},
		{Payload{Name: "a"}, "no ports"},
		{Payload{Name: "a", Ports: []uint16{0}}, "port 0"},
		{Payload{Name: "a", Ports: []uint16{1}, Data: make([]byte, MaxSize+1)}, "above the maximum"},
	} {
		err := tab.Register(c.p)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Register(%+v) = %v, want error containing %q", c.p.Name, err, c.want)
		}
	}
	if err := tab.Register(Payload{Name: "a", Ports: []uint16{1, 1}}); err != nil {
		t.Fatal(err)
	}
	if n := len(tab.Datagrams(1)); n != 1 {
		t.Errorf("duplicate port in one payload: %d datagrams", n)
	}
	if err := tab.Register(Payload{Name: "a", Ports: []uint16{2}}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("second registration of a name: %v", err)
	}
	// Register copies: changing the caller's slices afterwards changes nothing.
	data := []byte("abc")
	if err := tab.Register(Payload{Name: "b", Ports: []uint16{3}, Data: data}); err != nil {
		t.Fatal(err)
	}
	data[0] = 'X'
	if got := tab.Datagrams(3)[0]; string(got) != "abc" {
		t.Errorf("datagram changed with the caller's slice: %q", got)
	}
}

// The DNS and NTP requests parse with gopacket's decoders (the test
// oracle) as the questions they are meant to be.
func TestRequestsParseWithGopacket(t *testing.T) {
	tab := Default()
	for _, p := range tab.Payloads(53) {
		var dns layers.DNS
		if err := dns.DecodeFromBytes(p.Data, gopacket.NilDecodeFeedback); err != nil {
			t.Fatalf("%s: %v", p.Name, err)
		}
		if dns.QR || dns.RD || len(dns.Questions) != 1 {
			t.Errorf("%s: QR %v RD %v questions %d", p.Name, dns.QR, dns.RD, len(dns.Questions))
		}
		q := dns.Questions[0]
		switch p.Name {
		case "dns-version-bind":
			if string(q.Name) != "version.bind" || q.Type != layers.DNSTypeTXT || q.Class != layers.DNSClass(3) {
				t.Errorf("%s: question %s %v %v", p.Name, q.Name, q.Type, q.Class)
			}
		case "dns-root-ns":
			if len(q.Name) != 0 || q.Type != layers.DNSTypeNS || q.Class != layers.DNSClassIN {
				t.Errorf("%s: question %q %v %v", p.Name, q.Name, q.Type, q.Class)
			}
		}
	}
	var mdns layers.DNS
	if err := mdns.DecodeFromBytes(tab.Payloads(5353)[0].Data, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if q := mdns.Questions[0]; string(q.Name) != "_services._dns-sd._udp.local" || q.Type != layers.DNSTypePTR {
		t.Errorf("mdns question %s %v", q.Name, q.Type)
	}
	var ntp layers.NTP
	if err := ntp.DecodeFromBytes(tab.Payloads(123)[0].Data, gopacket.NilDecodeFeedback); err != nil {
		t.Fatal(err)
	}
	if ntp.Mode != 3 || ntp.Version != 4 {
		t.Errorf("ntp mode %d version %d", ntp.Mode, ntp.Version)
	}
}

// The ASN.1 requests decode with encoding/asn1 as the structures the RFCs
// give.
func TestASN1Requests(t *testing.T) {
	tab := Default()
	type varBind struct {
		Name  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	type pdu struct {
		RequestID, ErrorStatus, ErrorIndex int
		Bindings                           []varBind
	}
	type snmpMsg struct {
		Version   int
		Community []byte
		PDU       asn1.RawValue
	}
	for i, p := range tab.Payloads(161) {
		var m snmpMsg
		if rest, err := asn1.Unmarshal(p.Data, &m); err != nil || len(rest) > 0 {
			t.Fatalf("%s: %v (rest %d)", p.Name, err, len(rest))
		}
		if m.Version != i || string(m.Community) != "public" || m.PDU.Class != asn1.ClassContextSpecific || m.PDU.Tag != 0 {
			t.Errorf("%s: %+v", p.Name, m)
		}
		var body pdu
		if _, err := asn1.UnmarshalWithParams(m.PDU.FullBytes, &body, "tag:0"); err != nil {
			t.Fatalf("%s: pdu: %v", p.Name, err)
		}
		if len(body.Bindings) != 1 || body.Bindings[0].Name.String() != "1.3.6.1.2.1.1.1.0" || body.RequestID != snmpReqID {
			t.Errorf("%s: pdu %+v", p.Name, body)
		}
	}
	var ldap struct {
		ID int
		Op asn1.RawValue
	}
	if _, err := asn1.Unmarshal(tab.Payloads(389)[0].Data, &ldap); err != nil {
		t.Fatal(err)
	}
	if ldap.ID != 1 || ldap.Op.Class != asn1.ClassApplication || ldap.Op.Tag != 3 {
		t.Errorf("cldap: %+v", ldap)
	}
	var krb asn1.RawValue
	if _, err := asn1.Unmarshal(tab.Payloads(88)[0].Data, &krb); err != nil {
		t.Fatal(err)
	}
	if krb.Class != asn1.ClassApplication || krb.Tag != 10 {
		t.Errorf("kerberos: class %d tag %d", krb.Class, krb.Tag)
	}
	var kdcReq struct {
		Pvno    int           `asn1:"explicit,tag:1"`
		MsgType int           `asn1:"explicit,tag:2"`
		ReqBody asn1.RawValue `asn1:"explicit,tag:4"`
	}
	if _, err := asn1.Unmarshal(krb.Bytes, &kdcReq); err != nil {
		t.Fatal(err)
	}
	if kdcReq.Pvno != 5 || kdcReq.MsgType != 10 {
		t.Errorf("kerberos: %+v", kdcReq)
	}
}

func TestLengthFields(t *testing.T) {
	tab := Default()
	ike := tab.Payloads(500)
	for _, p := range ike {
		if n := int(p.Data[24])<<24 | int(p.Data[25])<<16 | int(p.Data[26])<<8 | int(p.Data[27]); n != len(p.Data) {
			t.Errorf("%s: length field %d, datagram %d", p.Name, n, len(p.Data))
		}
	}
	r := tab.Payloads(1812)[0].Data
	if n := int(r[2])<<8 | int(r[3]); n != len(r) {
		t.Errorf("radius: length field %d, datagram %d", n, len(r))
	}
	if q := tab.Payloads(443)[0].Data; len(q) < 1200 {
		t.Errorf("quic: %d bytes, servers drop initial packets below 1200", len(q))
	}
	if w := tab.Payloads(51820)[0].Data; len(w) != 148 || w[0] != 1 {
		t.Errorf("wireguard initiation: %d bytes, type %d", len(w), w[0])
	}
	ipmi := tab.Payloads(623)[0].Data
	var sum byte
	for _, c := range ipmi[14:] {
		sum += c
	}
	if sum != 0 || ipmi[14]+ipmi[15]+ipmi[16] != 0 {
		t.Errorf("ipmi checksums do not add up: % x", ipmi[14:])
	}
}

// Hand-made replies in the shape each RFC gives, one per matcher, so every
// matcher is shown to accept something and to refuse a near miss.
func TestMatchers(t *testing.T) {
	tab := Default()
	u16 := func(v uint16) []byte { return []byte{byte(v >> 8), byte(v)} }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	cases := []struct {
		port    uint16
		service string
		yes, no []byte
	}{
		{137, "netbios-ns", cat(u16(nbnsID), []byte{0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0}), cat(u16(nbnsID), make([]byte, 10))},
		{1900, "upnp", []byte("HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\n\r\n"), []byte("NOTIFY * HTTP/1.1\r\n")},
		{5353, "mdns", cat(u16(dnsIDMDNS), []byte{0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0}), cat(u16(dnsIDMDNS+1), []byte{0x84, 0, 0, 0, 0, 1, 0, 0, 0, 0})},
		{500, "isakmp", cat(ikeSPI[:], make([]byte, 8), []byte{11, 0x10, 5, 0}, make([]byte, 8)), cat(ikeSPI[:], make([]byte, 8), []byte{1, 0x10, 2, 0}, make([]byte, 8))},
		{500, "isakmp", cat(ikeSPI[:], []byte("respcook"), []byte{1, 0x10, 2, 0}, make([]byte, 8)), cat(make([]byte, 8), []byte("respcook"), []byte{1, 0x10, 2, 0}, make([]byte, 8))},
		{500, "isakmp", cat(ike2SPI[:], make([]byte, 8), []byte{41, 0x20, 34, 0x20}, make([]byte, 8)), cat(ike2SPI[:], make([]byte, 8), []byte{41, 0x30, 34, 0x20}, make([]byte, 8))},
		{4500, "ipsec-nat-t", cat([]byte{0, 0, 0, 0}, ike2SPI[:], make([]byte, 8), []byte{41, 0x20, 34, 0x20}, make([]byte, 8)), cat(ike2SPI[:], make([]byte, 8), []byte{41, 0x20, 34, 0x20}, make([]byte, 8))},
		{69, "tftp", cat([]byte{0, 5, 0, 1}, []byte("File not found\x00")), []byte{0, 1, 'x', 0}},
		{5060, "sip", []byte("SIP/2.0 200 OK\r\n"), []byte("OPTIONS sip:x SIP/2.0\r\n")},
		{1812, "radius", cat([]byte{3, radiusID, 0, 20}, make([]byte, 16)), cat([]byte{3, radiusID + 1, 0, 20}, make([]byte, 16))},
		{67, "dhcps", func() []byte {
			b := dhcpInform()
			b[0] = 2
			return b
		}(), dhcpInform()},
		{111, "rpcbind", cat(rpcNull(0, 0)[:4], []byte{0, 0, 0, 1, 0, 0, 0, 0}, make([]byte, 12)), cat(rpcNull(0, 0)[:4], []byte{0, 0, 0, 0, 0, 0, 0, 0})},
		{2049, "nfs", cat(rpcNull(0, 0)[:4], []byte{0, 0, 0, 1, 0, 0, 0, 1}, make([]byte, 12)), cat([]byte{1, 2, 3, 4}, []byte{0, 0, 0, 1, 0, 0, 0, 0})},
		{1194, "openvpn", cat([]byte{8 << 3}, make([]byte, 8), []byte{1, 0, 0, 0, 0}, ovpnSID[:], []byte{0, 0, 0, 0}), openvpnReset()},
		{3478, "stun", cat([]byte{1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, stunTxID[:]), cat([]byte{1, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}, make([]byte, 12))},
		{51820, "wireguard", cat([]byte{2, 0, 0, 0}, make([]byte, 88)), cat([]byte{2, 0, 0, 0}, make([]byte, 87))},
		{5683, "coap", cat([]byte{0x60, 0x45}, u16(coapMsgID)), cat([]byte{0x60, 0x45}, u16(coapMsgID+1))},
		{443, "quic", cat([]byte{0x80, 0, 0, 0, 0, 8}, quicSCID[:], []byte{8}, quicDCID[:], []byte{0, 0, 0, 1}), cat([]byte{0x80, 0, 0, 0, 0, 8}, quicDCID[:], []byte{8}, quicSCID[:])},
		{389, "ldap", tlv(0x30, berInt(1), tlv(0x65, []byte{0x0a, 1, 0, 0x04, 0, 0x04, 0})), tlv(0x30, berInt(2), tlv(0x65, []byte{0x0a, 1, 0, 0x04, 0, 0x04, 0}))},
		{88, "kerberos", tlv(0x7e, tlv(0x30, tlv(0xa0, berInt(5)), tlv(0xa1, berInt(30)))), tlv(0x7e, tlv(0x30, tlv(0xa0, berInt(4))))},
		{1434, "ms-sql-m", []byte{5, 3, 0, 'a', 'b', 'c'}, []byte{5, 4, 0, 'a', 'b', 'c'}},
		{5351, "nat-pmp", []byte{0, 128, 0, 0, 0, 0, 0, 1}, []byte{0, 0, 0, 0, 0, 0, 0, 1}},
		{177, "xdmcp", []byte{0, 1, 0, 5, 0, 0}, []byte{0, 1, 0, 2, 0, 0}},
		{623, "asf-rmcp", cat([]byte{6, 0, 0xff, 7}, make([]byte, 9), []byte{16, 0x81, 0x1c, 0x63, 0x20, 0, 0x38, 0, 1, 0x80}), ipmiAuthCaps()},
	}
	for _, c := range cases {
		if s, ok := tab.Identify(c.port, c.yes); !ok || s != c.service {
			t.Errorf("port %d: reply % x named %q, %v; want %q", c.port, c.yes, s, ok, c.service)
		}
		if s, ok := tab.Identify(c.port, c.no); ok {
			t.Errorf("port %d: near miss % x named %q", c.port, c.no, s)
		}
	}
}

func TestReadTLV(t *testing.T) {
	long := tlv(0x04, make([]byte, 300))
	if tag, c, rest, ok := readTLV(long); !ok || tag != 4 || len(c) != 300 || len(rest) != 0 {
		t.Errorf("long form: %v %d %d %v", tag, len(c), len(rest), ok)
	}
	for _, b := range [][]byte{nil, {0x30}, {0x30, 0x80}, {0x30, 0x85, 1, 1, 1, 1, 1}, {0x30, 0x84, 0xff, 0xff, 0xff, 0xff}, {0x1f, 0}, {0x30, 5, 1}} {
		if _, _, _, ok := readTLV(b); ok {
			t.Errorf("readTLV(% x) accepted", b)
		}
	}
	if v, _, ok := readInt(berInt(0x80)); !ok || v != 0x80 {
		t.Errorf("readInt(berInt(0x80)) = %d, %v", v, ok)
	}
}

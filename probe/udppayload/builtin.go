package udppayload

import (
	"bytes"
	"encoding/binary"
	"strings"
)

// Identifiers the built-in requests carry, so that Match can check a
// reply answers our question (the network layer already checked it
// answers our probe; these only guard the naming).
const (
	dnsIDVersion = 0x7073 // "ps"
	dnsIDRoot    = 0x7074
	dnsIDMDNS    = 0x7075
	nbnsID       = 0x7076
	rpcXID       = 0x70730001
	snmpReqID    = 0x70730002
	memcacheReq  = 0x7077
	radiusID     = 0x70
	coapMsgID    = 0x7078
	dhcpXID      = 0x70730003
	krbNonce     = 0x70730004
)

var (
	ikeSPI     = [8]byte{'p', 'o', 'r', 't', 's', 'e', 'n', 's'}
	ike2SPI    = [8]byte{'p', 'o', 'r', 't', 's', 'e', 'n', '2'}
	stunTxID   = [12]byte{'p', 'o', 'r', 't', 's', 'e', 'n', 's', 'e', '-', 't', 'x'}
	ovpnSID    = [8]byte{'p', 's', 'o', 'v', 'p', 'n', 0, 1}
	quicSCID   = [8]byte{'p', 's', 'q', 'u', 'i', 'c', 0, 1}
	quicDCID   = [8]byte{'p', 's', 'q', 'u', 'i', 'c', 0, 2}
	ntpXmit    = [8]byte{0xe9, 0x5b, 0x2a, 0x70, 'p', 's', 'n', 't'}
	fixedNoise = func(n int, seed byte) []byte { // deterministic filler, never all zero
		b := make([]byte, n)
		x := uint32(seed)*2654435761 + 1
		for i := range b {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			b[i] = byte(x)
		}
		return b
	}
)

// builtin returns the built-in payloads in the order Default registers
// them; on a port with several, the first is sent first.
func builtin() []Payload {
	return []Payload{
		{Name: "dns-version-bind", Service: "domain", Ports: []uint16{53}, Data: dnsQuery(dnsIDVersion, "version.bind", 16, 3), Match: dnsMatch(dnsIDVersion)},
		{Name: "dns-root-ns", Service: "domain", Ports: []uint16{53}, Data: dnsQuery(dnsIDRoot, "", 2, 1), Match: dnsMatch(dnsIDRoot)},
		{Name: "ntp-client", Service: "ntp", Ports: []uint16{123}, Data: ntpRequest(), Match: ntpMatch},
		{Name: "snmp-v1-sysdescr", Service: "snmp", Ports: []uint16{161}, Data: snmpGet(0), Match: snmpMatch},
		{Name: "snmp-v2c-sysdescr", Service: "snmp", Ports: []uint16{161}, Data: snmpGet(1), Match: snmpMatch},
		{Name: "netbios-ns-nbstat", Service: "netbios-ns", Ports: []uint16{137}, Data: nbnsNodeStatus(), Match: nbnsMatch},
		{Name: "ssdp-msearch", Service: "upnp", Ports: []uint16{1900}, Data: []byte(ssdpSearch), Match: httpMatch},
		{Name: "mdns-services", Service: "mdns", Ports: []uint16{5353}, Data: mdnsQuery(), Match: dnsMatch(dnsIDMDNS)},
		{Name: "ikev1-main-mode", Service: "isakmp", Ports: []uint16{500}, Data: ikev1MainMode(), Match: ikeMatch(ikeSPI)},
		{Name: "ikev2-sa-init", Service: "isakmp", Ports: []uint16{500}, Data: ikev2SAInit(), Match: ikeMatch(ike2SPI)},
		{Name: "ikev2-sa-init-natt", Service: "ipsec-nat-t", Ports: []uint16{4500}, Data: append([]byte{0, 0, 0, 0}, ikev2SAInit()...), Match: ikeNATTMatch},
		{Name: "tftp-read", Service: "tftp", Ports: []uint16{69}, Data: tftpRead(), Match: tftpMatch},
		{Name: "memcached-stats", Service: "memcache", Ports: []uint16{11211}, Data: memcachedStats(), Match: memcachedMatch},
		{Name: "sip-options", Service: "sip", Ports: []uint16{5060}, Data: []byte(sipOptions), Match: sipMatch},
		{Name: "radius-access-request", Service: "radius", Ports: []uint16{1812, 1645}, Data: radiusAccessRequest(), Match: radiusMatch},
		{Name: "dhcp-inform", Service: "dhcps", Ports: []uint16{67}, Data: dhcpInform(), Match: dhcpMatch},
		{Name: "rpc-portmap-null", Service: "rpcbind", Ports: []uint16{111}, Data: rpcNull(100000, 2), Match: rpcMatch},
		{Name: "rpc-nfs-null", Service: "nfs", Ports: []uint16{2049}, Data: rpcNull(100003, 3), Match: rpcMatch},
		{Name: "openvpn-hard-reset", Service: "openvpn", Ports: []uint16{1194}, Data: openvpnReset(), Match: openvpnMatch},
		{Name: "stun-binding", Service: "stun", Ports: []uint16{3478}, Data: stunBinding(), Match: stunMatch},
		{Name: "wireguard-initiation", Service: "wireguard", Ports: []uint16{51820}, Data: wireguardInit(), Match: wireguardMatch},
		{Name: "coap-well-known-core", Service: "coap", Ports: []uint16{5683}, Data: coapGet(), Match: coapMatch},
		{Name: "quic-version-negotiation", Service: "quic", Ports: []uint16{443}, Data: quicProbe(), Match: quicMatch},
		{Name: "cldap-rootdse", Service: "ldap", Ports: []uint16{389}, Data: cldapRootDSE(), Match: ldapMatch},
		{Name: "kerberos-as-req", Service: "kerberos", Ports: []uint16{88}, Data: kerberosASReq(), Match: kerberosMatch},
		{Name: "mssql-browser", Service: "ms-sql-m", Ports: []uint16{1434}, Data: []byte{0x02}, Match: mssqlMatch},
		{Name: "nat-pmp-address", Service: "nat-pmp", Ports: []uint16{5351}, Data: []byte{0, 0}, Match: natpmpMatch},
		{Name: "xdmcp-query", Service: "xdmcp", Ports: []uint16{177}, Data: []byte{0, 1, 0, 2, 0, 1, 0}, Match: xdmcpMatch},
		{Name: "ipmi-rmcp-auth-caps", Service: "asf-rmcp", Ports: []uint16{623}, Data: ipmiAuthCaps(), Match: ipmiMatch},
	}
}

// ---- DNS (RFC 1035), mDNS (RFC 6762) ----

// dnsQuery builds a query without recursion desired, so a resolver answers
// from what it holds instead of querying anyone.
func dnsQuery(id uint16, name string, qtype, qclass uint16) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0) // flags 0, one question
	b = appendDNSName(b, name)
	b = binary.BigEndian.AppendUint16(b, qtype)
	return binary.BigEndian.AppendUint16(b, qclass)
}

func appendDNSName(b []byte, name string) []byte {
	for l := range strings.SplitSeq(name, ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// mdnsQuery asks for the DNS-SD service list (RFC 6763 section 9) with
// the unicast-response bit, so the responder answers our port directly.
func mdnsQuery() []byte {
	return dnsQuery(dnsIDMDNS, "_services._dns-sd._udp.local", 12, 0x8001)
}

// dnsMatch accepts a standard-query response with our ID.
func dnsMatch(id uint16) func([]byte) bool {
	return func(r []byte) bool {
		return len(r) >= 12 && binary.BigEndian.Uint16(r) == id && r[2]&0x80 != 0 && r[2]&0x78 == 0
	}
}

// ---- NTP (RFC 5905) ----

func ntpRequest() []byte {
	b := make([]byte, 48)
	b[0] = 4<<3 | 3 // LI 0, version 4, mode 3 (client)
	copy(b[40:], ntpXmit[:])
	return b
}

// ntpMatch accepts a server-mode (4) reply of version 1-4 that echoes our
// transmit timestamp as its origin timestamp.
func ntpMatch(r []byte) bool {
	if len(r) < 48 {
		return false
	}
	v := r[0] >> 3 & 7
	return r[0]&7 == 4 && v >= 1 && v <= 4 && bytes.Equal(r[24:32], ntpXmit[:])
}

// ---- SNMP (RFC 1157, RFC 3416) ----

// snmpGet is a GetRequest for sysDescr.0 with community "public";
// version 0 is SNMPv1, 1 is SNMPv2c.
func snmpGet(version uint32) []byte {
	sysDescr := tlv(0x06, []byte{0x2b, 6, 1, 2, 1, 1, 1, 0}) // 1.3.6.1.2.1.1.1.0
	varbind := tlv(0x30, sysDescr, []byte{0x05, 0x00})
	pdu := tlv(0xa0, berInt(snmpReqID), berInt(0), berInt(0), tlv(0x30, varbind))
	return tlv(0x30, berInt(version), tlv(0x04, []byte("public")), pdu)
}

// snmpMatch accepts an SNMPv1/v2c message holding a Response-PDU with our
// request ID (any error status: a wrong community still proves SNMP).
func snmpMatch(r []byte) bool {
	tag, msg, _, ok := readTLV(r)
	if !ok || tag != 0x30 {
		return false
	}
	v, msg, ok := readInt(msg)
	if !ok || v < 0 || v > 1 {
		return false
	}
	tag, _, msg, ok = readTLV(msg)
	if !ok || tag != 0x04 {
		return false
	}
	tag, pdu, _, ok := readTLV(msg)
	if !ok || tag != 0xa2 {
		return false
	}
	id, _, ok := readInt(pdu)
	return ok && id == snmpReqID
}

// ---- NetBIOS name service (RFC 1002 section 4.2.17) ----

// nbnsNodeStatus asks for the node status (NBSTAT) of the wildcard name
// "*", which every NetBIOS node answers with its name table.
func nbnsNodeStatus() []byte {
	b := binary.BigEndian.AppendUint16(nil, nbnsID)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0)
	var name [16]byte
	name[0] = '*'
	b = append(b, 32)
	for _, c := range name {
		b = append(b, 'A'+c>>4, 'A'+c&0x0f)
	}
	b = append(b, 0)
	return append(b, 0, 0x21, 0, 1) // NBSTAT, IN
}

func nbnsMatch(r []byte) bool {
	return len(r) >= 12 && binary.BigEndian.Uint16(r) == nbnsID && r[2]&0x80 != 0
}

// ---- SSDP (UPnP Device Architecture 1.1, section 1.3.2) ----

const ssdpSearch = "M-SEARCH * HTTP/1.1\r\n" +
	"HOST: 239.255.255.250:1900\r\n" +
	"MAN: \"ssdp:discover\"\r\n" +
	"MX: 1\r\n" +
	"ST: ssdp:all\r\n" +
	"\r\n"

func httpMatch(r []byte) bool {
	return bytes.HasPrefix(r, []byte("HTTP/1.1 ")) || bytes.HasPrefix(r, []byte("HTTP/1.0 "))
}

// ---- IKE (RFC 2408/2409 IKEv1, RFC 7296 IKEv2) ----

// ikev1MainMode is an ISAKMP Identity Protection exchange's first message:
// one proposal with one transform (3DES, SHA1, pre-shared key, MODP1024,
// 8 hours).
func ikev1MainMode() []byte {
	attrs := []byte{
		0x80, 0x01, 0x00, 0x05, // encryption: 3DES-CBC
		0x80, 0x02, 0x00, 0x02, // hash: SHA
		0x80, 0x03, 0x00, 0x01, // authentication: pre-shared key
		0x80, 0x04, 0x00, 0x02, // group: MODP 1024
		0x80, 0x0b, 0x00, 0x01, // life type: seconds
		0x80, 0x0c, 0x70, 0x80, // life duration: 28800
	}
	transform := append([]byte{0, 0, 0, byte(8 + len(attrs)), 1, 1, 0, 0}, attrs...) // #1, KEY_IKE
	proposal := append([]byte{0, 0, 0, byte(8 + len(transform)), 1, 1, 0, 1}, transform...)
	sa := append([]byte{0, 0, 0, byte(12 + len(proposal)), 0, 0, 0, 1, 0, 0, 0, 1}, proposal...) // DOI IPsec, identity only
	h := append(ikeSPI[:], make([]byte, 8)...)
	h = append(h, 1, 0x10, 2, 0, 0, 0, 0, 0) // next SA, v1.0, main mode, flags, message ID
	h = binary.BigEndian.AppendUint32(h, uint32(28+len(sa)))
	return append(h, sa...)
}

// ikev2SAInit is an IKE_SA_INIT request: AES-CBC-128, HMAC-SHA2-256 PRF
// and integrity, MODP 2048, with its key exchange and nonce payloads.
func ikev2SAInit() []byte {
	transforms := []byte{
		3, 0, 0, 12, 1, 0, 0, 12, 0x80, 0x0e, 0x00, 0x80, // ENCR AES-CBC, key length 128
		3, 0, 0, 8, 2, 0, 0, 5, // PRF HMAC-SHA2-256
		3, 0, 0, 8, 3, 0, 0, 12, // INTEG HMAC-SHA2-256-128
		0, 0, 0, 8, 4, 0, 0, 14, // D-H MODP 2048 (last)
	}
	proposal := append([]byte{0, 0, 0, byte(8 + len(transforms)), 1, 1, 0, 4}, transforms...)
	sa := append([]byte{34, 0, 0, byte(4 + len(proposal))}, proposal...) // next: KE
	ke := binary.BigEndian.AppendUint16([]byte{40, 0}, 8+256)            // next: Nonce
	ke = append(ke, 0, 14, 0, 0)
	ke = append(ke, fixedNoise(256, 1)...)
	nonce := append([]byte{0, 0, 0, 36}, fixedNoise(32, 2)...)
	body := append(append(sa, ke...), nonce...)
	h := append(ike2SPI[:], make([]byte, 8)...)
	h = append(h, 33, 0x20, 34, 0x08, 0, 0, 0, 0) // next SA, v2.0, IKE_SA_INIT, initiator
	h = binary.BigEndian.AppendUint32(h, uint32(28+len(body)))
	return append(h, body...)
}

// ikeMatch accepts an IKEv1 or IKEv2 response that carries our initiator
// SPI: for IKEv2 the response flag is set; for IKEv1 the responder has
// set its cookie, or sends an Informational exchange (a notify such as
// NO-PROPOSAL-CHOSEN).
func ikeMatch(spi [8]byte) func([]byte) bool {
	return func(r []byte) bool {
		if len(r) < 28 || !bytes.Equal(r[:8], spi[:]) {
			return false
		}
		switch r[17] >> 4 {
		case 1:
			return r[18] == 5 || !bytes.Equal(r[8:16], make([]byte, 8))
		case 2:
			return r[19]&0x20 != 0
		}
		return false
	}
}

// ikeNATTMatch accepts an IKE message after the 4-byte non-ESP marker.
func ikeNATTMatch(r []byte) bool {
	return len(r) >= 4 && bytes.Equal(r[:4], []byte{0, 0, 0, 0}) && ikeMatch(ike2SPI)(r[4:])
}

// ---- TFTP (RFC 1350) ----

// tftpRead asks to read a file no server holds; the answer is an ERROR
// (or DATA). Servers answer from a new port (their transfer ID), which a
// scan that matches replies by port does not see, so TFTP usually stays
// open|filtered.
func tftpRead() []byte {
	b := []byte{0, 1}
	b = append(b, "portsense-probe.txt"...)
	b = append(b, 0)
	b = append(b, "octet"...)
	return append(b, 0)
}

func tftpMatch(r []byte) bool {
	if len(r) < 4 || r[0] != 0 {
		return false
	}
	return r[1] == 3 || r[1] == 5 || r[1] == 6 // DATA, ERROR, OACK
}

// ---- memcached (protocol.txt, UDP frame header) ----

func memcachedStats() []byte {
	b := binary.BigEndian.AppendUint16(nil, memcacheReq)
	b = append(b, 0, 0, 0, 1, 0, 0) // sequence 0, 1 datagram, reserved
	return append(b, "stats\r\n"...)
}

func memcachedMatch(r []byte) bool {
	if len(r) < 8 || binary.BigEndian.Uint16(r) != memcacheReq {
		return false
	}
	body := r[8:]
	for _, p := range []string{"STAT ", "END\r\n", "ERROR", "SERVER_ERROR", "CLIENT_ERROR"} {
		if bytes.HasPrefix(body, []byte(p)) {
			return true
		}
	}
	// A continuation datagram of a long answer starts mid-text.
	return binary.BigEndian.Uint16(r[2:]) > 0 && binary.BigEndian.Uint16(r[2:]) < binary.BigEndian.Uint16(r[4:])
}

// ---- SIP (RFC 3261) ----

// sipOptions asks for the server's capabilities; rport (RFC 3581) makes
// the answer go to our source address and port.
const sipOptions = "OPTIONS sip:probe@probe.invalid SIP/2.0\r\n" +
	"Via: SIP/2.0/UDP probe.invalid;branch=z9hG4bK-portsense-1;rport\r\n" +
	"Max-Forwards: 70\r\n" +
	"To: <sip:probe@probe.invalid>\r\n" +
	"From: <sip:portsense@probe.invalid>;tag=portsense\r\n" +
	"Call-ID: portsense-probe-1@probe.invalid\r\n" +
	"CSeq: 1 OPTIONS\r\n" +
	"Contact: <sip:portsense@probe.invalid>\r\n" +
	"Accept: application/sdp\r\n" +
	"Content-Length: 0\r\n" +
	"\r\n"

func sipMatch(r []byte) bool { return bytes.HasPrefix(r, []byte("SIP/2.0 ")) }

// ---- RADIUS (RFC 2865) ----

// radiusAccessRequest carries only a User-Name. A server without our
// secret must drop it silently (RFC 2865 section 3), so RADIUS ports often
// stay open|filtered; some servers answer Access-Reject.
func radiusAccessRequest() []byte {
	user := []byte("portsense")
	attrs := append([]byte{1, byte(2 + len(user))}, user...)
	b := []byte{1, radiusID}
	b = binary.BigEndian.AppendUint16(b, uint16(20+len(attrs)))
	b = append(b, fixedNoise(16, 3)...) // request authenticator
	return append(b, attrs...)
}

func radiusMatch(r []byte) bool {
	if len(r) < 20 || r[1] != radiusID {
		return false
	}
	n := int(binary.BigEndian.Uint16(r[2:]))
	return (r[0] == 2 || r[0] == 3 || r[0] == 11) && n >= 20 && n <= len(r)
}

// ---- DHCP (RFC 2131, RFC 2132) ----

// dhcpInform asks for configuration without asking for an address, so no
// lease is made. A server answers the client port 68, so the answer is
// seen only where it reaches the scanning port.
func dhcpInform() []byte {
	b := make([]byte, 240, 300)
	b[0], b[1], b[2] = 1, 1, 6 // BOOTREQUEST, Ethernet, 6-byte address
	binary.BigEndian.PutUint32(b[4:], dhcpXID)
	copy(b[28:], []byte{0x02, 'p', 's', 0, 0, 1}) // locally administered chaddr
	copy(b[236:], []byte{99, 130, 83, 99})        // magic cookie
	b = append(b, 53, 1, 8)                       // DHCPINFORM
	b = append(b, 55, 4, 1, 3, 6, 15)             // parameters: mask, router, DNS, domain
	b = append(b, 255)
	for len(b) < 300 { // BOOTP's minimum message size
		b = append(b, 0)
	}
	return b
}

func dhcpMatch(r []byte) bool {
	return len(r) >= 240 && r[0] == 2 && binary.BigEndian.Uint32(r[4:]) == dhcpXID &&
		bytes.Equal(r[236:240], []byte{99, 130, 83, 99})
}

// ---- ONC RPC (RFC 5531), portmapper (RFC 1833) ----

// rpcNull is a NULL procedure call with AUTH_NONE credentials.
func rpcNull(prog, vers uint32) []byte {
	var b []byte
	for _, v := range []uint32{rpcXID, 0, 2, prog, vers, 0, 0, 0, 0, 0} {
		b = binary.BigEndian.AppendUint32(b, v)
	}
	return b
}

// rpcMatch accepts a REPLY to our XID, accepted or denied.
func rpcMatch(r []byte) bool {
	return len(r) >= 12 && binary.BigEndian.Uint32(r) == rpcXID &&
		binary.BigEndian.Uint32(r[4:]) == 1 && binary.BigEndian.Uint32(r[8:]) <= 1
}

// ---- OpenVPN (protocol as documented in ssl.h / the OpenVPN wire format) ----

// openvpnReset is P_CONTROL_HARD_RESET_CLIENT_V2 without tls-auth: opcode
// and key ID, our session ID, an empty ACK array, packet ID 0.
func openvpnReset() []byte {
	b := []byte{7 << 3}
	b = append(b, ovpnSID[:]...)
	return append(b, 0, 0, 0, 0, 0)
}

// openvpnMatch accepts P_CONTROL_HARD_RESET_SERVER_V2 (or V3).
func openvpnMatch(r []byte) bool {
	if len(r) < 14 {
		return false
	}
	op := r[0] >> 3
	return op == 8 || op == 10
}

// ---- STUN (RFC 8489) ----

func stunBinding() []byte {
	b := []byte{0, 1, 0, 0, 0x21, 0x12, 0xa4, 0x42}
	return append(b, stunTxID[:]...)
}

// stunMatch accepts a Binding success or error response to our transaction.
func stunMatch(r []byte) bool {
	if len(r) < 20 {
		return false
	}
	t := binary.BigEndian.Uint16(r)
	return (t == 0x0101 || t == 0x0111) && bytes.Equal(r[4:8], []byte{0x21, 0x12, 0xa4, 0x42}) &&
		bytes.Equal(r[8:20], stunTxID[:])
}

// ---- WireGuard (the WireGuard paper, section 5.4.2) ----

// wireguardInit is a handshake initiation of the right size and type.
// Without the peer's public key its mac1 cannot be right, and a WireGuard
// peer answers nothing it cannot authenticate: expect silence. It is sent
// so that a service that answers anything on 51820 is still seen.
func wireguardInit() []byte {
	b := []byte{1, 0, 0, 0}
	return append(b, fixedNoise(144, 4)...) // sender index, ephemeral, static, timestamp, mac1, mac2
}

func wireguardMatch(r []byte) bool { return len(r) == 92 && r[0] == 2 && r[1]|r[2]|r[3] == 0 }

// ---- CoAP (RFC 7252, RFC 6690) ----

// coapGet is a confirmable GET of /.well-known/core.
func coapGet() []byte {
	b := []byte{0x40, 0x01} // version 1, CON, no token; GET
	b = binary.BigEndian.AppendUint16(b, coapMsgID)
	b = append(b, 0xbb) // Uri-Path (11), length 11
	b = append(b, ".well-known"...)
	b = append(b, 0x04) // Uri-Path again, length 4
	return append(b, "core"...)
}

// coapMatch accepts version 1 with an ACK or RST for our message ID, or a
// separate response (a code of class 2 to 5).
func coapMatch(r []byte) bool {
	if len(r) < 4 || r[0]>>6 != 1 {
		return false
	}
	typ, class := r[0]>>4&3, r[1]>>5
	if typ >= 2 {
		return binary.BigEndian.Uint16(r[2:]) == coapMsgID
	}
	return class >= 2 && class <= 5
}

// ---- QUIC (RFC 9000 sections 6 and 17.2.1) ----

// quicProbe is a 1200-byte long-header packet of a reserved version
// (0x?a?a?a?a, section 15), which a QUIC server answers with Version
// Negotiation.
func quicProbe() []byte {
	b := []byte{0xc0, 0x1a, 0x2a, 0x3a, 0x4a, 8}
	b = append(b, quicDCID[:]...)
	b = append(b, 8)
	b = append(b, quicSCID[:]...)
	for len(b) < 1200 {
		b = append(b, 0)
	}
	return b
}

// quicMatch accepts Version Negotiation addressed to our source
// connection ID.
func quicMatch(r []byte) bool {
	if len(r) < 7 || r[0]&0x80 == 0 || binary.BigEndian.Uint32(r[1:]) != 0 {
		return false
	}
	n := int(r[5])
	return len(r) >= 6+n && bytes.Equal(r[6:6+n], quicSCID[:])
}

// ---- CLDAP (RFC 4511 message format, as MS-ADTS connectionless LDAP) ----

// cldapRootDSE searches the root DSE: base "", scope base, filter
// (objectClass=*).
func cldapRootDSE() []byte {
	req := tlv(0x63,
		tlv(0x04),                              // baseObject ""
		[]byte{0x0a, 1, 0}, []byte{0x0a, 1, 0}, // scope base, never deref
		berInt(0), berInt(0), []byte{0x01, 1, 0}, // no limits, typesOnly false
		tlv(0x87, []byte("objectClass")), // present filter
		tlv(0x30))                        // all attributes
	return tlv(0x30, berInt(1), req)
}

// ldapMatch accepts an LDAPMessage with message ID 1 carrying a
// SearchResultEntry or SearchResultDone.
func ldapMatch(r []byte) bool {
	tag, msg, _, ok := readTLV(r)
	if !ok || tag != 0x30 {
		return false
	}
	id, msg, ok := readInt(msg)
	if !ok || id != 1 || len(msg) == 0 {
		return false
	}
	return msg[0] == 0x64 || msg[0] == 0x65
}

// ---- Kerberos (RFC 4120 section 5.4.1) ----

// kerberosASReq asks for a TGT of a principal in a realm no KDC serves; a
// KDC answers KRB-ERROR (wrong realm or unknown principal).
func kerberosASReq() []byte {
	gs := func(s string) []byte { return tlv(0x1b, []byte(s)) } // GeneralString
	principal := func(typ uint32, names ...string) []byte {
		var ns [][]byte
		for _, n := range names {
			ns = append(ns, gs(n))
		}
		return tlv(0x30, tlv(0xa0, berInt(typ)), tlv(0xa1, tlv(0x30, ns...)))
	}
	const realm = "PORTSENSE.INVALID"
	body := tlv(0x30,
		tlv(0xa0, []byte{0x03, 0x05, 0x00, 0x00, 0x00, 0x00, 0x10}), // kdc-options: renewable-ok
		tlv(0xa1, principal(1, "portsense")),                        // cname, NT-PRINCIPAL
		tlv(0xa2, gs(realm)),
		tlv(0xa3, principal(2, "krbtgt", realm)), // sname, NT-SRV-INST
		tlv(0xa5, tlv(0x18, []byte("20370913024805Z"))),
		tlv(0xa7, berInt(krbNonce)),
		tlv(0xa8, tlv(0x30, berInt(18), berInt(17), berInt(23))), // AES256, AES128, RC4
	)
	return tlv(0x6a, tlv(0x30,
		tlv(0xa1, berInt(5)),  // pvno
		tlv(0xa2, berInt(10)), // msg-type AS-REQ
		tlv(0xa4, body)))
}

// kerberosMatch accepts an AS-REP or KRB-ERROR with protocol version 5.
func kerberosMatch(r []byte) bool {
	tag, c, _, ok := readTLV(r)
	if !ok || (tag != 0x6b && tag != 0x7e) {
		return false
	}
	tag, seq, _, ok := readTLV(c)
	if !ok || tag != 0x30 {
		return false
	}
	tag, pvno, _, ok := readTLV(seq)
	if !ok || tag != 0xa0 {
		return false
	}
	v, _, ok := readInt(pvno)
	return ok && v == 5
}

// ---- SQL Server Browser (MC-SQLR) ----

// mssqlMatch accepts SVR_RESP.
func mssqlMatch(r []byte) bool {
	return len(r) >= 3 && r[0] == 0x05 && int(binary.LittleEndian.Uint16(r[1:])) <= len(r)-3
}

// ---- NAT-PMP (RFC 6886) ----

func natpmpMatch(r []byte) bool { return len(r) >= 8 && r[0] == 0 && r[1] == 128 }

// ---- XDMCP (X Display Manager Control Protocol 1.1) ----

// xdmcpMatch accepts Willing (5) or Unwilling (6).
func xdmcpMatch(r []byte) bool {
	return len(r) >= 6 && binary.BigEndian.Uint16(r) == 1 &&
		(binary.BigEndian.Uint16(r[2:]) == 5 || binary.BigEndian.Uint16(r[2:]) == 6)
}

// ---- IPMI over RMCP (IPMI v2.0 section 13, 22.13) ----

// ipmiAuthCaps is Get Channel Authentication Capabilities (no session).
func ipmiAuthCaps() []byte {
	rmcp := []byte{0x06, 0x00, 0xff, 0x07}       // RMCP v1.0, no ACK, class IPMI
	sess := []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 9} // auth none, sequence 0, session 0, length 9
	msg := []byte{0x20, 0x18, 0, 0x81, 0x00, 0x38, 0x8e, 0x04, 0}
	msg[2] = -(msg[0] + msg[1])
	msg[8] = -(msg[3] + msg[4] + msg[5] + msg[6] + msg[7])
	return append(append(rmcp, sess...), msg...)
}

// ipmiMatch accepts an unauthenticated IPMI response message: addressed to
// our requester address 0x81, with a response network function (odd).
func ipmiMatch(r []byte) bool {
	return len(r) >= 21 && bytes.Equal(r[:4], []byte{0x06, 0x00, 0xff, 0x07}) && r[4] == 0 &&
		r[14] == 0x81 && r[15]>>2&1 == 1
}

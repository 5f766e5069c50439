package result

import (
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/portsense/portsense/target"
)

// Result is the final verdict on one port of one host.
// Results are plain values: copy them, compare them, keep them.
type Result struct {
	AddrPort netip.AddrPort  // the scanned address and port
	Proto    target.Protocol // tcp or udp
	State    State           // one of nmap's six states
	Reason   Reason          // why the port has State
	ReplyTTL uint8           // IP TTL / hop limit of the reply; 0 when none came
	RTT      time.Duration   // round-trip time of the reply that decided; 0 when none came
	Tries    int             // probes sent for this port (1 = no retransmission)
	Time     time.Time       // when the verdict was reached
	Service  *Service        // what runs there, when version detection ran; else nil
	// Source is the source address of the probe whose reply decided,
	// recorded by raw probers that send from more than one address (a
	// source pool, probe/srcpool); invalid when not recorded.
	Source netip.Addr
}

// Port returns the result's port together with its protocol.
func (r Result) Port() target.Port {
	return target.Port{Proto: r.Proto, Num: r.AddrPort.Port()}
}

// String formats r as one line: "198.18.0.1:22/tcp open syn-ack".
func (r Result) String() string {
	return fmt.Sprintf("%s/%s %s %s", r.AddrPort, r.Proto, r.State, r.Reason)
}

// Service describes the application behind an open port.
type Service struct {
	Name      string   `json:"name"`                // service name, such as "ssh" or "http"
	Product   string   `json:"product,omitempty"`   // product name, such as "OpenSSH"
	Version   string   `json:"version,omitempty"`   // product version
	ExtraInfo string   `json:"extrainfo,omitempty"` // anything else the probe learnt
	Tunnel    string   `json:"tunnel,omitempty"`    // "ssl" when reached through TLS
	Method    string   `json:"method"`              // "probed" (a probe matched) or "table" (guessed from the port number)
	Conf      int      `json:"conf"`                // confidence 0–10, as nmap's conf
	CPE       []string `json:"cpe,omitempty"`       // CPE names of the product, when known
	// Fingerprint holds the first bytes an unnamed (or only softly named)
	// service sent, hex-escaped and capped, prefixed by the probe that got
	// them: `NULL:SSH-2.0-x\r\n`. nmap XML shows it as servicefp.
	Fingerprint string   `json:"fingerprint,omitempty"`
	TLS         *TLSInfo `json:"tls,omitempty"` // the TLS session: Tunnel "ssl", service "ssl", or (Tunnel "") the protocol's STARTTLS
}

// HostState says whether a host is up.
type HostState uint8

// Host states. The zero value is HostUnknown.
const (
	HostUnknown HostState = iota
	HostUp
	HostDown
)

var hostStateNames = [...]string{HostUnknown: "unknown", HostUp: "up", HostDown: "down"}

// String returns "up", "down" or "unknown", as nmap's XML spells them.
func (s HostState) String() string {
	if int(s) < len(hostStateNames) {
		return hostStateNames[s]
	}
	return fmt.Sprintf("hoststate(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s HostState) MarshalText() ([]byte, error) {
	if int(s) >= len(hostStateNames) {
		return nil, fmt.Errorf("result: invalid host state %d", uint8(s))
	}
	return []byte(hostStateNames[s]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (s *HostState) UnmarshalText(b []byte) error {
	for i, n := range hostStateNames {
		if n == string(b) {
			*s = HostState(i)
			return nil
		}
	}
	return fmt.Errorf("result: unknown host state %q", b)
}

// Host is the verdict on one host: whether it is up, and why.
type Host struct {
	Addr     netip.Addr    // the host
	State    HostState     // up, down or unknown
	Reason   Reason        // why: echo-reply, syn-ack, arp-response, user-set, no-response, …
	ReplyTTL uint8         // TTL / hop limit of the deciding reply; 0 when none
	RTT      time.Duration // round-trip time of the deciding reply; 0 when none
	Time     time.Time     // when the verdict was reached
	// MAC is the link-layer address of an on-link host, learnt from the
	// reply that decided (ARP, NDP, or the frame of any reply on a local
	// link); nil when unknown.
	MAC net.HardwareAddr
	// Warnings are notes about the host that a reader should see, such as
	// "syn-proxy: every probed port answered SYN-ACK".
	Warnings []string
}

// String formats h as one line: "198.18.0.1 up echo-reply".
func (h Host) String() string {
	return fmt.Sprintf("%s %s %s", h.Addr, h.State, h.Reason)
}

// TLSInfo describes a TLS session a service was reached through.
type TLSInfo struct {
	Version  string    `json:"version"`            // "TLS 1.3"
	Cipher   string    `json:"cipher"`             // cipher suite name, as crypto/tls spells it
	ALPN     string    `json:"alpn,omitempty"`     // negotiated application protocol, such as "h2"
	Subject  string    `json:"subject,omitempty"`  // leaf certificate subject, RFC 2253
	Issuer   string    `json:"issuer,omitempty"`   // leaf certificate issuer, RFC 2253
	SANs     []string  `json:"sans,omitempty"`     // DNS names and IP addresses of the leaf certificate
	NotAfter time.Time `json:"notafter,omitempty"` // leaf certificate expiry
}

package result

import "fmt"

// Reason says why a port or host got its state, with nmap's reason names.
// The zero value is NoReason.
type Reason uint8

// Reasons, named as nmap's --reason output names them.
const (
	NoReason          Reason = iota // "unknown"
	SynAck                          // "syn-ack": a TCP SYN-ACK came back
	Reset                           // "reset": a TCP RST came back
	ConnRefused                     // "conn-refused": connect(2) got ECONNREFUSED
	NoResponse                      // "no-response": silence after every try
	PortUnreach                     // "port-unreach": ICMP port unreachable
	HostUnreach                     // "host-unreach": ICMP host unreachable
	NetUnreach                      // "net-unreach": ICMP network unreachable
	ProtoUnreach                    // "proto-unreach": ICMP protocol unreachable
	AdminProhibited                 // "admin-prohibited": ICMP communication administratively prohibited
	HostProhibited                  // "host-prohibited": ICMP host prohibited
	NetProhibited                   // "net-prohibited": ICMP network prohibited
	TimeExceeded                    // "time-exceeded": ICMP time exceeded in transit
	UDPResponse                     // "udp-response": a UDP datagram came back
	EchoReply                       // "echo-reply": ICMP echo reply
	ARPResponse                     // "arp-response": ARP reply
	NDResponse                      // "nd-response": IPv6 neighbour advertisement
	UserSet                         // "user-set": the user said so (-Pn)
	LocalhostResponse               // "localhost-response": the target is this host
	Syn                             // "syn": a SYN came back (simultaneous open)
	HostTimeout                     // "host-timeout": the host's time ran out
	Unreachable                     // "unreach": an ICMP unreachable of another code
	ServiceBanner                   // "service-banner": the service spoke first
	Sent                            // "sent": the probe went out; nothing more known
	// ICMPRateLimit ("icmp-rate-limit"): the host rate-limits its ICMP
	// errors and the time budget ended before this silent port could be
	// told apart from a closed one whose error was held back.
	ICMPRateLimit
)

var reasonNames = [...]string{
	NoReason:          "unknown",
	SynAck:            "syn-ack",
	Reset:             "reset",
	ConnRefused:       "conn-refused",
	NoResponse:        "no-response",
	PortUnreach:       "port-unreach",
	HostUnreach:       "host-unreach",
	NetUnreach:        "net-unreach",
	ProtoUnreach:      "proto-unreach",
	AdminProhibited:   "admin-prohibited",
	HostProhibited:    "host-prohibited",
	NetProhibited:     "net-prohibited",
	TimeExceeded:      "time-exceeded",
	UDPResponse:       "udp-response",
	EchoReply:         "echo-reply",
	ARPResponse:       "arp-response",
	NDResponse:        "nd-response",
	UserSet:           "user-set",
	LocalhostResponse: "localhost-response",
	Syn:               "syn",
	HostTimeout:       "host-timeout",
	Unreachable:       "unreach",
	ServiceBanner:     "service-banner",
	Sent:              "sent",
	ICMPRateLimit:     "icmp-rate-limit",
}

// String returns nmap's name for r ("syn-ack", "port-unreach", …).
func (r Reason) String() string {
	if int(r) < len(reasonNames) {
		return reasonNames[r]
	}
	return fmt.Sprintf("reason(%d)", uint8(r))
}

// MarshalText implements encoding.TextMarshaler.
func (r Reason) MarshalText() ([]byte, error) {
	if int(r) >= len(reasonNames) {
		return nil, fmt.Errorf("result: invalid reason %d", uint8(r))
	}
	return []byte(reasonNames[r]), nil
}

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *Reason) UnmarshalText(b []byte) error {
	for i, n := range reasonNames {
		if n == string(b) {
			*r = Reason(i)
			return nil
		}
	}
	return fmt.Errorf("result: unknown reason %q", b)
}

// ParseReason returns the Reason spelled name, as String spells it.
func ParseReason(name string) (Reason, error) {
	var r Reason
	err := r.UnmarshalText([]byte(name))
	return r, err
}

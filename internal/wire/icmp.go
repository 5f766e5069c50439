package wire

import "github.com/portsense/portsense/result"

// ICMPKind is what an ICMP or ICMPv6 message is, whatever its version.
type ICMPKind uint8

// ICMP kinds. The errors (ICMPUnreachable … ICMPSourceQuench) quote the
// packet that provoked them.
const (
	ICMPUnknown          ICMPKind = iota // a message none of the others names
	ICMPEchoRequest                      // v4 8, v6 128
	ICMPEchoReply                        // v4 0, v6 129
	ICMPTimestampRequest                 // v4 13
	ICMPTimestampReply                   // v4 14
	ICMPNeighborSolicit                  // v6 135
	ICMPNeighborAdvert                   // v6 136
	ICMPUnreachable                      // v4 3, v6 1
	ICMPPacketTooBig                     // v6 2
	ICMPTimeExceeded                     // v4 11, v6 3
	ICMPParamProblem                     // v4 12, v6 4
	ICMPRedirect                         // v4 5
	ICMPSourceQuench                     // v4 4
)

var icmpKindNames = [...]string{
	ICMPUnknown:          "unknown",
	ICMPEchoRequest:      "echo-request",
	ICMPEchoReply:        "echo-reply",
	ICMPTimestampRequest: "timestamp-request",
	ICMPTimestampReply:   "timestamp-reply",
	ICMPNeighborSolicit:  "neighbor-solicitation",
	ICMPNeighborAdvert:   "neighbor-advertisement",
	ICMPUnreachable:      "unreachable",
	ICMPPacketTooBig:     "packet-too-big",
	ICMPTimeExceeded:     "time-exceeded",
	ICMPParamProblem:     "parameter-problem",
	ICMPRedirect:         "redirect",
	ICMPSourceQuench:     "source-quench",
}

// String returns a lower-case name such as "echo-reply".
func (k ICMPKind) String() string {
	if int(k) < len(icmpKindNames) {
		return icmpKindNames[k]
	}
	return "unknown"
}

// IsError reports whether messages of kind k are errors that quote the
// packet that provoked them.
func (k ICMPKind) IsError() bool { return k >= ICMPUnreachable }

// ICMPClass is what an ICMP message means to a prober or a detector.
type ICMPClass struct {
	Kind ICMPKind
	// Reason is what the message says about the probed port or host, in
	// nmap's reason names: port-unreach, admin-prohibited, echo-reply …;
	// result.NoReason when it says nothing a prober may use (a redirect, a
	// packet-too-big, an IPv4 parameter problem).
	Reason result.Reason
}

// ClassifyICMP is the one ICMP classification table: it classifies an
// ICMPv4 (v6 false) or ICMPv6 message by type and code. Probers map the
// Reason of an error quoting their probe to a port state; detect counts
// ICMPUnreachable quoting a first contact as a failed contact.
func ClassifyICMP(v6 bool, typ, code uint8) ICMPClass {
	if v6 {
		switch typ {
		case 1:
			r := result.Unreachable
			switch code {
			case 0: // no route
				r = result.NetUnreach
			case 1, 5, 6: // administratively prohibited, source policy, reject route
				r = result.AdminProhibited
			case 3: // address unreachable
				r = result.HostUnreach
			case 4:
				r = result.PortUnreach
			}
			return ICMPClass{ICMPUnreachable, r}
		case 2:
			return ICMPClass{ICMPPacketTooBig, result.NoReason}
		case 3:
			return ICMPClass{ICMPTimeExceeded, result.TimeExceeded}
		case 4:
			if code == 1 { // unrecognised next header
				return ICMPClass{ICMPParamProblem, result.ProtoUnreach}
			}
			return ICMPClass{ICMPParamProblem, result.NoReason}
		case 128:
			return ICMPClass{ICMPEchoRequest, result.NoReason}
		case 129:
			return ICMPClass{ICMPEchoReply, result.EchoReply}
		case 135:
			return ICMPClass{ICMPNeighborSolicit, result.NoReason}
		case 136:
			return ICMPClass{ICMPNeighborAdvert, result.NDResponse}
		}
		return ICMPClass{}
	}
	switch typ {
	case 0:
		return ICMPClass{ICMPEchoReply, result.EchoReply}
	case 3:
		r := result.Unreachable
		switch code {
		case 0, 6, 11: // net unreachable, unknown, unreachable for TOS
			r = result.NetUnreach
		case 1, 7, 12: // host unreachable, unknown, unreachable for TOS
			r = result.HostUnreach
		case 2:
			r = result.ProtoUnreach
		case 3:
			r = result.PortUnreach
		case 9:
			r = result.NetProhibited
		case 10:
			r = result.HostProhibited
		case 13:
			r = result.AdminProhibited
		}
		return ICMPClass{ICMPUnreachable, r}
	case 4:
		return ICMPClass{ICMPSourceQuench, result.NoReason}
	case 5:
		return ICMPClass{ICMPRedirect, result.NoReason}
	case 8:
		return ICMPClass{ICMPEchoRequest, result.NoReason}
	case 11:
		return ICMPClass{ICMPTimeExceeded, result.TimeExceeded}
	case 12:
		return ICMPClass{ICMPParamProblem, result.NoReason}
	case 13:
		return ICMPClass{ICMPTimestampRequest, result.NoReason}
	case 14:
		return ICMPClass{ICMPTimestampReply, result.TimestampReply}
	}
	return ICMPClass{}
}

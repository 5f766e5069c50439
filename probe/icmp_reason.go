package probe

import "github.com/portsense/portsense/result"

// icmpReason maps an ICMP (v6 false) or ICMPv6 error to a reason; ok is
// false for messages that say nothing about the port.
func icmpReason(v6 bool, typ, code uint8) (result.Reason, bool) {
	if v6 {
		switch typ {
		case 1:
			switch code {
			case 0:
				return result.NetUnreach, true
			case 1, 5, 6: // admin prohibited, source policy, reject route
				return result.AdminProhibited, true
			case 3:
				return result.HostUnreach, true
			case 4:
				return result.PortUnreach, true
			}
			return result.Unreachable, true
		case 3:
			return result.TimeExceeded, true
		case 4:
			if code == 1 { // unrecognised next header
				return result.ProtoUnreach, true
			}
		}
		return 0, false
	}
	switch typ {
	case 3:
		switch code {
		case 0, 6, 11:
			return result.NetUnreach, true
		case 1, 7, 12:
			return result.HostUnreach, true
		case 2:
			return result.ProtoUnreach, true
		case 3:
			return result.PortUnreach, true
		case 9:
			return result.NetProhibited, true
		case 10:
			return result.HostProhibited, true
		case 13:
			return result.AdminProhibited, true
		}
		return result.Unreachable, true
	case 11:
		return result.TimeExceeded, true
	}
	return 0, false
}

package probe

import "github.com/portsense/portsense/result"

// icmp4Reason maps an ICMPv4 error type and code to nmap's reason.
func icmp4Reason(typ, code uint8) (result.Reason, bool) {
	switch typ {
	case 3: // destination unreachable
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

// icmp6Reason maps an ICMPv6 error type and code to nmap's reason.
func icmp6Reason(typ, code uint8) (result.Reason, bool) {
	switch typ {
	case 1: // destination unreachable
		switch code {
		case 0:
			return result.NetUnreach, true
		case 1, 5:
			return result.AdminProhibited, true
		case 3:
			return result.HostUnreach, true
		case 4:
			return result.PortUnreach, true
		}
		return result.Unreachable, true
	case 3:
		return result.TimeExceeded, true
	}
	return 0, false
}

package probe

import (
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/result"
)

// icmpReason maps an ICMP (v6 false) or ICMPv6 error to a reason through
// the one classification table, wire.ClassifyICMP; ok is false for
// messages that are not errors or say nothing about the port.
func icmpReason(v6 bool, typ, code uint8) (result.Reason, bool) {
	c := wire.ClassifyICMP(v6, typ, code)
	if !c.Kind.IsError() || c.Reason == result.NoReason {
		return result.NoReason, false
	}
	return c.Reason, true
}

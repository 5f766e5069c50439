package wire_test

import (
	"fmt"
	"testing"

	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/result"
)

func TestClassifyICMP(t *testing.T) {
	for _, c := range []struct {
		v6        bool
		typ, code uint8
		kind      wire.ICMPKind
		want      result.Reason
	}{
		{false, 3, 3, wire.ICMPUnreachable, result.PortUnreach},
		{false, 3, 13, wire.ICMPUnreachable, result.AdminProhibited},
		{false, 3, 1, wire.ICMPUnreachable, result.HostUnreach},
		{false, 3, 0, wire.ICMPUnreachable, result.NetUnreach},
		{false, 3, 2, wire.ICMPUnreachable, result.ProtoUnreach},
		{false, 3, 9, wire.ICMPUnreachable, result.NetProhibited},
		{false, 3, 10, wire.ICMPUnreachable, result.HostProhibited},
		{false, 3, 4, wire.ICMPUnreachable, result.Unreachable},
		{false, 11, 0, wire.ICMPTimeExceeded, result.TimeExceeded},
		{false, 12, 0, wire.ICMPParamProblem, result.NoReason},
		{false, 5, 0, wire.ICMPRedirect, result.NoReason},
		{false, 4, 0, wire.ICMPSourceQuench, result.NoReason},
		{false, 0, 0, wire.ICMPEchoReply, result.EchoReply},
		{false, 8, 0, wire.ICMPEchoRequest, result.NoReason},
		{false, 14, 0, wire.ICMPTimestampReply, result.TimestampReply},
		{false, 42, 0, wire.ICMPUnknown, result.NoReason},
		{true, 1, 4, wire.ICMPUnreachable, result.PortUnreach},
		{true, 1, 1, wire.ICMPUnreachable, result.AdminProhibited},
		{true, 1, 5, wire.ICMPUnreachable, result.AdminProhibited},
		{true, 1, 3, wire.ICMPUnreachable, result.HostUnreach},
		{true, 1, 0, wire.ICMPUnreachable, result.NetUnreach},
		{true, 1, 2, wire.ICMPUnreachable, result.Unreachable},
		{true, 2, 0, wire.ICMPPacketTooBig, result.NoReason},
		{true, 3, 0, wire.ICMPTimeExceeded, result.TimeExceeded},
		{true, 4, 1, wire.ICMPParamProblem, result.ProtoUnreach},
		{true, 4, 0, wire.ICMPParamProblem, result.NoReason},
		{true, 129, 0, wire.ICMPEchoReply, result.EchoReply},
		{true, 136, 0, wire.ICMPNeighborAdvert, result.NDResponse},
		{true, 135, 0, wire.ICMPNeighborSolicit, result.NoReason},
		{true, 3 + 200, 0, wire.ICMPUnknown, result.NoReason},
	} {
		got := wire.ClassifyICMP(c.v6, c.typ, c.code)
		if got.Kind != c.kind || got.Reason != c.want {
			t.Errorf("ClassifyICMP(%v, %d, %d) = %v %v, want %v %v", c.v6, c.typ, c.code, got.Kind, got.Reason, c.kind, c.want)
		}
	}
}

// The decoder reads a quote exactly for the types the table calls errors.
func TestQuoteMatchesTable(t *testing.T) {
	q := probeQuote(t, v4a, v4b, 1, 2, 3)
	q6 := probeQuote(t, v6a, v6b, 1, 2, 3)
	for typ := range 256 {
		for _, v6 := range []bool{false, true} {
			var b []byte
			if v6 {
				b = append([]byte{byte(typ), 0, 0, 0, 0, 0, 0, 0}, q6...)
				b = append(ip6Header(len(b), v6b, v6a), b...)
			} else {
				b = append([]byte{byte(typ), 0, 0, 0, 0, 0, 0, 0}, q...)
				b = append(ip4Header(len(b), v4b, v4a), b...)
			}
			var p wire.Packet
			if v6 && (typ == 135 || typ == 136) {
				continue // NDP: the body is not a quote
			}
			if err := p.DecodeIP(b); err != nil {
				t.Fatalf("type %d v6 %v: %v", typ, v6, err)
			}
			isErr := wire.ClassifyICMP(v6, uint8(typ), 0).Kind.IsError()
			if p.HasQuote != isErr {
				t.Errorf("type %d v6 %v: quote %v, table says error %v", typ, v6, p.HasQuote, isErr)
			}
		}
	}
}

func ExampleClassifyICMP() {
	c := wire.ClassifyICMP(false, 3, 3) // ICMP destination unreachable, port unreachable
	fmt.Println(c.Kind, c.Kind.IsError(), c.Reason)
	c = wire.ClassifyICMP(true, 1, 1) // ICMPv6 unreachable, administratively prohibited
	fmt.Println(c.Kind, c.Reason)
	// Output:
	// unreachable true port-unreach
	// unreachable admin-prohibited
}

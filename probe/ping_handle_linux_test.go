package probe

import (
	"net/netip"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/result"
)

var (
	pingUs   = netip.MustParseAddr("198.18.9.1")
	pingHost = netip.MustParseAddr("198.19.9.9")
)

// newHandleSession is a raw ping session without sockets, for handle.
func newHandleSession(t testing.TB, got *[]Reply) *rawPingSession {
	p, err := newRawPing(PingConfig{Methods: defaultRawMethods(false), SYNPorts: []uint16{443}, ACKPorts: []uint16{80}, UDPPorts: []uint16{40125}})
	if err != nil {
		t.Fatal(err)
	}
	return &rawPingSession{p: p.(*rawPing), hash: cookie.New(cookie.Key{1, 2, 3}), deliver: func(r Reply) { *got = append(*got, r) }}
}

// pingReplies builds replies to our pings: each valid one, and a forged
// twin with a wrong cookie.
func pingReplies(s *rawPingSession) (valid, forged [][]byte) {
	mk := func(build func(b []byte) int) []byte {
		b := make([]byte, 128)
		return b[:build(b)]
	}
	c := s.hash.TCP(pingUs, pingHost, 0, cookieEcho)
	echo := func(id, seq uint16) []byte {
		b := mk(func(b []byte) int { return packet.ICMPEcho(b, pingHost, pingUs, id, seq, 61, nil) })
		b[20] = 0 // echo reply
		return b
	}
	valid = append(valid, echo(uint16(c>>16), uint16(c)&^0xf|1))
	forged = append(forged, echo(uint16(c>>16)^1, uint16(c)&^0xf|1))
	ct := s.hash.TCP(pingUs, pingHost, 0, cookieTimestamp)
	ts := func(id, seq uint16) []byte {
		b := mk(func(b []byte) int { return packet.ICMPTimestamp(b, pingHost, pingUs, id, seq, 61, 0) })
		b[20] = 14 // timestamp reply
		return b
	}
	valid = append(valid, ts(uint16(ct>>16), uint16(ct)&^0xf))
	forged = append(forged, ts(uint16(c>>16), uint16(c)&^0xf)) // an echo cookie
	sport := uint16(pingSYNBase + 2)
	seq := s.hash.TCP(pingUs, pingHost, sport, 443)
	synack := func(ack uint32) []byte {
		return mk(func(b []byte) int {
			return packet.TCPPing(b, pingHost, pingUs, 443, sport, 7, ack, wire.FlagSYN|wire.FlagACK, 1024, 61)
		})
	}
	valid = append(valid, synack(seq+1))
	forged = append(forged, synack(seq))
	aport := uint16(pingACKBase + 1)
	ack := s.hash.TCP(pingUs, pingHost, aport, 80)
	rst := func(seq uint32) []byte {
		return mk(func(b []byte) int { return packet.TCPPing(b, pingHost, pingUs, 80, aport, seq, 0, wire.FlagRST, 0, 61) })
	}
	valid = append(valid, rst(ack))
	forged = append(forged, rst(ack+1))
	return valid, forged
}

func TestPingHandleValidates(t *testing.T) {
	var got []Reply
	s := newHandleSession(t, &got)
	valid, forged := pingReplies(s)
	var p wire.Packet
	for _, b := range forged {
		s.handle(&p, &afpacket.Packet{Data: b, Addr: afpacket.Addr{Protocol: afpacket.ProtoIPv4}}, time.Now())
	}
	if len(got) != 0 {
		t.Fatalf("forged replies delivered: %+v", got)
	}
	if st := s.Stats(); st.Forged != uint64(len(forged)) {
		t.Errorf("forged counter %d, want %d", st.Forged, len(forged))
	}
	for _, b := range valid {
		s.handle(&p, &afpacket.Packet{Data: b, Addr: afpacket.Addr{Protocol: afpacket.ProtoIPv4}}, time.Now())
	}
	want := []struct {
		reason result.Reason
		try    int
		first  bool
	}{{result.EchoReply, 1, false}, {result.TimestampReply, 0, false}, {result.SynAck, 2, false}, {result.Reset, 1, true}}
	if len(got) != len(want) {
		t.Fatalf("delivered %d replies, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		r := got[i]
		if r.Target.Addr != pingHost || r.State != result.Open || r.Reason != w.reason || r.Try != w.try ||
			r.ReplyTTL != 61 || r.FirstSend != w.first {
			t.Errorf("reply %d: %+v, want %v try %d first-send %v", i, r, w.reason, w.try, w.first)
		}
	}
}

// FuzzPingHandle feeds arbitrary packets to the raw ping's classifier:
// it must not panic, and whatever it delivers names a valid host, up.
func FuzzPingHandle(f *testing.F) {
	var got []Reply
	s := newHandleSession(f, &got)
	valid, forged := pingReplies(s)
	for _, b := range append(valid, forged...) {
		f.Add(afpacket.ProtoIPv4, b)
	}
	f.Fuzz(func(t *testing.T, proto uint16, b []byte) {
		got = got[:0]
		var p wire.Packet
		s.handle(&p, &afpacket.Packet{Data: b, Addr: afpacket.Addr{Protocol: proto}}, time.Now())
		for _, r := range got {
			if !r.Target.Addr.IsValid() || r.State != result.Open || r.Try < -1 || r.Try >= PingSourcePorts || r.Target.Port.Num != 0 {
				t.Fatalf("bad reply %+v", r)
			}
		}
	})
}

// BenchmarkPingHandle measures the classification of one echo reply: the
// decode, the cookie check and the delivery.
func BenchmarkPingHandle(b *testing.B) {
	var got []Reply
	s := newHandleSession(b, &got)
	s.deliver = func(Reply) {}
	valid, _ := pingReplies(s)
	pk := &afpacket.Packet{Data: valid[0], Addr: afpacket.Addr{Protocol: afpacket.ProtoIPv4}}
	var p wire.Packet
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		s.handle(&p, pk, now)
	}
	if s.delivered.Load() == 0 {
		b.Fatal("nothing delivered")
	}
}

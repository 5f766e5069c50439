package probe

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/cookie"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
	"github.com/portsense/portsense/probe/udppayload"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

func fuzzUDPSession() *UDPSession {
	return &UDPSession{
		cfg:      UDPConfig{SourcePort: DefaultUDPSourcePort, TTL: 64},
		payloads: udppayload.Default(),
		hash:     cookie.New(cookie.Key{1, 2, 3}),
	}
}

// dnsmasqReply is dnsmasq 2.90's answer to our version.bind query,
// recorded in the lab (see package udppayload's tests).
var dnsmasqReply = func() []byte {
	b, err := os.ReadFile(filepath.Join("udppayload", "testdata", "replies", "dns-version-bind.bin"))
	if err != nil {
		panic(err)
	}
	return b
}()

// udpSeeds are received packets (network layer first) of every kind the
// classifier meets: replies, ICMP errors quoting a probe with the right
// cookie and with a wrong one, IPv4 and IPv6.
func udpSeeds(s *UDPSession) [][]byte {
	us4, them4 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.1.2")
	us6, them6 := netip.MustParseAddr("2001:db8:1::1"), netip.MustParseAddr("2001:db8:1::2")
	var out [][]byte
	buf := make([]byte, 2048)
	dns := s.payloads.Datagrams(53)[0]
	for _, fam := range [][2]netip.Addr{{us4, them4}, {us6, them6}} {
		us, them := fam[0], fam[1]
		// A reply from 53 to our second source port.
		n := packet.UDP(buf, them, us, 53, DefaultUDPSourcePort+1, 64, 0, dnsmasqReply)
		out = append(out, append([]byte(nil), buf[:n]...))
		// Our probe, as the target got it, quoted in a port unreachable.
		sport, dport := uint16(DefaultUDPSourcePort+2), uint16(161)
		c := s.hash.TCP(us, them, sport, dport)
		for _, ck := range []uint32{c, c + 1} {
			probeBytes := make([]byte, 1500)
			q := packet.UDP(probeBytes, us, them, sport, dport, 64, ck, dns)
			out = append(out, icmpError(them, us, probeBytes[:q]))
		}
	}
	return out
}

// icmpError wraps quote in an ICMP port unreachable from src to dst.
func icmpError(src, dst netip.Addr, quote []byte) []byte {
	if len(quote) > 548 {
		quote = quote[:548]
	}
	b := make([]byte, 1500)
	if src.Is4() {
		n := packet.ICMPEcho(b, src, dst, 0, 0, 64, quote)
		b[20], b[21] = 3, 3 // echo header rewritten as port unreachable
		b[22], b[23] = 0, 0
		b[24], b[25], b[26], b[27] = 0, 0, 0, 0
		cs := packet.Checksum(b[20:n])
		b[22], b[23] = byte(cs>>8), byte(cs)
		return b[:n]
	}
	n := packet.ICMPEcho(b, src, dst, 0, 0, 64, quote)
	b[40], b[41] = 1, 4
	b[44], b[45], b[46], b[47] = 0, 0, 0, 0
	return b[:n] // the checksum is not checked by the decoder
}

func TestUDPClassifySeeds(t *testing.T) {
	s := fuzzUDPSession()
	var p wire.Packet
	seeds := udpSeeds(s)
	want := []struct {
		ok    bool
		state result.State
	}{{true, result.Open}, {true, result.Closed}, {false, 0}, {true, result.Open}, {true, result.Closed}, {false, 0}}
	for i, b := range seeds {
		r, ok := s.classify(&p, b, time.Now())
		if ok != want[i].ok || (ok && r.State != want[i].state) {
			t.Errorf("seed %d: %+v %v, want ok %v state %v", i, r, ok, want[i].ok, want[i].state)
		}
		if ok && r.State == result.Open && (r.Service == nil || r.Service.Name != "domain") && r.Target.Port.Num == 53 {
			t.Errorf("seed %d: DNS reply not named: %+v", i, r.Service)
		}
	}
	if s.forged.Load() != 2 {
		t.Errorf("forged %d, want 2 (one wrong cookie per family)", s.forged.Load())
	}
}

// FuzzUDPClassify feeds arbitrary packets to the raw UDP classifier: it
// must not panic, and whatever it delivers must be a UDP target with a
// try from our source ports and a consistent verdict; an ICMP verdict
// needs the quoted probe's cookie.
func FuzzUDPClassify(f *testing.F) {
	s := fuzzUDPSession()
	for _, b := range udpSeeds(s) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p wire.Packet
		r, ok := s.classify(&p, b, time.Now())
		if !ok {
			return
		}
		if r.Target.Port.Proto != target.UDP || r.Try < 0 || r.Try >= UDPSourcePorts || !r.Target.Addr.IsValid() {
			t.Fatalf("bad reply %+v", r)
		}
		switch r.State {
		case result.Open:
			if r.Reason != result.UDPResponse || p.Proto != wire.ProtoUDP {
				t.Fatalf("open without a UDP reply: %+v", r)
			}
		case result.Closed, result.Filtered:
			q := p.Quote
			c := s.hash.TCP(q.Src, q.Dst, q.SrcPort, q.DstPort)
			if !p.HasQuote || (q.Src.Is4() && q.IPID != uint16(c)) || (q.Src.Is6() && q.FlowLabel != c&0xfffff) {
				t.Fatalf("ICMP verdict without our cookie: %+v quote %+v", r, q)
			}
			if (r.State == result.Closed) != (r.Reason == result.PortUnreach) {
				t.Fatalf("closed iff port unreachable: %+v", r)
			}
		default:
			t.Fatalf("state %v", r.State)
		}
	})
}

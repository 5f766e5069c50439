package eval

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"
)

func TestWritePcap(t *testing.T) {
	s := DefaultScenario()
	s.Duration = 10 * time.Minute
	s.WebClients, s.P2P, s.DNSClients, s.Crawlers, s.Monitors, s.Flaky = 20, 5, 5, 1, 1, 1
	s.SlowScanners, s.Distributed, s.Decoys, s.SpoofedFlood = false, nil, nil, 50
	tr := Generate(s)
	var buf bytes.Buffer
	if err := WritePcap(&buf, tr.Obs); err != nil {
		t.Fatal(err)
	}
	r, err := pcapgo.NewReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	n, icmpQuotes := 0, 0
	for {
		data, ci, err := r.ReadPacketData()
		if err != nil {
			break
		}
		o := &tr.Obs[n]
		if !ci.Timestamp.Equal(o.Time) {
			t.Fatalf("packet %d time %v, want %v", n, ci.Timestamp, o.Time)
		}
		p := gopacket.NewPacket(data, layers.LinkTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			t.Fatalf("packet %d does not decode: %v", n, el.Error())
		}
		if tcp, ok := p.Layer(layers.LayerTypeTCP).(*layers.TCP); ok && p.Layer(layers.LayerTypeICMPv4) == nil && p.Layer(layers.LayerTypeICMPv6) == nil {
			if uint16(tcp.DstPort) != o.DstPort || tcp.SYN != (o.Flags&2 != 0) || tcp.RST != (o.Flags&4 != 0) {
				t.Fatalf("packet %d: tcp %v→%v syn %v rst %v, want %+v", n, tcp.SrcPort, tcp.DstPort, tcp.SYN, tcp.RST, o)
			}
		}
		if o.HasQuote {
			icmpQuotes++
		}
		n++
	}
	if n != len(tr.Obs) || icmpQuotes == 0 {
		t.Fatalf("read %d packets (%d ICMP errors), wrote %d", n, icmpQuotes, len(tr.Obs))
	}
}

package detect_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/portsense/portsense/detect"
	"github.com/portsense/portsense/target"
)

// A SYN scan of closed ports, replayed from decoded observations, goes
// through the default analyser into a callback and a blocklist.
func ExamplePipeline() {
	scanner := netip.MustParseAddr("198.18.0.66")
	server := netip.MustParseAddr("198.18.0.2")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var obs []detect.Observation
	for i := range 20 {
		t := start.Add(time.Duration(i) * 10 * time.Millisecond)
		port := uint16(1000 + i)
		obs = append(obs,
			detect.Observation{Time: t, Src: scanner, Dst: server, SrcPort: 40000, DstPort: port, Proto: target.TCP, Flags: detect.SYN, TTL: 64},
			detect.Observation{Time: t.Add(time.Millisecond), Src: server, Dst: scanner, SrcPort: port, DstPort: 40000, Proto: target.TCP, Flags: detect.RST | detect.ACK, TTL: 64})
	}

	blocklist := detect.NewBlocklist(nil)
	p, err := detect.NewPipeline(detect.NewSliceSource(obs), detect.NewDefaultAnalyzer(nil),
		detect.WithResponder(
			detect.Callback(func(e detect.Event) {
				fmt.Println(e.Kind, e.Source, e.Shape, e.ScanType)
			}),
			blocklist,
		))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := p.Run(context.Background()); err != nil {
		fmt.Println(err)
	}
	fmt.Println("blocked:", blocklist.Blocked(scanner))
	st := p.Stats()
	fmt.Println("observations:", st.Observations, "events:", st.Events)
	// Output:
	// scan 198.18.0.66 vertical syn
	// blocked: true
	// observations: 40 events: 1
}

// Events yields the stream as an iterator; each event is one JSON record
// for a SIEM. The scan ends here, so after the drain (ten quiet minutes of
// packet time) a scan-end summary closes it.
func ExamplePipeline_Events() {
	scanner := netip.MustParseAddr("198.18.0.66")
	server := netip.MustParseAddr("198.18.0.2")
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var obs []detect.Observation
	for i := range 6 {
		t := start.Add(time.Duration(i) * 10 * time.Millisecond)
		port := uint16(1000 + i)
		obs = append(obs,
			detect.Observation{Time: t, Src: scanner, Dst: server, SrcPort: 40000, DstPort: port, Proto: target.TCP, Flags: detect.SYN, TTL: 64},
			detect.Observation{Time: t.Add(time.Millisecond), Src: server, Dst: scanner, SrcPort: port, DstPort: 40000, Proto: target.TCP, Flags: detect.RST | detect.ACK, TTL: 64})
	}
	p, err := detect.NewPipeline(detect.NewSliceSource(obs), detect.NewDefaultAnalyzer(nil), detect.WithDrain(11*time.Minute))
	if err != nil {
		fmt.Println(err)
		return
	}
	for e, err := range p.Events(context.Background()) {
		if err != nil {
			fmt.Println(err)
			return
		}
		b, _ := json.Marshal(e)
		fmt.Println(string(b))
	}
	// Output:
	// {"kind":"scan","detector":"trw","time":"2026-01-01T00:00:00.031Z","first_seen":"2026-01-01T00:00:00.01Z","source":"198.18.0.66","shape":"vertical","scan_type":"syn","hosts":1,"ports":3,"attempts":4,"score":256.00000000000017,"sample":["198.18.0.2:1001","198.18.0.2:1002","198.18.0.2:1003"]}
	// {"kind":"scan-end","detector":"default","time":"2026-01-01T00:11:00.051Z","first_seen":"2026-01-01T00:00:00.01Z","last_seen":"2026-01-01T00:00:00.051Z","source":"198.18.0.66","shape":"vertical","scan_type":"syn","hosts":1,"ports":5,"attempts":6,"score":0,"sample":["198.18.0.2:1001","198.18.0.2:1002","198.18.0.2:1003","198.18.0.2:1004","198.18.0.2:1005"]}
}

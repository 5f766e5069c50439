package detect

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/gopacket"
	"github.com/google/gopacket/layers"
	"github.com/google/gopacket/pcapgo"

	"github.com/portsense/portsense/target"
)

// capture returns n SYN packets from a to b on ports 1..n, a millisecond apart.
func capture(t testing.TB, n int) ([][]byte, []time.Time) {
	var pkts [][]byte
	var ts []time.Time
	for i := range n {
		pkts = append(pkts, serialize(t, eth(layers.EthernetTypeIPv4), ip4(layers.IPProtocolTCP, v4a, v4b),
			&layers.TCP{SrcPort: 40000, DstPort: layers.TCPPort(i + 1), SYN: true, DataOffset: 5}))
		ts = append(ts, t0.Add(time.Duration(i)*time.Millisecond))
	}
	// One non-IP packet that must be counted but not observed.
	pkts = append(pkts, serialize(t, eth(layers.EthernetTypeARP), gopacket.Payload(make([]byte, 28))))
	ts = append(ts, t0.Add(time.Second))
	return pkts, ts
}

func pcapBytes(t testing.TB, pkts [][]byte, ts []time.Time, nano bool) []byte {
	var buf bytes.Buffer
	var w *pcapgo.Writer
	if nano {
		w = pcapgo.NewWriterNanos(&buf)
	} else {
		w = pcapgo.NewWriter(&buf)
	}
	if err := w.WriteFileHeader(65535, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(p), Length: len(p)}, p); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func pcapngBytes(t testing.TB, pkts [][]byte, ts []time.Time) []byte {
	var buf bytes.Buffer
	w, err := pcapgo.NewNgWriter(&buf, layers.LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkts {
		if err := w.WritePacket(gopacket.CaptureInfo{Timestamp: ts[i], CaptureLength: len(p), Length: len(p)}, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func readAll(t *testing.T, s Source) (obs []Observation, notObserved int) {
	t.Helper()
	for {
		var o Observation
		err := s.ReadObservation(&o)
		switch {
		case err == nil:
			obs = append(obs, o)
		case errors.Is(err, ErrNotObserved):
			notObserved++
		case err == io.EOF:
			return obs, notObserved
		default:
			t.Fatalf("read: %v", err)
		}
	}
}

func TestPcapRoundTrip(t *testing.T) {
	pkts, ts := capture(t, 20)
	files := map[string][]byte{
		"pcap-us": pcapBytes(t, pkts, ts, false),
		"pcap-ns": pcapBytes(t, pkts, ts, true),
		"pcapng":  pcapngBytes(t, pkts, ts),
	}
	dir := t.TempDir()
	for name, data := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenPcap(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if s.LinkType() != LinkEthernet {
				t.Errorf("link type %v", s.LinkType())
			}
			obs, skipped := readAll(t, s)
			if len(obs) != 20 || skipped != 1 {
				t.Fatalf("got %d observations, %d skipped; want 20, 1", len(obs), skipped)
			}
			for i, o := range obs {
				if o.DstPort != uint16(i+1) || o.Src != v4a || o.Proto != target.TCP || o.Flags != SYN {
					t.Errorf("obs %d: %+v", i, o)
				}
				if !o.Time.Equal(ts[i]) {
					t.Errorf("obs %d: time %v, want %v", i, o.Time, ts[i])
				}
			}
		})
	}
}

func TestPcapTruncated(t *testing.T) {
	pkts, ts := capture(t, 3)
	for name, data := range map[string][]byte{"pcap": pcapBytes(t, pkts, ts, false), "pcapng": pcapngBytes(t, pkts, ts)} {
		// Cut inside the last record: the reader must say so, not stop quietly.
		s, err := NewPcapSource(bytes.NewReader(data[:len(data)-10]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var last error
		for range 10 {
			var o Observation
			if last = s.ReadObservation(&o); last != nil && !errors.Is(last, ErrNotObserved) {
				break
			}
		}
		if !errors.Is(last, io.ErrUnexpectedEOF) {
			t.Errorf("%s: truncated file gave %v, want io.ErrUnexpectedEOF", name, last)
		}
	}
}

func TestPcapBadInput(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":    nil,
		"magic":    []byte("GIF89a......................."),
		"short":    {0xd4, 0xc3, 0xb2, 0xa1, 2, 0},
		"ng-order": {0x0a, 0x0d, 0x0d, 0x0a, 28, 0, 0, 0, 1, 2, 3, 4},
	} {
		if _, err := NewPcapSource(bytes.NewReader(data)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// pcap with an unsupported link type.
	var buf bytes.Buffer
	w := pcapgo.NewWriter(&buf)
	w.WriteFileHeader(65535, layers.LinkTypeIEEE802_11)
	if _, err := NewPcapSource(&buf); err == nil {
		t.Error("802.11 capture accepted")
	}
}

// pcapng timestamp resolutions other than microseconds.
func TestPcapngResolution(t *testing.T) {
	for _, c := range []struct {
		res  byte
		ts   uint64
		want time.Time
	}{
		{9, 1_700_000_000_123_456_789, time.Unix(1_700_000_000, 123_456_789)},
		{3, 1_700_000_000_123, time.Unix(1_700_000_000, 123_000_000)},
		{0x80 | 10, 5<<10 | 512, time.Unix(5, 500_000_000)},
		{12, 7_000_000_250_000, time.Unix(7, 250)},
	} {
		ifc := ngInterfaceInfo{binary: c.res&0x80 != 0, exp: c.res & 0x7f}
		got, err := ifc.time(c.ts)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("resolution %#x ts %d: got %v %v, want %v", c.res, c.ts, got, err, c.want)
		}
	}
	if _, err := (&ngInterfaceInfo{exp: 127}).time(1); err == nil {
		t.Error("resolution 10^-127 accepted")
	}
}

func BenchmarkPcapSource(b *testing.B) {
	pkts, ts := capture(b, 20000)
	data := pcapBytes(b, pkts, ts, false)
	b.ReportAllocs()
	var o Observation
	n := 0
	for b.Loop() {
		s, _ := NewPcapSource(bytes.NewReader(data))
		for s.ReadObservation(&o) != io.EOF {
			n++
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/packet")
}

// An interface with timestamp resolution 10^-127 (which makes gopacket's
// pcapng reader divide by zero) yields an error, not a panic.
func TestPcapngHostileResolution(t *testing.T) {
	le := binary.LittleEndian
	var b bytes.Buffer
	w := func(v ...uint32) {
		for _, x := range v {
			binary.Write(&b, le, x)
		}
	}
	w(0x0a0d0d0a, 28, 0x1a2b3c4d, 1, 0xffffffff, 0xffffffff, 28) // section header
	w(1, 28, 1, 65535, 9|1<<16, 127, 28)                         // interface, if_tsresol 127
	w(6, 32, 0, 0, 1, 0, 0, 32)                                  // empty enhanced packet
	s, err := NewPcapSource(&b)
	if err != nil {
		t.Fatal(err)
	}
	var o Observation
	if err := s.ReadObservation(&o); err == nil || errors.Is(err, io.EOF) {
		t.Fatalf("got %v, want a resolution error", err)
	}
}

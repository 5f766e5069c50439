package detect

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/google/gopacket/pcapgo"
)

func FuzzPcapReader(f *testing.F) {
	pkts, ts := capture(f, 3)
	f.Add(pcapBytes(f, pkts, ts, false))
	f.Add(pcapBytes(f, pkts, ts, true))
	f.Add(pcapngBytes(f, pkts, ts))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewPcapSource(bytes.NewReader(data))
		if err != nil {
			return
		}
		if s.pcap != nil {
			comparePcapgo(t, data)
		}
		var o Observation
		for i := 0; i < 1000; i++ {
			err := s.ReadObservation(&o)
			if err == nil || errors.Is(err, ErrMalformed) || errors.Is(err, ErrNotObserved) {
				continue
			}
			if err == io.EOF {
				return
			}
			return // any other error ends the stream
		}
	})
}

// comparePcapgo reads a classic pcap file with our reader and with
// gopacket's pcapgo (the test oracle) and requires the same records, as
// long as pcapgo reads them.
func comparePcapgo(t *testing.T, data []byte) {
	ours, err := NewPcapSource(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("second open: %v", err)
	}
	theirs, err := pcapgo.NewReader(bytes.NewReader(data))
	if err != nil {
		return // pcapgo refuses what we accept (it checks less than nothing more)
	}
	theirs.SetSnaplen(maxSnap)
	for i := 0; i < 1000; i++ {
		want, ci, werr := theirs.ReadPacketData()
		got, ts, _, gerr := ours.ReadPacket()
		if werr != nil {
			return
		}
		if gerr != nil {
			t.Fatalf("record %d: ours %v, pcapgo read %d bytes", i, gerr, len(want))
		}
		// pcapgo multiplies a microsecond fraction by 1000 in uint32, which
		// wraps for fractions of 4,294,968 µs and up: compare timestamps
		// only for fractions in range, where both must be exact.
		frac, limit := ours.pcap.order.Uint32(ours.pcap.hdr[4:]), uint32(1e6)
		if ours.pcap.nano {
			limit = 1e9
		}
		if !bytes.Equal(got, want) || (frac < limit && !ts.Equal(ci.Timestamp)) {
			t.Fatalf("record %d: ours %x at %v, pcapgo %x at %v", i, got, ts, want, ci.Timestamp)
		}
	}
}

package detect

import (
	"bytes"
	"errors"
	"io"
	"testing"
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

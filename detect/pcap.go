package detect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/gopacket/pcapgo"
)

// maxSnap bounds the bytes read for one captured packet. Files that claim
// more are rejected packet by packet instead of allocating what they claim.
const maxSnap = 256 << 10

// PcapSource reads a pcap or pcapng capture. The format is detected from the
// file's magic number: classic pcap (microsecond or nanosecond, either byte
// order) is read with gopacket's pcapgo; pcapng with a small reader of our own
// that bounds every length it trusts (pcapgo's pcapng reader panics on some
// malformed files).
type PcapSource struct {
	closer io.Closer
	pcap   *pcapgo.Reader
	ng     *ngReader
	link   LinkType
}

var _ Source = (*PcapSource)(nil)

// NewPcapSource reads a capture from r, which it does not close.
func NewPcapSource(r io.Reader) (*PcapSource, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic, err := br.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("detect: reading capture magic: %w", err)
	}
	s := &PcapSource{}
	switch m := binary.LittleEndian.Uint32(magic); m {
	case 0x0a0d0d0a:
		s.ng, err = newNgReader(br)
		if err != nil {
			return nil, err
		}
		s.link = s.ng.firstLink
		return s, nil
	case 0xa1b2c3d4, 0xd4c3b2a1, 0xa1b23c4d, 0x4d3cb2a1:
		s.pcap, err = pcapgo.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("detect: reading pcap header: %w", err)
		}
		// Trust no snap length above maxSnap: pcapgo sizes its buffer by it.
		s.pcap.SetSnaplen(maxSnap)
		s.link = LinkType(s.pcap.LinkType())
		if !s.link.Supported() {
			return nil, fmt.Errorf("detect: pcap link type %d not supported", uint16(s.link))
		}
		return s, nil
	default:
		return nil, fmt.Errorf("detect: capture magic %#08x is neither pcap nor pcapng", m)
	}
}

// OpenPcap opens a pcap or pcapng file; Close closes it.
func OpenPcap(path string) (*PcapSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	s, err := NewPcapSource(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%w (file %s)", err, path)
	}
	s.closer = f
	return s, nil
}

// LinkType returns the link type of the capture (for pcapng, of its first
// interface; later interfaces may differ and are decoded by their own type).
func (s *PcapSource) LinkType() LinkType { return s.link }

// ReadPacket returns the next captured packet, its timestamp and link type.
// data is valid until the next call. At the end it returns io.EOF; a file
// cut off inside a record returns io.ErrUnexpectedEOF.
func (s *PcapSource) ReadPacket() (data []byte, ts time.Time, link LinkType, err error) {
	if s.ng != nil {
		return s.ng.next()
	}
	data, ci, err := s.pcap.ZeroCopyReadPacketData()
	if err != nil {
		if ci.CaptureLength > 0 && errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // header read, body missing
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			err = fmt.Errorf("detect: reading pcap record: %w", err)
		}
		return nil, time.Time{}, 0, err
	}
	return data, ci.Timestamp, s.link, nil
}

// ReadObservation reads and decodes the next packet. Packets that do not
// decode return errors wrapping ErrMalformed or ErrNotObserved; the caller
// counts them and reads on.
func (s *PcapSource) ReadObservation(o *Observation) error {
	data, ts, link, err := s.ReadPacket()
	if err != nil {
		return err
	}
	return Decoder{link: link, set: true}.Decode(data, ts, o)
}

// Close closes the file opened by OpenPcap; for NewPcapSource it does nothing.
func (s *PcapSource) Close() error {
	if s.closer == nil {
		return nil
	}
	err := s.closer.Close()
	s.closer = nil
	return err
}

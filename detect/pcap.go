package detect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/portsense/portsense/internal/wire"
)

// maxSnap bounds the bytes read for one captured packet. Files that claim
// more are rejected packet by packet instead of allocating what they claim.
const maxSnap = 256 << 10

// PcapSource reads a pcap or pcapng capture. The format is detected from the
// file's magic number: classic pcap (microsecond or nanosecond, either byte
// order) and pcapng are both read by small readers of our own that bound
// every length they trust and never allocate per packet. gopacket's pcapgo
// is not used: importing it costs every program that imports detect the
// initialisation of gopacket/layers (466,944 bytes allocated and 4-45 ms
// at start-up, measured with GODEBUG=inittrace=1), and its pcapng reader
// panics on some malformed files.
type PcapSource struct {
	closer io.Closer
	pcap   *pcapReader
	ng     *ngReader
	link   LinkType
	pkt    wire.Header // decoded in place, packet after packet
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
		s.pcap, err = newPcapReader(br)
		if err != nil {
			return nil, err
		}
		s.link = s.pcap.link
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
	data, ts, err = s.pcap.next()
	return data, ts, s.link, err
}

// ReadObservation reads and decodes the next packet. Packets that do not
// decode return errors wrapping ErrMalformed or ErrNotObserved; the caller
// counts them and reads on.
func (s *PcapSource) ReadObservation(o *Observation) error {
	data, ts, link, err := s.ReadPacket()
	if err != nil {
		return err
	}
	return observeHeader(s.pkt.Decode(link, data), &s.pkt, ts, o)
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

// pcapReader reads classic pcap records (libpcap's format: a 24-byte file
// header, then a 16-byte header per record) into one reused buffer.
type pcapReader struct {
	r     *bufio.Reader
	order binary.ByteOrder
	nano  bool
	link  LinkType
	hdr   [16]byte
	buf   []byte
}

func newPcapReader(r *bufio.Reader) (*pcapReader, error) {
	var h [24]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, fmt.Errorf("detect: reading pcap header: %w", truncated(err))
	}
	p := &pcapReader{r: r}
	switch binary.LittleEndian.Uint32(h[:4]) {
	case 0xa1b2c3d4:
		p.order = binary.LittleEndian
	case 0xd4c3b2a1:
		p.order = binary.BigEndian
	case 0xa1b23c4d:
		p.order, p.nano = binary.LittleEndian, true
	case 0x4d3cb2a1:
		p.order, p.nano = binary.BigEndian, true
	}
	if major := p.order.Uint16(h[4:]); major != 2 {
		return nil, fmt.Errorf("detect: pcap version %d.%d not supported", major, p.order.Uint16(h[6:]))
	}
	// The link type is the low 16 bits; the high bits may carry the FCS
	// length (LINKTYPE_FCS), which the decoder does not need.
	p.link = LinkType(p.order.Uint32(h[20:]) & 0xffff)
	if !p.link.Supported() {
		return nil, fmt.Errorf("detect: pcap link type %d not supported", uint16(p.link))
	}
	return p, nil
}

// next returns the next record's bytes (valid until the next call) and
// timestamp; io.EOF at a clean end, io.ErrUnexpectedEOF inside a record.
func (p *pcapReader) next() ([]byte, time.Time, error) {
	if _, err := io.ReadFull(p.r, p.hdr[:]); err != nil {
		return nil, time.Time{}, err // io.EOF, or io.ErrUnexpectedEOF mid-header
	}
	sec := int64(p.order.Uint32(p.hdr[0:]))
	frac := int64(p.order.Uint32(p.hdr[4:]))
	n := p.order.Uint32(p.hdr[8:])
	if n > maxSnap {
		return nil, time.Time{}, fmt.Errorf("detect: pcap record of %d bytes exceeds %d", n, maxSnap)
	}
	if !p.nano {
		frac *= 1000
	}
	if cap(p.buf) < int(n) {
		p.buf = make([]byte, max(int(n), 2048))
	}
	b := p.buf[:n]
	if _, err := io.ReadFull(p.r, b); err != nil {
		return nil, time.Time{}, truncated(err)
	}
	return b, time.Unix(sec, frac), nil
}

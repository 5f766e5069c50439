package detect

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"time"
)

// pcapng block types.
const (
	ngSectionHeader = 0x0a0d0d0a
	ngInterface     = 0x00000001
	ngPacketObs     = 0x00000002 // obsolete Packet Block
	ngSimplePacket  = 0x00000003
	ngEnhanced      = 0x00000006
	ngByteOrder     = 0x1a2b3c4d

	ngMaxBlock      = maxSnap + 64<<10
	ngMaxInterfaces = 1 << 10
)

// ngInterfaceInfo is what packets need from an Interface Description Block.
type ngInterfaceInfo struct {
	link    LinkType
	snap    uint32
	binary  bool  // resolution is 2^-exp, else 10^-exp
	exp     uint8 // resolution exponent
	offsetS int64 // if_tsoffset, seconds
}

// ngReader reads pcapng packet blocks. It validates every length before
// using it and bounds every allocation by ngMaxBlock.
type ngReader struct {
	r         *bufio.Reader
	order     binary.ByteOrder
	ifaces    []ngInterfaceInfo
	buf       []byte
	hdr       [12]byte
	firstLink LinkType
}

func newNgReader(r *bufio.Reader) (*ngReader, error) {
	ng := &ngReader{r: r}
	if err := ng.readSection(); err != nil {
		return nil, err
	}
	// The link type of the first interface, if it comes before any packet.
	if b, err := r.Peek(8); err == nil && ng.order.Uint32(b[:4]) == ngInterface {
		if _, _, _, err := ng.readBlock(); err != nil {
			return nil, err
		}
	}
	if len(ng.ifaces) > 0 {
		ng.firstLink = ng.ifaces[0].link
	}
	return ng, nil
}

func ngErr(format string, args ...any) error {
	return fmt.Errorf("detect: pcapng: "+format, args...)
}

// readSection reads a Section Header Block, which sets the byte order and
// starts a fresh interface list.
func (ng *ngReader) readSection() error {
	if _, err := io.ReadFull(ng.r, ng.hdr[:12]); err != nil {
		return truncated(err)
	}
	switch {
	case binary.LittleEndian.Uint32(ng.hdr[8:12]) == ngByteOrder:
		ng.order = binary.LittleEndian
	case binary.BigEndian.Uint32(ng.hdr[8:12]) == ngByteOrder:
		ng.order = binary.BigEndian
	default:
		return ngErr("section header byte-order magic %#x invalid", ng.hdr[8:12])
	}
	if ng.order.Uint32(ng.hdr[0:4]) != ngSectionHeader {
		return ngErr("first block is not a section header")
	}
	total := ng.order.Uint32(ng.hdr[4:8])
	if total < 28 {
		return ngErr("section header length %d below 28", total)
	}
	body, err := ng.readBody(total, 12)
	if err != nil {
		return err
	}
	if major := ng.order.Uint16(body[0:2]); major != 1 {
		return ngErr("section version %d not supported", major)
	}
	ng.ifaces = ng.ifaces[:0]
	return nil
}

// readBody reads the rest of a block whose total length is total and of
// which consumed bytes are already read, checks the trailing length copy,
// and returns the body without it.
func (ng *ngReader) readBody(total uint32, consumed int) ([]byte, error) {
	if total%4 != 0 {
		return nil, ngErr("block length %d not a multiple of 4", total)
	}
	if total > ngMaxBlock {
		return nil, ngErr("block length %d above limit %d", total, ngMaxBlock)
	}
	n := int(total) - consumed
	if n < 4 {
		return nil, ngErr("block length %d too short", total)
	}
	if cap(ng.buf) < n {
		ng.buf = make([]byte, n)
	}
	b := ng.buf[:n]
	if _, err := io.ReadFull(ng.r, b); err != nil {
		return nil, truncated(err)
	}
	if trail := ng.order.Uint32(b[n-4:]); trail != total {
		return nil, ngErr("block trailer length %d differs from header %d", trail, total)
	}
	return b[:n-4], nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// next returns the next packet.
func (ng *ngReader) next() ([]byte, time.Time, LinkType, error) {
	for {
		data, ts, link, err := ng.readBlock()
		if err != nil || data != nil {
			return data, ts, link, err
		}
	}
}

// readBlock reads one block; for packet blocks it returns the packet.
// Clean EOF between blocks is io.EOF.
func (ng *ngReader) readBlock() ([]byte, time.Time, LinkType, error) {
	b, err := ng.r.Peek(8)
	if err != nil {
		if errors.Is(err, io.EOF) && len(b) == 0 {
			return nil, time.Time{}, 0, io.EOF
		}
		return nil, time.Time{}, 0, truncated(err)
	}
	if binary.LittleEndian.Uint32(b[:4]) == ngSectionHeader {
		return nil, time.Time{}, 0, ng.readSection()
	}
	typ, total := ng.order.Uint32(b[0:4]), ng.order.Uint32(b[4:8])
	if _, err := ng.r.Discard(8); err != nil {
		return nil, time.Time{}, 0, truncated(err)
	}
	body, err := ng.readBody(total, 8)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	switch typ {
	case ngInterface:
		return nil, time.Time{}, 0, ng.readInterface(body)
	case ngEnhanced:
		if len(body) < 20 {
			return nil, time.Time{}, 0, ngErr("enhanced packet block too short")
		}
		id := ng.order.Uint32(body[0:4])
		ts := uint64(ng.order.Uint32(body[4:8]))<<32 | uint64(ng.order.Uint32(body[8:12]))
		return ng.packet(id, ts, ng.order.Uint32(body[12:16]), body[20:])
	case ngPacketObs:
		if len(body) < 20 {
			return nil, time.Time{}, 0, ngErr("packet block too short")
		}
		id := uint32(ng.order.Uint16(body[0:2]))
		ts := uint64(ng.order.Uint32(body[4:8]))<<32 | uint64(ng.order.Uint32(body[8:12]))
		return ng.packet(id, ts, ng.order.Uint32(body[12:16]), body[20:])
	case ngSimplePacket:
		if len(body) < 4 {
			return nil, time.Time{}, 0, ngErr("simple packet block too short")
		}
		if len(ng.ifaces) == 0 {
			return nil, time.Time{}, 0, ngErr("simple packet before any interface")
		}
		caplen := ng.order.Uint32(body[0:4])
		if s := ng.ifaces[0].snap; s != 0 && caplen > s {
			caplen = s
		}
		if int64(caplen) > int64(len(body)-4) {
			caplen = uint32(len(body) - 4)
		}
		// Simple packets carry no timestamp.
		return body[4 : 4+caplen], time.Time{}, ng.ifaces[0].link, nil
	}
	return nil, time.Time{}, 0, nil // other blocks are skipped
}

func (ng *ngReader) packet(id uint32, ts uint64, caplen uint32, data []byte) ([]byte, time.Time, LinkType, error) {
	if int64(id) >= int64(len(ng.ifaces)) {
		return nil, time.Time{}, 0, ngErr("packet names interface %d of %d", id, len(ng.ifaces))
	}
	if int64(caplen) > int64(len(data)) {
		return nil, time.Time{}, 0, ngErr("captured length %d exceeds block", caplen)
	}
	ifc := &ng.ifaces[id]
	t, err := ifc.time(ts)
	if err != nil {
		return nil, time.Time{}, 0, err
	}
	return data[:caplen:caplen], t, ifc.link, nil
}

// time converts a timestamp in the interface's resolution.
func (ifc *ngInterfaceInfo) time(ts uint64) (time.Time, error) {
	var sec, nsec uint64
	switch {
	case ifc.binary && ifc.exp < 64:
		sec = ts >> ifc.exp
		frac := ts & (1<<ifc.exp - 1)
		hi, lo := bits.Mul64(frac, 1e9)
		nsec = lo>>ifc.exp | hi<<(64-ifc.exp)
		if ifc.exp == 0 {
			nsec = 0
		}
	case !ifc.binary && ifc.exp <= 9:
		p := pow10(9 - ifc.exp)
		sec, nsec = ts/(1e9/p), ts%(1e9/p)*p
	case !ifc.binary && ifc.exp <= 19:
		p := pow10(ifc.exp)
		sec, nsec = ts/p, ts%p/pow10(ifc.exp-9)
	default:
		return time.Time{}, ngErr("timestamp resolution exponent %d not supported", ifc.exp)
	}
	if sec > 1<<62 {
		return time.Time{}, ngErr("timestamp %d out of range", ts)
	}
	return time.Unix(int64(sec)+ifc.offsetS, int64(nsec)).UTC(), nil
}

func pow10(n uint8) uint64 {
	p := uint64(1)
	for range n {
		p *= 10
	}
	return p
}

// readInterface parses an Interface Description Block body.
func (ng *ngReader) readInterface(body []byte) error {
	if len(body) < 8 {
		return ngErr("interface block too short")
	}
	if len(ng.ifaces) >= ngMaxInterfaces {
		return ngErr("more than %d interfaces", ngMaxInterfaces)
	}
	ifc := ngInterfaceInfo{
		link: LinkType(ng.order.Uint16(body[0:2])),
		snap: ng.order.Uint32(body[4:8]),
		exp:  6,
	}
	opts := body[8:]
	for len(opts) >= 4 {
		code, l := ng.order.Uint16(opts[0:2]), int(ng.order.Uint16(opts[2:4]))
		opts = opts[4:]
		if code == 0 {
			break
		}
		if l > len(opts) {
			return ngErr("interface option %d length %d exceeds block", code, l)
		}
		v := opts[:l]
		switch {
		case code == 9 && l >= 1: // if_tsresol
			ifc.binary, ifc.exp = v[0]&0x80 != 0, v[0]&0x7f
		case code == 14 && l >= 8: // if_tsoffset
			off := int64(ng.order.Uint64(v[:8]))
			if off > 1<<40 || off < -(1<<40) {
				return ngErr("interface timestamp offset %d out of range", off)
			}
			ifc.offsetS = off
		}
		pad := (l + 3) &^ 3
		if pad > len(opts) {
			pad = len(opts)
		}
		opts = opts[pad:]
	}
	ng.ifaces = append(ng.ifaces, ifc)
	return nil
}

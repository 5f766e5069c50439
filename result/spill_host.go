package result

import (
	"cmp"
	"encoding/binary"
	"net"
	"net/netip"
	"slices"
	"time"
)

// Host verdicts spill like port verdicts: a buffering writer keeps at most
// hostSpillChunk of them in memory, then writes them, sorted by address and
// arrival, as a run of the collector's host spill file. Close merges the
// runs and folds every verdict of one address in the order they came
// (foldHost), the same fold whether they stayed in memory or not.
//
// Each record is fixed size. The rare parts that are not (warnings, a
// MAC longer than 8 bytes) stay in memory in a side table the record
// points into; zones are interned (one per interface).
const (
	hostSpillChunk = 1 << 13 // host verdicts in memory before a run is written
	hrecSize       = 64      // bytes of an encoded host record
)

// hrec is one host verdict in the collector's compact form, ordered by
// address (as netip.Addr.Compare, zone included) then arrival (seq).
type hrec struct {
	hi, lo uint64
	seq    uint64 // arrival order within the collector
	rtt    int64
	unix   int64  // Time as Unix nanoseconds; 0 when unset
	extra  uint32 // 1 + index into collector.hextra; 0 when none
	zone   uint16 // 1 + index into collector.zones; 0 when none
	state  HostState
	reason Reason
	ttl    uint8
	is4    bool
	macLen uint8
	mac    [8]byte
}

// hostExtra holds what does not fit an hrec.
type hostExtra struct {
	warnings []string
	mac      net.HardwareAddr // when longer than 8 bytes
}

func (x *hrec) encode(b []byte) {
	binary.LittleEndian.PutUint64(b[0:], x.hi)
	binary.LittleEndian.PutUint64(b[8:], x.lo)
	binary.LittleEndian.PutUint64(b[16:], x.seq)
	binary.LittleEndian.PutUint64(b[24:], uint64(x.rtt))
	binary.LittleEndian.PutUint64(b[32:], uint64(x.unix))
	binary.LittleEndian.PutUint32(b[40:], x.extra)
	binary.LittleEndian.PutUint16(b[44:], x.zone)
	b[46], b[47], b[48] = byte(x.state), byte(x.reason), x.ttl
	b[49] = 0
	if x.is4 {
		b[49] = 1
	}
	b[50] = x.macLen
	copy(b[51:59], x.mac[:])
	clear(b[59:hrecSize])
}

func (x *hrec) decode(b []byte) {
	x.hi = binary.LittleEndian.Uint64(b[0:])
	x.lo = binary.LittleEndian.Uint64(b[8:])
	x.seq = binary.LittleEndian.Uint64(b[16:])
	x.rtt = int64(binary.LittleEndian.Uint64(b[24:]))
	x.unix = int64(binary.LittleEndian.Uint64(b[32:]))
	x.extra = binary.LittleEndian.Uint32(b[40:])
	x.zone = binary.LittleEndian.Uint16(b[44:])
	x.state, x.reason, x.ttl = HostState(b[46]), Reason(b[47]), b[48]
	x.is4 = b[49] == 1
	x.macLen = b[50]
	copy(x.mac[:], b[51:59])
}

// hostCodec returns the codec of c's host records: their order needs c's
// zone names.
func (c *collector) hostCodec() *codec[hrec] {
	if c.hcodec == nil {
		c.hcodec = &codec[hrec]{size: hrecSize, enc: (*hrec).encode, dec: (*hrec).decode, cmp: c.cmpHost}
	}
	return c.hcodec
}

// sortHosts sorts the buffered host verdicts in cmpHost's order.
func (c *collector) sortHosts() {
	slices.SortFunc(c.hrecs, func(x, y hrec) int { return c.cmpHost(&x, &y) })
}

// cmpHost orders host records by address as netip.Addr.Compare does,
// then by arrival.
func (c *collector) cmpHost(x, y *hrec) int {
	if d := cmpAddrBits(x.is4, x.hi, x.lo, y.is4, y.hi, y.lo); d != 0 {
		return d
	}
	if x.zone != y.zone {
		if d := cmp.Compare(c.zoneName(x.zone), c.zoneName(y.zone)); d != 0 {
			return d
		}
	}
	return cmp.Compare(x.seq, y.seq)
}

func (c *collector) zoneName(i uint16) string {
	if i == 0 {
		return ""
	}
	return c.zones[i-1]
}

// hrecOf encodes h, keeping its odd parts in c's side tables.
func (c *collector) hrecOf(h *Host) hrec {
	a := h.Addr
	x := hrec{seq: c.hseq, rtt: int64(h.RTT), state: h.State, reason: h.Reason, ttl: h.ReplyTTL}
	x.hi, x.lo, x.is4 = addrBits(a)
	c.hseq++
	if !h.Time.IsZero() {
		x.unix = h.Time.UnixNano()
	}
	if z := a.Zone(); z != "" {
		i := slices.Index(c.zones, z)
		if i < 0 {
			c.zones = append(c.zones, z)
			i = len(c.zones) - 1
		}
		x.zone = uint16(i + 1)
	}
	var ex hostExtra
	if len(h.MAC) <= len(x.mac) {
		x.macLen = uint8(copy(x.mac[:], h.MAC))
	} else {
		ex.mac = slices.Clone(h.MAC)
	}
	if len(h.Warnings) > 0 {
		ex.warnings = slices.Clone(h.Warnings)
	}
	if ex.mac != nil || ex.warnings != nil {
		c.hextra = append(c.hextra, ex)
		x.extra = uint32(len(c.hextra))
	}
	return x
}

// host decodes x.
func (c *collector) host(x *hrec) Host {
	h := Host{Addr: c.hostAddr(x), State: x.state, Reason: x.reason, ReplyTTL: x.ttl, RTT: time.Duration(x.rtt)}
	if x.unix != 0 {
		h.Time = time.Unix(0, x.unix)
	}
	if x.macLen > 0 {
		h.MAC = net.HardwareAddr(slices.Clone(x.mac[:x.macLen]))
	}
	if x.extra != 0 {
		ex := &c.hextra[x.extra-1]
		if ex.mac != nil {
			h.MAC = ex.mac
		}
		h.Warnings = ex.warnings
	}
	return h
}

// hostAddr decodes x's address.
func (c *collector) hostAddr(x *hrec) netip.Addr {
	a := bitsAddr(x.hi, x.lo, x.is4)
	if x.zone != 0 {
		a = a.WithZone(c.zoneName(x.zone))
	}
	return a
}

func (x *hrec) sameAddr(y *hrec) bool {
	return x.is4 == y.is4 && x.hi == y.hi && x.lo == y.lo && x.zone == y.zone
}

// foldHost merges the next verdict h on a host into acc (has: acc holds
// one already), in arrival order: the more informative verdict
// (Host.MoreInformative) wins, keeping the union of both warnings and the
// other's MAC when it has none.
func foldHost(acc *Host, has bool, h Host) {
	if !has {
		h.Warnings = slices.Clone(h.Warnings) // later merges append to it
		*acc = h
		return
	}
	if h.MoreInformative(*acc) {
		h.Warnings = unionStrings(slices.Clone(h.Warnings), acc.Warnings)
		if len(h.MAC) == 0 {
			h.MAC = acc.MAC
		}
		*acc = h
		return
	}
	acc.Warnings = unionStrings(acc.Warnings, h.Warnings)
	if len(acc.MAC) == 0 {
		acc.MAC = h.MAC
	}
}

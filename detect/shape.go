package detect

// shapeState keeps distinct counts and probe techniques of one source.
type shapeState struct {
	hosts, ports, failed hll
	types                [ScanUDP + 1]uint16
	synRST               uint16 // SYN-ACKs answered with RST: half-open scanning
	// Source-port habits of TCP SYN contacts: a kernel's connect() takes
	// a fresh ephemeral port every time, raw SYN scanners mostly reuse.
	lastSport           uint16
	sportNew, sportSame uint16
}

// shape classifies the geometry: one host (or far more ports than hosts)
// → vertical, one port (or far more hosts than ports) → horizontal, else
// block. Early in a scan the counts are small; a block scan seen after
// four probes may touch three hosts and two ports, which is still block.
func (s *shapeState) shape() Shape {
	h, p := s.hosts.estimate(), s.ports.estimate()
	switch {
	case h <= 1 && p <= 1:
		return ShapeUnknown
	case h <= 1 || p >= 4*h:
		return ShapeVertical
	case p <= 1 || h >= 4*p:
		return ShapeHorizontal
	}
	return ShapeBlock
}

// scanType names the dominant technique. Failed TCP contacts of a SYN and
// of a connect scan look alike; completed handshakes without half-open
// resets mark a connect scan, and before any open port answers, a fresh
// source port for every probe (as connect() takes) suggests one.
func (s *shapeState) scanType() ScanType {
	if s.types[ScanConnect] > 0 && s.synRST == 0 {
		return ScanConnect
	}
	if s.synRST == 0 && s.types[ScanSYN] >= 3 && s.sportNew >= 3 && s.sportSame == 0 &&
		2*int(s.types[ScanSYN]) > int(s.types[ScanFIN])+int(s.types[ScanNULL])+int(s.types[ScanXmas])+int(s.types[ScanACK])+int(s.types[ScanUDP]) {
		return ScanConnect
	}
	best, bn := ScanTypeUnknown, uint16(0)
	for t := ScanSYN; t <= ScanUDP; t++ {
		if t == ScanConnect {
			continue
		}
		if s.types[t] > bn {
			best, bn = t, s.types[t]
		}
	}
	if best == ScanTypeUnknown && s.types[ScanConnect] > 0 {
		return ScanSYN
	}
	return best
}

func (e *engine) shapeAdd(s *srcState, c *Contact) {
	hd := e.hash.addr(c.Dst)
	s.shape.hosts.add(hd)
	s.shape.ports.add(uint64(c.DstPort)<<8 | uint64(c.Proto))
	if c.Outcome.Failed() {
		s.shape.failed.add(hd ^ mix64(uint64(c.DstPort)<<8|uint64(c.Proto)))
	}
	if c.Type <= ScanUDP && s.shape.types[c.Type] < 0xffff {
		s.shape.types[c.Type]++
	}
	if c.FollowUp == FollowRST && s.shape.synRST < 0xffff {
		s.shape.synRST++
	}
	if c.Type == ScanSYN || c.Type == ScanConnect {
		switch {
		case s.shape.sportNew+s.shape.sportSame == 0xffff:
		case c.SrcPort == s.shape.lastSport:
			s.shape.sportSame++
		default:
			s.shape.sportNew++
		}
		s.shape.lastSport = c.SrcPort
	}
}

package result

import (
	"bufio"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/portsense/portsense/target"
)

// XMLWriter writes nmap's XML output format (-oX), valid against nmap's
// nmap.dtd and readable by ndiff and other nmap tooling. It buffers the
// whole run, because ports arrive in any order, and writes the document
// on Close: hosts by address, ports by protocol then number, with states
// above ExtraPortsThreshold summarised in <extraports>. Its memory stays
// bounded whatever the size of the scan: past some ten thousand port
// verdicts it keeps them, sorted, in an unlinked temporary file (about 40
// bytes each) and merges them on Close.
//
// The DTD fixes the scanner attribute to "nmap"; RunInfo.Scanner appears
// in the opening comment. Ports of protocols the DTD has no name for
// (anything but tcp, udp and sctp) are left out. A host that never got a
// host verdict is reported up with reason "user-set", as nmap -Pn does.
type XMLWriter struct {
	c    collector
	w    io.Writer
	info RunInfo
}

var _ Writer = (*XMLWriter)(nil)

// NewXMLWriter returns a Writer of nmap XML to w, described by info.
func NewXMLWriter(w io.Writer, info RunInfo) *XMLWriter {
	return &XMLWriter{w: w, info: info}
}

// WriteResult buffers r.
func (x *XMLWriter) WriteResult(r Result) error { return x.c.addResult(r) }

// WriteHost buffers h. A second verdict on the same host replaces the
// first when it is more informative (Host.MoreInformative).
func (x *XMLWriter) WriteHost(h Host) error { return x.c.addHost(h) }

// Close writes the document. Only the first call writes.
func (x *XMLWriter) Close() error {
	if !x.c.close() {
		return nil
	}
	return writeReports(&x.c, &xmlReport{w: x.w, info: x.info})
}

// xmlReport renders the XML document from a collector's summary.
type xmlReport struct {
	w    io.Writer
	info RunInfo
	bw   *bufio.Writer
	b    []byte
	r    run
}

func (x *xmlReport) begin(s *summary, now time.Time) {
	r := resolveRun(x.info, s, now)
	x.r = r
	x.bw = bufio.NewWriter(x.w)
	var b []byte
	b = append(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE nmaprun>\n"+
		"<?xml-stylesheet href=\"file:///usr/bin/../share/nmap/nmap.xsl\" type=\"text/xsl\"?>\n"...)
	b = append(b, "<!-- "...)
	b = append(b, xmlComment(r.Scanner+" "+r.Version+" scan initiated "+ctime(r.Start)+" as: "+r.Args)...)
	b = append(b, " -->\n<nmaprun scanner=\"nmap\""...)
	b = xmlAttr(b, "args", r.Args)
	b = xmlAttr(b, "start", strconv.FormatInt(r.Start.Unix(), 10))
	b = xmlAttr(b, "startstr", ctime(r.Start))
	b = xmlAttr(b, "version", r.Version)
	b = append(b, " xmloutputversion=\"1.05\">\n"...)
	for _, sc := range r.scannedPorts(s) {
		b = append(b, "<scaninfo"...)
		b = xmlAttr(b, "type", sc.typ)
		b = xmlAttr(b, "protocol", xmlProto(sc.proto))
		b = xmlAttr(b, "numservices", strconv.Itoa(sc.count))
		b = xmlAttr(b, "services", sc.services)
		b = append(b, "/>\n"...)
	}
	x.b = append(b, "<verbose level=\"0\"/>\n<debugging level=\"0\"/>\n"...)
}

func (x *xmlReport) host(v *hostView) {
	x.b = appendXMLHost(x.b, v)
	if len(x.b) > 32<<10 {
		x.bw.Write(x.b)
		x.b = x.b[:0]
	}
}

func (x *xmlReport) end(s *summary) error {
	r, b := &x.r, x.b
	b = append(b, "<runstats><finished"...)
	b = xmlAttr(b, "time", strconv.FormatInt(r.End.Unix(), 10))
	b = xmlAttr(b, "timestr", ctime(r.End))
	b = xmlAttr(b, "summary", "Nmap done at "+ctime(r.End)+"; "+r.summaryLine(s))
	b = xmlAttr(b, "elapsed", strconv.FormatFloat(r.elapsed, 'f', 2, 64))
	b = append(b, " exit=\"success\"/><hosts"...)
	b = xmlAttr(b, "up", strconv.Itoa(s.up))
	b = xmlAttr(b, "down", strconv.Itoa(s.down))
	b = xmlAttr(b, "total", strconv.Itoa(s.total))
	b = append(b, "/>\n</runstats>\n</nmaprun>\n"...)
	x.bw.Write(b)
	return x.bw.Flush() // bufio keeps the first write error
}

func appendXMLHost(b []byte, v *hostView) []byte {
	b = append(b, "<host"...)
	if !v.start.IsZero() {
		b = xmlAttr(b, "starttime", strconv.FormatInt(v.start.Unix(), 10))
		b = xmlAttr(b, "endtime", strconv.FormatInt(v.end.Unix(), 10))
	}
	b = append(b, "><status"...)
	b = xmlAttr(b, "state", v.host.State.String())
	b = xmlAttr(b, "reason", v.host.Reason.String())
	b = xmlAttr(b, "reason_ttl", strconv.Itoa(int(v.host.ReplyTTL)))
	b = append(b, "/>\n<address"...)
	b = xmlAttr(b, "addr", v.host.Addr.String())
	b = xmlAttr(b, "addrtype", addrType(v.host.Addr))
	if len(v.host.MAC) > 0 {
		b = append(b, "/>\n<address"...)
		b = xmlAttr(b, "addr", strings.ToUpper(v.host.MAC.String()))
		b = xmlAttr(b, "addrtype", "mac")
	}
	b = append(b, "/>\n<hostnames>\n</hostnames>\n"...)
	if len(v.shown)+len(v.extra) > 0 {
		b = append(b, "<ports>"...)
		for _, g := range v.extra {
			n := 0
			for _, r := range g.reasons {
				if xmlProto(r.proto) != "" {
					n += len(r.ports)
				}
			}
			if n == 0 {
				continue
			}
			b = append(b, "<extraports"...)
			b = xmlAttr(b, "state", g.state.String())
			b = xmlAttr(b, "count", strconv.Itoa(n))
			b = append(b, ">\n"...)
			for _, r := range g.reasons {
				if xmlProto(r.proto) == "" {
					continue
				}
				b = append(b, "<extrareasons"...)
				b = xmlAttr(b, "reason", r.reason.String())
				b = xmlAttr(b, "count", strconv.Itoa(len(r.ports)))
				b = xmlAttr(b, "proto", xmlProto(r.proto))
				b = xmlAttr(b, "ports", string(appendRanges(nil, r.ports)))
				b = append(b, "/>\n"...)
			}
			b = append(b, "</extraports>\n"...)
		}
		for i := range v.shown {
			b = appendXMLPort(b, &v.shown[i])
		}
		b = append(b, "</ports>\n"...)
	}
	for _, w := range v.host.Warnings {
		// The DTD has no element for notes; a comment keeps them visible.
		b = append(b, "<!-- warning: "...)
		b = append(b, xmlComment(w)...)
		b = append(b, " -->\n"...)
	}
	if v.hasRTT {
		us := func(d time.Duration) string { return strconv.FormatInt(d.Microseconds(), 10) }
		to := max(v.srtt+4*v.rttvar, 100*time.Millisecond)
		b = append(b, "<times"...)
		b = xmlAttr(b, "srtt", us(v.srtt))
		b = xmlAttr(b, "rttvar", us(v.rttvar))
		b = xmlAttr(b, "to", us(to))
		b = append(b, "/>\n"...)
	}
	return append(b, "</host>\n"...)
}

func appendXMLPort(b []byte, e *portEntry) []byte {
	proto := xmlProto(e.proto)
	if proto == "" {
		return b
	}
	b = append(b, "<port"...)
	b = xmlAttr(b, "protocol", proto)
	b = xmlAttr(b, "portid", strconv.Itoa(int(e.num)))
	b = append(b, "><state"...)
	b = xmlAttr(b, "state", e.state.String())
	b = xmlAttr(b, "reason", e.reason.String())
	b = xmlAttr(b, "reason_ttl", strconv.Itoa(int(e.ttl)))
	b = append(b, "/>"...)
	if s := e.svc; s != nil {
		name := s.Name
		if name == "" {
			name = serviceName(e)
		}
		method := "table"
		if s.Method == "probed" {
			method = "probed"
		}
		b = append(b, "<service"...)
		b = xmlAttr(b, "name", name)
		b = xmlOptAttr(b, "product", s.Product)
		b = xmlOptAttr(b, "version", s.Version)
		b = xmlOptAttr(b, "extrainfo", s.ExtraInfo)
		if s.Tunnel == "ssl" {
			b = xmlAttr(b, "tunnel", "ssl")
		}
		b = xmlAttr(b, "method", method)
		b = xmlAttr(b, "conf", strconv.Itoa(min(max(s.Conf, 0), 10)))
		b = xmlOptAttr(b, "servicefp", s.Fingerprint)
		if len(s.CPE) == 0 {
			b = append(b, "/>"...)
		} else {
			b = append(b, '>')
			for _, c := range s.CPE {
				b = append(b, "<cpe>"...)
				b = xmlEscape(b, c)
				b = append(b, "</cpe>"...)
			}
			b = append(b, "</service>"...)
		}
		if t := s.TLS; t != nil {
			// nmap.dtd has no element for TLS details; nmap shows them as
			// the ssl-cert script's output, and so do we.
			b = append(b, "<script id=\"ssl-cert\""...)
			b = xmlAttr(b, "output", tlsText(t))
			b = append(b, "/>"...)
		}
	} else if name := tableName(e.port()); name != "" {
		b = append(b, "<service"...)
		b = xmlAttr(b, "name", name)
		b = append(b, " method=\"table\" conf=\"3\"/>"...)
	}
	return append(b, "</port>\n"...)
}

// tlsText describes a TLS session in one line for XML and text output.
func tlsText(t *TLSInfo) string {
	var sb strings.Builder
	sb.WriteString(t.Version + " " + t.Cipher)
	if t.ALPN != "" {
		sb.WriteString("; ALPN " + t.ALPN)
	}
	if t.Subject != "" {
		sb.WriteString("; Subject: " + t.Subject)
	}
	if len(t.SANs) > 0 {
		sb.WriteString("; SANs: " + strings.Join(t.SANs, ", "))
	}
	if t.Issuer != "" {
		sb.WriteString("; Issuer: " + t.Issuer)
	}
	if !t.NotAfter.IsZero() {
		sb.WriteString("; Not valid after: " + t.NotAfter.UTC().Format(time.RFC3339))
	}
	return sb.String()
}

// xmlProto is nmap.dtd's name for p, or "" when the DTD has none.
func xmlProto(p target.Protocol) string {
	switch p {
	case target.TCP:
		return "tcp"
	case target.UDP:
		return "udp"
	case 132:
		return "sctp"
	}
	return ""
}

func xmlOptAttr(b []byte, name, val string) []byte {
	if val == "" {
		return b
	}
	return xmlAttr(b, name, val)
}

func xmlAttr(b []byte, name, val string) []byte {
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, '=', '"')
	b = xmlEscape(b, val)
	return append(b, '"')
}

// xmlEscape writes s as attribute or element text. Characters XML 1.0
// forbids, and invalid UTF-8, become U+FFFD.
func xmlEscape(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '&':
			b = append(b, "&amp;"...)
		case r == '<':
			b = append(b, "&lt;"...)
		case r == '>':
			b = append(b, "&gt;"...)
		case r == '"':
			b = append(b, "&quot;"...)
		case r == '\t':
			b = append(b, "&#9;"...)
		case r == '\n':
			b = append(b, "&#10;"...)
		case r == '\r':
			b = append(b, "&#13;"...)
		case r < 0x20 || (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF:
			b = utf8.AppendRune(b, utf8.RuneError)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return b
}

// xmlComment makes s safe inside <!-- -->: no "--", no trailing "-",
// only characters XML allows.
func xmlComment(s string) string {
	s = string(xmlEscapeComment(nil, oneLine(s)))
	for strings.Contains(s, "--") {
		s = strings.ReplaceAll(s, "--", "- -")
	}
	if strings.HasSuffix(s, "-") {
		s += " "
	}
	return s
}

func xmlEscapeComment(b []byte, s string) []byte {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		if (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r == utf8.RuneError && size == 1) || r == 0xFFFE || r == 0xFFFF {
			r = utf8.RuneError
		}
		b = utf8.AppendRune(b, r)
	}
	return b
}

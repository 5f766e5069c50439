//go:build benchcompare && linux

package bench

import (
	"bufio"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
)

// key names one verdict: a port of a host, or the host itself (port 0,
// state "up" or "down") for ping sweeps.
type key struct {
	addr netip.Addr
	port uint16
}

// observed is what one run of a tool reported.
type observed struct {
	states   map[key]string
	services map[key]string // service names, where the tool gave one
}

func newObserved() *observed {
	return &observed{states: map[key]string{}, services: map[key]string{}}
}

// parseJSONL reads portsense's JSON Lines (schema in result/doc.go).
func parseJSONL(path string, _ uint16) (*observed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := newObserved()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		var rec struct {
			Type    string `json:"type"`
			Addr    string `json:"addr"`
			Port    uint16 `json:"port"`
			State   string `json:"state"`
			Service *struct {
				Name string `json:"name"`
			} `json:"service"`
		}
		if err := json.Unmarshal(line, &rec); err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, n, err)
		}
		a, err := netip.ParseAddr(rec.Addr)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", path, n, err)
		}
		k := key{a.Unmap(), rec.Port}
		if rec.Type == "host" {
			k.port = 0
		}
		o.states[k] = rec.State
		if rec.Service != nil && rec.Service.Name != "" {
			o.services[k] = rec.Service.Name
		}
	}
	return o, sc.Err()
}

// nmapRun is the part of nmap's XML the benchmark reads.
type nmapRun struct {
	Hosts []struct {
		Status struct {
			State string `xml:"state,attr"`
		} `xml:"status"`
		Addresses []struct {
			Addr     string `xml:"addr,attr"`
			AddrType string `xml:"addrtype,attr"`
		} `xml:"address"`
		Ports struct {
			Extra []struct {
				State   string `xml:"state,attr"`
				Reasons []struct {
					Ports string `xml:"ports,attr"`
				} `xml:"extrareasons"`
			} `xml:"extraports"`
			Ports []struct {
				PortID uint16 `xml:"portid,attr"`
				State  struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
				Service struct {
					Name string `xml:"name,attr"`
				} `xml:"service"`
			} `xml:"port"`
		} `xml:"ports"`
	} `xml:"host"`
}

// parseNmapXML reads nmap's -oX output: listed ports, ports summarised in
// extraports (their extrareasons carry the port lists) and host states.
func parseNmapXML(path string, _ uint16) (*observed, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var run nmapRun
	if err := xml.Unmarshal(b, &run); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	o := newObserved()
	for _, h := range run.Hosts {
		var a netip.Addr
		for _, ad := range h.Addresses {
			if ad.AddrType == "ipv4" || ad.AddrType == "ipv6" {
				a, err = netip.ParseAddr(ad.Addr)
				if err != nil {
					return nil, fmt.Errorf("%s: %v", path, err)
				}
			}
		}
		if !a.IsValid() {
			continue
		}
		if h.Status.State != "" {
			o.states[key{a, 0}] = h.Status.State
		}
		for _, p := range h.Ports.Ports {
			k := key{a, p.PortID}
			o.states[k] = p.State.State
			if p.Service.Name != "" {
				o.services[k] = p.Service.Name
			}
		}
		for _, e := range h.Ports.Extra {
			for _, r := range e.Reasons {
				ports, err := parsePortList(r.Ports)
				if err != nil {
					return nil, fmt.Errorf("%s: extrareasons: %v", path, err)
				}
				for _, p := range ports {
					o.states[key{a, p}] = e.State
				}
			}
		}
	}
	return o, nil
}

// parsePortList reads "1-5,22,80-81".
func parsePortList(s string) ([]uint16, error) {
	var out []uint16
	for f := range strings.SplitSeq(s, ",") {
		if f == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(f, "-")
		l, err := strconv.ParseUint(lo, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("bad port %q", f)
		}
		h := l
		if isRange {
			if h, err = strconv.ParseUint(hi, 10, 16); err != nil || h < l {
				return nil, fmt.Errorf("bad port range %q", f)
			}
		}
		for p := l; p <= h; p++ {
			out = append(out, uint16(p))
		}
	}
	return out, nil
}

// parseMasscanList reads masscan's -oL output: "open tcp 80 198.19.0.1 1700000000";
// ICMP echo replies (--ping) are "open icmp 0 ADDR TIME" and mean the host is up.
func parseMasscanList(path string, _ uint16) (*observed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := newObserved()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 4 || strings.HasPrefix(fs[0], "#") {
			continue
		}
		a, err := netip.ParseAddr(fs[3])
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", path, sc.Text(), err)
		}
		if fs[1] == "icmp" {
			o.states[key{a, 0}] = "up"
			continue
		}
		p, err := strconv.ParseUint(fs[2], 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", path, sc.Text(), err)
		}
		o.states[key{a, uint16(p)}] = fs[0]
	}
	return o, sc.Err()
}

// parseZmapCSV reads zmap's csv output with the one field saddr: every
// line is a host that answered on port (open), or answered an echo request
// when port is 0 (up).
func parseZmapCSV(path string, port uint16) (*observed, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	o := newObserved()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || l == "saddr" {
			continue
		}
		a, err := netip.ParseAddr(strings.Split(l, ",")[0])
		if err != nil {
			return nil, fmt.Errorf("%s: %q: %v", path, l, err)
		}
		if port == 0 {
			o.states[key{a, 0}] = "up"
		} else {
			o.states[key{a, port}] = "open"
		}
	}
	return o, sc.Err()
}

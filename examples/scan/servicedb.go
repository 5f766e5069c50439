package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// serviceDB names ports from a services file given with --servicedb, in
// nmap's nmap-services format ("name port/proto frequency") or the
// /etc/services format ("name port/proto aliases..."). Where a port has
// several names, the most frequent wins (nmap's format), else the first.
//
// portsense ships its own small table (target.ServiceName); pointing
// --servicedb at the file of an nmap installation makes the outputs name
// ports exactly as nmap does, so that ndiff compares only what the scans
// found. The file is read at run time and never shipped.
type serviceDB struct {
	svc  map[target.Port]*result.Service
	freq map[target.Port]float64
}

// readServiceDB parses a services file. Lines it cannot read are errors
// naming the line, so that a wrong file is noticed.
func readServiceDB(r io.Reader) (*serviceDB, error) {
	db := &serviceDB{svc: map[target.Port]*result.Service{}, freq: map[target.Port]float64{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := sc.Text()
		if i := strings.IndexByte(text, '#'); i >= 0 {
			text = text[:i]
		}
		f := strings.Fields(text)
		if len(f) == 0 {
			continue
		}
		if len(f) < 2 {
			return nil, fmt.Errorf("line %d: %q: want NAME PORT/PROTO", line, sc.Text())
		}
		num, proto, ok := strings.Cut(f[1], "/")
		n, err := strconv.ParseUint(num, 10, 16)
		if !ok || err != nil || n == 0 {
			return nil, fmt.Errorf("line %d: bad port %q: want PORT/PROTO with PORT 1-65535", line, f[1])
		}
		var p target.Protocol
		switch proto {
		case "tcp":
			p = target.TCP
		case "udp":
			p = target.UDP
		default:
			continue // sctp and others: no scan of ours uses them
		}
		freq := -1.0 // /etc/services: no frequency, the first name wins
		if len(f) >= 3 {
			if v, err := strconv.ParseFloat(f[2], 64); err == nil && v >= 0 && v <= 1 {
				freq = v
			}
		}
		key := target.Port{Proto: p, Num: uint16(n)}
		if old, seen := db.freq[key]; seen && freq <= old {
			continue
		}
		db.freq[key] = freq
		db.svc[key] = &result.Service{Name: f[0], Method: "table", Conf: 3}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	db.freq = nil
	return db, nil
}

// loadServiceDB reads the --servicedb file.
func loadServiceDB(path string) (*serviceDB, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usagef("--servicedb: %v", err)
	}
	defer f.Close()
	db, err := readServiceDB(f)
	if err != nil {
		return nil, usagef("--servicedb %s: %v", path, err)
	}
	return db, nil
}

// name gives r the file's name for its port, unless r already names a
// service (version detection). The Service values are shared, read-only.
func (db *serviceDB) name(r result.Result) result.Result {
	if db == nil || r.Service != nil {
		return r
	}
	if s := db.svc[target.Port{Proto: r.Proto, Num: r.AddrPort.Port()}]; s != nil {
		r.Service = s
	}
	return r
}

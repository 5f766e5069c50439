package result

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/portsense/portsense/target"
)

var errNoAddr = errors.New("result: record without an address")

// tableName returns the port table's service name for p, or "".
func tableName(p target.Port) string {
	return target.ServiceName(p)
}

// serviceName is the name the human and greppable outputs show: the
// detected service, else the port table's guess, else "unknown".
func serviceName(e *portEntry) string {
	if e.svc != nil && e.svc.Name != "" {
		return e.svc.Name
	}
	if n := tableName(e.port()); n != "" {
		return n
	}
	return "unknown"
}

// versionText joins product, version and extra info as nmap prints them:
// "OpenSSH 9.2p1 (protocol 2.0)".
func versionText(s *Service) string {
	if s == nil {
		return ""
	}
	var parts []string
	if s.Product != "" {
		parts = append(parts, s.Product)
	}
	if s.Version != "" {
		parts = append(parts, s.Version)
	}
	if s.ExtraInfo != "" {
		parts = append(parts, "("+s.ExtraInfo+")")
	}
	return strings.Join(parts, " ")
}

func appendUint(b []byte, n uint64) []byte { return strconv.AppendUint(b, n, 10) }

// plural returns "1 host" or "2 hosts".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// ctime formats t as nmap's headers do: "Fri Nov 27 16:16:53 2026".
func ctime(t time.Time) string {
	return t.Format("Mon Jan _2 15:04:05 2006")
}

package udppayload

import (
	"os"
	"path/filepath"
	"testing"
)

// FuzzIdentify feeds arbitrary replies to every matcher of the default
// table: none may panic, and a reply that names a service must name the
// service of a payload registered for that port.
func FuzzIdentify(f *testing.F) {
	tab := Default()
	ports := tab.Ports()
	files, _ := filepath.Glob(filepath.Join("testdata", "replies", "*.bin"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint16(0), b)
	}
	for _, port := range ports {
		for _, p := range tab.Payloads(port) {
			f.Add(port, p.Data)
		}
	}
	f.Fuzz(func(t *testing.T, port uint16, reply []byte) {
		check := func(port uint16) {
			s, ok := tab.Identify(port, reply)
			if !ok {
				return
			}
			for _, p := range tab.Payloads(port) {
				if p.Service == s {
					return
				}
			}
			t.Fatalf("port %d: named %q, no payload for the port has that service", port, s)
		}
		check(port)
		for _, p := range ports {
			check(p)
		}
	})
}

// FuzzReadTLV checks the BER reader never reads past its input.
func FuzzReadTLV(f *testing.F) {
	f.Add(cldapRootDSE())
	f.Add(snmpGet(1))
	f.Add(kerberosASReq())
	f.Add([]byte{0x30, 0x84, 0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, c, rest, ok := readTLV(b)
		if !ok {
			return
		}
		if len(c)+len(rest) > len(b)-2 || tag != b[0] {
			t.Fatalf("readTLV(% x): contents %d rest %d", b, len(c), len(rest))
		}
	})
}

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/target"
)

func TestReadServiceDB(t *testing.T) {
	db, err := readServiceDB(strings.NewReader(`# nmap-services style
tcpmux	1/tcp	0.001995	# TCP Port Service Multiplexer
compressnet	2/tcp	0.000013
http	80/tcp	0.484143
www	80/tcp	0.000100
http-alt	8080/tcp	0.000001
http-proxy	8080/tcp	0.042317
snmp	161/udp	0.433467
sctp-only	9/sctp	0.1
# /etc/services style: the first name wins
ssh		22/tcp		# SSH Remote Login Protocol
secure-shell	22/tcp
`))
	require.NoError(t, err)
	name := func(proto target.Protocol, n uint16) string {
		s := db.svc[target.Port{Proto: proto, Num: n}]
		if s == nil {
			return ""
		}
		return s.Name
	}
	assert.Equal(t, "tcpmux", name(target.TCP, 1))
	assert.Equal(t, "http", name(target.TCP, 80))
	assert.Equal(t, "http-proxy", name(target.TCP, 8080), "the more frequent name wins")
	assert.Equal(t, "snmp", name(target.UDP, 161))
	assert.Equal(t, "ssh", name(target.TCP, 22), "without frequencies the first name wins")
	assert.Equal(t, "", name(target.TCP, 9))

	for _, bad := range []string{"http\n", "http 0/tcp\n", "http 70000/tcp\n", "http eighty/tcp\n", "http 80\n"} {
		_, err := readServiceDB(strings.NewReader(bad))
		assert.Error(t, err, "%q", bad)
		assert.Contains(t, err.Error(), "line 1", "%q", bad)
	}
}

func FuzzReadServiceDB(f *testing.F) {
	f.Add("http\t80/tcp\t0.48\t# web\n")
	f.Add("ssh 22/tcp\nsnmp 161/udp 0.4\n#x\n\n")
	f.Add("a 1/sctp\n")
	f.Fuzz(func(t *testing.T, s string) {
		db, err := readServiceDB(strings.NewReader(s))
		if err != nil {
			return
		}
		for p, svc := range db.svc {
			if p.Num == 0 || svc == nil || svc.Name == "" {
				t.Fatalf("bad entry %v %+v", p, svc)
			}
		}
	})
}

// TestNdiffAgainstNmap scans the same loopback ports with nmap and with
// scan --servicedb pointing at nmap's own services file: ndiff must find
// nothing but the two header lines (issue 10: service names, version,
// elapsed).
func TestNdiffAgainstNmap(t *testing.T) {
	nmap, err1 := exec.LookPath("nmap")
	ndiff, err2 := exec.LookPath("ndiff")
	const db = "/usr/share/nmap/nmap-services"
	_, err3 := os.Stat(db)
	if err1 != nil || err2 != nil || err3 != nil {
		t.Skip("needs nmap and ndiff (apt-get install nmap ndiff)")
	}
	open := openPorts(t, 3)
	// Well-known ports (closed or open alike for both scans) and closed
	// high ports, fewer of each state than nmap summarises.
	ports := portList(open, closedPorts(t, 3), []uint16{1, 7, 9, 13, 21, 22, 23, 25, 53, 80, 110, 111, 143, 443, 445, 993, 3306, 5432, 8080})
	dir := t.TempDir()
	theirs, ours := filepath.Join(dir, "nmap.xml"), filepath.Join(dir, "ours.xml")
	out, err := exec.CommandContext(t.Context(), nmap, "-sT", "-n", "-Pn", "-p", ports, "-oX", theirs, "127.0.0.1").CombinedOutput()
	require.NoError(t, err, "%s", out)
	code, _, stderr := runScan(t, t.Context(), "-sT", "-n", "-Pn", "--max-rate", "300", "-p", ports,
		"--servicedb", db, "-oX", ours, "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	out, _ = exec.CommandContext(t.Context(), ndiff, theirs, ours).CombinedOutput()
	var diff []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if strings.Contains(l, " scan initiated ") {
			continue // the command lines differ, and so do the programs
		}
		if strings.HasPrefix(l, "-") || strings.HasPrefix(l, "+") {
			diff = append(diff, l)
		}
	}
	assert.Empty(t, diff, "ndiff nmap ours:\n%s", out)

	b, err := os.ReadFile(ours)
	require.NoError(t, err)
	x := string(b)
	assert.NotContains(t, x, `version="0"`, "a version from the build information")
	assert.NotContains(t, x, `elapsed="0.00"`, "%d ports at 300/s take more than 0.01 s", strings.Count(ports, ",")+1)
}

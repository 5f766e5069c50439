package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe"
)

func TestParseDiscoveryFlags(t *testing.T) {
	o, err := parseArgs([]string{"-sn", "-PS22,80", "-PA", "-PU53,161", "-PE", "-PP", "-PR", "-PS443", "127.0.0.1"})
	require.NoError(t, err)
	d := o.disc
	assert.True(t, d.pingOnly)
	assert.Equal(t, []probe.PingMethod{probe.PingSYN, probe.PingACK, probe.PingUDP, probe.PingEcho, probe.PingTimestamp, probe.PingARP}, d.methods)
	assert.Equal(t, []uint16{22, 80, 443}, d.synPorts)
	assert.Nil(t, d.ackPorts)
	assert.Equal(t, []uint16{53, 161}, d.udpPorts)
	o, err = parseArgs([]string{"-sP", "-P0", "--disable-arp-ping", "127.0.0.1"})
	require.NoError(t, err)
	assert.True(t, o.disc.pingOnly && o.disc.noPing && o.disc.disableARP)
	o, err = parseArgs([]string{"-PS", "127.0.0.1"})
	require.NoError(t, err)
	assert.Equal(t, []uint16{80}, o.disc.synPorts, "-PS alone pings port 80, as nmap")
	_, err = parseArgs([]string{"-PS1-100", "127.0.0.1"})
	assert.ErrorContains(t, err, "at most 64")
}

// TestPingScanLoopback pings this host: as root it answers as itself
// (localhost-response, as nmap says), otherwise through the connect ping.
func TestPingScanLoopback(t *testing.T) {
	code, stdout, stderr := runScan(t, t.Context(), "-sn", "-oJ", "-", "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"type":"host","addr":"127.0.0.1","state":"up"`)
	assert.NotContains(t, stdout, `"type":"port"`)
	// -sn -Pn: every host up, user-set, nothing sent.
	code, stdout, stderr = runScan(t, t.Context(), "-sn", "-Pn", "-oG", "-", "127.0.0.1-3")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, 3, strings.Count(stdout, "Status: Up"), stdout)
}

// TestNonRootDiscovery runs the program as nobody (when the test runs as
// root and setpriv exists): the raw methods fail with an error naming
// the method and CAP_NET_RAW, the default falls back to the connect ping,
// and -PS alone becomes a connect ping as in nmap.
func TestNonRootDiscovery(t *testing.T) {
	setpriv, err := exec.LookPath("setpriv")
	if os.Geteuid() != 0 || err != nil {
		t.Skip("needs root and setpriv to drop to an unprivileged user")
	}
	dir := t.TempDir()
	require.NoError(t, os.Chmod(dir, 0o755))
	bin := filepath.Join(dir, "scan.test")
	self, err := os.Executable()
	require.NoError(t, err)
	copyFile(t, self, bin)
	run := func(args ...string) (int, string) {
		cmd := exec.Command(setpriv, append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", bin}, args...)...)
		cmd.Env = append(os.Environ(), "SCAN_TEST_MAIN=1")
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	for _, m := range []string{"-PE", "-PP", "-PA", "-PU", "-PR"} {
		code, out := run("-sn", m, "127.0.0.1")
		assert.Equal(t, 1, code, out)
		name := map[string]string{"-PE": "echo", "-PP": "timestamp", "-PA": "ack", "-PU": "udp", "-PR": "arp"}[m]
		assert.Contains(t, out, name+" ping", m)
		assert.Contains(t, out, "CAP_NET_RAW", m)
	}
	for _, args := range [][]string{{"-sn", "-oJ", "-", "127.0.0.1"}, {"-sn", "-PS9", "-oJ", "-", "127.0.0.1"}} {
		code, out := run(args...)
		require.Equal(t, 0, code, out)
		assert.Contains(t, out, `"state":"up","reason":"conn-refused"`, args)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}

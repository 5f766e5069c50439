package main

import (
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// udpEcho answers every datagram on a loopback port until the test ends.
func udpEcho(t *testing.T) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	go func() {
		buf := make([]byte, 2048)
		for {
			n, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(buf[:n], from)
		}
	}()
	return uint16(pc.LocalAddr().(*net.UDPAddr).Port)
}

func udpClosed(t *testing.T) uint16 {
	t.Helper()
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	require.NoError(t, err)
	p := uint16(pc.LocalAddr().(*net.UDPAddr).Port)
	pc.Close()
	return p
}

func TestUDPScan(t *testing.T) {
	open, closed := udpEcho(t), udpClosed(t)
	code, stdout, stderr := runScan(t, t.Context(), "-sU", "-T4", "-p", "U:"+portList([]uint16{open, closed}), "-oJ", "-", "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	got := byPort(t, readJSONL(t, stdout))
	require.Len(t, got, 2)
	assert.Equal(t, target.UDP, got[open].Proto)
	assert.Equal(t, result.Open, got[open].State)
	assert.Equal(t, result.UDPResponse, got[open].Reason)
	assert.Equal(t, result.Closed, got[closed].State)
	assert.Equal(t, result.PortUnreach, got[closed].Reason)
}

// TCP and UDP in one run: -sS -sU (-sT -sU without root) with T:/U: ports;
// the XML output lists a scaninfo per protocol and rows of both.
func TestTCPAndUDPScan(t *testing.T) {
	tcpOpen := openPorts(t, 1)[0]
	udpOpen, udpShut := udpEcho(t), udpClosed(t)
	typ := "-sT"
	if runtime.GOOS == "linux" && os.Geteuid() == 0 {
		typ = "-sS"
	}
	xml := filepath.Join(t.TempDir(), "out.xml")
	spec := "T:" + strconv.Itoa(int(tcpOpen)) + ",U:" + portList([]uint16{udpOpen, udpShut})
	code, stdout, stderr := runScan(t, t.Context(), typ, "-sU", "-T4", "-p", spec, "-oJ", "-", "-oX", xml, "127.0.0.1")
	require.Equal(t, 0, code, stderr)
	rs := readJSONL(t, stdout)
	require.Len(t, rs, 3)
	for _, r := range rs {
		switch {
		case r.Proto == target.TCP && r.Target.Port() == tcpOpen:
			assert.Equal(t, result.Open, r.State)
		case r.Proto == target.UDP && r.Target.Port() == udpOpen:
			assert.Equal(t, result.Open, r.State)
		case r.Proto == target.UDP && r.Target.Port() == udpShut:
			assert.Equal(t, result.Closed, r.State)
		default:
			t.Errorf("unexpected result %v", r)
		}
	}
	b, err := os.ReadFile(xml)
	require.NoError(t, err)
	x := string(b)
	assert.Contains(t, x, `type="udp" protocol="udp"`)
	assert.Contains(t, x, `protocol="tcp"`)
	assert.Equal(t, 2, strings.Count(x, `<port protocol="udp"`), x)
}

func TestUDPPortsParse(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-sU", "-p", "53,161"}, "U:53,161"},
		{[]string{"-sS", "-sU", "-p", "53"}, "T:53,U:53"},
		{[]string{"-sS", "-sU", "-p", "T:22,80,U:53,161"}, "T:22,80,U:53,161"},
		{[]string{"-sU", "-p", "T:22,U:53"}, "U:53"},
		{[]string{"-sU", "--top-ports", "3"}, ""},
	} {
		o, err := parseArgs(append(c.args, "127.0.0.1"))
		require.NoError(t, err)
		ps, err := choosePorts(o, nil)
		require.NoError(t, err, c.args)
		if c.want != "" {
			assert.Equal(t, c.want, ps.String(), c.args)
		} else {
			assert.EqualValues(t, 3, ps.Len())
			assert.Equal(t, []target.Protocol{target.UDP}, ps.Protocols())
		}
	}
}

package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/probe/srcpool"
)

func TestParseSourceFlags(t *testing.T) {
	o, err := parseArgs([]string{"-sS", "--source-pool", "16", "--source-rotate=per-target",
		"-D", "198.18.1.101,ME,198.18.1.102", "-g53", "198.18.1.2"})
	require.NoError(t, err)
	assert.Equal(t, "16", o.src.pool)
	assert.Equal(t, srcpool.PerTarget, o.src.rotate)
	assert.Equal(t, 1, o.src.mePos)
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("198.18.1.101"), netip.MustParseAddr("198.18.1.102")}, o.src.decoys)
	c := o.synConfig()
	assert.Equal(t, uint16(53), c.SourcePort)
	assert.True(t, c.FixedSourcePort)
	assert.Equal(t, 1, c.DecoyPosition)
	assert.Len(t, c.Decoys, 2)

	o, err = parseArgs([]string{"--source-port", "8080", "-D", "198.18.1.9", "--source-pool=198.18.1.200,198.18.1.201", "x"})
	require.NoError(t, err)
	c = o.synConfig()
	assert.Equal(t, uint16(8080), c.SourcePort)
	assert.Equal(t, 1, c.DecoyPosition, "ME defaults to last")
	assert.Equal(t, "198.18.1.200,198.18.1.201", o.src.pool)
	assert.False(t, o.synConfig().SourcePool != nil)
}

// Bad source flags exit with status 2 and one line naming the token. None
// of these sends a packet: they fail before any socket is opened, or (the
// claims toward 127.0.0.1) at the loopback interface, which has no link
// layer to claim addresses on.
func TestBadSourceFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--source-pool", "0", "127.0.0.1"}, `bad --source-pool "0"`},
		{[]string{"--source-pool", "5000", "127.0.0.1"}, `bad --source-pool "5000"`},
		{[]string{"--source-pool", "198.18.1.1,banana", "127.0.0.1"}, `"banana"`},
		{[]string{"--source-pool", "224.0.0.1", "127.0.0.1"}, `"224.0.0.1"`},
		{[]string{"--source-rotate", "random", "127.0.0.1"}, `bad --source-rotate "random"`},
		{[]string{"-g", "0", "127.0.0.1"}, `bad -g "0"`},
		{[]string{"-g", "http", "127.0.0.1"}, `bad -g "http"`},
		{[]string{"--source-port", "70000", "127.0.0.1"}, `bad --source-port "70000"`},
		{[]string{"-D", "ME,ME", "127.0.0.1"}, "ME given twice"},
		{[]string{"-D", "ME", "127.0.0.1"}, "no decoy addresses"},
		{[]string{"-D", "198.18.1.1,decoy.example", "127.0.0.1"}, `"decoy.example"`},
		{[]string{"-D", "0.0.0.0", "127.0.0.1"}, `"0.0.0.0"`},
		{[]string{"-D", "RND:5", "127.0.0.1"}, `"RND:5"`},
		{[]string{"-D"}, "-D needs an argument"},
		{[]string{"-sT", "-D", "198.18.1.1", "127.0.0.1"}, "need -sS"},
		{[]string{"-sU", "-D", "198.18.1.1", "127.0.0.1"}, "-D and -g apply to -sS"},
		{[]string{"-sU", "-g", "53", "127.0.0.1"}, "-D and -g apply to -sS"},
		{[]string{"-sT", "--source-pool", "4", "127.0.0.1"}, "need -sS"},
		{[]string{"-sT", "-S", "198.18.77.1", "127.0.0.1"}, "-S 198.18.77.1 is not an address of this host"},
		{[]string{"-sS", "-S", "198.18.1.1", "--source-pool", "2", "127.0.0.1"}, "conflict"},
		{[]string{"-sS", "--source-pool", "4", "-p", "22", "127.0.0.1"}, "no link layer"},
		{[]string{"-sS", "-S", "198.18.77.1", "-p", "22", "127.0.0.1"}, "no link layer"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, stdout, stderr := runScan(t, t.Context(), tc.args...)
			assert.Equal(t, 2, code, stderr)
			assert.Empty(t, stdout)
			assert.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %q", stderr)
			assert.Contains(t, stderr, tc.want)
		})
	}
}

func FuzzParseArgsSource(f *testing.F) {
	for _, s := range []string{"-D 198.18.1.1,ME", "--source-pool 16", "-g 53", "--source-pool=198.18.1.2,2001:db8::9", "-D ,,"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		o, err := parseArgs(strings.Fields(s))
		if err != nil {
			return
		}
		if o.src.decoysSet && (len(o.src.decoys) == 0 || o.src.mePos > len(o.src.decoys)) {
			t.Errorf("decoys %v with ME at %d", o.src.decoys, o.src.mePos)
		}
		if o.src.portSet && o.src.port == 0 {
			t.Error("source port 0 accepted")
		}
	})
}

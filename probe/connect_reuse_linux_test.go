package probe

import (
	"context"
	"math/rand/v2"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// The connect prober keeps sockets whose attempt ended cleanly and
// connects them again. Interleaving open, refused, ICMP-rejected and
// silent ports of both families, every verdict stays exact (no stale
// error or event of an earlier probe reaches a later one), silent ports
// get no verdict, and far fewer sockets are made than probes sent.
func TestConnectReusesSockets(t *testing.T) {
	netlab.New(t) // the test's own namespace: its loopback and nftables are ours
	const reject, drop = 40001, 40002
	rules := `table inet psreuse {
	chain out {
		type filter hook output priority 0; policy accept;
		tcp dport 40001 reject with icmpx type admin-prohibited
		tcp dport 40002 drop
	}
}
`
	cmd := exec.Command("nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("nft", "delete", "table", "inet", "psreuse").Run() })

	type port struct {
		addr   netip.Addr
		num    uint16
		state  result.State
		reason result.Reason
	}
	var ports []port
	for _, a := range []netip.Addr{netip.MustParseAddr("127.0.0.1"), netip.IPv6Loopback()} {
		for range 2 {
			ln, err := net.Listen("tcp", netip.AddrPortFrom(a, 0).String())
			require.NoError(t, err)
			t.Cleanup(func() { ln.Close() })
			go func() {
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			ports = append(ports, port{a, uint16(ln.Addr().(*net.TCPAddr).Port), result.Open, result.SynAck})
		}
		for n := uint16(40003); n < 40009; n++ {
			ports = append(ports, port{a, n, result.Closed, result.ConnRefused})
		}
		ports = append(ports, port{a, reject, result.Filtered, result.AdminProhibited},
			port{a, drop, 0, 0})
	}

	got := make(chan Reply, 64)
	sess, err := NewConnect(&ConnectConfig{MaxInFlight: 64}).Open(context.Background(), func(r Reply) { got <- r })
	require.NoError(t, err)
	es := sess.(*epollSession)
	require.Len(t, es.shards, 1)
	r := rand.New(rand.NewPCG(1, 2))
	sent := 0
	for round := range 60 {
		want := map[target.Target]port{}
		for range 8 {
			p := ports[r.IntN(len(ports))]
			tg := target.Target{Addr: p.addr, Port: target.Port{Proto: target.TCP, Num: p.num}}
			if _, dup := want[tg]; dup {
				continue
			}
			want[tg] = p
			require.NoError(t, sess.Send(Probe{Target: tg, Try: round, Timeout: 20 * time.Millisecond}))
			sent++
		}
		require.NoError(t, es.Flush())
		answers := 0
		for _, p := range want {
			if p.state != 0 {
				answers++
			}
		}
		for answers > 0 {
			select {
			case rep := <-got:
				p, ok := want[rep.Target]
				require.True(t, ok, "round %d: reply for %v, not probed", round, rep.Target)
				require.NotZero(t, p.state, "round %d: reply for the silent port %v: %v %v", round, rep.Target, rep.State, rep.Reason)
				require.Equal(t, round, rep.Try)
				require.Equal(t, p.state, rep.State, "round %d: %v: %v", round, rep.Target, rep.Reason)
				require.Equal(t, p.reason, rep.Reason, "round %d: %v", round, rep.Target)
				delete(want, rep.Target)
				answers--
			case <-time.After(5 * time.Second):
				t.Fatalf("round %d: no verdict for %v", round, want)
			}
		}
		// Let silent attempts expire before the next round, so that a
		// socket they leave behind would show up in its replies.
		time.Sleep(50 * time.Millisecond)
		select {
		case rep := <-got:
			t.Fatalf("round %d: stray reply %v %v %v", round, rep.Target, rep.State, rep.Reason)
		default:
		}
	}
	require.NoError(t, sess.Close())
	made := es.shards[0].created
	t.Logf("%d probes, %d sockets made", sent, made)
	require.Less(t, made, sent/3, "sockets are not reused")
}

//go:build linux

package scanner

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/probe"
)

// A hostile target changes no verdict of a raw UDP scan: while the scan
// runs it answers one port with 60 KB datagrams, sprays UDP datagrams from
// ports never probed at every source port the prober uses, and sends ICMP
// port unreachables that quote garbage or forge a probe to a dropped port
// (right addresses and ports, wrong cookie). Dropped ports must stay
// open|filtered, unprobed ports must not appear, the rest stays exact.
func TestLabUDPHostileResponder(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	l := udpLayout{
		open: map[uint16]string{7: "", 9: ""},
		drop: []uint16{20, 21, 22, 23, 24, 25},
	}
	h.ListenUDP(t, true, 7)
	huge(t, h, 9)
	l.filter(t, h)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	wg.Go(func() { sprayUDP(ctx, t, h) })
	wg.Go(func() { sprayICMP(ctx, t, h, l.drop) })
	time.Sleep(50 * time.Millisecond) // the spray runs before the first probe

	pr, err := probe.NewUDP(nil)
	require.NoError(t, err)
	spec := "1-40"
	got, st := udpScan(t, pr, h.Addr4, spec, WithTiming(T4), WithMinRetries(3))
	checkUDP(t, h.Addr4, portList(t, spec), l, got)
	t.Logf("hostile: %d probes, %d replies, %d late or unmatched, %v", st.Sent, st.Replies, st.Late, st.Elapsed)
}

// huge answers every datagram on port with 60,000 bytes.
func huge(t *testing.T, h *netlab.Host, port uint16) {
	var pc net.PacketConn
	require.NoError(t, h.Do(func() (err error) {
		pc, err = net.ListenPacket("udp4", ":"+strconv.Itoa(int(port)))
		return err
	}))
	t.Cleanup(func() { pc.Close() })
	go func() {
		big := make([]byte, 60000)
		buf := make([]byte, 2048)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo(big, from)
		}
	}()
}

// sprayUDP sends datagrams from ports 100-199 of the target (never probed)
// to every source port a raw UDP probe may use.
func sprayUDP(ctx context.Context, t *testing.T, h *netlab.Host) {
	var conns []*net.UDPConn
	err := h.Do(func() error {
		for p := 100; p < 200; p++ {
			c, err := net.ListenUDP("udp4", &net.UDPAddr{Port: p})
			if err != nil {
				return err
			}
			conns = append(conns, c)
		}
		return nil
	})
	if err != nil {
		t.Error(err)
		return
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		c := conns[i%len(conns)]
		dst := &net.UDPAddr{IP: h.Local4.AsSlice(), Port: probe.DefaultUDPSourcePort + i%probe.UDPSourcePorts}
		c.WriteTo([]byte("forged"), dst)
		if i%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

// sprayICMP sends port unreachables to the scanner quoting garbage, and
// quoting UDP probes to the dropped ports with a wrong cookie.
func sprayICMP(ctx context.Context, t *testing.T, h *netlab.Host, dropped []uint16) {
	var c *icmp.PacketConn
	if err := h.Do(func() (err error) {
		c, err = icmp.ListenPacket("ip4:icmp", "0.0.0.0")
		return err
	}); err != nil {
		t.Error(err)
		return
	}
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	dst := &net.IPAddr{IP: h.Local4.AsSlice()}
	q := make([]byte, 1500)
	for i := 0; ctx.Err() == nil; i++ {
		var body []byte
		if i%2 == 0 {
			body = make([]byte, 28+rng.IntN(100))
			for j := range body {
				body[j] = byte(rng.Uint32())
			}
			if i%4 == 0 {
				body[0] = 0x45 // an IPv4 header of sorts
			}
		} else {
			port := dropped[rng.IntN(len(dropped))]
			sport := uint16(probe.DefaultUDPSourcePort + rng.IntN(probe.UDPSourcePorts))
			n := packet.UDP(q, h.Local4, h.Addr4, sport, port, 64, rng.Uint32(), nil)
			body = q[:n]
		}
		m := icmp.Message{Type: ipv4.ICMPTypeDestinationUnreachable, Code: 3, Body: &icmp.DstUnreach{Data: body}}
		b, err := m.Marshal(nil)
		if err != nil {
			t.Error(err)
			return
		}
		c.WriteTo(b, dst)
		if i%32 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}

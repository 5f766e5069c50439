package netlab_test

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/target"
)

// ping sends one ICMP echo request to a and reports whether a reply came
// back within a second.
func ping(t *testing.T, a netip.Addr) bool {
	t.Helper()
	network, typ, proto := "ip4:icmp", icmp.Type(ipv4.ICMPTypeEcho), 1
	if a.Is6() {
		network, typ, proto = "ip6:ipv6-icmp", ipv6.ICMPTypeEchoRequest, 58
	}
	c, err := icmp.ListenPacket(network, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	id := os.Getpid() & 0xffff
	msg := icmp.Message{Type: typ, Body: &icmp.Echo{ID: id, Seq: 1, Data: []byte("netlab")}}
	b, err := msg.Marshal(nil) // the kernel fills the ICMPv6 checksum
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WriteTo(b, &net.IPAddr{IP: a.AsSlice()}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Second)
	buf := make([]byte, 1500)
	for {
		c.SetReadDeadline(deadline)
		n, from, err := c.ReadFrom(buf)
		if err != nil {
			return false
		}
		m, err := icmp.ParseMessage(proto, buf[:n])
		if err != nil {
			continue
		}
		if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && from.String() == a.String() &&
			(m.Type == ipv4.ICMPTypeEchoReply || m.Type == ipv6.ICMPTypeEchoReply) {
			return true
		}
	}
}

func TestDropICMPEcho(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	if !ping(t, h.Addr4) || !ping(t, h.Addr6) {
		t.Fatal("host does not answer ping before the filter")
	}
	h.Drop(t, target.ICMP, 0)
	if ping(t, h.Addr4) {
		t.Error("ping v4 answered after Drop(ICMP)")
	}
	if !ping(t, h.Addr6) {
		t.Error("ping v6 dropped by Drop(ICMP)")
	}
	h.Drop(t, target.ICMPv6)
	if ping(t, h.Addr6) {
		t.Error("ping v6 answered after Drop(ICMPv6)")
	}
}

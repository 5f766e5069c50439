package afpacket_test

import (
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
	"github.com/portsense/portsense/internal/wire"
)

// ringLab is a lab host, a receiver in its namespace admitting TCP to
// ports 40000-40015, and the hops to its IPv4 and IPv6 addresses.
type ringLab struct {
	h          *netlab.Host
	rx         *afpacket.BatchReader
	rxc        *afpacket.Conn
	hop4, hop6 route.Hop
}

func newRingLab(t *testing.T) *ringLab {
	t.Helper()
	if ok, why := netlab.Available(); !ok {
		t.Skip(why)
	}
	l := &ringLab{h: netlab.New(t).AddHost(netlab.HostConfig{})}
	filter, err := afpacket.ReplyFilter(6, 40000, 40015)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.h.Do(func() error {
		l.rxc, err = afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoAll,
			&afpacket.Config{Filter: filter, IgnoreOutgoing: true, ReadBuffer: 16 << 20})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.rxc.Close() })
	if l.rx, err = l.rxc.NewBatchReader(64, 256); err != nil {
		t.Fatal(err)
	}
	rc := route.NewCache(nil)
	defer rc.Close()
	if l.hop4, err = rc.Hop(t.Context(), l.h.Addr4); err != nil {
		t.Fatal(err)
	}
	if l.hop6, err = rc.Hop(t.Context(), l.h.Addr6); err != nil {
		t.Fatal(err)
	}
	return l
}

// receive reads until want SYNs arrived or 3 s passed and returns how
// often each sequence number was seen. It checks that every SYN is
// intact: its destination port is 40000 + seq%16.
func (l *ringLab) receive(t *testing.T, want int) map[uint32]int {
	t.Helper()
	got := map[uint32]int{}
	n := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		var p wire.Packet
		for n < want {
			pkts, err := l.rx.Read()
			if err != nil {
				return
			}
			for _, pk := range pkts {
				if p.DecodeIP(pk.Data) != nil || p.Proto != wire.ProtoTCP || p.Flags != wire.FlagSYN {
					continue
				}
				if p.DstPort != 40000+uint16(p.Seq%16) {
					t.Errorf("SYN seq %d to port %d: frame corrupted", p.Seq, p.DstPort)
				}
				got[p.Seq]++
				n++
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		l.rxc.SetReadDeadline(time.Unix(1, 0))
		<-done
		l.rxc.SetReadDeadline(time.Time{})
	}
	return got
}

func ringWriter(t *testing.T, batch, slot int) (*afpacket.Conn, *afpacket.BatchWriter) {
	t.Helper()
	c, err := afpacket.Listen(nil, afpacket.Datagram, afpacket.ProtoNone, &afpacket.Config{TxRing: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	w, err := c.NewBatchWriter(batch, slot)
	if err != nil {
		t.Fatal(err)
	}
	return c, w
}

func hopAddr(h route.Hop, proto uint16) *afpacket.Addr {
	return &afpacket.Addr{Ifindex: h.Ifindex, Protocol: proto, HWLen: h.HWLen, HW: h.HW}
}

// TestTxRingLab sends N SYNs through a TxRing writer, in runs that switch
// between IPv4 and IPv6 destinations and in partial batches, and counts
// them on the receiving host: each arrives exactly once and intact, and
// Flush reports every one sent.
func TestTxRingLab(t *testing.T) {
	l := newRingLab(t)
	_, w := ringWriter(t, 64, packet.SYNLen6)
	syn4, _ := packet.NewSYN(l.hop4.Src, 64, 1024, 1460)
	syn6, _ := packet.NewSYN(l.hop6.Src, 64, 1024, 1460)
	d4, d6 := hopAddr(l.hop4, afpacket.ProtoIPv4), hopAddr(l.hop6, afpacket.ProtoIPv6)
	const N = 5000
	sent := 0
	for i := range N {
		var n int
		d := d4
		if i/10%2 == 1 { // runs of 10 of each family
			n = syn6.Build(w.Slot(), l.h.Addr6, 61440, 40000+uint16(i%16), uint32(i))
			d = d6
		} else {
			n = syn4.Build(w.Slot(), l.h.Addr4, 61440, 40000+uint16(i%16), uint32(i))
		}
		if !w.Commit(n, d) {
			t.Fatalf("Commit %d refused", i)
		}
		if w.Full() || i%997 == 0 { // full batches and some partial ones
			k, err := w.Flush()
			if err != nil {
				t.Fatalf("Flush: %v", err)
			}
			sent += k
		}
	}
	k, err := w.Flush()
	if err != nil {
		t.Fatal(err)
	}
	if sent += k; sent != N {
		t.Fatalf("Flush reported %d sent, want %d", sent, N)
	}
	got := l.receive(t, N)
	st, _ := l.rxc.Stats()
	missing := 0
	for i := range N {
		switch got[uint32(i)] {
		case 0:
			missing++
		case 1:
		default:
			t.Errorf("SYN %d received %d times", i, got[uint32(i)])
		}
	}
	if missing > 0 || len(got) != N {
		t.Fatalf("received %d of %d SYNs (%d distinct seen; receiver drops %d)", N-missing, N, len(got), st.Drops)
	}
}

// TestTxRingOverMTU: a packet longer than the link's MTU (which the
// kernel does not check for a frame with a virtio header) is dropped and
// reported; the rest of the batch and the next batch go out whole.
// TestTxRingKernelWrongFormat has the kernel reject a frame itself.
func TestTxRingOverMTU(t *testing.T) {
	l := newRingLab(t)
	_, w := ringWriter(t, 8, 2048)
	syn4, _ := packet.NewSYN(l.hop4.Src, 64, 1024, 1460)
	d4 := hopAddr(l.hop4, afpacket.ProtoIPv4)
	seq := uint32(0)
	add := func(size int) {
		b := w.Slot()
		n := syn4.Build(b, l.h.Addr4, 61440, 40000+uint16(seq%16), seq)
		if size > 0 {
			n = size // a SYN with trailing garbage the link cannot carry
		}
		if !w.Commit(n, d4) {
			t.Fatal("Commit refused")
		}
		seq++
	}
	add(0)
	add(0)
	add(1600) // seq 2
	add(0)
	add(0)
	n, err := w.Flush()
	if n != 4 || err == nil || !strings.Contains(err.Error(), "1600 bytes") {
		t.Fatalf("Flush = %d, %v; want 4 sent and an error naming the 1600-byte packet", n, err)
	}
	t.Logf("Flush error: %v", err)
	for range 8 {
		add(0)
	}
	if n, err := w.Flush(); n != 8 || err != nil {
		t.Fatalf("second Flush = %d, %v; want 8, nil", n, err)
	}
	got := l.receive(t, 12)
	for s := range seq {
		want := 1
		if s == 2 {
			want = 0
		}
		if got[s] != want {
			t.Errorf("SYN %d received %d times, want %d (all: %v)", s, got[s], want, got)
		}
	}
}

// TestTxRingBadDestination: a run to an interface that does not exist is
// dropped and reported; the runs around it are sent.
func TestTxRingBadDestination(t *testing.T) {
	l := newRingLab(t)
	_, w := ringWriter(t, 16, packet.SYNLen6)
	syn4, _ := packet.NewSYN(l.hop4.Src, 64, 1024, 1460)
	good := hopAddr(l.hop4, afpacket.ProtoIPv4)
	bad := &afpacket.Addr{Ifindex: 1 << 30, Protocol: afpacket.ProtoIPv4, HWLen: 6}
	for i := range 9 {
		d := good
		if i >= 3 && i < 6 {
			d = bad
		}
		n := syn4.Build(w.Slot(), l.h.Addr4, 61440, 40000+uint16(i%16), uint32(i))
		w.Commit(n, d)
	}
	n, err := w.Flush()
	if n != 6 || err == nil || !strings.Contains(err.Error(), "ifindex 1073741824") {
		t.Fatalf("Flush = %d, %v; want 6 and an error naming the interface", n, err)
	}
	got := l.receive(t, 6)
	for i := range uint32(9) {
		if want := map[bool]int{true: 0, false: 1}[i >= 3 && i < 6]; got[i] != want {
			t.Errorf("SYN %d received %d times, want %d", i, got[i], want)
		}
	}
}

// TestTxRingLinkType: packets for a link the ring cannot build headers
// for (a tun device: no link header) go out through the writer's ordinary
// socket, counted by the device, between ring runs.
func TestTxRingLinkType(t *testing.T) {
	if ok, why := netlab.Available(); !ok {
		t.Skip(why)
	}
	if out, err := exec.Command("ip", "tuntap", "add", "dev", "pstun0", "mode", "tun").CombinedOutput(); err != nil {
		t.Fatalf("ip tuntap: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", "pstun0").Run() })
	_ = exec.Command("ip", "link", "set", "pstun0", "up").Run()
	tun, err := net.InterfaceByName("pstun0")
	if err != nil {
		t.Fatal(err)
	}
	// The tun device has no reader: it counts each packet and drops it.
	counted := func() int {
		out, _ := exec.Command("ip", "-s", "-j", "link", "show", "dev", "pstun0").Output()
		var v []struct {
			Stats64 struct {
				Tx struct{ Packets, Dropped int }
			} `json:"stats64"`
		}
		if err := json.Unmarshal(out, &v); err != nil || len(v) != 1 {
			t.Fatalf("ip link show pstun0: %v %s", err, out)
		}
		return v[0].Stats64.Tx.Packets + v[0].Stats64.Tx.Dropped
	}
	before := counted()
	l := newRingLab(t)
	_, w := ringWriter(t, 8, packet.SYNLen6)
	src := netip.MustParseAddr("198.18.9.1")
	syn, _ := packet.NewSYN(src, 64, 1024, 1460)
	syn4, _ := packet.NewSYN(l.hop4.Src, 64, 1024, 1460)
	for i := range 6 {
		var n int
		if i == 2 || i == 3 {
			n = syn.Build(w.Slot(), netip.MustParseAddr("198.18.9.2"), 61440, 40000, uint32(i))
			w.Commit(n, &afpacket.Addr{Ifindex: tun.Index, Protocol: afpacket.ProtoIPv4})
			continue
		}
		n = syn4.Build(w.Slot(), l.h.Addr4, 61440, 40000+uint16(i), uint32(i))
		w.Commit(n, hopAddr(l.hop4, afpacket.ProtoIPv4))
	}
	if k, err := w.Flush(); k != 6 || err != nil {
		t.Fatalf("Flush = %d, %v; want 6, nil", k, err)
	}
	if got := counted() - before; got != 2 {
		t.Errorf("tun device counted %d packets, want 2", got)
	}
	got := l.receive(t, 4)
	for _, i := range []uint32{0, 1, 4, 5} {
		if got[i] != 1 {
			t.Errorf("SYN %d received %d times, want 1 (all %v)", i, got[i], got)
		}
	}
}

// TestTxRingClosed: after Close the writer hands out no frame, Commit
// refuses, Flush fails with net.ErrClosed and drops what was queued; a
// TxRing socket refuses single writes and a second writer.
func TestTxRingClosed(t *testing.T) {
	if ok, why := netlab.Available(); !ok {
		t.Skip(why)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	c, w := ringWriter(t, 4, 64)
	if _, err := c.NewBatchWriter(4, 64); err == nil {
		t.Error("a second BatchWriter on a TxRing socket was allowed")
	}
	if _, err := c.WritePacket(make([]byte, 40), &afpacket.Addr{Ifindex: lo.Index, Protocol: afpacket.ProtoIPv6}); err == nil {
		t.Error("WritePacket on a TxRing socket succeeded")
	}
	src := netip.MustParseAddr("::1")
	syn, _ := packet.NewSYN(src, 64, 1024, 1460)
	n := syn.Build(w.Slot(), src, 9, 40000, 1)
	w.Commit(n, &afpacket.Addr{Ifindex: lo.Index, Protocol: afpacket.ProtoIPv6})
	b := w.Slot() // a slot handed out when Close comes: the mapping stays until Flush
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	b[0] = 0x60 // still mapped: must not fault
	if w.Commit(n, &afpacket.Addr{Ifindex: lo.Index, Protocol: afpacket.ProtoIPv6}) != true {
		t.Error("Commit of the slot handed out before Close refused")
	}
	if k, err := w.Flush(); k != 0 || !errors.Is(err, net.ErrClosed) {
		t.Errorf("Flush after Close = %d, %v; want 0, net.ErrClosed", k, err)
	}
	if w.Len() != 0 {
		t.Errorf("Len after a failed Flush = %d", w.Len())
	}
	if w.Slot() != nil {
		t.Error("Slot after Close returned a frame")
	}
	if w.Commit(n, &afpacket.Addr{Ifindex: lo.Index}) {
		t.Error("Commit after Close queued a packet")
	}
}

// TestTxRingAllocs: filling and flushing the ring allocates nothing.
func TestTxRingAllocs(t *testing.T) {
	if ok, why := netlab.Available(); !ok {
		t.Skip(why)
	}
	hop := sinkHop(t)
	_, w := ringWriter(t, 64, packet.SYNLen6)
	syn, _ := packet.NewSYN(hop.Src, 64, 1024, 1460)
	d := hopAddr(hop, afpacket.ProtoIPv4)
	a := netip.MustParseAddr("198.19.128.1")
	i := 0
	send := func() {
		i++
		n := syn.Build(w.Slot(), a, 61440, uint16(i), uint32(i))
		w.Commit(n, d)
		if w.Full() {
			if _, err := w.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := testing.AllocsPerRun(5000, send); n != 0 {
		t.Errorf("Slot+Commit(+Flush) allocates %v times per packet", n)
	}
	if n := testing.AllocsPerRun(100, func() { send(); _, _ = w.Flush() }); n != 0 {
		t.Errorf("a partial Flush allocates %v times", n)
	}
}

package rawsock

import (
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/route"
)

// labHop builds a lab host that routes (and drops) prefix p and returns the
// hop to it.
func labHop(tb testing.TB, p netip.Prefix) route.Hop {
	lab := netlab.New(tb)
	h := lab.AddHost(netlab.HostConfig{})
	h.Blackhole(tb, p)
	hop, err := route.NewCache(nil).Hop(tb.Context(), p.Addr())
	if err != nil {
		tb.Fatal(err)
	}
	return hop
}

// TestSendReceiveLoopback sends packets on lo through a Sender and reads
// them back (lo delivers what it sends) through a filtered Receiver.
func TestSendReceiveLoopback(t *testing.T) {
	if ok, why := netlab.Available(); !ok {
		t.Skip(why)
	}
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	filter, err := ReplyFilter(61440, 61455)
	if err != nil {
		t.Fatal(err)
	}
	rx, err := NewReceiver(lo.Index, filter, 8, 256)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := NewSender(4, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	src := netip.MustParseAddr("::1")
	syn, _ := packet.NewSYN(src, 64, 1024, 1460)
	// Packets "to" our range (as a reply would be) and one outside it.
	for _, dport := range []uint16{61440, 61455, 80, 61441} {
		n := syn.Build(tx.Slot(), src, 9, dport, uint32(dport))
		tx.Commit(n, &Dest{Ifindex: lo.Index, Proto: unix.ETH_P_IPV6})
	}
	if n, err := tx.Flush(); n != 4 || err != nil {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	got := map[uint16]bool{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var r packet.Reply
		for len(got) < 3 {
			pkts, err := rx.Read()
			if err != nil {
				return
			}
			for _, p := range pkts {
				if r.Decode(p.Data) == nil && p.Ifindex == lo.Index {
					got[r.DstPort] = true
				}
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		rx.Close()
		<-done
	}
	if !got[61440] || !got[61455] || !got[61441] || got[80] || len(got) != 3 {
		t.Fatalf("received ports %v, want 61440, 61441, 61455 once each and not 80", got)
	}
	// Close unblocks a pending Read.
	rx2, err := NewReceiver(lo.Index, filter, 8, 256)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error)
	go func() { _, err := rx2.Read(); errc <- err }()
	time.Sleep(20 * time.Millisecond)
	rx2.Close()
	if err := <-errc; err == nil {
		t.Fatal("Read after Close returned no error")
	}
}

// rawIP4 is the alternative send path the benchmark compares against: a
// raw IPv4 socket (IP_HDRINCL) with sendmmsg.
type rawIP4 struct {
	fd   int
	bufs [][]byte
	iov  []unix.Iovec
	addr []unix.RawSockaddrInet4
	hdr  []unix.Mmsghdr
}

func newRawIP4(batch int) (*rawIP4, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return nil, err
	}
	_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, 4<<20)
	r := &rawIP4{fd: fd, bufs: make([][]byte, batch), iov: make([]unix.Iovec, batch), addr: make([]unix.RawSockaddrInet4, batch), hdr: make([]unix.Mmsghdr, batch)}
	for i := range r.hdr {
		r.bufs[i] = make([]byte, 64)
		r.iov[i].Base = &r.bufs[i][0]
		r.hdr[i].Hdr.Iov = &r.iov[i]
		r.hdr[i].Hdr.Iovlen = 1
		r.hdr[i].Hdr.Name = (*byte)(unsafe.Pointer(&r.addr[i]))
		r.hdr[i].Hdr.Namelen = unix.SizeofSockaddrInet4
		r.addr[i].Family = unix.AF_INET
	}
	return r, nil
}

func (r *rawIP4) flush(n int) error {
	for sent := 0; sent < n; {
		k, _, e := unix.Syscall6(unix.SYS_SENDMMSG, uintptr(r.fd), uintptr(unsafe.Pointer(&r.hdr[sent])), uintptr(n-sent), 0, 0, 0)
		if e != 0 && e != unix.EINTR && e != unix.ENOBUFS && e != unix.EAGAIN {
			return e
		}
		sent += int(k)
	}
	return nil
}

// sinkHop makes, in the test's own namespace, a veth pair whose peer is
// down, so the kernel drops every frame right after the driver's transmit:
// a benchmark then measures only the sending side. 198.19.128.0/18 is
// routed into it through a permanent neighbour, for the raw IP path.
func sinkHop(tb testing.TB) route.Hop {
	if ok, why := netlab.Available(); !ok {
		tb.Skip(why)
	}
	ip := func(args ...string) {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			tb.Fatalf("ip %v: %v %s", args, err, out)
		}
	}
	ip("link", "add", "pssink0", "type", "veth", "peer", "name", "pssink1")
	tb.Cleanup(func() { _ = exec.Command("ip", "link", "del", "pssink0").Run() })
	ip("addr", "add", "198.18.254.1/24", "dev", "pssink0")
	ip("link", "set", "pssink0", "up")
	ip("neigh", "replace", "198.18.254.2", "lladdr", "02:00:00:00:00:02", "dev", "pssink0", "nud", "permanent")
	ip("route", "add", "198.19.128.0/18", "via", "198.18.254.2", "dev", "pssink0", "onlink")
	ifi, err := net.InterfaceByName("pssink0")
	if err != nil {
		tb.Fatal(err)
	}
	return route.Hop{Ifindex: ifi.Index, Src: netip.MustParseAddr("198.18.254.1"), HWLen: 6, HW: [8]byte{2, 0, 0, 0, 0, 2}}
}

// BenchmarkSendPath compares the two ways to put SYNs on a link: an
// AF_PACKET socket (this package's Sender) and a raw IPv4 socket, both with
// sendmmsg batches of 64 and the same prebuilt packets; into a lab host
// that drops them by route (veth: includes the host's receive work, on the
// same CPU) and into a sink whose peer is down (sender only).
func BenchmarkSendPath(b *testing.B) {
	for _, link := range []string{"veth", "sink"} {
		b.Run(link, func(b *testing.B) { benchSendPath(b, link) })
	}
}

func benchSendPath(b *testing.B, link string) {
	p := netip.MustParsePrefix("198.19.128.0/18")
	hop := sinkHop(b)
	if link == "veth" {
		p = netip.MustParsePrefix("198.19.64.0/18")
		hop = labHop(b, p)
	}
	syn, _ := packet.NewSYN(hop.Src, 64, 1024, 1460)
	const batch = 64
	b.Run("afpacket", func(b *testing.B) {
		tx, err := NewSender(batch, 64)
		if err != nil {
			b.Fatal(err)
		}
		defer tx.Close()
		d := Dest{Ifindex: hop.Ifindex, Proto: unix.ETH_P_IP, HWLen: hop.HWLen, HW: hop.HW}
		b.ReportAllocs()
		start := time.Now()
		a := p.Addr()
		for i := 0; i < b.N; i++ {
			n := syn.Build(tx.Slot(), a, 61440, uint16(i), uint32(i))
			tx.Commit(n, &d)
			if tx.Full() {
				if _, err := tx.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		_, _ = tx.Flush()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
	})
	b.Run("rawip", func(b *testing.B) {
		r, err := newRawIP4(batch)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(r.fd)
		b.ReportAllocs()
		start := time.Now()
		a := p.Addr()
		k := 0
		for i := 0; i < b.N; i++ {
			n := syn.Build(r.bufs[k], a, 61440, uint16(i), uint32(i))
			r.iov[k].SetLen(n)
			r.addr[k].Addr = a.As4()
			if k++; k == batch {
				if err := r.flush(k); err != nil {
					b.Fatal(err)
				}
				k = 0
			}
		}
		_ = r.flush(k)
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pps")
	})
}

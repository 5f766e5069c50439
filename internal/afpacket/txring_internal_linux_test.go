package afpacket

import (
	"encoding/binary"
	"errors"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/packet"
	"github.com/portsense/portsense/internal/wire"
)

// TestTxRingKernelWrongFormat makes the kernel itself reject a frame
// (TP_STATUS_WRONG_FORMAT: a virtio header claiming more bytes than the
// frame has) among others sent to ::1 on lo: Flush drops that one frame,
// reports it, sends the others, and the ring stays in step with the
// kernel's head, so the next batch goes out whole.
func TestTxRingKernelWrongFormat(t *testing.T) {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	filter, err := ReplyFilter(6, 40000, 40015)
	if err != nil {
		t.Fatal(err)
	}
	rxc, err := Listen(lo, Datagram, ProtoAll, &Config{Filter: filter, IgnoreOutgoing: true})
	if errors.Is(err, os.ErrPermission) {
		t.Skip("needs CAP_NET_RAW:", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer rxc.Close()
	rx, _ := rxc.NewBatchReader(16, 256)
	tx, err := Listen(nil, Datagram, ProtoNone, &Config{TxRing: true})
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	w, err := tx.NewBatchWriter(8, 64)
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("::1")
	syn, _ := packet.NewSYN(src, 64, 1024, 1460)
	to := &Addr{Ifindex: lo.Index, Protocol: ProtoIPv6}
	for i := range 5 {
		n := syn.Build(w.Slot(), src, 9, 40000+uint16(i), uint32(i))
		if !w.Commit(n, to) {
			t.Fatal("Commit refused")
		}
	}
	r := w.ring
	f := r.mem[r.frame(r.idx(2)):]
	binary.NativeEndian.PutUint16(f[txData+2:], 1000) // hdr_len beyond the frame
	n, err := w.Flush()
	if n != 4 || err == nil || !strings.Contains(err.Error(), "packet of 64 bytes") {
		t.Fatalf("Flush = %d, %v; want 4 and an error naming the 64-byte packet", n, err)
	}
	t.Logf("Flush error: %v", err)
	for i := 5; i < 13; i++ {
		n := syn.Build(w.Slot(), src, 9, 40000+uint16(i), uint32(i))
		w.Commit(n, to)
	}
	if n, err := w.Flush(); n != 8 || err != nil {
		t.Fatalf("second Flush = %d, %v; want 8, nil", n, err)
	}
	got := map[uint16]int{}
	deadline := time.Now().Add(2 * time.Second)
	rxc.SetReadDeadline(deadline)
	var p wire.Packet
	for len(got) < 12 && time.Now().Before(deadline) {
		pkts, err := rx.Read()
		if err != nil {
			break
		}
		for _, pk := range pkts {
			if p.DecodeIP(pk.Data) == nil && p.Flags == wire.FlagSYN {
				got[p.DstPort-40000]++
			}
		}
	}
	for i := range uint16(13) {
		want := 1
		if i == 2 {
			want = 0
		}
		if got[i] != want {
			t.Errorf("SYN %d received %d times, want %d (all %v)", i, got[i], want, got)
		}
	}
}

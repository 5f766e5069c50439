//go:build linux

package detect

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/portsense/portsense/internal/afpacket"
	"github.com/portsense/portsense/internal/wire"
)

// AFPacketSource captures live traffic from one interface through
// internal/afpacket's TPACKET_V3 ring (no cgo). The socket is SOCK_DGRAM,
// so packets start at the network header whatever the link type, and the
// kernel runs the BPF filter before copying anything.
//
// ReadObservation is meant for one goroutine. Close, SourceStats and the
// cancellation of the source's context may come from any other: the ring
// sits on the Go runtime's poller, so Close wakes a blocked
// ReadObservation at once, and statistics take no lock.
type AFPacketSource struct {
	ring     *afpacket.Ring
	poll     time.Duration
	pkt      afpacket.Packet
	wp       wire.Header           // decoded in place, packet after packet
	stop     func() bool           // unregisters the context callback
	canceled atomic.Pointer[error] // the context's error once it is done
	closed   atomic.Bool
}

var _ LiveSource = (*AFPacketSource)(nil)
var _ StatSource = (*AFPacketSource)(nil)

// NewAFPacketSource opens live capture on the named interface. It needs
// CAP_NET_RAW; without it the error matches os.ErrPermission and names the
// capability. When ctx is done, ReadObservation returns ctx's error (a
// blocked read wakes at once); Close must still be called.
func NewAFPacketSource(ctx context.Context, ifname string, cfg *AFPacketConfig) (*AFPacketSource, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return nil, fmt.Errorf("detect: capture interface %q: %w", ifname, err)
	}
	filter := c.Filter
	if filter == nil {
		if filter, err = DefaultFilter(c.SnapLen); err != nil {
			return nil, err
		}
	}
	ring, err := afpacket.ListenRing(ifi, afpacket.Datagram, afpacket.ProtoAll, &afpacket.RingConfig{
		Config: afpacket.Config{
			Filter:      filter,
			Promiscuous: c.Promiscuous,
			// Loopback shows every packet twice: keep the inbound copy.
			// Elsewhere this host's own packets (its answers to a scan)
			// are part of what detect watches.
			IgnoreOutgoing: ifi.Flags&net.FlagLoopback != 0,
		},
		BlockSize:    c.BlockSize,
		Blocks:       c.Blocks,
		BlockTimeout: c.BlockTimeout,
	})
	if err != nil {
		return nil, fmt.Errorf("detect: live capture: %w", err)
	}
	s := &AFPacketSource{ring: ring, poll: c.PollTimeout}
	ring.SetReadDeadline(time.Now().Add(s.poll))
	s.stop = context.AfterFunc(ctx, func() {
		err := ctx.Err()
		s.canceled.Store(&err)
		s.ring.SetReadDeadline(time.Unix(1, 0)) // wake a blocked read
	})
	return s, nil
}

// ReadObservation decodes the next captured packet into o. It returns
// ErrNoPacket when nothing arrived within the poll timeout, the context's
// error once it is done, and net.ErrClosed after Close.
func (s *AFPacketSource) ReadObservation(o *Observation) error {
	if e := s.canceled.Load(); e != nil {
		return *e
	}
	err := s.ring.ReadPacket(&s.pkt)
	if err != nil {
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			if e := s.canceled.Load(); e != nil {
				return *e
			}
			s.ring.SetReadDeadline(time.Now().Add(s.poll))
			return ErrNoPacket
		case errors.Is(err, net.ErrClosed):
			return net.ErrClosed
		}
		return fmt.Errorf("detect: live capture: %w", err)
	}
	switch proto := s.pkt.Addr.Protocol; proto {
	case wire.EtherTypeIPv4, wire.EtherTypeIPv6, wire.EtherTypeARP:
		err = s.wp.DecodeNetwork(proto, s.pkt.Data)
	default:
		err = s.wp.DecodeIP(s.pkt.Data)
	}
	return observeHeader(err, &s.wp, s.pkt.Time, o)
}

// Live reports true: the pipeline treats this source as live capture.
func (s *AFPacketSource) Live() bool { return true }

// SourceStats returns the kernel's counters since the source was opened;
// after Close the final ones. It takes no lock.
func (s *AFPacketSource) SourceStats() (SourceStats, error) {
	st, err := s.ring.Stats()
	if err != nil {
		return SourceStats{}, fmt.Errorf("detect: live capture: %w", err)
	}
	return SourceStats{KernelDrops: st.Drops, KernelPackets: st.Packets}, nil
}

// Close releases the ring and the socket. A ReadObservation blocked in
// another goroutine returns net.ErrClosed at once.
func (s *AFPacketSource) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	s.stop()
	return s.ring.Close()
}

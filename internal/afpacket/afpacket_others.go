//go:build !linux

package afpacket

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"
	"time"

	"golang.org/x/net/bpf"
)

// errUnsupported is returned off Linux.
var errUnsupported = fmt.Errorf("afpacket: packet sockets are Linux-only: %w", errors.ErrUnsupported)

// Conn is an AF_PACKET socket; off Linux Listen returns an error wrapping
// errors.ErrUnsupported.
type Conn struct{}

// Listen returns an error wrapping errors.ErrUnsupported off Linux.
func Listen(ifi *net.Interface, typ Type, proto uint16, cfg *Config) (*Conn, error) {
	return nil, errUnsupported
}

// ReadFrom returns an error wrapping errors.ErrUnsupported.
func (c *Conn) ReadFrom(b []byte) (int, net.Addr, error) { return 0, nil, errUnsupported }

// ReadPacket returns an error wrapping errors.ErrUnsupported.
func (c *Conn) ReadPacket(b []byte, from *Addr) (int, error) { return 0, errUnsupported }

// WriteTo returns an error wrapping errors.ErrUnsupported.
func (c *Conn) WriteTo(b []byte, addr net.Addr) (int, error) { return 0, errUnsupported }

// Write returns an error wrapping errors.ErrUnsupported.
func (c *Conn) Write(b []byte) (int, error) { return 0, errUnsupported }

// WritePacket returns an error wrapping errors.ErrUnsupported.
func (c *Conn) WritePacket(b []byte, a *Addr) (int, error) { return 0, errUnsupported }

// SetBPF returns an error wrapping errors.ErrUnsupported.
func (c *Conn) SetBPF(filter []bpf.RawInstruction) error { return errUnsupported }

// LocalAddr returns an empty *Addr.
func (c *Conn) LocalAddr() net.Addr { return &Addr{} }

// SetDeadline returns an error wrapping errors.ErrUnsupported.
func (c *Conn) SetDeadline(t time.Time) error { return errUnsupported }

// SetReadDeadline returns an error wrapping errors.ErrUnsupported.
func (c *Conn) SetReadDeadline(t time.Time) error { return errUnsupported }

// SetWriteDeadline returns an error wrapping errors.ErrUnsupported.
func (c *Conn) SetWriteDeadline(t time.Time) error { return errUnsupported }

// SyscallConn returns an error wrapping errors.ErrUnsupported.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return nil, errUnsupported }

// Stats returns an error wrapping errors.ErrUnsupported.
func (c *Conn) Stats() (Stats, error) { return Stats{}, errUnsupported }

// Close returns an error wrapping errors.ErrUnsupported.
func (c *Conn) Close() error { return errUnsupported }

// NewBatchReader returns an error wrapping errors.ErrUnsupported.
func (c *Conn) NewBatchReader(batch, slot int) (*BatchReader, error) { return nil, errUnsupported }

// NewBatchWriter returns an error wrapping errors.ErrUnsupported.
func (c *Conn) NewBatchWriter(batch, slot int) (*BatchWriter, error) { return nil, errUnsupported }

// BatchReader reads packets with recvmmsg on Linux.
type BatchReader struct{}

// Read returns an error wrapping errors.ErrUnsupported.
func (r *BatchReader) Read() ([]Packet, error) { return nil, errUnsupported }

// BatchWriter sends packets with sendmmsg on Linux.
type BatchWriter struct{}

// Slot returns nil.
func (w *BatchWriter) Slot() []byte { return nil }

// Commit reports false.
func (w *BatchWriter) Commit(n int, to *Addr) bool { return false }

// Len returns 0.
func (w *BatchWriter) Len() int { return 0 }

// Full reports true.
func (w *BatchWriter) Full() bool { return true }

// Flush returns an error wrapping errors.ErrUnsupported.
func (w *BatchWriter) Flush() (int, error) { return 0, errUnsupported }

// Reset does nothing.
func (w *BatchWriter) Reset() {}

// Ring is a TPACKET_V3 receive ring on Linux.
type Ring struct{}

// ListenRing returns an error wrapping errors.ErrUnsupported off Linux.
func ListenRing(ifi *net.Interface, typ Type, proto uint16, cfg *RingConfig) (*Ring, error) {
	return nil, errUnsupported
}

// ReadPacket returns an error wrapping errors.ErrUnsupported.
func (r *Ring) ReadPacket(p *Packet) error { return errUnsupported }

// SetReadDeadline returns an error wrapping errors.ErrUnsupported.
func (r *Ring) SetReadDeadline(t time.Time) error { return errUnsupported }

// Stats returns an error wrapping errors.ErrUnsupported.
func (r *Ring) Stats() (Stats, error) { return Stats{}, errUnsupported }

// Close returns an error wrapping errors.ErrUnsupported.
func (r *Ring) Close() error { return errUnsupported }

// RawIPv4 sends IPv4 packets through a raw IP socket on Linux.
type RawIPv4 struct{}

// ListenRawIPv4 returns an error wrapping errors.ErrUnsupported off Linux.
func ListenRawIPv4() (*RawIPv4, error) { return nil, errUnsupported }

// Send returns an error wrapping errors.ErrUnsupported.
func (s *RawIPv4) Send(pkt []byte, dst netip.Addr) error { return errUnsupported }

// Close returns an error wrapping errors.ErrUnsupported.
func (s *RawIPv4) Close() error { return errUnsupported }

// JoinMulticast returns an error wrapping errors.ErrUnsupported.
func (c *Conn) JoinMulticast(ifindex int, hw net.HardwareAddr) error { return errUnsupported }

// LeaveMulticast returns an error wrapping errors.ErrUnsupported.
func (c *Conn) LeaveMulticast(ifindex int, hw net.HardwareAddr) error { return errUnsupported }

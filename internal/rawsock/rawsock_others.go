//go:build !linux

package rawsock

import (
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

var errUnsupported = fmt.Errorf("rawsock: AF_PACKET sockets need Linux: %w", errors.ErrUnsupported)

// Sender is unavailable on this platform.
type Sender struct{}

// NewSender returns an error wrapping errors.ErrUnsupported.
func NewSender(batch, slot int) (*Sender, error) { return nil, errUnsupported }

// Slot returns nil.
func (s *Sender) Slot() []byte { return nil }

// Commit does nothing.
func (s *Sender) Commit(n int, d *Dest) {}

// Len returns 0.
func (s *Sender) Len() int { return 0 }

// Full reports true.
func (s *Sender) Full() bool { return true }

// Flush returns an error wrapping errors.ErrUnsupported.
func (s *Sender) Flush() (int, error) { return 0, errUnsupported }

// Close does nothing.
func (s *Sender) Close() error { return nil }

// Packet is one received packet.
type Packet struct {
	Data    []byte
	Ifindex int
}

// Receiver is unavailable on this platform.
type Receiver struct{}

// NewReceiver returns an error wrapping errors.ErrUnsupported.
func NewReceiver(ifindex int, filter []bpf.RawInstruction, batch, slot int) (*Receiver, error) {
	return nil, errUnsupported
}

// Read returns an error wrapping errors.ErrUnsupported.
func (r *Receiver) Read() ([]Packet, error) { return nil, errUnsupported }

// Drops returns 0.
func (r *Receiver) Drops() uint64 { return 0 }

// Close does nothing.
func (r *Receiver) Close() error { return nil }

// IP4 is unavailable on this platform.
type IP4 struct{}

// NewIP4 returns an error wrapping errors.ErrUnsupported.
func NewIP4() (*IP4, error) { return nil, errUnsupported }

// Send returns an error wrapping errors.ErrUnsupported.
func (s *IP4) Send(pkt []byte, dst [4]byte) error { return errUnsupported }

// Close does nothing.
func (s *IP4) Close() error { return nil }

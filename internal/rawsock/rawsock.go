package rawsock

import (
	"errors"
)

// Dest is where a packet goes: an interface, the link-layer protocol
// (EtherType, such as 0x0800 or 0x86dd) and the next hop's hardware
// address (empty for loopback or headerless links: the kernel fills zeros).
type Dest struct {
	Ifindex int
	Proto   uint16
	HWLen   uint8
	HW      [8]byte
}

// ErrPermission is wrapped by the errors of Open functions when the process
// lacks CAP_NET_RAW; it wraps os.ErrPermission.
var ErrPermission = errors.New("rawsock: AF_PACKET sockets need CAP_NET_RAW (run as root or grant the capability)")

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

// ErrPermission is wrapped, together with os.ErrPermission, by the errors
// of NewSender, NewReceiver and NewIP4 when the process lacks CAP_NET_RAW.
var ErrPermission = errors.New("raw sockets need CAP_NET_RAW (run as root or grant the capability)")

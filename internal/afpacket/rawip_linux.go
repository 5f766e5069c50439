//go:build linux

package afpacket

import (
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// RawIPv4 sends complete IPv4 packets through a raw IP socket
// (IPPROTO_RAW, header included). It is the companion of Conn for targets
// on this host: Linux treats IPv4 packets to 127.0.0.0/8 written to a
// packet socket as martians, but the IP output path delivers them.
type RawIPv4 struct {
	fd int
}

// ListenRawIPv4 opens a raw IPv4 send socket. It needs CAP_NET_RAW.
func ListenRawIPv4() (*RawIPv4, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		err = opError("socket", nil, err)
		err.(*net.OpError).Net = "ip4:raw"
		return nil, err
	}
	return &RawIPv4{fd: fd}, nil
}

// Send sends pkt, whose IPv4 header names dst, to dst. It blocks while
// the socket buffer is full.
func (s *RawIPv4) Send(pkt []byte, dst netip.Addr) error {
	to := unix.SockaddrInet4{Addr: dst.Unmap().As4()}
	for {
		err := unix.Sendto(s.fd, pkt, 0, &to)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &net.OpError{Op: "write", Net: "ip4:raw", Err: err}
		}
		return nil
	}
}

// Close closes the socket.
func (s *RawIPv4) Close() error { return unix.Close(s.fd) }

package probe

import (
	"context"
	"encoding/binary"
	"errors"
	"net/netip"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/portsense/portsense/result"
)

// connectOnce makes one non-blocking connect(2) and waits for it through
// the runtime's poller. Unlike net.Dial it keeps the socket after a
// failure long enough to read the ICMP error that caused it from the error
// queue (IP_RECVERR), so a filtered port gets its exact reason.
// ok is false when the attempt timed out or was cancelled.
func connectOnce(ctx context.Context, src netip.Addr, dst netip.AddrPort, timeout time.Duration) (result.State, result.Reason, netip.Addr, bool) {
	deadline := time.Now().Add(timeout)
	for {
		st, reason, from, retry, ok := connectTry(ctx, src, dst, deadline)
		if !retry {
			return st, reason, from, ok
		}
		// Out of descriptors or ephemeral ports: wait for others to finish.
		if time.Now().Add(5*time.Millisecond).After(deadline) || ctx.Err() != nil {
			return 0, 0, netip.Addr{}, false
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-ctx.Done():
			return 0, 0, netip.Addr{}, false
		}
	}
}

func connectTry(ctx context.Context, src netip.Addr, dst netip.AddrPort, deadline time.Time) (st result.State, reason result.Reason, from netip.Addr, retry, ok bool) {
	addr := dst.Addr().Unmap()
	family, level, opt := unix.AF_INET, unix.SOL_IP, unix.IP_RECVERR
	if addr.Is6() {
		family, level, opt = unix.AF_INET6, unix.SOL_IPV6, unix.IPV6_RECVERR
	}
	fd, err := unix.Socket(family, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, 0, netip.Addr{}, isResourceErr(err), false
	}
	f := os.NewFile(uintptr(fd), "connect")
	defer f.Close()
	_ = unix.SetsockoptInt(fd, level, opt, 1)
	_ = unix.SetsockoptLinger(fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	if src.IsValid() {
		if err := unix.Bind(fd, sockaddr(netip.AddrPortFrom(src.Unmap(), 0))); err != nil {
			return 0, 0, netip.Addr{}, isResourceErr(err), false
		}
	}
	err = unix.Connect(fd, sockaddr(netip.AddrPortFrom(addr, dst.Port())))
	switch {
	case err == nil:
		return result.Open, result.SynAck, netip.Addr{}, false, true
	case errors.Is(err, unix.EINPROGRESS):
		// wait below
	case isResourceErr(err):
		return 0, 0, netip.Addr{}, true, false
	default:
		return classifyConnErr(fd, err)
	}
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, 0, netip.Addr{}, false, false
	}
	if err := f.SetWriteDeadline(deadline); err != nil {
		return 0, 0, netip.Addr{}, false, false
	}
	// Cancellation: move the deadline to now so the wait returns.
	stop := context.AfterFunc(ctx, func() { f.SetWriteDeadline(time.Now()) })
	defer stop()
	var soErr error
	werr := rc.Write(func(fd uintptr) bool {
		// The poller may call back on spurious wake-ups: only a socket
		// that polls writable (or in error) has finished connecting.
		if !connectDone(int(fd)) {
			return false
		}
		n, err := unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_ERROR)
		if err != nil {
			soErr = err
		} else if n != 0 {
			soErr = unix.Errno(n)
		}
		return true
	})
	if werr != nil {
		if ctx.Err() != nil || !connectDone(fd) {
			return 0, 0, netip.Addr{}, false, false // timed out or cancelled: silence
		}
		// The answer came in time but this goroutine ran late (a loaded
		// machine): the kernel has the verdict, so use it.
		n, err := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
		switch {
		case err != nil:
			soErr = err
		case n != 0:
			soErr = unix.Errno(n)
		}
	}
	if soErr == nil {
		if _, err := unix.Getpeername(fd); err != nil {
			return 0, 0, netip.Addr{}, false, false // not connected after all
		}
		return result.Open, result.SynAck, netip.Addr{}, false, true
	}
	return classifyConnErr(fd, soErr)
}

// classifyConnErr turns a failed connect into a verdict, preferring the
// ICMP type and code from the error queue over errno.
func classifyConnErr(fd int, err error) (result.State, result.Reason, netip.Addr, bool, bool) {
	if r, from, ok := readICMPError(fd); ok {
		return result.Filtered, r, from, false, true
	}
	switch {
	case errors.Is(err, unix.ECONNREFUSED):
		return result.Closed, result.ConnRefused, netip.Addr{}, false, true
	case errors.Is(err, unix.EHOSTUNREACH):
		return result.Filtered, result.HostUnreach, netip.Addr{}, false, true
	case errors.Is(err, unix.ENETUNREACH):
		return result.Filtered, result.NetUnreach, netip.Addr{}, false, true
	case errors.Is(err, unix.ETIMEDOUT):
		return 0, 0, netip.Addr{}, false, false
	case isResourceErr(err):
		return 0, 0, netip.Addr{}, true, false
	}
	return result.Filtered, result.Unreachable, netip.Addr{}, false, true
}

func isResourceErr(err error) bool {
	return errors.Is(err, unix.EMFILE) || errors.Is(err, unix.ENFILE) ||
		errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.EAGAIN)
}

// readICMPError reads one extended error from the socket's error queue.
func readICMPError(fd int) (result.Reason, netip.Addr, bool) {
	var oob [256]byte
	var b [1]byte
	_, oobn, _, _, err := unix.Recvmsg(fd, b[:], oob[:], unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT)
	if err != nil || oobn == 0 {
		return 0, netip.Addr{}, false
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil {
		return 0, netip.Addr{}, false
	}
	for _, m := range msgs {
		isV4 := m.Header.Level == unix.SOL_IP && m.Header.Type == unix.IP_RECVERR
		isV6 := m.Header.Level == unix.SOL_IPV6 && m.Header.Type == unix.IPV6_RECVERR
		if (!isV4 && !isV6) || len(m.Data) < 16 {
			continue
		}
		origin, typ, code := m.Data[4], m.Data[5], m.Data[6]
		from := offender(m.Data[16:])
		switch origin {
		case unix.SO_EE_ORIGIN_ICMP:
			if r, ok := icmp4Reason(typ, code); ok {
				return r, from, true
			}
		case unix.SO_EE_ORIGIN_ICMP6:
			if r, ok := icmp6Reason(typ, code); ok {
				return r, from, true
			}
		}
	}
	return 0, netip.Addr{}, false
}

// offender decodes the sockaddr that follows sock_extended_err.
func offender(b []byte) netip.Addr {
	if len(b) < 2 {
		return netip.Addr{}
	}
	switch binary.NativeEndian.Uint16(b) {
	case unix.AF_INET:
		if len(b) >= 8 {
			return netip.AddrFrom4([4]byte(b[4:8]))
		}
	case unix.AF_INET6:
		if len(b) >= 24 {
			return netip.AddrFrom16([16]byte(b[8:24]))
		}
	}
	return netip.Addr{}
}

func sockaddr(ap netip.AddrPort) unix.Sockaddr {
	if ap.Addr().Is4() {
		return &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}
	}
	return &unix.SockaddrInet6{Port: int(ap.Port()), Addr: ap.Addr().As16()}
}

// fdBudget is how many descriptors connect probes may hold at once: three
// quarters of the soft open-file limit (which the Go runtime raises to the
// hard limit at start-up), at most 8192.
func fdBudget() int {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil || rl.Cur < 256 {
		return 64
	}
	return int(min(rl.Cur*3/4, 8192))
}

// connectDone reports, without waiting, whether a connect in progress has
// finished one way or the other.
func connectDone(fd int) bool {
	pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
	n, err := unix.Poll(pfd, 0)
	return err == nil && n > 0 && pfd[0].Revents != 0
}

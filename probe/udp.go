package probe

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/portsense/portsense/probe/srcpool"
	"github.com/portsense/portsense/probe/udppayload"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// UDPConfig configures the UDP prober. A nil *UDPConfig means defaults:
// raw packets (root), the built-in payload table, source by route.
type UDPConfig struct {
	// Payloads is the table of datagrams per port; nil means
	// udppayload.Default(). Every datagram registered for a port is sent
	// in each try; ports without one get an empty datagram.
	Payloads *udppayload.Table
	// Sockets selects connected UDP sockets instead of raw packets: no
	// privileges and every OS, one socket (file descriptor) per probe in
	// flight. Without it NewUDP needs Linux and CAP_NET_RAW and says so;
	// it never falls back on its own.
	Sockets bool
	// Source forces the source address for targets of its family;
	// invalid picks it by route.
	Source netip.Addr
	// MaxInFlight bounds simultaneous probes with Sockets; zero derives
	// it from the open-file limit, as the connect prober does.
	MaxInFlight int

	// The fields below apply to raw packets only.

	// Interface forces the outgoing interface by name; empty picks it by route.
	Interface string
	// SourcePort is the first of the UDPSourcePorts source ports; 0 means
	// DefaultUDPSourcePort.
	SourcePort uint16
	// Key keys the IP ID / flow cookie; the zero key means a fresh random
	// key per session.
	Key [16]byte
	// TTL is the IPv4 TTL / IPv6 hop limit of probes; 0 means 64.
	TTL uint8
	// SourcePool and Rotation spread raw probes over claimed source
	// addresses, as for SYNConfig (probe/srcpool); each reply records
	// its source (Reply.Source). Linux limits ICMP errors per
	// destination address, so a host answers a pool of N addresses with
	// up to N times as many port-unreachables a second.
	SourcePool *srcpool.Pool
	Rotation   srcpool.Rotation
}

// Source ports of raw UDP probes: a probe's try is encoded in its source
// port as SourcePort + Try%UDPSourcePorts. The default range 61456-61471
// follows the SYN prober's and lies above Linux's ephemeral range.
const (
	DefaultUDPSourcePort = 61456
	UDPSourcePorts       = 16
)

// UDP is the UDP prober, nmap's -sU, for IPv4 and IPv6. A UDP port has no
// handshake, so the verdicts are:
//
//   - a UDP datagram back from the port: open, udp-response; when the
//     reply parses as the protocol of a payload sent (package udppayload),
//     the Reply names the service
//   - ICMP port unreachable: closed, port-unreach
//   - another ICMP unreachable (admin-prohibited, host-unreach, …):
//     filtered, with the reason from the type and code
//   - silence: open|filtered, no-response (Silence; the engine decides)
//
// Hosts rate-limit ICMP errors (Linux: about one a second per destination
// after a burst of six), so closed ports answer slowly; the engine
// (package scanner) detects that and paces retransmissions to the host's
// ICMP budget.
//
// With UDPConfig.Sockets, every try is a connected UDP socket: the kernel
// delivers only datagrams from the probed address and port, and reports an
// ICMP error for the socket (on Linux read from the socket's error queue
// with its type and code; elsewhere from errno).
type UDP struct {
	cfg      UDPConfig
	payloads *udppayload.Table
}

var _ Prober = (*UDP)(nil)
var _ InFlightLimiter = (*UDP)(nil)

// Protocol returns target.UDP.
func (u *UDP) Protocol() target.Protocol { return target.UDP }

// Silence returns open|filtered, no-response.
func (u *UDP) Silence() (result.State, result.Reason) {
	return result.OpenFiltered, result.NoResponse
}

// MaxInFlight bounds the engine's window with Sockets (one descriptor per
// probe); raw probes are not bounded here.
func (u *UDP) MaxInFlight() int {
	if !u.cfg.Sockets {
		return 0
	}
	n := u.cfg.MaxInFlight
	if n <= 0 {
		n = fdBudget()
	}
	return max(n/2, 1)
}

// NewUDP returns a UDP prober; nil cfg means defaults. Without
// cfg.Sockets it needs raw packets: it fails with an error wrapping
// os.ErrPermission, naming CAP_NET_RAW, when the process may not open
// packet sockets, and with errors.ErrUnsupported off Linux.
func NewUDP(cfg *UDPConfig) (*UDP, error) {
	u := &UDP{}
	if cfg != nil {
		u.cfg = *cfg
	}
	u.payloads = u.cfg.Payloads
	if u.payloads == nil {
		u.payloads = udppayload.Default()
	}
	if u.cfg.Source.IsValid() {
		u.cfg.Source = u.cfg.Source.Unmap()
		if u.cfg.Source.IsUnspecified() || u.cfg.Source.IsMulticast() || u.cfg.Source.Zone() != "" {
			return nil, fmt.Errorf("probe: udp: source address %v cannot send probes", u.cfg.Source)
		}
	}
	if u.cfg.Sockets && u.cfg.SourcePool != nil {
		return nil, fmt.Errorf("probe: udp: a source pool needs raw packets, not Sockets")
	}
	if u.cfg.Rotation > srcpool.PerTarget {
		return nil, fmt.Errorf("probe: udp: unknown source rotation %d", u.cfg.Rotation)
	}
	if u.cfg.SourcePort == 0 {
		u.cfg.SourcePort = DefaultUDPSourcePort
	}
	if int(u.cfg.SourcePort)+UDPSourcePorts-1 > 65535 {
		return nil, fmt.Errorf("probe: udp: source port %d too high: UDP needs %d ports from it", u.cfg.SourcePort, UDPSourcePorts)
	}
	if u.cfg.TTL == 0 {
		u.cfg.TTL = 64
	}
	if u.cfg.Sockets {
		return u, nil
	}
	if err := checkUDPRaw(&u.cfg); err != nil {
		return nil, err
	}
	return u, nil
}

// Open starts a session.
func (u *UDP) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if deliver == nil {
		return nil, errors.New("probe: udp: nil deliver function")
	}
	if u.cfg.Sockets {
		n := u.cfg.MaxInFlight
		if n <= 0 {
			n = fdBudget()
		}
		return openUDPSockets(u.cfg, u.payloads, n, deliver), nil
	}
	return openUDPRaw(ctx, u.cfg, u.payloads, deliver)
}

// udpService names the service a reply from port speaks, or nil.
func udpService(tab *udppayload.Table, port uint16, reply []byte) *result.Service {
	name, ok := tab.Identify(port, reply)
	if !ok {
		return nil
	}
	return &result.Service{Name: name, Method: "probed", Conf: 8}
}

func checkUDPTarget(p Probe) error {
	if p.Target.Port.Proto != target.UDP {
		return fmt.Errorf("%w: udp prober: target %s is not udp", ErrTargetSkipped, p.Target)
	}
	if !p.Target.Addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrTargetSkipped)
	}
	return nil
}

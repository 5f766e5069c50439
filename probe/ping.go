package probe

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// Host discovery ("ping scan", nmap's -sn) asks whether hosts are up
// before their ports are scanned. A discovery prober is an ordinary
// Prober whose targets are hosts:
//
//   - its Protocol is HostProtocol (0), and the Target of every Probe and
//     Reply it handles has the zero Port;
//   - a Reply with State result.Open says the host is up (Reason says why:
//     echo-reply, syn-ack, reset, arp-response, …); any other State says it
//     is down (such as host-unreach from a router);
//   - Silence is filtered, no-response: a host that never answered is down.
//
// One probe of a host may send several packets (nmap's default sends an
// ICMP echo, a SYN to 443, an ACK to 80 and an ICMP timestamp request);
// the first reply decides. The scanner package turns these replies into
// result.Host values (scanner.Scanner.Discover, Sweep).

// HostProtocol is the Protocol of discovery probers: their targets are
// whole hosts (target.Target with the zero Port), not ports.
const HostProtocol target.Protocol = 0

// PingMethod is one way of asking whether a host is up.
type PingMethod uint8

// Ping methods, with nmap's flags.
const (
	PingEcho      PingMethod = iota + 1 // -PE: ICMP echo request (ICMPv6 echo for IPv6)
	PingTimestamp                       // -PP: ICMP timestamp request (IPv4 only)
	PingSYN                             // -PS: TCP SYN to PingConfig.SYNPorts; SYN-ACK or RST means up
	PingACK                             // -PA: TCP ACK to PingConfig.ACKPorts; RST means up
	PingUDP                             // -PU: UDP to PingConfig.UDPPorts; any UDP reply or port-unreach means up
	PingARP                             // -PR: ARP (IPv4) or NDP neighbour solicitation (IPv6), on-link targets only
	PingConnect                         // TCP connect(2) to PingConfig.SYNPorts; connected or refused means up (no privileges)
)

var pingNames = [...]string{
	PingEcho: "echo", PingTimestamp: "timestamp", PingSYN: "syn", PingACK: "ack",
	PingUDP: "udp", PingARP: "arp", PingConnect: "connect",
}

// String returns the method's name: "echo", "timestamp", "syn", "ack",
// "udp", "arp" or "connect".
func (m PingMethod) String() string {
	if int(m) < len(pingNames) && pingNames[m] != "" {
		return pingNames[m]
	}
	return fmt.Sprintf("pingmethod(%d)", uint8(m))
}

// Raw reports whether m needs raw packets (Linux and CAP_NET_RAW).
func (m PingMethod) Raw() bool { return m != PingConnect }

// Default ports of the TCP and UDP pings, as nmap's.
var (
	DefaultSYNPingPorts = []uint16{443} // the SYN ping of nmap's root default (its -PS alone uses 80)
	DefaultACKPingPorts = []uint16{80}
	DefaultUDPPingPorts = []uint16{40125}
	// DefaultConnectPingPorts are the ports of the unprivileged default.
	DefaultConnectPingPorts = []uint16{80, 443}
)

// PingConfig configures host discovery. The zero value (or nil) means
// nmap's defaults: with raw-socket rights ARP or NDP for on-link targets,
// otherwise ICMP echo, SYN to 443, ACK to 80 and ICMP timestamp; without
// them a connect to 80 and 443.
type PingConfig struct {
	// Methods are the probes sent to every host; empty means the default
	// for the process's rights (see PingConfig).
	Methods []PingMethod
	// SYNPorts, ACKPorts and UDPPorts are the ports of the TCP SYN (and
	// connect), TCP ACK and UDP pings; nil means the Default…PingPorts.
	SYNPorts, ACKPorts, UDPPorts []uint16
	// DisableARP sends the routed methods to on-link targets too, instead
	// of ARP/NDP alone (nmap --disable-arp-ping). With explicit Methods
	// that include PingARP it is an error.
	DisableARP bool
	// Raw tells NewPing which default to pick when Methods is empty:
	// RawAuto (0) tries to open a packet socket, RawNever picks the
	// connect default, RawAlways insists on raw methods.
	Raw RawMode
	// SYN configures the raw session's addressing (interface, source,
	// cookie key, TTL); nil means defaults.
	SYN *SYNConfig
	// Connect configures the connect ping; nil means defaults.
	Connect *ConnectConfig
}

// RawMode says whether NewPing may use raw packets.
type RawMode uint8

// Raw modes.
const (
	RawAuto   RawMode = iota // raw when the process may open packet sockets
	RawNever                 // unprivileged methods only (connect)
	RawAlways                // raw methods only; an error without the rights
)

// PingStats are the counters of a raw ping session; its Session has a
// Stats method returning them (reach it with an interface assertion).
type PingStats struct {
	Sent      uint64 // packets handed to the kernel
	Skipped   uint64 // hosts or packets not sent: no route, no neighbour, wrong family
	Received  uint64 // packets that passed the socket filter
	Dropped   uint64 // packets that passed the filter but were lost: receive buffer full
	Forged    uint64 // replies whose cookie did not match: dropped
	Ignored   uint64 // packets that were not a reply to a ping
	Delivered uint64 // replies passed to deliver
}

// ErrPingMethod is wrapped by NewPing's errors for a method the platform
// or the process's rights cannot do.
var ErrPingMethod = errors.New("probe: ping method unavailable")

// NewPing returns the discovery prober cfg describes. Methods that need
// raw packets on a platform without them, or without CAP_NET_RAW, give an
// error naming the method and what is missing (wrapping ErrPingMethod and
// errors.ErrUnsupported or os.ErrPermission). As in nmap, a SYN ping alone
// without those rights becomes a connect ping to the same ports (unless
// Raw is RawAlways).
func NewPing(cfg *PingConfig) (Prober, error) {
	var c PingConfig
	if cfg != nil {
		c = *cfg
	}
	if c.SYNPorts == nil {
		if slices.Equal(c.Methods, []PingMethod{PingConnect}) {
			c.SYNPorts = DefaultConnectPingPorts
		} else {
			c.SYNPorts = DefaultSYNPingPorts
		}
	}
	if c.ACKPorts == nil {
		c.ACKPorts = DefaultACKPingPorts
	}
	if c.UDPPorts == nil {
		c.UDPPorts = DefaultUDPPingPorts
	}
	for _, m := range c.Methods {
		if m < PingEcho || m > PingConnect {
			return nil, fmt.Errorf("probe: unknown ping method %d", uint8(m))
		}
		if m == PingARP && c.DisableARP {
			return nil, errors.New("probe: ping methods name arp but DisableARP is set")
		}
	}
	if len(c.Methods) == 0 {
		switch c.Raw {
		case RawNever:
			c.Methods = []PingMethod{PingConnect}
			c.SYNPorts = DefaultConnectPingPorts
		case RawAlways:
			c.Methods = defaultRawMethods(c.DisableARP)
		default:
			if err := rawPingAvailable(); err != nil {
				c.Methods = []PingMethod{PingConnect}
				if cfg == nil || cfg.SYNPorts == nil {
					c.SYNPorts = DefaultConnectPingPorts
				}
			} else {
				c.Methods = defaultRawMethods(c.DisableARP)
			}
		}
	}
	var raw []string
	for _, m := range c.Methods {
		if m.Raw() {
			raw = append(raw, m.String())
		}
	}
	if len(raw) > 0 {
		if c.Raw == RawNever {
			return nil, fmt.Errorf("%w: %s ping needs raw packets, which RawNever forbids", ErrPingMethod, strings.Join(raw, ", "))
		}
		if err := rawPingAvailable(); err != nil {
			if c.Raw != RawAlways && slices.Equal(c.Methods, []PingMethod{PingSYN}) {
				// nmap's -PS without privileges: connect to the ports.
				return NewConnectPing(c.Connect, c.SYNPorts)
			}
			return nil, fmt.Errorf("%w: %s ping: %w", ErrPingMethod, strings.Join(raw, ", "), err)
		}
		return newRawPing(c)
	}
	return NewConnectPing(c.Connect, c.SYNPorts)
}

func defaultRawMethods(disableARP bool) []PingMethod {
	m := []PingMethod{PingEcho, PingSYN, PingACK, PingTimestamp}
	if !disableARP {
		m = append([]PingMethod{PingARP}, m...)
	}
	return m
}

// ConnectPing is the unprivileged discovery prober: it connects to a few
// TCP ports of each host (nmap's non-root default: 80 and 443). A
// connection (syn-ack) or a refusal (conn-refused: the host sent a reset)
// says the host is up; silence says it is down. ICMP errors are not taken
// as verdicts: a router's host-unreach for one port leaves the other
// ports to answer.
type ConnectPing struct {
	c     *Connect
	ports []uint16
}

var _ Prober = (*ConnectPing)(nil)
var _ InFlightLimiter = (*ConnectPing)(nil)

// NewConnectPing returns a connect discovery prober to ports (nil means
// DefaultConnectPingPorts); nil cfg means connect defaults.
func NewConnectPing(cfg *ConnectConfig, ports []uint16) (*ConnectPing, error) {
	if ports == nil {
		ports = DefaultConnectPingPorts
	}
	if len(ports) == 0 || len(ports) > 64 {
		return nil, fmt.Errorf("probe: connect ping needs 1-64 ports, not %d", len(ports))
	}
	return &ConnectPing{c: NewConnect(cfg), ports: slices.Clone(ports)}, nil
}

// Protocol returns HostProtocol.
func (p *ConnectPing) Protocol() target.Protocol { return HostProtocol }

// Silence returns filtered, no-response: the host is down.
func (p *ConnectPing) Silence() (result.State, result.Reason) {
	return result.Filtered, result.NoResponse
}

// MaxInFlight bounds hosts in flight so that their connection attempts
// stay within the connect prober's budget.
func (p *ConnectPing) MaxInFlight() int {
	return max(p.c.MaxInFlight()/len(p.ports), 1)
}

// Ports returns the TCP ports the prober connects to.
func (p *ConnectPing) Ports() []uint16 { return slices.Clone(p.ports) }

// Open opens a connect session whose verdicts are mapped to hosts.
func (p *ConnectPing) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	if deliver == nil {
		return nil, errors.New("probe: connect ping: nil deliver function")
	}
	inner, err := p.c.Open(ctx, func(r Reply) {
		switch r.State {
		case result.Open, result.Closed:
		default:
			return // ICMP errors: let the other ports or silence decide
		}
		r.Target = target.Target{Addr: r.Target.Addr}
		r.State = result.Open
		deliver(r)
	})
	if err != nil {
		return nil, err
	}
	s := &connectPingSession{inner: inner, ports: p.ports}
	s.flusher, _ = inner.(Flusher)
	return s, nil
}

type connectPingSession struct {
	inner   Session
	flusher Flusher
	ports   []uint16
}

func (s *connectPingSession) Send(p Probe) error {
	if p.Target.Port != (target.Port{}) {
		return fmt.Errorf("%w: connect ping probes hosts, not port %v", ErrTargetSkipped, p.Target.Port)
	}
	for _, port := range s.ports {
		q := p
		q.Target.Port = target.Port{Proto: target.TCP, Num: port}
		if err := s.inner.Send(q); err != nil {
			return err
		}
	}
	return nil
}

func (s *connectPingSession) Flush() error {
	if s.flusher != nil {
		return s.flusher.Flush()
	}
	return nil
}

func (s *connectPingSession) Close() error { return s.inner.Close() }

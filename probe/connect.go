package probe

import (
	"context"
	"errors"
	"net/netip"
	"time"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// ConnectConfig configures a TCP connect prober. The zero value works.
type ConnectConfig struct {
	// MaxInFlight bounds simultaneous connection attempts (and so open
	// sockets). Zero derives it from the process's open-file limit
	// (RLIMIT_NOFILE), keeping a reserve for the rest of the program.
	MaxInFlight int
	// Source, when valid, is the local address connections are made from.
	Source netip.Addr
}

// Connect is the TCP connect prober (nmap's -sT). It asks the operating
// system to open a connection, so it needs no privileges and works on
// every platform:
//
//   - connected: open, syn-ack
//   - connected to itself (on loopback the kernel may pick the target port
//     as the source port: TCP simultaneous open): closed, conn-refused,
//     since a port the kernel hands out as a source port has no listener
//   - refused (RST): closed, conn-refused
//   - no answer within the probe timeout: silence, which the engine turns
//     into filtered, no-response after its retries
//   - an ICMP error: filtered, with the reason from the ICMP type and code
//     (on Linux, read from the socket's error queue; elsewhere from errno)
//
// An open port is closed again at once with a reset (SO_LINGER 0), so a
// scan leaves no TIME_WAIT sockets behind.
type Connect struct {
	cfg ConnectConfig
}

var _ Prober = (*Connect)(nil)
var _ InFlightLimiter = (*Connect)(nil)

// NewConnect returns a connect prober; nil cfg means defaults.
func NewConnect(cfg *ConnectConfig) *Connect {
	c := &Connect{}
	if cfg != nil {
		c.cfg = *cfg
	}
	return c
}

// Protocol returns target.TCP.
func (c *Connect) Protocol() target.Protocol { return target.TCP }

// Silence returns filtered, no-response.
func (c *Connect) Silence() (result.State, result.Reason) { return result.Filtered, result.NoResponse }

// MaxInFlight returns how many targets the engine may have in flight: half
// the bound on simultaneous attempts, since an attempt may overlap with
// its retransmission.
func (c *Connect) MaxInFlight() int {
	return max(c.attempts()/2, 1)
}

func (c *Connect) attempts() int {
	if c.cfg.MaxInFlight > 0 {
		return c.cfg.MaxInFlight
	}
	return fdBudget()
}

// Open starts a session. On Linux one poller goroutine waits for all
// connection attempts with epoll; elsewhere each attempt runs on its own
// goroutine. Close abandons attempts still running and waits until deliver
// is no longer called.
func (c *Connect) Open(ctx context.Context, deliver func(Reply)) (Session, error) {
	if deliver == nil {
		return nil, errors.New("probe: connect: nil deliver function")
	}
	if c.cfg.Source.IsValid() && c.cfg.Source.Zone() != "" {
		return nil, errors.New("probe: connect: source address must not have a zone")
	}
	return openConnectSession(c.cfg, c.attempts(), deliver)
}

// attemptTimeout is how long one connection attempt may live: past the
// engine's timeout, so that if the engine retransmits because the machine
// was busy, the first answer still arrives, names its try, and teaches the
// engine a longer timeout.
func attemptTimeout(p Probe) time.Duration {
	if p.Timeout <= 0 {
		return time.Second
	}
	return 2 * p.Timeout
}

func checkConnectTarget(p Probe) error {
	if p.Target.Port.Proto != target.TCP {
		return errors.New("probe: connect: target " + p.Target.String() + " is not tcp")
	}
	return nil
}

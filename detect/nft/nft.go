// Package nft blocks scanners in the Linux kernel with nftables: Blocker is
// a detect.Responder (and detect.Blocker) that adds the sources an event
// names to a set of its own table, with a timeout, so the kernel lifts
// each block by itself. It talks netlink directly (no nft binary) and
// needs CAP_NET_ADMIN; off Linux, New returns an error wrapping
// errors.ErrUnsupported.
//
// It is a package of its own so that programs that only analyse (a pcap
// reader, a detector that logs) do not link the nftables and netlink
// packages: those cost a pcap-only program about 200 symbols, with their
// package initialisers.
package nft

import (
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/portsense/portsense/detect"
)

// Config configures New. A nil *Config means defaults.
type Config struct {
	// Table names the inet table the blocker owns; it is created fresh
	// (replacing a stale one of the same name) and deleted by Close.
	// Default "portsense".
	Table string
	// Priority of the input-hook chain; lower runs earlier. nil means
	// -10, ahead of ordinary filter chains (priority 0); point at 0 to run
	// among them.
	Priority *int32
	// TTL is the default block time (Block with ttl 0, and Respond).
	// Default 10 minutes.
	TTL time.Duration
	// Capacity is the size of each address set (IPv4 and IPv6). Default
	// 65,536. When a set is full the kernel refuses new elements and Block
	// returns the error.
	Capacity int
	// Allow lists prefixes that are never blocked.
	Allow detect.Allowlist
}

func (c *Config) withDefaults() Config {
	var d Config
	if c != nil {
		d = *c
	}
	if d.Table == "" {
		d.Table = "portsense"
	}
	if d.Priority == nil {
		d.Priority = new(int32(-10))
	}
	if d.TTL <= 0 {
		d.TTL = 10 * time.Minute
	}
	if d.Capacity <= 0 {
		d.Capacity = 1 << 16
	}
	d.Allow = append(detect.Allowlist(nil), d.Allow...)
	return d
}

// nftError adds what a permission error means: the blocker needs
// CAP_NET_ADMIN in its network namespace.
func nftError(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (managing nftables needs CAP_NET_ADMIN)", err)
	}
	return err
}

// Names of the objects inside the blocker's table.
const (
	nftChain = "input"
	nftSet4  = "block4"
	nftSet6  = "block6"
)

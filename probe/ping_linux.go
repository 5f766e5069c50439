package probe

import (
	"errors"
	"fmt"

	"github.com/portsense/portsense/internal/rawsock"
)

// rawPingAvailable reports whether the process may open packet sockets.
func rawPingAvailable() error {
	tx, err := rawsock.NewSender(1, 64)
	if err != nil {
		return fmt.Errorf("needs CAP_NET_RAW: %w", err)
	}
	tx.Close()
	return nil
}

// newRawPing waits for the one packet path (internal/afpacket, internal/wire).
func newRawPing(PingConfig) (Prober, error) {
	return nil, fmt.Errorf("raw ping: %w", errors.ErrUnsupported)
}

//go:build !linux

package probe

import (
	"errors"
	"fmt"
)

func rawPingAvailable() error {
	return fmt.Errorf("raw packets are supported on Linux only: %w", errors.ErrUnsupported)
}

func newRawPing(PingConfig) (Prober, error) { return nil, rawPingAvailable() }

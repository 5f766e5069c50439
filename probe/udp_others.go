//go:build !linux

package probe

import (
	"context"
	"errors"
	"fmt"

	"github.com/portsense/portsense/probe/udppayload"
)

func checkUDPRaw(*UDPConfig) error {
	return fmt.Errorf("probe: raw UDP scan needs Linux raw sockets (set UDPConfig.Sockets for connected sockets): %w", errors.ErrUnsupported)
}

func openUDPRaw(context.Context, UDPConfig, *udppayload.Table, func(Reply)) (Session, error) {
	return nil, fmt.Errorf("probe: raw UDP scan needs Linux raw sockets: %w", errors.ErrUnsupported)
}

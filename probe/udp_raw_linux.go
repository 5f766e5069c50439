package probe

import (
	"context"
	"errors"
	"fmt"

	"github.com/portsense/portsense/probe/udppayload"
)

// errUDPRawPending: the raw path is built on internal/afpacket and
// internal/wire (the one packet path), which this tree does not have yet.
var errUDPRawPending = fmt.Errorf("probe: raw UDP scan is not built yet (set UDPConfig.Sockets for connected sockets): %w", errors.ErrUnsupported)

func checkUDPRaw(*UDPConfig) error { return errUDPRawPending }

func openUDPRaw(context.Context, UDPConfig, *udppayload.Table, func(Reply)) (Session, error) {
	return nil, errUDPRawPending
}

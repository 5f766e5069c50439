package probe

import (
	"errors"
	"fmt"
)

// ErrTargetSkipped, wrapped by Session.Send, tells the engine that this one
// target cannot be probed (no route, unsupported address family) and the
// scan should go on. The engine reports the target as filtered, no-response.
var ErrTargetSkipped = errors.New("probe: target skipped")

// ErrNoRoute, wrapped by Session.Send, says that the target was skipped
// because this host has no route to it. It wraps ErrTargetSkipped; the
// engine reports such a target with reason result.NoRoute instead of
// no-response, so that "unroutable" does not pass for "silent".
var ErrNoRoute = fmt.Errorf("%w: no route to host", ErrTargetSkipped)

package probe

import "errors"

// ErrTargetSkipped, wrapped by Session.Send, tells the engine that this one
// target cannot be probed (no route, unsupported address family) and the
// scan should go on. The engine reports the target as filtered, no-response.
var ErrTargetSkipped = errors.New("probe: target skipped")

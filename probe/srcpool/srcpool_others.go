//go:build !linux

package srcpool

import (
	"context"
	"errors"
	"fmt"
)

type poolImpl struct{}

// Claim returns an error wrapping errors.ErrUnsupported: answering ARP and
// neighbour discovery needs Linux packet sockets.
func Claim(ctx context.Context, cfg *Config) (*Pool, error) {
	if err := checkConfig(cfg); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("srcpool: claiming source addresses needs Linux packet sockets: %w", errors.ErrUnsupported)
}

// Close does nothing off Linux (no Pool is ever claimed there).
func (p *Pool) Close() error { return nil }

//go:build !linux

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// start needs Linux: network namespaces, AF_PACKET capture and nftables.
func start(ctx context.Context, o options, out io.Writer) error {
	return fmt.Errorf("the self-test lab needs Linux: %w", errors.ErrUnsupported)
}

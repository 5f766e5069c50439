package main

import (
	"errors"
	"sync"

	"github.com/portsense/portsense/result"
)

// closeTogether is result.Multi of ws, except that Close closes every
// writer at the same time, each in its own goroutine. The XML, greppable
// and table writers merge and write the whole run when they are closed
// (result/spill.go): after a large scan that takes a while, and on a
// machine with more than one core they need not wait for each other. Each
// writer has its own destination (outputs.writer), so they do not
// interleave.
func closeTogether(ws []result.Writer) result.Writer {
	return &together{Writer: result.Multi(ws...), ws: ws}
}

type together struct {
	result.Writer // writes go to every writer in turn, as Multi does
	ws            []result.Writer
	once          sync.Once
	err           error
}

// Close closes every writer concurrently and returns their errors joined
// in the writers' order. Only the first call closes.
func (t *together) Close() error {
	t.once.Do(func() {
		errs := make([]error, len(t.ws))
		var wg sync.WaitGroup
		for i, w := range t.ws {
			wg.Go(func() { errs[i] = w.Close() })
		}
		wg.Wait()
		t.err = errors.Join(errs...)
	})
	return t.err
}

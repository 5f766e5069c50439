package scanner

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"sync"

	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// ServiceDetector names the service behind an open TCP port.
// *service.Detector (package probe/service) implements it.
type ServiceDetector interface {
	Detect(ctx context.Context, addr netip.AddrPort) (*result.Service, error)
}

// DefaultServiceParallel is how many ports WithServiceDetection and
// DetectServices examine at once when given 0.
const DefaultServiceParallel = 32

type serviceStage struct {
	d        ServiceDetector
	parallel int
}

// WithServiceDetection runs d on every open TCP port the scan finds, at
// most parallel ports at once (0 means DefaultServiceParallel), and fills
// the result's Service before it appears on Scan.Results. Other results
// pass through at once. Results then close only when the last detection
// has ended, which may be after Scan.Done; Wait still reports the scan's
// own error.
func WithServiceDetection(d ServiceDetector, parallel int) Option {
	return func(c *config) error {
		if d == nil {
			return errors.New("scanner: nil service detector")
		}
		if parallel < 0 || parallel > 4096 {
			return fmt.Errorf("scanner: bad service detection parallelism %d: want 0-4096", parallel)
		}
		if parallel == 0 {
			parallel = DefaultServiceParallel
		}
		c.service = &serviceStage{d: d, parallel: parallel}
		return nil
	}
}

// DetectServices is the version-detection stage on its own: it reads
// results from in and sends each on the returned channel, after running
// d on the open TCP ones (at most parallel at once; 0 means
// DefaultServiceParallel). A detection error leaves Service nil. The
// returned channel closes after in closes and the last detection ends.
// When ctx ends, detections in flight stop and the remaining results
// pass through unchanged; the caller must still drain the channel.
func DetectServices(ctx context.Context, in <-chan result.Result, d ServiceDetector, parallel int) <-chan result.Result {
	if parallel <= 0 {
		parallel = DefaultServiceParallel
	}
	out := make(chan result.Result, 256)
	go func() {
		defer close(out)
		sem := make(chan struct{}, parallel)
		var wg sync.WaitGroup
		defer wg.Wait()
		for r := range in {
			if r.State != result.Open || r.Proto != target.TCP || r.Service != nil || ctx.Err() != nil {
				out <- r
				continue
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(r result.Result) {
				defer wg.Done()
				defer func() { <-sem }()
				if svc, err := d.Detect(ctx, r.AddrPort); err == nil {
					r.Service = svc
				}
				out <- r
			}(r)
		}
	}()
	return out
}

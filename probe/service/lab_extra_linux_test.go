package service

import (
	"context"
	"sync"
	"testing"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/servicelab"
	"github.com/portsense/portsense/result"
)

// TestLabExtraDaemons checks rules first written from specs and vendor
// documentation against the real daemons from Debian packages: four DNS
// servers' version.bind answers, Dropbear, Apache, Python's http.server,
// gunicorn, Caddy, Prometheus, Samba and xrdp.
func TestLabExtraDaemons(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	exps := servicelab.StartExtra(t, h)
	d, err := New(captureOpts(exps)...)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]*result.Service, len(exps))
	errs := make([]error, len(exps))
	var wg sync.WaitGroup
	for i, e := range exps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = d.Detect(context.Background(), e.Addr)
		}()
	}
	wg.Wait()
	for i, e := range exps {
		if errs[i] != nil {
			t.Errorf("%s on %s: %v", e.Daemon, e.Addr, errs[i])
			continue
		}
		s := got[i]
		t.Logf("%-10s %-18s %s %q %q %q conf=%d cpe=%v fp=%q", e.Daemon, e.Addr, s.Name, s.Product, s.Version, s.ExtraInfo, s.Conf, s.CPE, s.Fingerprint)
		checkExpect(t, e, s)
	}
}

package service

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/servicelab"
	"github.com/portsense/portsense/result"
)

// TestLabRealDaemons starts the Debian daemons of internal/servicelab on
// their standard ports and on unexpected ones, and checks that Detect
// names each with the product and version its package reports.
func TestLabRealDaemons(t *testing.T) {
	lab := netlab.New(t)
	std, odd := lab.AddHost(netlab.HostConfig{}), lab.AddHost(netlab.HostConfig{})
	exps := servicelab.Start(t, std, odd)
	d, err := New(captureOpts(exps)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	got := make([]*result.Service, len(exps))
	errs := make([]error, len(exps))
	took := make([]time.Duration, len(exps))
	var wg sync.WaitGroup
	for i, e := range exps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			got[i], errs[i] = d.Detect(ctx, e.Addr)
			took[i] = time.Since(t0)
		}()
	}
	wg.Wait()
	for i, e := range exps {
		if errs[i] != nil {
			t.Errorf("%s on %s: %v", e.Daemon, e.Addr, errs[i])
			continue
		}
		s := got[i]
		tls := ""
		if s.TLS != nil {
			tls = fmt.Sprintf("%s %s %s SANs=%v until %s", s.TLS.Version, s.TLS.Cipher, s.TLS.Subject, s.TLS.SANs, s.TLS.NotAfter.Format(time.RFC3339))
		}
		t.Logf("%-10s %-22s %v: %s %q %q %q tunnel=%q conf=%d cpe=%v fp=%q tls=%q", e.Daemon, e.Addr, took[i].Round(time.Millisecond),
			s.Name, s.Product, s.Version, s.ExtraInfo, s.Tunnel, s.Conf, s.CPE, s.Fingerprint, tls)
		checkExpect(t, e, s)
	}
}

func checkExpect(t *testing.T, e servicelab.Expect, s *result.Service) {
	t.Helper()
	where := e.Daemon + " on " + e.Addr.String()
	if s.Name != e.Service {
		t.Errorf("%s: service %q, want %q", where, s.Name, e.Service)
	}
	if !strings.Contains(strings.ToLower(s.Product), strings.ToLower(e.Product)) {
		t.Errorf("%s: product %q, want %q", where, s.Product, e.Product)
	}
	if e.Version != "" && s.Version != e.Version {
		t.Errorf("%s: version %q, want %q (as the package reports it)", where, s.Version, e.Version)
	}
	if e.Version == "" && s.Version != "" {
		t.Errorf("%s: version %q, but this daemon does not disclose one", where, s.Version)
	}
	if s.Method != "probed" || s.Conf != 10 {
		t.Errorf("%s: method %q conf %d, want probed 10", where, s.Method, s.Conf)
	}
	if e.TLS {
		if s.Tunnel != "ssl" || s.TLS == nil {
			t.Errorf("%s: tunnel %q tls %v, want ssl with TLS details", where, s.Tunnel, s.TLS)
		} else if !strings.Contains(s.TLS.Subject, servicelab.CertSubjectCN) || s.TLS.Version == "" || s.TLS.Cipher == "" || s.TLS.NotAfter.IsZero() {
			t.Errorf("%s: TLS details %+v", where, *s.TLS)
		}
	} else if s.Tunnel != "" {
		t.Errorf("%s: tunnel %q, want none", where, s.Tunnel)
	} else if e.StartTLS {
		if s.TLS == nil {
			t.Errorf("%s: no TLS details, want them through the protocol's STARTTLS", where)
		} else if !strings.Contains(s.TLS.Subject, servicelab.CertSubjectCN) || s.TLS.Version == "" || s.TLS.Cipher == "" ||
			s.TLS.NotAfter.IsZero() || !slices.Contains(s.TLS.SANs, servicelab.CertSubjectCN) {
			t.Errorf("%s: STARTTLS details %+v", where, *s.TLS)
		}
	} else if s.TLS != nil {
		t.Errorf("%s: TLS details %+v from a plaintext service without STARTTLS", where, *s.TLS)
	}
}

// captureOpts saves, when PORTSENSE_SERVICE_CAPTURE names a directory,
// every reply from the lab's daemons there as daemon_probe[_tls].bin, for
// testdata/replies.
func captureOpts(exps []servicelab.Expect) []Option {
	dir := os.Getenv("PORTSENSE_SERVICE_CAPTURE")
	if dir == "" {
		return nil
	}
	byAddr := map[string]string{}
	for _, e := range exps {
		byAddr[e.Addr.String()] = e.Daemon
	}
	var mu sync.Mutex
	return []Option{WithTrace(func(tr Trace) {
		if len(tr.Reply) == 0 || byAddr[tr.Addr] == "" || strings.HasPrefix(tr.Probe, "starttls-") {
			return
		}
		name := byAddr[tr.Addr] + "_" + tr.Probe
		if tr.TLS {
			name += "_tls"
		}
		mu.Lock()
		defer mu.Unlock()
		os.WriteFile(filepath.Join(dir, name+".bin"), tr.Reply, 0o644)
	})}
}

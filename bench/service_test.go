//go:build benchcompare && linux

package bench

import (
	"context"
	"encoding/xml"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/internal/servicelab"
	"github.com/portsense/portsense/probe/service"
)

var flagSvcMD = flag.String("svc.md", "", "write the version detection comparison (Markdown) here")

// TestServiceCompare runs version detection side by side: examples/scan
// -sT -sV and nmap -sT -sV on the same ports of the same real Debian
// daemons (internal/servicelab), on their standard ports and on unexpected
// ones. It reports what each named and how long each took, and checks that
// ours names at least as many correctly, in at most half nmap's time. It
// also measures what a tarpit that sends one byte a second costs us.
//
//	sudo go test -tags benchcompare -run TestServiceCompare -v -svc.md /tmp/svc.md ./bench/
func TestServiceCompare(t *testing.T) {
	nmap, err := exec.LookPath("nmap")
	if err != nil {
		t.Skip("nmap not installed")
	}
	scan := *flagScan
	if scan == "" {
		scan = filepath.Join(t.TempDir(), "scan")
		if out, err := exec.Command("go", "build", "-o", scan, "../examples/scan").CombinedOutput(); err != nil {
			t.Fatalf("build examples/scan: %v: %s", err, out)
		}
	}
	lab := netlab.New(t)
	std, odd := lab.AddHost(netlab.HostConfig{}), lab.AddHost(netlab.HostConfig{})
	exps := servicelab.Start(t, std, odd)
	portSet := map[uint16]bool{}
	for _, e := range exps {
		portSet[e.Addr.Port()] = true
	}
	var ports []string
	for p := range portSet {
		ports = append(ports, strconv.Itoa(int(p)))
	}
	sort.Strings(ports)
	plist := strings.Join(ports, ",")
	hosts := []string{std.Addr4.String(), odd.Addr4.String()}
	dir := t.TempDir()

	type run struct {
		name string
		args []string
		out  string
	}
	runs := []run{
		{"portsense", append([]string{scan, "-sT", "-sV", "-Pn", "-n", "-p", plist, "-oX", filepath.Join(dir, "ours.xml")}, hosts...), filepath.Join(dir, "ours.xml")},
		{"nmap", append([]string{nmap, "-sT", "-sV", "-Pn", "-n", "-p", plist, "-oX", filepath.Join(dir, "nmap.xml")}, hosts...), filepath.Join(dir, "nmap.xml")},
	}
	walls := map[string]time.Duration{}
	named := map[string]map[netip.AddrPort]xmlService{}
	for _, r := range runs {
		t0 := time.Now()
		out, err := exec.Command(r.args[0], r.args[1:]...).CombinedOutput()
		walls[r.name] = time.Since(t0)
		if err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(r.args, " "), err, out)
		}
		m, err := readServices(r.out)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		named[r.name] = m
	}

	var md strings.Builder
	fmt.Fprintf(&md, "Version detection on %d daemon ports (Debian packages, standard and unexpected ports), `uptime`: %s\n\n", len(exps), svcLoadavg())
	fmt.Fprintf(&md, "| daemon | port | expected | portsense | nmap |\n|---|---|---|---|---|\n")
	score := map[string][2]int{} // correct names, correct versions
	sort.Slice(exps, func(i, j int) bool {
		if exps[i].Daemon != exps[j].Daemon {
			return exps[i].Daemon < exps[j].Daemon
		}
		return exps[i].Odd && !exps[j].Odd
	})
	versions := 0
	for _, e := range exps {
		want := e.Service + " " + e.Product + " " + e.Version
		if e.TLS {
			want = "ssl/" + want
		}
		if e.Version != "" {
			versions++
		}
		row := fmt.Sprintf("| %s | %d | %s |", e.Daemon, e.Addr.Port(), strings.TrimSpace(want))
		for _, tool := range []string{"portsense", "nmap"} {
			s := named[tool][e.Addr]
			nameOK, verOK := s.judge(e)
			sc := score[tool]
			if nameOK {
				sc[0]++
			}
			if verOK {
				sc[1]++
			}
			score[tool] = sc
			mark := "✗"
			switch {
			case nameOK && verOK:
				mark = "✓"
			case nameOK:
				mark = "name ✓"
			}
			row += fmt.Sprintf(" %s (%s) |", s.String(), mark)
		}
		md.WriteString(row + "\n")
	}
	fmt.Fprintf(&md, "\n| tool | correct product | correct version (of %d disclosed) | wall |\n|---|---|---|---|\n", versions)
	for _, tool := range []string{"portsense", "nmap"} {
		fmt.Fprintf(&md, "| %s | %d / %d | %d / %d | %.1f s |\n", tool, score[tool][0], len(exps), score[tool][1], versions, walls[tool].Seconds())
	}

	// A tarpit: accepts, then sends one byte a second forever.
	const tarpitPort = 4444
	odd.ServeTCP(t, tarpitPort, func(c net.Conn) {
		for i := 0; ; i++ {
			if _, err := c.Write([]byte{"SLOW"[i%4]}); err != nil {
				return
			}
			time.Sleep(time.Second)
		}
	})
	budget := 5 * time.Second
	d, err := service.New(service.WithTimeouts(0, 0, budget))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	svc, err := d.Detect(context.Background(), netip.AddrPortFrom(odd.Addr4, tarpitPort))
	tarpit := time.Since(t0)
	if err != nil {
		t.Fatalf("tarpit: %v", err)
	}
	fmt.Fprintf(&md, "\nTarpit (1 byte/s) with a %v per-port budget: detection took %.2f s and returned %s %q (fingerprint %q).\n",
		budget, tarpit.Seconds(), svc.Name, svc.Method, svc.Fingerprint)

	t.Log("\n" + md.String())
	if *flagSvcMD != "" {
		if err := os.WriteFile(*flagSvcMD, []byte(md.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if o, n := score["portsense"], score["nmap"]; o[0] < n[0] || o[1] < n[1] {
		t.Errorf("portsense named %d products and %d versions correctly, nmap %d and %d", o[0], o[1], n[0], n[1])
	}
	if walls["portsense"] > walls["nmap"]/2 {
		t.Errorf("portsense took %v, more than half of nmap's %v", walls["portsense"], walls["nmap"])
	}
	if tarpit > budget+time.Second {
		t.Errorf("tarpit cost %v, over its %v budget", tarpit, budget)
	}
}

func svcLoadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return "load " + strings.Join(strings.Fields(string(b))[:3], " ")
}

type xmlService struct {
	Name    string `xml:"name,attr"`
	Product string `xml:"product,attr"`
	Version string `xml:"version,attr"`
	Extra   string `xml:"extrainfo,attr"`
	Tunnel  string `xml:"tunnel,attr"`
	Method  string `xml:"method,attr"`
}

func (s xmlService) String() string {
	if s.Name == "" {
		return "—"
	}
	n := s.Name
	if s.Tunnel != "" {
		n = s.Tunnel + "/" + n
	}
	return strings.TrimSpace(strings.Join([]string{n, s.Product, s.Version}, " "))
}

// judge says whether s names e's product (and service) and its version.
// A version counts when it contains the package's version, as nmap's
// "5.5.5-10.11.19-MariaDB-0+deb12u1" contains "10.11.19".
func (s xmlService) judge(e servicelab.Expect) (name, version bool) {
	name = s.Method == "probed" && s.Name == e.Service &&
		strings.Contains(strings.ToLower(s.Product), strings.ToLower(e.Product)) &&
		(s.Tunnel == "ssl") == e.TLS
	version = name && e.Version != "" && strings.Contains(s.Version, e.Version)
	return name, version
}

func readServices(path string) (map[netip.AddrPort]xmlService, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var run struct {
		Hosts []struct {
			Addrs []struct {
				Addr string `xml:"addr,attr"`
			} `xml:"address"`
			Ports []struct {
				ID    uint16 `xml:"portid,attr"`
				State struct {
					State string `xml:"state,attr"`
				} `xml:"state"`
				Service xmlService `xml:"service"`
			} `xml:"ports>port"`
		} `xml:"host"`
	}
	if err := xml.Unmarshal(b, &run); err != nil {
		return nil, err
	}
	out := map[netip.AddrPort]xmlService{}
	for _, h := range run.Hosts {
		if len(h.Addrs) == 0 {
			continue
		}
		a, err := netip.ParseAddr(h.Addrs[0].Addr)
		if err != nil {
			return nil, err
		}
		for _, p := range h.Ports {
			if p.State.State == "open" {
				out[netip.AddrPortFrom(a, p.ID)] = p.Service
			}
		}
	}
	return out, nil
}

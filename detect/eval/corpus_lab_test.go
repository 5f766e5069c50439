//go:build linux && corpus

// The real-capture corpus generator. As root:
//
//	go test -tags corpus -run TestMakeCorpus -timeout 30m -v ./detect/eval/
//
// builds a netns lab (internal/netlab), runs real daemons in it (nginx,
// sshd, dnsmasq, chronyd, and small Go TCP services for ports no daemon
// here serves), real benign clients (curl, wget, ssh, dig, chronyd -Q, a
// Go dialer for P2P peers and monitoring polls) and real scanners (nmap in
// every mode, masscan, zmap, hping3 spoofed sources, slow nmap, a TRW
// evader, decoys live and down, a distributed scan from 8 sources), captures
// each scenario with tcpdump on the network's link (snap length 96, so the
// files stay small) and writes testdata/corpus/<name>.pcap and
// <name>.labels.json (CORPUS_OUT=dir writes elsewhere, CORPUS_ONLY=a,b
// makes only those captures). The pcaps (gzipped) and labels are
// committed; TestCorpus scores the detectors on them in the default
// `go test`.
package eval

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

func TestMain(m *testing.M) { netlab.Main(m) }

// The protected network, served by one lab host:
//
//	198.19.1.0/26          live hosts (AnyIP): RST on closed ports
//	198.19.1.64/26         dark (blackholed): no answer
//	2001:db8:f000::/120    live IPv6 hosts; 2001:db8:f000::100/120 dark
//
// Clients and scanners sit in the scanner namespace with addresses from
// 198.19.100.0/24 (benign), 198.19.150.0/24 (scanners), 198.19.200.0/24
// (live decoys), 198.19.220.0/24 (spoofed, never configured) and
// 2001:db8:f100::/64.
var (
	live4 = netip.MustParsePrefix("198.19.1.0/26")
	dark4 = netip.MustParsePrefix("198.19.1.64/26")
	live6 = netip.MustParsePrefix("2001:db8:f000::/120")
	dark6 = netip.MustParsePrefix("2001:db8:f000::100/120")
)

func a4(last int) netip.Addr { return netip.AddrFrom4([4]byte{198, 19, 1, byte(last)}) }

func src(third, last int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 19, byte(third), byte(last)})
}

func a6(last int) netip.Addr {
	b := netip.MustParseAddr("2001:db8:f000::").As16()
	b[14], b[15] = byte(last>>8), byte(last)
	return netip.AddrFrom16(b)
}

func src6(last int) netip.Addr {
	b := netip.MustParseAddr("2001:db8:f100::").As16()
	b[15] = byte(last)
	return netip.AddrFrom16(b)
}

// Services of the protected network.
var (
	webServers = []int{10, 11, 12, 13, 14, 15, 16, 17}                         // nginx :80
	moreWeb    = []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 18, 19}                      // nginx :80 too
	sshServer  = 20                                                            // sshd :22
	dnsServer  = 30                                                            // dnsmasq :53
	ntpServer  = 31                                                            // chronyd :123
	mailServer = 40                                                            // :25, :143 (993 closed)
	peers      = []int{50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63} // P2P :6881
)

// labelFile is the JSON form of a capture's labels.
type labelFile struct {
	Capture string       `json:"capture"`
	Note    string       `json:"note"`
	Actors  []labelActor `json:"actors"`
}

type labelActor struct {
	Role    string   `json:"role"` // benign, scanner, spoofed
	Kind    string   `json:"kind"`
	Tool    string   `json:"tool"`
	Sources []string `json:"sources"`
	Decoys  []string `json:"decoys,omitempty"`
	Shape   string   `json:"shape,omitempty"`
	Type    string   `json:"type,omitempty"`
	Gap     string   `json:"gap,omitempty"`
	Failure string   `json:"failure,omitempty"` // benign: intended failure share
}

type corpusLab struct {
	t      *testing.T
	h      *netlab.Host
	dir    string
	mac    string // host-side MAC: the "router" for raw tools
	mu     sync.Mutex
	labels []labelActor
	used   map[netip.Addr]bool
}

func (c *corpusLab) addr(a netip.Addr) netip.Addr {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.used[a] {
		bits := 32
		if a.Is6() {
			bits = 128
		}
		out, err := exec.Command("ip", "addr", "add", fmt.Sprintf("%s/%d", a, bits), "dev", c.h.Ifname, "nodad").CombinedOutput()
		if err != nil {
			c.t.Fatalf("ip addr add %s: %v %s", a, err, out)
		}
		c.used[a] = true
	}
	return a
}

func (c *corpusLab) label(l labelActor) {
	c.mu.Lock()
	c.labels = append(c.labels, l)
	c.mu.Unlock()
}

// run runs a client or scanner command in the scanner namespace; failures
// of benign clients are expected (closed ports, dark hosts), so the exit
// status is logged, not fatal.
func (c *corpusLab) run(ctx context.Context, name string, args ...string) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	if err != nil && ctx.Err() == nil && testing.Verbose() && os.Getenv("CORPUS_DEBUG") != "" {
		c.t.Logf("%s %s: %v: %.300s", name, strings.Join(args, " "), err, out)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// dial is a real kernel TCP connect from src (the Go dialer).
func dial(ctx context.Context, s netip.Addr, dst netip.AddrPort, timeout time.Duration) {
	d := net.Dialer{Timeout: timeout, LocalAddr: &net.TCPAddr{IP: s.AsSlice()}}
	cc, err := d.DialContext(ctx, "tcp", dst.String())
	if err == nil {
		cc.Close()
	}
}

func TestMakeCorpus(t *testing.T) {
	netlab.New(t) // skip or fail early when there is no lab
	for _, tool := range []string{"nmap", "masscan", "zmap", "hping3", "tcpdump", "nginx", "sshd", "dnsmasq", "chronyd", "curl", "wget", "ssh", "dig"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s not installed", tool)
		}
	}
	out := filepath.Join("testdata", "corpus")
	if d := os.Getenv("CORPUS_OUT"); d != "" { // a fresh sample elsewhere, to check on unseen captures
		out = d
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	only := os.Getenv("CORPUS_ONLY")
	for _, sc := range corpusScenarios() {
		if only != "" && !strings.Contains(","+only+",", ","+sc.name+",") {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			lab := netlab.New(t) // one lab per capture: the routes are the same
			h := lab.AddHost(netlab.HostConfig{Delay: time.Millisecond, Jitter: 500 * time.Microsecond})
			c := &corpusLab{t: t, h: h, dir: t.TempDir(), used: map[netip.Addr]bool{}}
			c.network()
			pcap := filepath.Join(out, sc.name+".pcap")
			stop := c.capture(pcap)
			ctx, cancel := context.WithTimeout(context.Background(), sc.dur)
			var wg sync.WaitGroup
			c.benign(ctx, &wg)
			sc.run(c, ctx, &wg)
			wg.Wait()
			cancel()
			time.Sleep(3 * time.Second) // last answers
			stop()
			lf := labelFile{Capture: sc.name, Note: sc.note, Actors: c.labels}
			b, _ := json.MarshalIndent(lf, "", "  ")
			if err := os.WriteFile(filepath.Join(out, sc.name+".labels.json"), append(b, '\n'), 0o644); err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(pcap)
			t.Logf("%s: %d bytes, %d actors", pcap, st.Size(), len(c.labels))
		})
	}
}

// network starts the daemons of the protected network.
func (c *corpusLab) network() {
	t, h := c.t, c.h
	h.AnyIP(t, live4)
	h.Blackhole(t, dark4)
	h.AnyIP(t, live6)
	h.Blackhole(t, dark6)
	// Service addresses are real interface addresses, so daemons can bind them.
	for _, n := range slices.Concat([]int{sshServer, dnsServer, ntpServer, mailServer}, webServers, moreWeb, peers) {
		h.Run(t, "ip", "addr", "add", a4(n).String()+"/32", "dev", "lo")
	}
	for _, n := range webServers[:2] {
		h.Run(t, "ip", "addr", "add", a6(n).String()+"/128", "dev", "lo", "nodad")
	}
	links := h.Run(t, "ip", "-o", "link", "show")
	for _, l := range strings.Split(links, "\n") {
		if i := strings.Index(l, "link/ether "); i >= 0 {
			c.mac = strings.Fields(l[i+len("link/ether "):])[0]
		}
	}
	if c.mac == "" {
		t.Fatalf("no host MAC in %s", links)
	}

	// nginx on the web servers (and two IPv6 ones).
	root := filepath.Join(c.dir, "www")
	os.MkdirAll(root, 0o755)
	os.WriteFile(filepath.Join(root, "index.html"), []byte(strings.Repeat("portsense lab page\n", 40)), 0o644)
	var listen strings.Builder
	for _, n := range slices.Concat(webServers, moreWeb) {
		fmt.Fprintf(&listen, "listen %s:80;\n", a4(n))
	}
	for _, n := range webServers[:2] {
		fmt.Fprintf(&listen, "listen [%s]:80;\n", a6(n))
	}
	conf := fmt.Sprintf(`daemon off; master_process off; worker_processes 1; pid %[1]s/nginx.pid; error_log stderr crit;
events { worker_connections 256; }
http { access_log off; client_body_temp_path %[1]s; proxy_temp_path %[1]s; fastcgi_temp_path %[1]s; uwsgi_temp_path %[1]s; scgi_temp_path %[1]s;
server { %[2]s root %[3]s; } }
`, c.dir, listen.String(), root)
	os.WriteFile(filepath.Join(c.dir, "nginx.conf"), []byte(conf), 0o644)
	h.Start(t, "nginx", "-c", filepath.Join(c.dir, "nginx.conf"), "-p", c.dir)

	// sshd
	key := filepath.Join(c.dir, "hostkey")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	os.MkdirAll("/run/sshd", 0o755)
	h.Start(t, "/usr/sbin/sshd", "-D", "-e", "-f", "/dev/null", "-h", key,
		"-o", "ListenAddress="+a4(sshServer).String(), "-o", "PidFile=none", "-o", "PasswordAuthentication=no",
		"-o", "KbdInteractiveAuthentication=no", "-o", "LogLevel=QUIET")

	// dnsmasq: names for the lab.
	h.Start(t, "dnsmasq", "-k", "-C", "/dev/null", "--no-resolv", "--no-hosts", "--bind-interfaces",
		"--listen-address="+a4(dnsServer).String(), "--pid-file="+filepath.Join(c.dir, "dnsmasq.pid"),
		"--user=root", "--address=/web.lab/"+a4(webServers[0]).String(), "--address=/mail.lab/"+a4(mailServer).String(),
		"--log-facility=/dev/null")

	// chronyd as an NTP server (does not touch the clock: -x).
	h.Start(t, "chronyd", "-x", "-d", "-f", "/dev/null", "allow all", "local stratum 8",
		"bindaddress "+a4(ntpServer).String(), "pidfile "+filepath.Join(c.dir, "chronyd.pid"),
		"driftfile "+filepath.Join(c.dir, "drift"), "cmdport 0")

	// Ports no daemon here serves: mail (SMTP, IMAP), P2P peers, and the
	// monitoring agents on every live host.
	serve := func(addr string, banner string) {
		var ln net.Listener
		if err := h.Do(func() (err error) { ln, err = net.Listen("tcp", addr); return err }); err != nil {
			t.Fatalf("listen %s: %v", addr, err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				cc, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					cc.Write([]byte(banner))
					cc.SetReadDeadline(time.Now().Add(2 * time.Second))
					buf := make([]byte, 512)
					cc.Read(buf)
					cc.Close()
				}()
			}
		}()
	}
	serve(netip.AddrPortFrom(a4(mailServer), 25).String(), "220 mail.lab ESMTP\r\n")
	serve(netip.AddrPortFrom(a4(mailServer), 143).String(), "* OK IMAP ready\r\n")
	for _, p := range peers[:11] { // 50..60 run the P2P client; 61..63 have stopped (RST)
		serve(netip.AddrPortFrom(a4(p), 6881).String(), "\x13BitTorrent protocol")
	}
	for _, port := range []int{9100, 5666, 9115} { // agents on every live host (wildcard)
		serve(fmt.Sprintf(":%d", port), "")
	}
	time.Sleep(time.Second)
}

// capture starts tcpdump on the network's link and returns its stop.
func (c *corpusLab) capture(path string) func() {
	cmd := exec.Command("tcpdump", "-i", c.h.Ifname, "-s", "96", "-U", "-n", "-w", path, "ip or ip6")
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			if strings.Contains(sc.Text(), "listening on") {
				once.Do(func() { close(ready) })
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		c.t.Fatal("tcpdump did not start")
	}
	return func() {
		cmd.Process.Signal(syscall.SIGINT)
		cmd.Wait()
	}
}

// benign starts the benign population. Failure rates range from 0 to
// about 30 %: closed ports on servers the client otherwise uses, dark
// hosts, stale bookmarks, port fallbacks.
func (c *corpusLab) benign(ctx context.Context, wg *sync.WaitGroup) {
	web := func(n int) string { return a4(webServers[n%len(webServers)]).String() }
	allWeb := slices.Concat(webServers, moreWeb)
	anyWeb := func(n int) string { return a4(allWeb[n%len(allWeb)]).String() }
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	var rmu sync.Mutex
	intn := func(n int) int { rmu.Lock(); defer rmu.Unlock(); return rng.IntN(n) }

	// Browsers: curl and wget fetching pages from the web servers. Each
	// has its own habits of failure (a bookmark with a closed port on a
	// server it uses, a dead site, a database port it pokes now and
	// then), and tries https first on some servers (closed here) before
	// falling back to http. The share of failed fetches ranges 0–30 %;
	// the failures repeat the same few targets, as real ones do.
	for i := range 10 {
		s := c.addr(src(100, 10+i))
		fail := []float64{0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.1, 0.2, 0.3}[i]
		tool := "curl"
		if i%3 == 2 {
			tool = "wget"
		}
		c.label(labelActor{Role: "benign", Kind: "browser", Tool: tool, Sources: []string{s.String()}, Failure: fmt.Sprint(fail)})
		sites := 3 + i%6 // servers it uses
		habits := []string{
			"http://" + web(i) + ":" + []string{"8443", "81", "8080"}[i%3] + "/",
			"http://" + a4(64+i%8).String() + "/", // a dead site (shared with other browsers)
			"https://" + web(i+1) + "/",           // https first, then http
			"db:" + web(i+2),                      // a database port on a server it uses
		}
		wg.Go(func() {
			for k := 0; ctx.Err() == nil; k++ {
				host := web(i + k%sites)
				url := "http://" + host + "/"
				if float64(intn(1000))/1000 < fail {
					switch h := habits[intn(len(habits))]; {
					case strings.HasPrefix(h, "db:"):
						dial(ctx, s, netip.AddrPortFrom(netip.MustParseAddr(h[3:]), []uint16{3306, 5432}[i%2]), 2*time.Second)
					case strings.HasPrefix(h, "https:"):
						c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "2", "--interface", s.String(), h)
						url = "http://" + h[len("https://"):]
					default:
						url = h
					}
				}
				if tool == "curl" {
					c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "3", "--interface", s.String(), url)
				} else {
					c.run(ctx, "wget", "-q", "-O", "/dev/null", "-T", "3", "-t", "1", "--bind-address", s.String(), url)
				}
				if !sleepCtx(ctx, time.Duration(300+intn(2500))*time.Millisecond) {
					return
				}
			}
		})
	}

	// Admin SSH sessions (auth fails, the TCP side is a normal session),
	// one to a dead box, one to a closed alternate port.
	for i := range 3 {
		s := c.addr(src(100, 30+i))
		c.label(labelActor{Role: "benign", Kind: "admin-ssh", Tool: "ssh", Sources: []string{s.String()}, Failure: "0.2"})
		wg.Go(func() {
			targets := []string{a4(sshServer).String(), a4(sshServer).String(), a4(70 + i).String(), a4(sshServer).String()}
			for k := 0; ctx.Err() == nil; k++ {
				tg := targets[k%len(targets)]
				port := "22"
				if k%7 == 5 {
					port = "2222"
				}
				c.run(ctx, "ssh", "-b", s.String(), "-p", port, "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
					"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", "admin@"+tg, "true")
				if !sleepCtx(ctx, time.Duration(2000+intn(4000))*time.Millisecond) {
					return
				}
			}
		})
	}

	// Mail clients: IMAPS (closed here) falls back to IMAP; SMTP.
	for i := range 2 {
		s := c.addr(src(100, 40+i))
		c.label(labelActor{Role: "benign", Kind: "mail-fallback", Tool: "go-dialer", Sources: []string{s.String()}, Failure: "0.3"})
		wg.Go(func() {
			for ctx.Err() == nil {
				dial(ctx, s, netip.AddrPortFrom(a4(mailServer), 993), 2*time.Second)
				dial(ctx, s, netip.AddrPortFrom(a4(mailServer), 143), 2*time.Second)
				dial(ctx, s, netip.AddrPortFrom(a4(mailServer), 25), 2*time.Second)
				if !sleepCtx(ctx, 5*time.Second) {
					return
				}
			}
		})
	}

	// Monitoring: 40 hosts × 4 checks every 15 s; 4 of the hosts are dead.
	{
		s := c.addr(src(100, 50))
		c.label(labelActor{Role: "benign", Kind: "monitoring", Tool: "go-dialer", Sources: []string{s.String()}, Failure: "0.1"})
		wg.Go(func() {
			for ctx.Err() == nil {
				var pw sync.WaitGroup
				for hst := 1; hst <= 40; hst++ {
					addr := a4(hst)
					if hst > 36 {
						addr = a4(64 + hst) // dead boxes still on the list
					}
					pw.Go(func() {
						for _, p := range []uint16{9100, 5666, 9115, 9100} {
							dial(ctx, s, netip.AddrPortFrom(addr, p), 2*time.Second)
						}
					})
					sleepCtx(ctx, 50*time.Millisecond)
				}
				pw.Wait()
				if !sleepCtx(ctx, 15*time.Second) {
					return
				}
			}
		})
	}

	// A crawler: every web server, a few hosts without a web server, a
	// few stale addresses.
	{
		s := c.addr(src(100, 60))
		c.label(labelActor{Role: "benign", Kind: "crawler", Tool: "wget", Sources: []string{s.String()}, Failure: "0.25"})
		wg.Go(func() {
			list := []string{}
			for _, n := range webServers {
				list = append(list, a4(n).String())
			}
			list = append(list, a4(21).String(), a4(33).String(), a4(90).String(), a4(91).String())
			for ctx.Err() == nil {
				for _, h := range list {
					c.run(ctx, "wget", "-q", "-O", "/dev/null", "-T", "2", "-t", "1", "--bind-address", s.String(), "http://"+h+"/")
				}
				if !sleepCtx(ctx, 20*time.Second) {
					return
				}
			}
		})
	}

	// Happy eyeballs: a dual-stack name whose IPv6 address is dead
	// (blackholed) or refused, and whose IPv4 address works. curl picks
	// its source by route: the link's own addresses.
	{
		s4, s6 := c.h.Local4, c.h.Local6
		c.label(labelActor{Role: "benign", Kind: "happy-eyeballs", Tool: "curl", Sources: []string{s4.String(), s6.String()}, Failure: "0.3"})
		wg.Go(func() {
			for k := 0; ctx.Err() == nil; k++ {
				v6 := a6(0x100 + k%2) // dark
				if k%2 == 1 {
					v6 = a6(5) // live host, port closed: RST
				}
				host := webServers[k%2]
				c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "4", "--happy-eyeballs-timeout-ms", "200",
					"--resolve", fmt.Sprintf("www.lab:80:[%s],%s", v6, a4(host)), "http://www.lab/")
				if k%3 == 0 { // and a working IPv6 site
					c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "3", fmt.Sprintf("http://[%s]/", a6(webServers[0])))
				}
				if !sleepCtx(ctx, time.Duration(1500+intn(2000))*time.Millisecond) {
					return
				}
			}
		})
	}

	// NAT gateway: one address, many users' traffic at once: the web
	// servers, mail, ssh, DNS; now and then a user's stale bookmark (one of
	// two dead sites), a typo'd host, a closed port on a server in use.
	{
		s := c.addr(src(100, 80))
		c.label(labelActor{Role: "benign", Kind: "nat-gateway", Tool: "curl+ssh+dig+go-dialer", Sources: []string{s.String()}, Failure: "0.05"})
		for u := range 6 {
			wg.Go(func() {
				for k := 0; ctx.Err() == nil; k++ {
					switch (u + k) % 6 {
					case 0, 1, 2:
						c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "3", "--interface", s.String(), "http://"+anyWeb(3*u+k)+"/")
					case 3:
						dial(ctx, s, netip.AddrPortFrom(a4(mailServer), []uint16{143, 993, 25}[k%3]), 2*time.Second)
					case 4:
						c.run(ctx, "ssh", "-b", s.String(), "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
							"-o", "UserKnownHostsFile=/dev/null", "-o", "ConnectTimeout=3", "u@"+a4(sshServer).String(), "true")
					case 5:
						if intn(4) == 0 {
							c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "2", "--interface", s.String(),
								[]string{"http://" + a4(64+u%2).String() + "/", "http://" + web(u) + ":8080/", "http://" + a4(21+u%2).String() + "/"}[intn(3)])
						} else {
							c.run(ctx, "dig", "-b", s.String(), "+time=1", "+tries=1", "@"+a4(dnsServer).String(), "web.lab")
						}
					}
					if !sleepCtx(ctx, time.Duration(500+intn(2500))*time.Millisecond) {
						return
					}
				}
			})
		}
	}

	// DNS clients (the DNS server answers many of them); one also asks a
	// dead secondary resolver now and then.
	for i := range 12 {
		s := c.addr(src(100, 100+i))
		c.label(labelActor{Role: "benign", Kind: "dns-client", Tool: "dig", Sources: []string{s.String()}, Failure: "0.05"})
		wg.Go(func() {
			for k := 0; ctx.Err() == nil; k++ {
				server := a4(dnsServer).String()
				if i == 0 && k%4 == 3 {
					server = a4(95).String()
				}
				c.run(ctx, "dig", "-b", s.String(), "+time=1", "+tries=1", "@"+server, []string{"web.lab", "mail.lab", "x.lab"}[k%3])
				if !sleepCtx(ctx, time.Duration(1000+intn(4000))*time.Millisecond) {
					return
				}
			}
		})
	}

	// NTP clients (chronyd -Q: query, print the offset, never set the clock).
	for i := range 6 {
		s := c.addr(src(100, 130+i))
		c.label(labelActor{Role: "benign", Kind: "ntp-client", Tool: "chronyd -Q", Sources: []string{s.String()}})
		wg.Go(func() {
			pid := filepath.Join(c.dir, fmt.Sprintf("chrony-q%d.pid", i))
			for ctx.Err() == nil {
				c.run(ctx, "chronyd", "-Q", "-t", "4", "-f", "/dev/null", "server "+a4(ntpServer).String()+" iburst maxsamples 2",
					"bindacqaddress "+s.String(), "pidfile "+pid, "cmdport 0")
				if !sleepCtx(ctx, time.Duration(8000+intn(8000))*time.Millisecond) {
					return
				}
			}
		})
	}

	// P2P-like clients: many peers on 6881, some gone (RST), some dark.
	for i := range 2 {
		s := c.addr(src(100, 140+i))
		c.label(labelActor{Role: "benign", Kind: "p2p", Tool: "go-dialer", Sources: []string{s.String()}, Failure: "0.3"})
		wg.Go(func() {
			list := []netip.Addr{}
			for _, p := range peers {
				list = append(list, a4(p))
			}
			list = append(list, a4(100+i), a4(110+i)) // dark peers
			for ctx.Err() == nil {
				for _, p := range list {
					dial(ctx, s, netip.AddrPortFrom(p, 6881), 2*time.Second)
					if !sleepCtx(ctx, time.Duration(200+intn(800))*time.Millisecond) {
						return
					}
				}
				if !sleepCtx(ctx, 10*time.Second) {
					return
				}
			}
		})
	}
}

type corpusScenario struct {
	name, note string
	dur        time.Duration
	run        func(c *corpusLab, ctx context.Context, wg *sync.WaitGroup)
}

func (c *corpusLab) nmap(ctx context.Context, args ...string) {
	c.run(ctx, "nmap", append([]string{"-n", "-Pn", "--max-retries", "1", "-e", c.h.Ifname}, args...)...)
}

// after starts fn after d of background traffic.
func after(ctx context.Context, wg *sync.WaitGroup, d time.Duration, fn func()) {
	wg.Go(func() {
		if sleepCtx(ctx, d) {
			fn()
		}
	})
}

func corpusScenarios() []corpusScenario {
	return []corpusScenario{
		{name: "fast", note: "nmap -sS -sT -sA -sF -sN -sX -sU, horizontal and IPv6 nmap, masscan, zmap, hping3 spoofed sources, among the benign mix",
			dur: 75 * time.Second,
			run: func(c *corpusLab, ctx context.Context, wg *sync.WaitGroup) {
				modes := []struct{ flag, typ string }{{"-sS", "syn"}, {"-sT", "connect"}, {"-sA", "ack"}, {"-sF", "fin"}, {"-sN", "null"}, {"-sX", "xmas"}, {"-sU", "udp"}}
				for i, m := range modes {
					s := c.addr(src(150, 10+i))
					c.label(labelActor{Role: "scanner", Kind: "vertical", Tool: "nmap " + m.flag, Sources: []string{s.String()}, Shape: "vertical", Type: m.typ, Gap: "0s"})
					after(ctx, wg, time.Duration(10+5*i)*time.Second, func() {
						ports := "--top-ports=200"
						if m.typ == "udp" {
							ports = "--top-ports=40"
						}
						c.nmap(ctx, m.flag, "-T4", ports, "-S", s.String(), a4(webServers[i%len(webServers)]).String())
					})
				}
				s := c.addr(src(150, 20))
				c.label(labelActor{Role: "scanner", Kind: "horizontal", Tool: "nmap -sS -p22", Sources: []string{s.String()}, Shape: "horizontal", Type: "syn", Gap: "0s"})
				after(ctx, wg, 20*time.Second, func() { c.nmap(ctx, "-sS", "-T4", "-p", "22", "-S", s.String(), "198.19.1.0/25") })
				s6 := c.addr(src6(150))
				c.label(labelActor{Role: "scanner", Kind: "vertical", Tool: "nmap -6 -sS", Sources: []string{s6.String()}, Shape: "vertical", Type: "syn", Gap: "0s"})
				after(ctx, wg, 25*time.Second, func() {
					c.nmap(ctx, "-6", "-sS", "-T4", "--top-ports=200", "-S", s6.String(), a6(webServers[0]).String())
				})
				ms := c.addr(src(150, 30))
				c.label(labelActor{Role: "scanner", Kind: "block", Tool: "masscan", Sources: []string{ms.String()}, Shape: "block", Type: "syn", Gap: "0s"})
				after(ctx, wg, 30*time.Second, func() {
					c.run(ctx, "masscan", "198.19.1.0/25", "-p", "21-25,80,443,3306,8080", "--rate", "2000", "--adapter", c.h.Ifname,
						"--adapter-ip", ms.String(), "--router-mac", c.mac, "--wait", "2")
				})
				zs := c.addr(src(150, 31))
				c.label(labelActor{Role: "scanner", Kind: "horizontal", Tool: "zmap", Sources: []string{zs.String()}, Shape: "horizontal", Type: "syn", Gap: "0s"})
				after(ctx, wg, 40*time.Second, func() {
					bl := filepath.Join(c.dir, "zmap-blocklist")
					os.WriteFile(bl, nil, 0o644)
					c.run(ctx, "zmap", "-q", "-p", "8080", "-i", c.h.Ifname, "-S", zs.String(), "-G", c.mac, "-b", bl,
						"-r", "1000", "-c", "2", "-o", "/dev/null", "198.19.1.0/24")
				})
				// spoofed one-packet sources (never configured: nobody answers)
				var sp []string
				for i := range 150 {
					sp = append(sp, src(220, 10+i).String())
				}
				c.label(labelActor{Role: "spoofed", Kind: "hping3-flood", Tool: "hping3 -S -a", Sources: sp})
				after(ctx, wg, 45*time.Second, func() {
					for i, a := range sp {
						c.run(ctx, "hping3", "-q", "-S", "-c", "1", "-a", a, "-p", fmt.Sprint(20+i%200), "-I", c.h.Ifname, a4(1+i%60).String())
					}
				})
			}},
		{name: "stealthy", note: "slow nmap scans (10 s and 20 s between probes), a TRW evader interleaving successful connections, a distributed scan from 8 sources, IPv6 slow scan",
			dur: 240 * time.Second,
			run: func(c *corpusLab, ctx context.Context, wg *sync.WaitGroup) {
				for i, gap := range []int{10, 20} {
					s := c.addr(src(150, 40+i))
					c.label(labelActor{Role: "scanner", Kind: "slow", Tool: fmt.Sprintf("nmap -sS --scan-delay %ds", gap), Sources: []string{s.String()}, Shape: "vertical", Type: "syn", Gap: fmt.Sprint(time.Duration(gap) * time.Second)})
					after(ctx, wg, 5*time.Second, func() {
						c.nmap(ctx, "-sS", "--max-parallelism", "1", "--scan-delay", fmt.Sprintf("%ds", gap), "--top-ports", fmt.Sprint(220/gap), "-S", s.String(), a4(webServers[2+i]).String())
					})
				}
				s6 := c.addr(src6(151))
				c.label(labelActor{Role: "scanner", Kind: "slow", Tool: "nmap -6 -sT --scan-delay 15s", Sources: []string{s6.String()}, Shape: "vertical", Type: "connect", Gap: "15s"})
				after(ctx, wg, 10*time.Second, func() {
					c.nmap(ctx, "-6", "-sT", "--max-parallelism", "1", "--scan-delay", "15s", "--top-ports", "14", "-S", s6.String(), a6(webServers[1]).String())
				})
				// TRW evader: a probe of a closed port, then a successful
				// connection to a server it knows, alternately.
				ev := c.addr(src(150, 50))
				c.label(labelActor{Role: "scanner", Kind: "evader", Tool: "nc -z + curl", Sources: []string{ev.String()}, Shape: "vertical", Type: "connect", Gap: "1s"})
				after(ctx, wg, 20*time.Second, func() {
					for p := 1; p <= 60 && ctx.Err() == nil; p++ {
						c.run(ctx, "nc", "-z", "-w", "1", "-s", ev.String(), a4(webServers[5]).String(), fmt.Sprint(1000+p*7))
						c.run(ctx, "curl", "-s", "-o", "/dev/null", "-m", "2", "--interface", ev.String(), "http://"+a4(webServers[p%3]).String()+"/")
						sleepCtx(ctx, time.Second)
					}
				})
				// distributed: 8 sources split 1-400 of one host.
				var ds []string
				for k := range 8 {
					ds = append(ds, c.addr(src(150, 60+k)).String())
				}
				c.label(labelActor{Role: "scanner", Kind: "distributed", Tool: "8 × nmap -sS", Sources: ds, Shape: "vertical", Type: "syn", Gap: "0s"})
				after(ctx, wg, 60*time.Second, func() {
					var dw sync.WaitGroup
					for k, s := range ds {
						dw.Go(func() {
							c.nmap(ctx, "-sS", "-T3", "-p", fmt.Sprintf("%d-%d", 1+k*50, 50+k*50), "-S", s, a4(webServers[6]).String())
						})
					}
					dw.Wait()
				})
			}},
		{name: "decoy", note: "nmap -D with live decoys (their kernels reset the SYN-ACKs) and with dead decoys (silent), among the benign mix",
			dur: 70 * time.Second,
			run: func(c *corpusLab, ctx context.Context, wg *sync.WaitGroup) {
				real1 := c.addr(src(150, 70))
				var liveD []string
				for k := range 4 {
					liveD = append(liveD, c.addr(src(200, 10+k)).String())
				}
				c.label(labelActor{Role: "scanner", Kind: "decoy", Tool: "nmap -sS -D (live decoys)", Sources: []string{real1.String()}, Decoys: liveD, Shape: "vertical", Type: "syn", Gap: "0s"})
				after(ctx, wg, 15*time.Second, func() {
					c.nmap(ctx, "-sS", "-T4", "--top-ports", "100", "-S", real1.String(), "-D", strings.Join(liveD, ","), a4(webServers[3]).String())
				})
				real2 := c.addr(src(150, 71))
				var deadD []string
				for k := range 5 {
					deadD = append(deadD, src(220, 200+k).String())
				}
				c.label(labelActor{Role: "scanner", Kind: "decoy", Tool: "nmap -sS -D (dead decoys)", Sources: []string{real2.String()}, Decoys: deadD, Shape: "vertical", Type: "syn", Gap: "0s"})
				after(ctx, wg, 35*time.Second, func() {
					c.nmap(ctx, "-sS", "-T4", "--top-ports", "100", "-S", real2.String(), "-D", strings.Join(deadD, ","), a4(webServers[4]).String())
				})
			}},
	}
}

package servicelab

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portsense/portsense/internal/netlab"
)

// Expect is one daemon port and what detection should say about it.
type Expect struct {
	Addr    netip.AddrPort
	Daemon  string // "nginx", "openssh", …
	Service string // expected service name ("http", "ssh", …)
	Product string // expected product, matched case-insensitively as a substring
	Version string // expected version; "" when the protocol does not disclose it
	TLS     bool   // reached through TLS
	// StartTLS: the daemon offers its protocol's upgrade to TLS (STARTTLS,
	// STLS, AUTH TLS, SSLRequest) with the lab certificate.
	StartTLS bool
	Odd      bool // on an unexpected port
}

// Layout says which ports each daemon uses on the standard host and on
// the odd-port host.
type portPair struct{ std, odd uint16 }

// The odd ports deliberately sit on other services' standard ports, so a
// detector that trusts the port number gets them wrong.
var layout = map[string]portPair{
	"openssh":       {22, 8080},
	"nginx":         {80, 2222},
	"nginx-tls":     {443, 9999},
	"lighttpd":      {80, 7777}, // on the odd host: nginx holds 80 on the standard host
	"redis":         {6379, 443},
	"postgres":      {5432, 6379},
	"mariadb":       {3306, 5432},
	"vsftpd":        {21, 25},
	"exim":          {25, 21},
	"imap":          {143, 110},
	"pop3":          {110, 143},
	"memcached":     {11211, 53},
	"mosquitto":     {1883, 389},
	"slapd":         {389, 1883},
	"dnsmasq":       {53, 11211},
	"etcd":          {2379, 3306},
	"node-exporter": {9100, 5672},
}

// Daemons lists the daemons Start runs, in a stable order.
func Daemons() []string {
	var out []string
	for k := range layout {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Start runs every daemon on std (standard ports; lighttpd goes to odd
// for its port 80) and on odd (unexpected ports), waits until each port
// accepts connections, and returns what detection should find. only, when
// non-empty, restricts the daemons (names as in Daemons). A daemon whose
// binary is missing fails t.
func Start(t testing.TB, std, odd *netlab.Host, only ...string) []Expect {
	t.Helper()
	want := func(n string) bool { return len(only) == 0 || contains(only, n) }
	vers, err := versions()
	if err != nil {
		t.Fatalf("servicelab: %v", err)
	}
	root := t.TempDir()
	// Daemons that drop privileges must be able to reach their files.
	for d := root; d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
			os.Chmod(d, 0o755)
		}
	}
	var exps []Expect
	type job struct {
		name string
		h    *netlab.Host
		port uint16
		odd  bool
	}
	var jobs []job
	for _, n := range Daemons() {
		if !want(n) || n == "lighttpd" {
			continue
		}
		p := layout[n]
		jobs = append(jobs, job{n, std, p.std, false}, job{n, odd, p.odd, true})
	}
	if want("lighttpd") {
		p := layout["lighttpd"]
		jobs = append(jobs, job{"lighttpd", odd, p.std, false}, job{"lighttpd", odd, p.odd, true})
	}
	// Slow preparation (initdb, install-db, key generation) runs in
	// parallel; the daemons are started from the test goroutine.
	prep := map[string]func(dir string) error{
		"postgres": prepPostgres,
		"mariadb":  prepMariaDB,
		"openssh":  prepSSH,
	}
	dirs := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, len(prep))
	for n, fn := range prep {
		if !want(n) {
			continue
		}
		dir := filepath.Join(root, n+"-base")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(dir); err != nil {
				errs <- fmt.Errorf("%s: %w", n, err)
				return
			}
			mu.Lock()
			dirs[n] = dir
			mu.Unlock()
		}()
	}
	cert, key, err := writeCert(root)
	if err != nil {
		t.Fatalf("servicelab: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("servicelab: %v", err)
	}
	started := map[string]bool{}
	for i, j := range jobs {
		dir := filepath.Join(root, fmt.Sprintf("%s-%d", j.name, i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		e := Expect{Addr: netip.AddrPortFrom(j.h.Addr4, j.port), Daemon: j.name, Odd: j.odd}
		switch j.name {
		case "openssh":
			startSSH(t, j.h, dir, dirs["openssh"], j.port)
			e.Service, e.Product, e.Version = "ssh", "OpenSSH", vers["openssh"]
		case "nginx", "nginx-tls":
			if started[j.h.Name+"nginx"] {
				continue
			}
			started[j.h.Name+"nginx"] = true
			p, pt := layout["nginx"], layout["nginx-tls"]
			plain, tlsPort := p.std, pt.std
			if j.odd {
				plain, tlsPort = p.odd, pt.odd
			}
			startNginx(t, j.h, dir, plain, tlsPort, cert, key)
			for _, x := range []struct {
				port uint16
				tls  bool
			}{{plain, false}, {tlsPort, true}} {
				if !want("nginx") && !x.tls || !want("nginx-tls") && x.tls {
					continue
				}
				ee := e
				ee.Addr = netip.AddrPortFrom(j.h.Addr4, x.port)
				ee.Service, ee.Product, ee.Version, ee.TLS = "http", "nginx", vers["nginx"], x.tls
				if x.tls {
					ee.Daemon = "nginx-tls"
				} else {
					ee.Daemon = "nginx"
				}
				exps = append(exps, ee)
			}
			continue
		case "lighttpd":
			if started[j.h.Name+"lighttpd"] {
				continue
			}
			started[j.h.Name+"lighttpd"] = true
			p := layout["lighttpd"]
			startLighttpd(t, j.h, dir, p.std, p.odd)
			for _, port := range []uint16{p.std, p.odd} {
				ee := e
				ee.Addr = netip.AddrPortFrom(j.h.Addr4, port)
				ee.Service, ee.Product, ee.Version, ee.Odd = "http", "lighttpd", vers["lighttpd"], port == p.odd
				exps = append(exps, ee)
			}
			continue
		case "redis":
			start(t, j.h, bin(t, "redis-server"), "--port", strconv.Itoa(int(j.port)), "--bind", "0.0.0.0",
				"--protected-mode", "no", "--save", "", "--appendonly", "no", "--dir", dir, "--daemonize", "no", "--loglevel", "warning")
			e.Service, e.Product, e.Version = "redis", "Redis", vers["redis"]
		case "postgres":
			startPostgres(t, j.h, dir, dirs["postgres"], j.port, cert, key)
			e.Service, e.Product, e.Version, e.StartTLS = "postgresql", "PostgreSQL", vers["postgres"], true
		case "mariadb":
			startMariaDB(t, j.h, dir, dirs["mariadb"], j.port)
			e.Service, e.Product, e.Version = "mysql", "MariaDB", vers["mariadb"]
		case "vsftpd":
			startVsftpd(t, j.h, dir, j.port, cert, key)
			e.Service, e.Product, e.Version, e.StartTLS = "ftp", "vsftpd", vers["vsftpd"], true
		case "exim":
			startExim(t, j.h, dir, j.port, cert, key)
			e.Service, e.Product, e.Version, e.StartTLS = "smtp", "Exim", vers["exim"], true
		case "imap", "pop3":
			if started[j.h.Name+"dovecot"] {
				e.Service, e.Product, e.StartTLS = j.name, "Dovecot", true
				exps = append(exps, e)
				continue
			}
			started[j.h.Name+"dovecot"] = true
			imap, pop3 := layout["imap"].std, layout["pop3"].std
			if j.odd {
				imap, pop3 = layout["imap"].odd, layout["pop3"].odd
			}
			startDovecot(t, j.h, dir, imap, pop3, cert, key)
			// Dovecot does not disclose its version before login.
			e.Service, e.Product, e.StartTLS = j.name, "Dovecot", true
		case "memcached":
			start(t, j.h, bin(t, "memcached"), "-u", "root", "-p", strconv.Itoa(int(j.port)), "-l", j.h.Addr4.String(), "-U", "0")
			e.Service, e.Product, e.Version = "memcached", "memcached", vers["memcached"]
		case "mosquitto":
			startMosquitto(t, j.h, dir, j.port)
			e.Service, e.Product, e.Version = "mqtt", "Mosquitto", vers["mosquitto"]
		case "slapd":
			startSlapd(t, j.h, dir, j.port, cert, key)
			// OpenLDAP does not disclose its version on the wire.
			e.Service, e.Product, e.StartTLS = "ldap", "OpenLDAP", true
		case "etcd":
			start(t, j.h, bin(t, "etcd"), "--name", "lab", "--data-dir", filepath.Join(dir, "data"),
				"--listen-client-urls", fmt.Sprintf("http://0.0.0.0:%d", j.port),
				"--advertise-client-urls", fmt.Sprintf("http://%s:%d", j.h.Addr4, j.port),
				"--listen-peer-urls", "http://127.0.0.1:2380", "--log-level", "error")
			e.Service, e.Product, e.Version = "http", "etcd", vers["etcd"]
		case "node-exporter":
			start(t, j.h, bin(t, "prometheus-node-exporter"), fmt.Sprintf("--web.listen-address=:%d", j.port), "--log.level=error")
			e.Service, e.Product, e.Version = "http", "node_exporter", vers["node-exporter"]
		case "dnsmasq":
			start(t, j.h, bin(t, "dnsmasq"), "-k", "--conf-file=/dev/null", "--port="+strconv.Itoa(int(j.port)),
				"--listen-address="+j.h.Addr4.String(), "--bind-interfaces", "--no-resolv", "--no-hosts",
				"--pid-file="+filepath.Join(dir, "pid"), "--log-facility=-", "--user=root")
			e.Service, e.Product, e.Version = "domain", "dnsmasq", vers["dnsmasq"]
		default:
			t.Fatalf("servicelab: unknown daemon %s", j.name)
		}
		exps = append(exps, e)
	}
	waitPorts(t, exps)
	return exps
}

// start runs a daemon in h. Its output pipes are closed two seconds
// after it is killed even if a child it forked still holds them, so that
// clean-up never hangs.
func start(t testing.TB, h *netlab.Host, name string, args ...string) {
	t.Helper()
	cmd := h.Start(t, name, args...)
	cmd.WaitDelay = 2 * time.Second
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// waitPorts waits until every expected port accepts a connection.
func waitPorts(t testing.TB, exps []Expect) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	for _, e := range exps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d net.Dialer
			for {
				c, err := d.DialContext(ctx, "tcp", e.Addr.String())
				if err == nil {
					c.Close()
					return
				}
				select {
				case <-ctx.Done():
					mu.Lock()
					bad = append(bad, fmt.Sprintf("%s on %s", e.Daemon, e.Addr))
					mu.Unlock()
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		sort.Strings(bad)
		t.Fatalf("servicelab: daemons never listened: %s", strings.Join(bad, ", "))
	}
}

// bin finds a daemon's binary in the usual Debian places.
func bin(t testing.TB, name string) string {
	t.Helper()
	p, err := findBin(name)
	if err != nil {
		t.Fatalf("servicelab: %v (install the Debian package; .ci/run lists it)", err)
	}
	return p
}

func findBin(name string) (string, error) {
	if name == "postgres" || name == "initdb" {
		m, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
		sort.Strings(m)
		if len(m) > 0 {
			return m[len(m)-1], nil // the newest major version
		}
		return "", fmt.Errorf("%s not found under /usr/lib/postgresql/*/bin", name)
	}
	for _, d := range []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found", name)
}

// Versions returns the version each daemon reports of itself, read from
// its binary or, where the binary will not say, from dpkg.
func Versions() (map[string]string, error) { return versions() }

var (
	versOnce sync.Once
	versMap  map[string]string
	versErr  error
)

func versions() (map[string]string, error) {
	versOnce.Do(func() { versMap, versErr = readVersions() })
	return versMap, versErr
}

func readVersions() (map[string]string, error) {
	type src struct {
		name string
		args []string
		re   string
	}
	srcs := map[string]src{
		"nginx":         {"nginx", []string{"-v"}, `nginx/(\d[\w.]*)`},
		"lighttpd":      {"lighttpd", []string{"-v"}, `lighttpd/(\d[\w.]*)`},
		"redis":         {"redis-server", []string{"--version"}, `v=(\d[\w.]*)`},
		"postgres":      {"postgres", []string{"--version"}, `\(PostgreSQL\) (\d+(?:\.\d+)?)`},
		"mariadb":       {"mariadbd", []string{"--version"}, `Ver (\d+\.\d+\.\d+)-MariaDB`},
		"exim":          {"exim4", []string{"-bV"}, `Exim version (\d[\w.]*)`},
		"memcached":     {"memcached", []string{"-V"}, `memcached (\d[\w.]*)`},
		"mosquitto":     {"mosquitto", []string{"-h"}, `mosquitto version (\d[\w.]*)`},
		"dnsmasq":       {"dnsmasq", []string{"-v"}, `Dnsmasq version (\d[\w.]*)`},
		"etcd":          {"etcd", []string{"--version"}, `etcd Version: (\d[\w.]*)`},
		"node-exporter": {"prometheus-node-exporter", []string{"--version"}, `node_exporter, version (\d[\w.]*)`},
	}
	out := map[string]string{}
	for k, s := range srcs {
		p, err := findBin(s.name)
		if err != nil {
			return nil, err
		}
		b, _ := exec.Command(p, s.args...).CombinedOutput() // some print usage and exit 1
		m := regexp.MustCompile(s.re).FindSubmatch(b)
		if m == nil {
			return nil, fmt.Errorf("%s %s: no version in %q", p, strings.Join(s.args, " "), b)
		}
		out[k] = string(m[1])
	}
	// OpenSSH's version line is the ssh client's; vsftpd prints its
	// version on stdin. Ask dpkg for the server packages.
	for k, pkg := range map[string]string{"openssh": "openssh-server", "vsftpd": "vsftpd"} {
		b, err := exec.Command("dpkg-query", "-W", "-f=${Version}", pkg).Output()
		if err != nil {
			return nil, fmt.Errorf("dpkg-query %s: %v", pkg, err)
		}
		out[k] = Upstream(string(b))
	}
	return out, nil
}

// Upstream strips a Debian version's epoch and revision: "1:9.2p1-2+deb12u10"
// becomes "9.2p1".
func Upstream(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, ':'); i >= 0 {
		v = v[i+1:]
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v = v[:i]
	}
	return v
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}

// writeCert makes a self-signed ECDSA certificate for the TLS servers.
func writeCert(dir string) (cert, key string, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "lab.portsense.test", Organization: []string{"portsense lab"}},
		DNSNames:     []string{"lab.portsense.test"},
		IPAddresses:  []net.IP{net.ParseIP("198.18.0.2")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		return "", "", err
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return "", "", err
	}
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", err
	}
	return cert, key, os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// CertSubjectCN is the common name of the lab's TLS certificate.
const CertSubjectCN = "lab.portsense.test"

func prepSSH(dir string) error {
	p, err := findBin("ssh-keygen")
	if err != nil {
		return err
	}
	return run(p, "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, "host_ed25519"))
}

func startSSH(t testing.TB, h *netlab.Host, dir, base string, port uint16) {
	// sshd insists on its privilege separation directory.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "sshd_config")
	err := writeFile(cfg, fmt.Sprintf("Port %d\nListenAddress 0.0.0.0\nHostKey %s\nPidFile none\nUsePAM no\n"+
		"PasswordAuthentication no\nKbdInteractiveAuthentication no\n", port, filepath.Join(base, "host_ed25519")))
	if err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "sshd"), "-D", "-e", "-f", cfg)
}

func startNginx(t testing.TB, h *netlab.Host, dir string, plain, tlsPort uint16, cert, key string) {
	conf := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log stderr warn;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  server {
    listen %[2]d;
    listen %[3]d ssl;
    ssl_certificate %[4]s;
    ssl_certificate_key %[5]s;
    http2 on;
    root %[1]s;
    location / { return 200 "portsense lab\n"; }
  }
}
`, dir, plain, tlsPort, cert, key)
	// nginx 1.22 has no "http2 on"; use the listen parameter instead.
	conf = strings.Replace(conf, "    http2 on;\n", "", 1)
	conf = strings.Replace(conf, fmt.Sprintf("listen %d ssl;", tlsPort), fmt.Sprintf("listen %d ssl http2;", tlsPort), 1)
	if err := writeFile(filepath.Join(dir, "nginx.conf"), conf); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "nginx"), "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", "stderr")
}

func startLighttpd(t testing.TB, h *netlab.Host, dir string, port, port2 uint16) {
	conf := fmt.Sprintf(`server.document-root = "%[1]s"
server.port = %[2]d
server.bind = "0.0.0.0"
$SERVER["socket"] == "0.0.0.0:%[3]d" { }
server.errorlog = "%[1]s/error.log"
server.modules = ()
index-file.names = ( "index.html" )
`, dir, port, port2)
	if err := writeFile(filepath.Join(dir, "lighttpd.conf"), conf); err != nil {
		t.Fatal(err)
	}
	if err := writeFile(filepath.Join(dir, "index.html"), "<html><head><title>portsense lab</title></head></html>\n"); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "lighttpd"), "-D", "-f", filepath.Join(dir, "lighttpd.conf"))
}

func prepPostgres(dir string) error {
	initdb, err := findBin("initdb")
	if err != nil {
		return err
	}
	data := filepath.Join(dir, "data")
	if err := run("chown", "postgres:postgres", dir); err != nil {
		return err
	}
	if err := run("runuser", "-u", "postgres", "--", initdb, "-D", data, "-U", "postgres",
		"--auth-local=trust", "--auth-host=trust", "--no-sync", "-E", "UTF8"); err != nil {
		return err
	}
	// The lab's clients come from 198.18.0.0/15. Trust authentication
	// lets the startup probe read server_version; with password
	// authentication only the product is named.
	return writeFile(filepath.Join(data, "pg_hba.conf"), "local all all trust\nhost all all 0.0.0.0/0 trust\n")
}

func startPostgres(t testing.TB, h *netlab.Host, dir, base string, port uint16, cert, key string) {
	data := filepath.Join(dir, "data")
	if err := run("cp", "-a", filepath.Join(base, "data"), data); err != nil {
		t.Fatal(err)
	}
	// PostgreSQL wants its key owned by its user and private.
	pgCert, pgKey := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	if err := copyFile(cert, pgCert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(key, pgKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run("chown", "-R", "postgres:postgres", dir); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "setpriv"), "--reuid=postgres", "--regid=postgres", "--init-groups", "--", bin(t, "postgres"), "-D", data,
		"-p", strconv.Itoa(int(port)), "-k", dir, "-c", "listen_addresses=*", "-c", "fsync=off",
		"-c", "ssl=on", "-c", "ssl_cert_file="+pgCert, "-c", "ssl_key_file="+pgKey)
}

// copyFile copies src to dst with mode perm.
func copyFile(src, dst string, perm os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	if err := os.WriteFile(dst, b, perm); err != nil {
		return err
	}
	return os.Chmod(dst, perm)
}

func prepMariaDB(dir string) error {
	p, err := findBin("mariadb-install-db")
	if err != nil {
		if p, err = findBin("mysql_install_db"); err != nil {
			return err
		}
	}
	// Native AIO contexts are a machine-wide budget (fs.aio-max-nr) that
	// parallel test runs can exhaust; the lab needs no fast I/O. One retry
	// covers a transient failure of the bootstrap server.
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"), "--user=root",
		"--auth-root-authentication-method=normal", "--skip-test-db", "--innodb-use-native-aio=0"}
	err = run(p, args...)
	if err != nil {
		os.RemoveAll(filepath.Join(dir, "data"))
		err = run(p, args...)
	}
	return err
}

func startMariaDB(t testing.TB, h *netlab.Host, dir, base string, port uint16) {
	data := filepath.Join(dir, "data")
	if err := run("cp", "-a", filepath.Join(base, "data"), data); err != nil {
		t.Fatal(err)
	}
	// An application account reachable from the lab network, as real
	// deployments have; without one the server answers remote clients
	// with error 1130 instead of its handshake.
	initSQL := filepath.Join(dir, "init.sql")
	if err := writeFile(initSQL, "CREATE USER IF NOT EXISTS 'app'@'198.18.%' IDENTIFIED BY 'lab-only';\n"); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "mariadbd"), "--no-defaults", "--datadir="+data, "--user=root",
		"--port="+strconv.Itoa(int(port)), "--bind-address=0.0.0.0", "--socket="+filepath.Join(dir, "sock"),
		"--pid-file="+filepath.Join(dir, "pid"), "--skip-name-resolve", "--init-file="+initSQL,
		"--skip-log-error", "--innodb-buffer-pool-size=16M", "--skip-innodb-doublewrite", "--innodb-use-native-aio=0")
}

func startVsftpd(t testing.TB, h *netlab.Host, dir string, port uint16, cert, key string) {
	conf := fmt.Sprintf("listen=YES\nlisten_ipv6=NO\nlisten_port=%d\nbackground=NO\nanonymous_enable=NO\n"+
		"local_enable=YES\nsecure_chroot_dir=/var/run/vsftpd/empty\npam_service_name=vsftpd\n"+
		"seccomp_sandbox=NO\nxferlog_enable=NO\n"+
		"ssl_enable=YES\nrsa_cert_file=%s\nrsa_private_key_file=%s\nssl_ciphers=HIGH\n", port, cert, key)
	p := filepath.Join(dir, "vsftpd.conf")
	if err := writeFile(p, conf); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("/var/run/vsftpd/empty", 0o755); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "vsftpd"), p)
}

func startExim(t testing.TB, h *netlab.Host, dir string, port uint16, cert, key string) {
	// Exim reads its key as the Debian-exim user, after it dropped root.
	eximCert, eximKey := filepath.Join(dir, "exim.crt"), filepath.Join(dir, "exim.key")
	if err := copyFile(cert, eximCert, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := copyFile(key, eximKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := run("chown", "Debian-exim", eximKey); err != nil {
		t.Fatal(err)
	}
	// The packaged configuration, listening on all addresses at port,
	// in the foreground, with its own pid file, and its TLS macros
	// (exim4.conf.template: MAIN_TLS_ENABLE advertises STARTTLS).
	start(t, h, bin(t, "exim4"), "-bdf", "-oX", fmt.Sprintf("0.0.0.0.%d", port), "-oP", filepath.Join(dir, "exim.pid"),
		"-DMAIN_TLS_ENABLE=yes", "-DMAIN_TLS_CERTIFICATE="+eximCert, "-DMAIN_TLS_PRIVATEKEY="+eximKey)
}

func startDovecot(t testing.TB, h *netlab.Host, dir string, imap, pop3 uint16, cert, key string) {
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = /dev/stderr
protocols = imap pop3
listen = *
ssl = yes
ssl_cert = <%[4]s
ssl_key = <%[5]s
auth_mechanisms = plain
passdb {
  driver = static
  args = password=lab-only
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=%[1]s/home
}
service imap-login {
  inet_listener imap {
    port = %[2]d
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    port = %[3]d
  }
  inet_listener pop3s {
    port = 0
  }
}
`, dir, imap, pop3, cert, key)
	for _, d := range []string{"run", "state", "home"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p := filepath.Join(dir, "dovecot.conf")
	if err := writeFile(p, conf); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "dovecot"), "-F", "-c", p)
}

func startMosquitto(t testing.TB, h *netlab.Host, dir string, port uint16) {
	p := filepath.Join(dir, "mosquitto.conf")
	if err := writeFile(p, fmt.Sprintf("listener %d 0.0.0.0\nallow_anonymous true\nuser root\npersistence false\nlog_dest stderr\nlog_type error\n", port)); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "mosquitto"), "-c", p)
}

func startSlapd(t testing.TB, h *netlab.Host, dir string, port uint16, cert, key string) {
	p := filepath.Join(dir, "slapd.conf")
	conf := fmt.Sprintf("include /etc/ldap/schema/core.schema\npidfile %[1]s/slapd.pid\nargsfile %[1]s/slapd.args\n"+
		"TLSCertificateFile %[2]s\nTLSCertificateKeyFile %[3]s\n", dir, cert, key)
	if err := writeFile(p, conf); err != nil {
		t.Fatal(err)
	}
	start(t, h, bin(t, "slapd"), "-d", "0", "-h", fmt.Sprintf("ldap://0.0.0.0:%d/", port), "-f", p)
}

package servicelab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/portsense/portsense/internal/netlab"
)

// Extra daemons: the ones whose rules were written from specs and vendor
// documentation, run here to check those rules against the real thing.
// They run on one host, on their standard ports (the unexpected-port
// cases are covered by Start).
var extraPorts = map[string]uint16{
	"bind":       53,
	"unbound":    5353,
	"pdns":       5300,
	"knot":       8053,
	"dropbear":   2022,
	"apache":     80,
	"python":     8000,
	"gunicorn":   8002,
	"caddy":      8081,
	"prometheus": 9090,
	"samba":      445,
	"xrdp":       3389,
}

// ExtraDaemons lists the daemons StartExtra runs.
func ExtraDaemons() []string {
	var out []string
	for k := range extraPorts {
		out = append(out, k)
	}
	return out
}

// StartExtra runs the extra daemons in h, waits until each port accepts
// connections and returns what detection should find, with versions
// read from the binaries.
func StartExtra(t testing.TB, h *netlab.Host) []Expect {
	t.Helper()
	root := t.TempDir()
	for d := root; d != "/" && d != "."; d = filepath.Dir(d) {
		if strings.HasPrefix(d, os.TempDir()) && d != os.TempDir() {
			os.Chmod(d, 0o755)
		}
	}
	var exps []Expect
	for name, port := range extraPorts {
		dir := filepath.Join(root, name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		e := Expect{Addr: netip.AddrPortFrom(h.Addr4, port), Daemon: name}
		p := strconv.Itoa(int(port))
		switch name {
		case "bind":
			conf := fmt.Sprintf("options {\n directory %q;\n pid-file %q;\n listen-on port %s { any; };\n listen-on-v6 { none; };\n"+
				" recursion no;\n dnssec-validation no;\n};\n", dir, filepath.Join(dir, "named.pid"), p)
			writeConf(t, dir, "named.conf", conf)
			start(t, h, bin(t, "named"), "-g", "-4", "-c", filepath.Join(dir, "named.conf"))
			e.Service, e.Product, e.Version = "domain", "ISC BIND", binVersion(t, "named", []string{"-v"}, `BIND (\d+\.\d+\.\d+)`)
		case "unbound":
			conf := fmt.Sprintf("server:\n interface: 0.0.0.0@%s\n do-daemonize: no\n username: \"\"\n chroot: \"\"\n directory: %q\n"+
				" pidfile: %q\n use-syslog: no\n logfile: \"\"\n do-ip6: no\n access-control: 0.0.0.0/0 allow\n hide-version: no\n"+
				" local-zone: \".\" refuse\nremote-control:\n control-enable: no\n", p, dir, filepath.Join(dir, "unbound.pid"))
			writeConf(t, dir, "unbound.conf", conf)
			start(t, h, bin(t, "unbound"), "-d", "-c", filepath.Join(dir, "unbound.conf"))
			e.Service, e.Product, e.Version = "domain", "Unbound", binVersion(t, "unbound", []string{"-V"}, `Version (\d[\d.]*)`)
		case "pdns":
			// Root hints that name this lab host (BIND, recursion off,
			// refuses): the recursor never tries to reach the internet;
			// version.bind is answered locally.
			writeConf(t, dir, "recursor.conf", "")
			writeConf(t, dir, "lab.hints", ".  3600000 IN NS root.lab.\nroot.lab. 3600000 IN A "+h.Addr4.String()+"\n")
			start(t, h, bin(t, "pdns_recursor"), "--daemon=no", "--config-dir="+dir, "--socket-dir="+dir,
				"--local-address="+h.Addr4.String(), "--local-port="+p, "--allow-from=0.0.0.0/0",
				"--hint-file="+filepath.Join(dir, "lab.hints"), "--setuid=root", "--setgid=root", "--disable-syslog",
				"--loglevel=3", "--security-poll-suffix=")
			e.Service, e.Product, e.Version = "domain", "PowerDNS Recursor", binVersion(t, "pdns_recursor", []string{"--version"}, `PowerDNS Recursor (\d[\d.]*)`)
		case "knot":
			conf := fmt.Sprintf("server:\n  rundir: %q\n  listen: 0.0.0.0@%s\ndatabase:\n  storage: %q\n"+
				"log:\n  - target: stderr\n    any: warning\n", dir, p, dir)
			writeConf(t, dir, "knot.conf", conf)
			start(t, h, bin(t, "knotd"), "-c", filepath.Join(dir, "knot.conf"))
			e.Service, e.Product, e.Version = "domain", "Knot DNS", binVersion(t, "knotd", []string{"-V"}, `version (\d[\d.]*)`)
		case "dropbear":
			key := filepath.Join(dir, "host_ed25519")
			if err := run(bin(t, "dropbearkey"), "-t", "ed25519", "-f", key); err != nil {
				t.Fatal(err)
			}
			start(t, h, bin(t, "dropbear"), "-F", "-E", "-s", "-p", p, "-r", key)
			e.Service, e.Product, e.Version = "ssh", "Dropbear sshd", binVersion(t, "dropbear", []string{"-V"}, `Dropbear v(\d[\w.]*)`)
		case "apache":
			mods := "/usr/lib/apache2/modules"
			conf := fmt.Sprintf("ServerRoot %[1]q\nLoadModule mpm_event_module %[2]s/mod_mpm_event.so\n"+
				"LoadModule authz_core_module %[2]s/mod_authz_core.so\nListen %[3]s\nServerName lab.portsense.test\n"+
				"PidFile %[1]s/httpd.pid\nErrorLog /dev/stderr\nMutex file:%[1]s default\nUser www-data\nGroup www-data\n"+
				"DocumentRoot %[1]s\n", dir, mods, p)
			writeConf(t, dir, "httpd.conf", conf)
			writeConf(t, dir, "index.html", "<html><head><title>portsense lab</title></head></html>\n")
			start(t, h, bin(t, "apache2"), "-DFOREGROUND", "-d", dir, "-f", filepath.Join(dir, "httpd.conf"))
			e.Service, e.Product, e.Version = "http", "Apache httpd", binVersion(t, "apache2", []string{"-v"}, `Apache/(\d[\d.]*)`)
		case "python":
			py := bin(t, "python3")
			start(t, h, py, "-m", "http.server", p, "--bind", "0.0.0.0", "--directory", dir)
			// http.server's own version has been 0.6 since Python 2.
			e.Service, e.Product, e.Version = "http", "SimpleHTTPServer", "0.6"
		case "gunicorn":
			writeConf(t, dir, "labapp.py", "def app(environ, start_response):\n"+
				"    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [b'portsense lab\\n']\n")
			// One sync worker serves one connection at a time: a probe then
			// waits behind the NULL probe's idle connection, and under load
			// past the port's budget (seen once in a -race run). Threads
			// let it serve the probes side by side.
			start(t, h, bin(t, "gunicorn"), "--chdir", dir, "--bind", "0.0.0.0:"+p, "--workers", "1",
				"--worker-class", "gthread", "--threads", "8", "labapp:app")
			// gunicorn 20 sends "Server: gunicorn" without its version.
			e.Service, e.Product = "http", "Gunicorn"
		case "caddy":
			writeConf(t, dir, "Caddyfile", fmt.Sprintf("{\n\tadmin off\n\tauto_https off\n\tstorage file_system %s\n}\n:%s {\n\trespond \"portsense lab\"\n}\n", dir, p))
			cmd := h.Start(t, bin(t, "caddy"), "run", "--config", filepath.Join(dir, "Caddyfile"), "--adapter", "caddyfile")
			cmd.WaitDelay = 2e9
			e.Service, e.Product = "http", "Caddy httpd"
		case "prometheus":
			writeConf(t, dir, "prometheus.yml", "global:\n  scrape_interval: 1h\n")
			start(t, h, bin(t, "prometheus"), "--config.file="+filepath.Join(dir, "prometheus.yml"),
				"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address=:"+p, "--log.level=error")
			// It discloses its version in its own /metrics.
			e.Service, e.Product, e.Version = "http", "Prometheus", binVersion(t, "prometheus", []string{"--version"}, `version (\S+)`)
		case "samba":
			for _, d := range []string{"lock", "state", "cache", "private", "pid", "ncalrpc"} {
				os.MkdirAll(filepath.Join(dir, d), 0o755)
			}
			conf := fmt.Sprintf("[global]\n workgroup = LAB\n server role = standalone server\n smb ports = %[2]s\n"+
				" disable netbios = yes\n load printers = no\n lock directory = %[1]s/lock\n state directory = %[1]s/state\n"+
				" cache directory = %[1]s/cache\n private dir = %[1]s/private\n pid directory = %[1]s/pid\n"+
				" ncalrpc dir = %[1]s/ncalrpc\n", dir, p)
			writeConf(t, dir, "smb.conf", conf)
			start(t, h, bin(t, "smbd"), "--foreground", "--no-process-group", "--debug-stdout", "--configfile="+filepath.Join(dir, "smb.conf"))
			e.Service = "microsoft-ds"
		case "xrdp":
			ini, err := os.ReadFile("/etc/xrdp/xrdp.ini")
			if err != nil {
				t.Fatalf("servicelab: %v (install xrdp)", err)
			}
			s := regexp.MustCompile(`(?m)^port=.*$`).ReplaceAllString(string(ini), "port=tcp://:"+p)
			writeConf(t, dir, "xrdp.ini", s)
			start(t, h, bin(t, "xrdp"), "--nodaemon", "--config", filepath.Join(dir, "xrdp.ini"))
			e.Service, e.Product = "ms-wbt-server", "xrdp"
		}
		exps = append(exps, e)
	}
	waitPorts(t, exps)
	return exps
}

func writeConf(t testing.TB, dir, name, s string) {
	t.Helper()
	if err := writeFile(filepath.Join(dir, name), s); err != nil {
		t.Fatal(err)
	}
}

// binVersion runs a binary with args and returns re's first group in its
// output.
func binVersion(t testing.TB, name string, args []string, re string) string {
	t.Helper()
	b, _ := exec.Command(bin(t, name), args...).CombinedOutput()
	m := regexp.MustCompile(re).FindSubmatch(b)
	if m == nil {
		t.Fatalf("servicelab: %s %s: no version in %q", name, strings.Join(args, " "), b)
	}
	return string(m[1])
}

package service

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRealReplies matches replies captured from the Debian daemons of the
// lab (PORTSENSE_SERVICE_CAPTURE=dir go test -run TestLabRealDaemons) and
// committed under testdata/replies. File names are daemon_probe[_tls].bin.
func TestRealReplies(t *testing.T) {
	want := map[string]struct{ svc, product, version string }{
		"dnsmasq_dns-version":        {"domain", "dnsmasq", "2.90"},
		"exim_NULL":                  {"smtp", "Exim smtpd", "4.96"},
		"imap_NULL":                  {"imap", "Dovecot imapd", ""},
		"pop3_NULL":                  {"pop3", "Dovecot pop3d", ""},
		"lighttpd_http-get":          {"http", "lighttpd", "1.4.69"},
		"mariadb_NULL":               {"mysql", "MariaDB", "10.11.19"},
		"memcached_memcached":        {"memcached", "memcached", "1.6.18"},
		"mosquitto_mqtt":             {"mqtt", "Mosquitto", "2.0.11"},
		"nginx_http-get":             {"http", "nginx", "1.22.1"},
		"nginx-tls_http-get_tls":     {"http", "nginx", "1.22.1"},
		"nginx-tls_http-get":         {"ssl", "", ""}, // plain HTTP to the TLS port
		"openssh_NULL":               {"ssh", "OpenSSH", "9.2p1"},
		"postgres_postgres":          {"postgresql", "PostgreSQL DB", "15.18"},
		"redis_redis":                {"redis", "Redis key-value store", "7.0.15"},
		"slapd_ldap":                 {"ldap", "OpenLDAP", ""},
		"vsftpd_NULL":                {"ftp", "vsftpd", "3.0.3"},
		"etcd_http-version":          {"http", "etcd", "3.4.23"},
		"node-exporter_http-metrics": {"http", "Prometheus node_exporter", "1.5.0"},
		// TestLabExtraDaemons' daemons.
		"apache_http-get":         {"http", "Apache httpd", "2.4.71"},
		"bind_dns-version":        {"domain", "ISC BIND", "9.18.49"},
		"caddy_http-get":          {"http", "Caddy httpd", ""},
		"dropbear_NULL":           {"ssh", "Dropbear sshd", "2022.83"},
		"gunicorn_http-version":   {"http", "Gunicorn", ""},
		"knot_dns-version":        {"domain", "Knot DNS", "3.2.6"},
		"pdns_dns-version":        {"domain", "PowerDNS Recursor", "4.8.8"},
		"prometheus_http-metrics": {"http", "Prometheus", "2.42.0+ds"},
		"python_http-get":         {"http", "SimpleHTTPServer", "0.6"},
		"samba_smb":               {"microsoft-ds", "", ""},
		"unbound_dns-version":     {"domain", "Unbound", "1.17.1"},
		"xrdp_rdp":                {"ms-wbt-server", "xrdp", ""},
	}
	soft := map[string]string{
		"redis_http-get":      "redis", // redis' errors for an HTTP request
		"etcd_http-get":       "http",  // Go net/http's 404
		"prometheus_http-get": "http",  // the redirect to its UI; /metrics has the version
	}
	db := Builtin()
	files, _ := filepath.Glob("testdata/replies/*.bin")
	if len(files) < len(want) {
		t.Fatalf("only %d captured replies", len(files))
	}
	seen := 0
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".bin")
		reply, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.Split(name, "_")
		m, ok := db.Match(parts[1], reply, "")
		if w, isWant := want[name]; isWant {
			seen++
			if !ok || m.Soft || m.Service != w.svc || m.Product != w.product || m.Version != w.version {
				t.Errorf("%s: Match = %q %q %q soft=%v ok=%v; want %q %q %q", name, m.Service, m.Product, m.Version, m.Soft, ok, w.svc, w.product, w.version)
			}
			continue
		}
		if s, isSoft := soft[name]; isSoft {
			seen++
			if !ok || !m.Soft || m.Service != s {
				t.Errorf("%s: Match = %+v %v; want a soft %s match", name, m, ok, s)
			}
		}
	}
	if seen != len(want)+len(soft) {
		t.Errorf("checked %d replies, want %d: a capture is missing", seen, len(want)+len(soft))
	}
}

func TestHTMLTitle(t *testing.T) {
	reply, err := os.ReadFile("testdata/replies/lighttpd_http-get.bin")
	if err != nil {
		t.Fatal(err)
	}
	if got := htmlTitle(reply); got != "portsense lab" {
		t.Errorf("title of the lighttpd reply = %q", got)
	}
	for in, want := range map[string]string{
		"HTTP/1.1 200 OK\r\n\r\n<html><TITLE>\n  Hello\tworld </TITLE>": "Hello world",
		"HTTP/1.1 200 OK\r\n<title>in headers</title>\r\n\r\nbody":      "",
		"HTTP/1.1 200 OK\r\n\r\n<title>\x01bad</title>":                 `\x01bad`,
	} {
		if got := htmlTitle([]byte(in)); got != want {
			t.Errorf("htmlTitle(%q) = %q, want %q", in, got, want)
		}
	}
}

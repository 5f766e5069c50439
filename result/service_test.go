package result

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/portsense/portsense/target"
)

// tlsService is what probe/service reports for nginx behind TLS in the lab.
func tlsService() *Service {
	return &Service{
		Name: "http", Product: "nginx", Version: "1.22.1", Tunnel: "ssl", Method: "probed", Conf: 10,
		CPE: []string{"cpe:/a:f5:nginx:1.22.1"},
		TLS: &TLSInfo{Version: "TLS 1.3", Cipher: "TLS_AES_128_GCM_SHA256", ALPN: "h2",
			Subject: "CN=lab.portsense.test,O=portsense lab", Issuer: "CN=lab.portsense.test,O=portsense lab",
			SANs: []string{"lab.portsense.test", "198.18.0.2"}, NotAfter: time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)},
	}
}

func unknownService() *Service {
	return &Service{Name: "unknown", Method: "table", Conf: 3, Fingerprint: `NULL:\x00\x01hello\r\n<&>"`}
}

func TestServiceJSONRoundTrip(t *testing.T) {
	res := []Result{
		port("198.18.0.2", 443, target.TCP, Open, SynAck, 64),
		port("198.18.0.2", 9, target.TCP, Open, SynAck, 64),
	}
	res[0].Service, res[1].Service = tlsService(), unknownService()
	var buf bytes.Buffer
	feed(t, NewJSONLWriter(&buf), nil, res)
	got := map[uint16]*Service{}
	for rec, err := range NewJSONLReader(&buf).All() {
		if err != nil {
			t.Fatal(err)
		}
		got[rec.Result.AddrPort.Port()] = rec.Result.Service
	}
	for _, r := range res {
		if g := got[r.AddrPort.Port()]; !reflect.DeepEqual(g, r.Service) {
			t.Errorf("port %d round trip:\n got %+v\nwant %+v", r.AddrPort.Port(), g, r.Service)
		}
	}
}

func TestServiceXMLValidAndComplete(t *testing.T) {
	hosts := []Host{host("198.18.0.2", HostUp, SynAck)}
	res := []Result{
		port("198.18.0.2", 443, target.TCP, Open, SynAck, 64),
		port("198.18.0.2", 9, target.TCP, Open, SynAck, 64),
	}
	res[0].Service, res[1].Service = tlsService(), unknownService()
	doc := writeXML(t, RunInfo{}, hosts, res)
	for _, want := range []string{
		`<service name="http" product="nginx" version="1.22.1" tunnel="ssl" method="probed" conf="10"><cpe>cpe:/a:f5:nginx:1.22.1</cpe></service>`,
		`<script id="ssl-cert" output="TLS 1.3 TLS_AES_128_GCM_SHA256; ALPN h2; Subject: CN=lab.portsense.test,O=portsense lab; SANs: lab.portsense.test, 198.18.0.2;`,
		`servicefp="NULL:\x00\x01hello\r\n&lt;&amp;&gt;&quot;"`,
	} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("XML lacks %s\n%s", want, doc)
		}
	}
	xmllint(t, doc)

	var g bytes.Buffer
	feed(t, NewGrepWriter(&g, RunInfo{}), hosts, res)
	if !strings.Contains(g.String(), "443/open/tcp//ssl|http//nginx 1.22.1/") {
		t.Errorf("greppable output lacks the TLS service:\n%s", g.String())
	}
}

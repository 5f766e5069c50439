package result

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestHostMACJSONRoundTrip(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:5e:10:0a:ff")
	h := Host{Addr: netip.MustParseAddr("198.18.1.2"), State: HostUp, Reason: ARPResponse,
		RTT: 150 * time.Microsecond, Time: t0, MAC: mac}
	b, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"mac":"02:00:5e:10:0a:ff"`)) {
		t.Errorf("no mac in %s", b)
	}
	var got Host
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !sameHost(h, got) {
		t.Errorf("round trip of %s: got %+v", b, got)
	}
	bad := `{"type":"host","addr":"198.18.1.2","state":"up","mac":"02:00:zz:10:0a:ff"}`
	if err := json.Unmarshal([]byte(bad), &got); err == nil || !strings.Contains(err.Error(), `bad mac "02:00:zz:10:0a:ff"`) {
		t.Errorf("bad mac: err %v", err)
	}
}

func TestTimestampReplyReason(t *testing.T) {
	r, err := ParseReason("timestamp-reply")
	if err != nil || r != TimestampReply || r.String() != "timestamp-reply" {
		t.Errorf("ParseReason(timestamp-reply) = %v, %v", r, err)
	}
}

func TestXMLHostMAC(t *testing.T) {
	mac, _ := net.ParseMAC("02:00:5e:10:0a:ff")
	hosts := []Host{
		{Addr: netip.MustParseAddr("198.18.1.2"), State: HostUp, Reason: ARPResponse, Time: t0, MAC: mac},
		{Addr: netip.MustParseAddr("198.19.0.9"), State: HostUp, Reason: TimestampReply, ReplyTTL: 63, Time: t0},
	}
	doc := writeXML(t, RunInfo{ScanType: "ping", Args: "ping sweep"}, hosts, nil)
	if !bytes.Contains(doc, []byte(`<address addr="02:00:5E:10:0A:FF" addrtype="mac"/>`)) {
		t.Errorf("no mac address element:\n%s", doc)
	}
	if !bytes.Contains(doc, []byte(`reason="timestamp-reply"`)) {
		t.Errorf("no timestamp-reply:\n%s", doc)
	}
	xmllint(t, doc)
	// A later, less informative verdict without a MAC keeps the MAC.
	var buf bytes.Buffer
	g := NewGrepWriter(&buf, RunInfo{})
	g.WriteHost(hosts[0])
	g.WriteHost(Host{Addr: hosts[0].Addr, State: HostUp, Reason: SynAck, Time: t0.Add(time.Second)})
	x := NewXMLWriter(&buf, RunInfo{})
	x.WriteHost(Host{Addr: hosts[0].Addr, State: HostUp, Reason: SynAck, Time: t0.Add(time.Second)})
	x.WriteHost(Host{Addr: hosts[0].Addr, State: HostDown, Reason: NoResponse, Time: t0, MAC: mac})
	buf.Reset()
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `addrtype="mac"`) {
		t.Errorf("merged verdict lost the MAC:\n%s", buf.String())
	}
}

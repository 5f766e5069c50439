//go:build linux

package scanner

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/portsense/portsense/internal/netlab"
	"github.com/portsense/portsense/probe"
	"github.com/portsense/portsense/result"
	"github.com/portsense/portsense/target"
)

// udpLayout is a UDP port layout: open ports (with the service a payload
// should name, "" for none), silent open ports, dropped ports, ports
// rejected with admin-prohibited; every other port is closed.
type udpLayout struct {
	open    map[uint16]string
	silent  []uint16
	drop    []uint16
	reject  []uint16
	service bool // open ports must be named
}

func (l udpLayout) want(port uint16) (result.State, result.Reason) {
	if _, ok := l.open[port]; ok {
		return result.Open, result.UDPResponse
	}
	for _, p := range append(l.silent, l.drop...) {
		if p == port {
			return result.OpenFiltered, result.NoResponse
		}
	}
	for _, p := range l.reject {
		if p == port {
			return result.Filtered, result.AdminProhibited
		}
	}
	return result.Closed, result.PortUnreach
}

func (l udpLayout) filter(t *testing.T, h *netlab.Host) {
	if len(l.drop) > 0 {
		h.Drop(t, target.UDP, l.drop...)
	}
	if len(l.reject) > 0 {
		h.RejectICMP(t, target.UDP, l.reject...)
	}
}

func udpScan(t *testing.T, pr probe.Prober, addr netip.Addr, ports string, opts ...Option) (map[target.Target]result.Result, Stats) {
	t.Helper()
	return scanPorts(t, pr, target.NewHosts(addr), "U:"+ports, opts...)
}

func checkUDP(t *testing.T, addr netip.Addr, ports []uint16, l udpLayout, got map[target.Target]result.Result) {
	t.Helper()
	require.Len(t, got, len(ports))
	wrong := 0
	for _, p := range ports {
		st, reason := l.want(p)
		r := got[target.Target{Addr: addr, Port: target.Port{Proto: target.UDP, Num: p}}]
		bad := r.State != st || r.Reason != reason
		if name := l.open[p]; l.service && name != "" && (r.Service == nil || r.Service.Name != name) {
			bad = true
		}
		if bad {
			wrong++
			if wrong <= 10 {
				t.Errorf("%v udp/%d: got %v/%v service %v, want %v/%v %q (tries %d)", addr, p, r.State, r.Reason, r.Service, st, reason, l.open[p], r.Tries)
			}
		}
	}
	require.Zero(t, wrong, "ports with the wrong state, reason or service")
}

func portList(t *testing.T, spec string) []uint16 {
	ps, err := target.ParsePorts(spec, target.UDP)
	require.NoError(t, err)
	var out []uint16
	for i := range ps.Len() {
		out = append(out, ps.At(i).Num)
	}
	return out
}

func udpProbers(t *testing.T) map[string]probe.Prober {
	raw, err := probe.NewUDP(nil)
	require.NoError(t, err)
	sock, err := probe.NewUDP(&probe.UDPConfig{Sockets: true})
	require.NoError(t, err)
	return map[string]probe.Prober{"raw": raw, "sockets": sock}
}

// Every port of 1-1024 on a host without ICMP rate limits (netlab's
// default): echo services open, silent sockets and dropped ports
// open|filtered, rejected ports filtered, the rest closed.
func TestLabUDPAllStates(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{})
	l := udpLayout{
		open:   map[uint16]string{7: "", 53: "", 1000: ""},
		silent: []uint16{514},
		drop:   []uint16{67, 69, 600, 601, 602},
		reject: []uint16{138, 389, 1024},
	}
	h.ListenUDP(t, true, 7, 53, 1000)
	h.ListenUDP(t, false, l.silent...)
	l.filter(t, h)
	ports := portList(t, "1-1024")
	for name, pr := range udpProbers(t) {
		for _, addr := range []netip.Addr{h.Addr4, h.Addr6} {
			t.Run(name+"/"+addr.String(), func(t *testing.T) {
				got, st := udpScan(t, pr, addr, "1-1024", WithTiming(T4))
				checkUDP(t, addr, ports, l, got)
				t.Logf("%s %v: %d probes, %d retransmits, %d rate-limited hosts, %v", name, addr, st.Sent, st.Retransmits, st.RateLimited, st.Elapsed)
			})
		}
	}
}

// udpDaemons starts dnsmasq (DNS), chronyd (NTP) and snmpd (SNMP) in h.
func udpDaemons(t testing.TB, h *netlab.Host) {
	t.Helper()
	h.StartDNSmasq(t)
	h.StartChrony(t)
	h.StartSNMPd(t)
}

// daemonLayout is the layout of the rate-limited daemon host.
var daemonLayout = udpLayout{
	open:    map[uint16]string{53: "domain", 123: "ntp", 161: "snmp"},
	drop:    []uint16{67, 69, 137, 500},
	reject:  []uint16{138, 389},
	service: true,
}

// The done-when test, kept quick: real dnsmasq, chrony and snmpd, nftables
// drops and admin-prohibited rejects, and the target's kernel ICMP rate
// limit left at its default. Enough closed ports (12 answering ICMP, the
// burst is 6) that the limit bites; few enough that a one-a-second limit
// costs seconds. The full 1-1024 comparison with nmap is in bench/.
func TestLabUDPDaemonsRateLimited(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{ICMPRateLimit: true})
	udpDaemons(t, h)
	daemonLayout.filter(t, h)
	spec := "1-10,53,67,69,123,137,138,161,389,500"
	ports := portList(t, spec)
	for _, name := range []string{"raw", "sockets"} {
		pr := udpProbers(t)[name]
		for _, addr := range []netip.Addr{h.Addr4, h.Addr6} {
			t.Run(name+"/"+addr.String(), func(t *testing.T) {
				got, st := udpScan(t, pr, addr, spec)
				checkUDP(t, addr, ports, daemonLayout, got)
				if addr.Is4() {
					require.Positive(t, st.RateLimited, "the IPv4 host's limit was not detected")
				}
				t.Logf("%s %v: %d probes (%d paced), %d retransmits, rate-limited hosts %d, interval %v, %v",
					name, addr, st.Sent, st.Paced, st.Retransmits, st.RateLimited, st.ICMPInterval, st.Elapsed)
			})
		}
	}
}

// With a host timeout shorter than the rate limit allows, held ports are
// reported open|filtered with reason icmp-rate-limit, not closed and not
// dropped silently.
func TestLabUDPRateLimitHostTimeout(t *testing.T) {
	lab := netlab.New(t)
	h := lab.AddHost(netlab.HostConfig{ICMPRateLimit: true})
	pr := udpProbers(t)["raw"]
	got, _ := udpScan(t, pr, h.Addr4, "1-40", WithHostTimeout(4*time.Second))
	var closed, limited int
	for _, r := range got {
		switch {
		case r.State == result.Closed && r.Reason == result.PortUnreach:
			closed++
		case r.State == result.OpenFiltered && r.Reason == result.ICMPRateLimit:
			limited++
		default:
			t.Errorf("%v: %v/%v", r.Target, r.State, r.Reason)
		}
	}
	require.Equal(t, 40, closed+limited, "every port reported: closed or held by the rate limit")
	require.Positive(t, limited, "a 4 s budget cannot hear 40 closed ports at one a second")
	require.GreaterOrEqual(t, closed, 6, "the burst at least")
	t.Logf("host timeout 4s: %d closed, %d icmp-rate-limit", closed, limited)
}

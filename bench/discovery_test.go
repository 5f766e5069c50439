//go:build benchcompare && linux

package bench

import (
	"fmt"
	"net/netip"
	"os/exec"
	"strings"
)

// The host-discovery workload: the horizontal host's range with its upper
// half dark and one /24 of the live half that drops ICMP echo and
// timestamp requests but answers TCP. nmap's default ping (echo, SYN 443,
// ACK 80, timestamp) finds that /24; an ICMP-only sweep (zmap's
// icmp_echoscan) cannot.

// discoveryLayout returns the dark half and the TCP-only /24 of net.
func discoveryLayout(net netip.Prefix) (dark, tcpOnly netip.Prefix) {
	half := net.Bits() + 1
	a := net.Masked().Addr().As4()
	v := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
	up := v | 1<<(32-half)
	dark = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(up >> 24), byte(up >> 16), byte(up >> 8), byte(up)}), half)
	t := v + 7<<8
	tcpOnly = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(t >> 24), byte(t >> 16), byte(t >> 8), 0}), 24)
	return dark, tcpOnly
}

func discoveryWorkload(b *benchLab, ours, empty string) workload {
	h := b.horiz
	hn := b.horizNet
	dark, tcpOnly := discoveryLayout(hn)
	mustLab(hn, dark, tcpOnly)
	const peerRate = "100000"
	exp := expectation{
		positive: "up",
		unlisted: "down", // nmap -sn leaves down hosts out
		each: func(yield func(key, string) bool) {
			for a := hn.Addr(); hn.Contains(a); a = a.Next() {
				st := "up"
				if dark.Contains(a) || darkNet.Contains(a) {
					st = "down"
				}
				if !yield(key{a, 0}, st) {
					return
				}
			}
		},
		has: func(k key) bool { return hn.Contains(k.addr) && k.port == 0 },
	}
	rules := fmt.Sprintf(`table inet psbench_disc {
	chain in {
		type filter hook input priority -10; policy accept;
		ip daddr %s drop
		ip daddr %s icmp type { echo-request, timestamp-request } drop
	}
}
`, dark, tcpOnly)
	nft := func(script string) error {
		cmd := exec.Command("ip", "netns", "exec", h.Name, "nft", "-f", "-")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("nft in %s: %v: %s", h.Name, err, out)
		}
		return nil
	}
	s := hn.String()
	return workload{
		name: fmt.Sprintf("Ping sweep, %s (dark %s, %s TCP only)", s, dark, tcpOnly),
		host: h, exp: exp,
		setup: func() (func(), error) {
			if err := nft(rules); err != nil {
				return nil, err
			}
			return func() { _ = nft("delete table inet psbench_disc\n") }, nil
		},
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sn", "-T5", "-n", "-oJ", "@OUT@", s}},
			{name: toolNmap, bin: "nmap", parse: parseNmapXML,
				args: []string{"-n", "-sn", "-T5", "--min-rate", "20000", "-oX", "@OUT@", s}},
			{name: toolMasscan, bin: "masscan", parse: parseMasscanList, openOnly: true, trickle: true,
				args: []string{"--ping", "--rate", peerRate, "--wait", "1",
					"--interface", h.Ifname, "--router-mac", b.macs[h], "--source-ip", h.Local4.String(),
					"-oL", "@OUT@", s}},
			{name: toolZmap, bin: "zmap", parse: parseZmapCSV, port: 0, openOnly: true,
				args: []string{"-M", "icmp_echoscan", "-i", h.Ifname, "-G", b.macs[h], "-S", h.Local4.String(),
					"-b", empty, "-r", peerRate, "-c", "1", "-O", "csv", "-f", "saddr",
					"--disable-syslog", "-q", "-o", "@OUT@", s}},
		},
	}
}

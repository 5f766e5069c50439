//go:build benchcompare && linux

package bench

import (
	"fmt"
	"net/netip"
	"os/exec"
)

// darkWide6 is the memory workload of host discovery: a million IPv6
// addresses (the IPv4 lab space holds only 131,072) routed to the dark
// host, which discards them. Every address gets a host record (-v lists
// down hosts), through every output at once, so that the peak RSS shows
// whether the buffering writers keep host records in memory.
var darkWide6 = netip.MustParsePrefix("2001:db8:ff00::/108")

// lab6 is the IPv6 lab space (netlab's); nothing outside it is scanned.
var lab6 = netip.MustParsePrefix("2001:db8::/32")

func discoveryMemoryWorkload(b *benchLab, ours string, quick bool) workload {
	h := b.dark
	pfx := darkWide6
	if quick {
		pfx = netip.PrefixFrom(pfx.Addr(), 116)
	}
	if !lab6.Contains(pfx.Addr()) || pfx.Bits() < lab6.Bits() {
		panic(fmt.Sprintf("bench: %v is outside the lab space %v", pfx, lab6))
	}
	n := 1 << (128 - pfx.Bits())
	exp := expectation{
		positive: "up",
		unlisted: "down",
		each: func(yield func(key, string) bool) {
			for a := pfx.Addr(); pfx.Contains(a); a = a.Next() {
				if !yield(key{a, 0}, "down") {
					return
				}
			}
		},
		has: func(k key) bool { return pfx.Contains(k.addr) && k.port == 0 },
	}
	ip := func(args ...string) error {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("ip %v: %v: %s", args, err, out)
		}
		return nil
	}
	return workload{
		name: fmt.Sprintf("Memory: ping sweep (-PE -v), dark %s (%d addresses), JSONL, XML, greppable and the table", pfx, n),
		host: h, exp: exp,
		setup: func() (func(), error) {
			// The dark host swallows pfx; the scanner routes it there.
			if err := ip("-n", h.Name, "-6", "route", "add", "blackhole", pfx.String()); err != nil {
				return nil, err
			}
			if err := ip("-6", "route", "add", pfx.String(), "via", h.Addr6.String(), "dev", h.Ifname); err != nil {
				_ = ip("-n", h.Name, "-6", "route", "del", "blackhole", pfx.String())
				return nil, err
			}
			return func() {
				_ = ip("-6", "route", "del", pfx.String())
				_ = ip("-n", h.Name, "-6", "route", "del", "blackhole", pfx.String())
			}, nil
		},
		tools: []tool{
			{name: toolOurs, bin: ours, parse: parseJSONL,
				args: []string{"-sn", "-PE", "-v", "-n", "--min-rate", "3000000", "--max-retries", "0",
					"-oJ", "@OUT@", "-oX", "@OUT@.xml", "-oG", "@OUT@.gnmap", pfx.String()}},
			{name: toolNmap, na: "hours at this size"},
			{name: toolMasscan, na: "no IPv6 ping sweep"},
			{name: toolZmap, na: "IPv6 only from a target list"},
		},
	}
}

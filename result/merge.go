package result

import (
	"cmp"
	"fmt"
	"io"
	"net/netip"
	"slices"

	"github.com/portsense/portsense/target"
)

// stateRank orders port states by how much they say: a definite answer
// beats an ambiguous one, and open (the news) beats closed.
var stateRank = [...]int{
	Unknown:        0,
	OpenFiltered:   1,
	ClosedFiltered: 2,
	Filtered:       3,
	Unfiltered:     4,
	Closed:         5,
	Open:           6,
}

func rankState(s State) int {
	if int(s) < len(stateRank) {
		return stateRank[s]
	}
	return -1
}

// answered reports whether a reason stands for a packet or reply that came
// back, as opposed to silence or a default.
func answered(r Reason) bool {
	switch r {
	case NoReason, NoResponse, Sent, HostTimeout, UserSet:
		return false
	}
	return true
}

// MoreInformative reports whether r is a more informative verdict than o
// on the same port. The rule, used by Merge and by the buffering writers
// when a port is reported twice:
//
//  1. the better state wins: open > closed > unfiltered > filtered >
//     closed|filtered > open|filtered > unknown;
//  2. then a verdict from a reply beats one from silence (no-response,
//     sent, host-timeout, user-set, unknown);
//  3. then one with service information beats one without, and a higher
//     service confidence beats a lower one;
//  4. then the later Time wins.
//
// When none of these separate them it returns false: the first one seen
// stays.
func (r Result) MoreInformative(o Result) bool {
	if a, b := rankState(r.State), rankState(o.State); a != b {
		return a > b
	}
	if a, b := answered(r.Reason), answered(o.Reason); a != b {
		return a
	}
	if (r.Service == nil) != (o.Service == nil) {
		return r.Service != nil
	}
	if r.Service != nil && r.Service.Conf != o.Service.Conf {
		return r.Service.Conf > o.Service.Conf
	}
	return r.Time.After(o.Time)
}

// MoreInformative reports whether h is a more informative verdict than o
// on the same host: up beats down beats unknown, then a reply beats
// silence, then the later Time wins. Merge keeps the winner and adds the
// loser's warnings to it.
func (h Host) MoreInformative(o Host) bool {
	rank := func(s HostState) int {
		switch s {
		case HostUp:
			return 2
		case HostDown:
			return 1
		}
		return 0
	}
	if a, b := rank(h.State), rank(o.State); a != b {
		return a > b
	}
	if a, b := answered(h.Reason), answered(o.Reason); a != b {
		return a
	}
	return h.Time.After(o.Time)
}

type portKey struct {
	addr  netip.Addr
	proto target.Protocol
	port  uint16
}

// Merge reads JSON Lines streams (for example one per shard of a scan),
// keeps one verdict per host and per (address, protocol, port) chosen by
// Result.MoreInformative and Host.MoreInformative, and writes the merged
// records to dst ordered by address, each host's record before its ports,
// ports by protocol then number. Merge reads every source before it
// writes: a malformed line in any source fails the merge (the error names
// the source index and line) and nothing is written. Merge does not
// close dst. Memory grows with the number of distinct records.
func Merge(dst Writer, srcs ...io.Reader) error {
	ports := make(map[portKey]Result)
	hosts := make(map[netip.Addr]Host)
	for i, src := range srcs {
		rd := NewJSONLReader(src)
		for {
			rec, err := rd.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				return fmt.Errorf("result: merge source %d: %w", i, err)
			}
			if rec.Host != nil {
				h := *rec.Host
				if old, ok := hosts[h.Addr]; ok {
					if h.MoreInformative(old) {
						h.Warnings = unionStrings(h.Warnings, old.Warnings)
					} else {
						old.Warnings = unionStrings(old.Warnings, h.Warnings)
						h = old
					}
				}
				hosts[h.Addr] = h
				continue
			}
			r := *rec.Result
			k := portKey{r.AddrPort.Addr(), r.Proto, r.AddrPort.Port()}
			if old, ok := ports[k]; !ok || r.MoreInformative(old) {
				ports[k] = r
			}
		}
	}
	pl := make([]Result, 0, len(ports))
	for _, r := range ports {
		pl = append(pl, r)
	}
	slices.SortFunc(pl, func(a, b Result) int {
		return cmpPort(a.AddrPort.Addr(), a.Proto, a.AddrPort.Port(), b.AddrPort.Addr(), b.Proto, b.AddrPort.Port())
	})
	hl := make([]Host, 0, len(hosts))
	for _, h := range hosts {
		hl = append(hl, h)
	}
	slices.SortFunc(hl, func(a, b Host) int { return a.Addr.Compare(b.Addr) })
	// Interleave: each host, then the ports of addresses up to it.
	pi := 0
	for _, h := range hl {
		for pi < len(pl) && pl[pi].AddrPort.Addr().Less(h.Addr) {
			if err := dst.WriteResult(pl[pi]); err != nil {
				return err
			}
			pi++
		}
		if err := dst.WriteHost(h); err != nil {
			return err
		}
	}
	for ; pi < len(pl); pi++ {
		if err := dst.WriteResult(pl[pi]); err != nil {
			return err
		}
	}
	return nil
}

func cmpPort(a netip.Addr, ap target.Protocol, an uint16, b netip.Addr, bp target.Protocol, bn uint16) int {
	if c := a.Compare(b); c != 0 {
		return c
	}
	if c := cmp.Compare(ap, bp); c != 0 {
		return c
	}
	return cmp.Compare(an, bn)
}

// unionStrings returns a followed by the elements of b not in a.
func unionStrings(a, b []string) []string {
	for _, s := range b {
		if !slices.Contains(a, s) {
			a = append(a, s)
		}
	}
	return a
}

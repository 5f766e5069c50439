package netlab

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// WaitUDP waits until something in the host's namespace has bound each of
// the given UDP ports (IPv4 or IPv6), as a daemon started with [Host.Start]
// does once it is ready. It fails t after timeout.
func (h *Host) WaitUDP(t testing.TB, timeout time.Duration, ports ...uint16) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		bound := map[uint16]bool{}
		err := h.Do(func() error {
			for _, f := range []string{"/proc/thread-self/net/udp", "/proc/thread-self/net/udp6"} {
				if err := udpPorts(f, bound); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("netlab: %s: %v", h.Name, err)
		}
		missing := []string{}
		for _, p := range ports {
			if !bound[p] {
				missing = append(missing, strconv.Itoa(int(p)))
			}
		}
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("netlab: %s: udp ports %s not bound after %v", h.Name, strings.Join(missing, ","), timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// udpPorts adds the local ports listed in a /proc/net/udp{,6} file.
func udpPorts(name string, into map[uint16]bool) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			continue
		}
		_, port, ok := strings.Cut(fields[1], ":")
		if !ok {
			continue
		}
		if p, err := strconv.ParseUint(port, 16, 16); err == nil {
			into[uint16(p)] = true
		}
	}
	return sc.Err()
}

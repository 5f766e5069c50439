// Package netlab builds small labs of Linux network namespaces for portsense's
// tests: target hosts joined to the test by veth pairs, TCP and UDP services
// inside them, nftables filters (drop, ICMP reject, TCP reset), packet loss
// (nftables) and delay (a userspace delay bridge), AnyIP routes for many live
// addresses and blackhole routes for dark space.
//
// # Safety
//
// A lab test never runs in the machine's own network namespace. [Main], called
// from a package's TestMain, re-executes the test binary (same arguments, so
// -run, -count, -race and go test -c binaries all work) in a fresh network
// namespace holding only loopback. That namespace is the scanner side: the
// only interfaces in it are lo and the veths the lab adds, and it has no
// default route, so a probe sent to any address outside the lab fails with
// ENETUNREACH instead of leaving the machine. Every lab address comes from
// 198.18.0.0/15 (RFC 2544) or 2001:db8::/32 (RFC 3849); [Host.AnyIP] and
// [Host.Blackhole] refuse anything else.
//
// # Use
//
// In the package under test:
//
//	func TestMain(m *testing.M) { netlab.Main(m) }
//
//	func TestConnect(t *testing.T) {
//		lab := netlab.New(t) // skips unless root on Linux
//		h := lab.AddHost(netlab.HostConfig{})
//		h.ListenTCP(t, 22, 80)
//		h.Drop(t, target.TCP, 443)
//		// scan h.Addr4 / h.Addr6 from here: 22 and 80 open, 443 filtered,
//		// everything else closed.
//	}
//
// Without root, or off Linux, [New] skips the test with a one-line reason.
// With PORTSENSE_LAB_REQUIRED=1 in the environment the skip becomes a failure,
// so CI can prove the lab tests really ran. A root process that did not go
// through [Main] fails [New] with a message asking for the TestMain above.
//
// # Addresses
//
// Host N (HostConfig.Subnet, 1..250) gets the link 198.18.N.0/24 and
// 2001:db8:N::/64, where N is written with the same digits in the IPv6 group
// (subnet 12 is 198.18.12.0/24 and 2001:db8:12::/64). The scanner side is .1
// and ::1, the host .2 and ::2. Prefixes in 198.19.0.0/16, 198.18.251.0 to
// 198.18.255.255 and 2001:db8:f000::/36 never collide with link subnets and
// are the natural choice for AnyIP and Blackhole.
//
// # Kernel behaviour worth knowing
//
// The link has no delay unless asked for, so a probe's whole round trip can
// run inside the sending system call. For TCP connect(2) to a port rejected
// with ICMP this means the first ICMP error reaches the socket while connect
// still holds it, and Linux drops it (counter TcpExtLockDroppedIcmps); the
// error is reported for the retransmitted SYN about a second later. Raw
// sockets and packet captures see the first error. Give connect-based probes
// of [Host.RejectICMP] ports a timeout above a second.
//
// Lab hosts answer every probe with an ICMP error when told to reject (or
// when a UDP port is closed); real hosts rate-limit ICMP errors (Linux sends
// about six to one destination in a burst, then one a second). [Lab.AddHost]
// turns the limits off in each host namespace (net.ipv4.icmp_ratemask,
// icmp_ratelimit, icmp_msgs_per_sec, icmp_msgs_burst; net.ipv6.icmp.ratemask,
// ratelimit), so reject tests are exact. Tests of a scanner's patience with
// rate-limited hosts set HostConfig.ICMPRateLimit, which keeps the kernel's
// defaults of a fresh namespace.
//
// # Real daemons
//
// [Host.Start] runs any program in the host's namespace (dnsmasq, chronyd,
// snmpd, …) with its own configuration from t.TempDir(); Cleanup kills it
// by PID. [Host.WaitUDP] waits until a daemon has bound its UDP port.
//
// # Delay
//
// Delay and jitter do not use tc netem, which many kernels (CI's among them)
// are built without. A host with HostConfig.Delay or Jitter gets a third
// namespace between it and the scanner, the wire ("psl-<pid>-<n>" too):
//
//	scanner: Ifname <-veth-> wire: w0 [delay bridge] w1 <-veth-> host
//
// The wire has no addresses (IPv6 is off in it) and no routing: it is pure
// layer 2, so ARP, neighbour discovery, AnyIP and Blackhole routes work as
// on a direct link. Two AF_PACKET sockets there copy every frame to the
// other side, holding each for Delay plus a uniform draw from ±Jitter
// (frames may overtake each other, as with netem). One goroutine and one
// timer per direction run the queue, bounded at about a million frames;
// [Host.BridgeStats] counts what it forwarded and dropped. The bridge runs
// in the test process, so heavy CPU load shows up as extra delay. Loss uses
// an nftables netdev egress rule and works wherever nftables does.
//
// # Clean-up
//
// Everything a lab creates is removed by t.Cleanup (or [Lab.Close]): listeners
// are closed and their goroutines waited for, started processes are killed by
// PID, delay bridges stopped, veths and namespaces (wires too) are deleted.
// Target namespaces are named
// "psl-<pid>-<n>"; [New] first removes those left behind by test processes
// that died, and never touches the namespaces of processes still alive.
package netlab

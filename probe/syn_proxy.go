package probe

// Thresholds of SynProxySuspect.
const (
	synProxyMinProbed  = 100
	synProxyOpenPerMil = 900
)

// SynProxySuspect reports whether a host whose ports answered SYN-ACK on
// openCount of probedCount probed ports looks like a SYN proxy or a
// middlebox that answers every SYN (a firewall "SYN cookie" front, a
// tarpit, a TCP-intercepting load balancer) rather than a host with that
// many services: at least 100 ports probed and at least 90 % of them open.
// The engine flags such a host in result.Host.Warnings instead of
// reporting its ports as open silently.
func SynProxySuspect(openCount, probedCount int) bool {
	if probedCount < synProxyMinProbed || openCount <= 0 {
		return false
	}
	return int64(openCount)*1000 >= int64(probedCount)*synProxyOpenPerMil
}

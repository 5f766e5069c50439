package target

import (
	"errors"
	"fmt"
)

// How the Top lists were composed
//
// These lists are portsense's own. They are not derived from nmap-services
// or any other scanner's frequency data. They were put together as follows:
//
// TCP, tier 1 (topTCPHead, in order): ports of services we judge most likely
// to be listening on internet-facing and internal hosts, ordered by the
// authors' judgement of prevalence from general operational experience:
// web (80, 443 and the usual alternates), remote access (SSH, Telnet, RDP,
// VNC), mail, file sharing and Windows services, databases, directory
// services, network-device management, container/orchestration and message
// brokers, IoT and industrial control, then further well-known services.
// Every entry is a port with an IANA assignment or a widely documented
// default of a named product.
//
// TCP, tier 2: all remaining system ports 1-1023 in ascending order (the
// IANA well-known range, where assigned services cluster).
//
// TCP, tier 3: remaining ports of common "alternate" blocks in ascending
// order: 1024-1100, 8000-8100, 9000-9100, 3000-3010, 5000-5010, 49152-49160.
//
// UDP, tier 1 (topUDPHead, in order): UDP services by the same judgement
// (DNS, NTP, SNMP, NetBIOS, DHCP, IKE, syslog, discovery protocols, VPNs,
// VoIP, tunnels, games, industrial protocols). UDP, tier 2: remaining system
// ports 1-1023 ascending.
//
// Only the tier 1 order is a frequency ranking; within later tiers the order
// is numeric. Changing the lists changes Top's results, so treat them as
// part of the API: append to tiers, do not reorder.

var topTCPHead = [...]uint16{
	// web and remote access
	80, 443, 22, 8080, 21, 23, 3389, 8443, 25, 53,
	// Windows and file sharing
	445, 139, 135, 110, 143, 993, 995, 587, 465, 111,
	// databases, remote desktops, proxies
	3306, 5900, 8000, 8888, 1723, 5432, 1433, 1521, 6379, 27017,
	2049, 389, 636, 88, 464, 3268, 3269, 5985, 5986, 593,
	// web alternates and appliances
	81, 8008, 8081, 8082, 8083, 8088, 8090, 8181, 8880, 9443,
	10000, 4443, 7443, 8001, 8002, 8010, 8085, 8089, 8181, 9000,
	9090, 9091, 3000, 5000, 5001, 7000, 7001, 7080, 8800, 8889,
	// devices, printers, routers
	7547, 8291, 8728, 8729, 161, 515, 631, 9100, 1900, 5060,
	5061, 554, 1935, 179, 2000, 1080, 3128, 8118, 9050, 2222,
	// orchestration, brokers, monitoring
	2375, 2376, 2379, 2380, 6443, 10250, 10255, 9200, 9300, 5601,
	11211, 5672, 15672, 1883, 8883, 9092, 2181, 9042, 5984, 4222,
	8500, 8200, 9418, 8140, 10050, 10051, 5666, 9093, 9094, 3100,
	// mail, directory and messaging extras
	24, 26, 106, 109, 119, 563, 2525, 5222, 5269, 6667,
	6697, 194, 113, 79, 43, 70, 873, 990, 989, 992,
	// remote shells and legacy unix
	512, 513, 514, 540, 548, 6000, 6001, 5800, 5901, 5902,
	5903, 5631, 4899, 5938, 1494, 2598, 3283, 5500, 5550, 902,
	// industrial and building control
	502, 102, 20000, 44818, 47808, 1911, 2404, 4840, 9600, 1962,
	// more services with well-known defaults
	1099, 1100, 8009, 8086, 8161, 61616, 8983, 7474, 7687, 9999,
	3690, 2401, 3260, 3632, 4369, 25672, 8333, 30303, 8545, 4001,
	1194, 1701, 500, 4500, 1812, 1813, 49, 3478, 5349, 3868,
	2083, 2087, 2096, 2082, 2086, 2095, 10443, 8444, 4848, 8181,
	7777, 25565, 27015, 6881, 32400, 8096, 8920, 8123, 1400, 62078,
	5353, 5357, 3702, 2869, 5040, 49152, 49153, 49154, 49155, 49156,
	8069, 8012, 8020, 8021, 8022, 8025, 8030, 8040, 8060, 8070,
	8099, 8100, 8180, 8222, 8300, 8400, 8600, 8834, 8899, 9001,
	9002, 9080, 9081, 9082, 9091, 9101, 9191, 9292, 9876, 9998,
}

var topUDPHead = [...]uint16{
	53, 123, 161, 137, 138, 67, 68, 69, 500, 4500,
	514, 520, 1900, 5353, 5355, 1434, 111, 162, 631, 1701,
	1812, 1813, 5060, 3478, 11211, 623, 427, 1194, 51820, 443,
	135, 139, 445, 88, 464, 389, 177, 2049, 546, 547,
	3702, 3544, 4789, 6081, 2123, 2152, 1645, 1646, 49, 7,
	9, 13, 17, 19, 37, 5683, 5684, 47808, 44818, 20000,
	502, 102, 2222, 27015, 27016, 25565, 19132, 9987, 3074, 3478,
	5004, 5005, 10001, 17185, 2427, 2727, 1719, 5351, 5632, 3283,
	5350, 8472, 1604, 6881, 30303, 4172, 3389, 33434, 1024, 1025,
	1026, 1027, 1028, 1029, 1030, 2048, 5000, 5001, 5050, 5093,
	8000, 8080, 9200, 10000, 11111, 161, 319, 320, 518, 517,
	521, 749, 750, 996, 997, 998, 999, 1023, 853, 6346,
}

// topList returns the full ordered list for proto, building it fresh so
// no package state is kept.
func topList(proto Protocol) []uint16 {
	var head []uint16
	var tail [][2]uint16
	switch proto {
	case TCP:
		head = topTCPHead[:]
		tail = [][2]uint16{{1, 1023}, {1024, 1100}, {8000, 8100}, {9000, 9100}, {3000, 3010}, {5000, 5010}, {49152, 49160}}
	case UDP:
		head = topUDPHead[:]
		tail = [][2]uint16{{1, 1023}}
	default:
		return nil
	}
	var seen [65536 / 64]uint64
	out := make([]uint16, 0, len(head)+1200)
	add := func(p uint16) {
		if seen[p/64]&(1<<(p%64)) == 0 {
			seen[p/64] |= 1 << (p % 64)
			out = append(out, p)
		}
	}
	for _, p := range head {
		add(p)
	}
	for _, r := range tail {
		for p := int(r[0]); p <= int(r[1]); p++ {
			add(uint16(p))
		}
	}
	return out
}

// TopLen returns how many ports Top knows for proto (0 for protocols other
// than TCP and UDP).
func TopLen(proto Protocol) int { return len(topList(proto)) }

// Top returns the n most common ports of proto (TCP or UDP) from
// portsense's own curated list; see the comment in topports.go for how it
// was composed. n must be between 1 and TopLen(proto).
func Top(n int, proto Protocol) (*Ports, error) {
	list := topList(proto)
	if list == nil {
		return nil, fmt.Errorf("target: no top-ports list for %s", proto)
	}
	if n < 1 {
		return nil, errors.New("target: top-ports count must be at least 1")
	}
	if n > len(list) {
		return nil, fmt.Errorf("target: top-ports count %d exceeds the %d %s ports known", n, len(list), proto)
	}
	return PortsOf(proto, list[:n]...), nil
}

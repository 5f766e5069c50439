package target

import "strings"

// service is one row of portsense's own service table.
type service struct {
	name  string
	num   uint16
	proto string // "t", "u" or "tu"
}

// services maps well-known service names to ports. It is written for
// portsense from IANA assignments and protocol standards (facts, not a copy
// of any scanner's data file). Where a port has several names, the first
// row wins for ServiceName.
var services = [...]service{
	{"echo", 7, "tu"},
	{"discard", 9, "tu"},
	{"daytime", 13, "tu"},
	{"qotd", 17, "tu"},
	{"chargen", 19, "tu"},
	{"ftp-data", 20, "t"},
	{"ftp", 21, "t"},
	{"ssh", 22, "t"},
	{"telnet", 23, "t"},
	{"lmtp", 24, "t"},
	{"smtp", 25, "t"},
	{"time", 37, "tu"},
	{"whois", 43, "t"},
	{"tacacs", 49, "tu"},
	{"domain", 53, "tu"},
	{"dhcps", 67, "u"},
	{"dhcpc", 68, "u"},
	{"tftp", 69, "u"},
	{"gopher", 70, "t"},
	{"finger", 79, "t"},
	{"http", 80, "t"},
	{"kerberos", 88, "tu"},
	{"iso-tsap", 102, "t"},
	{"pop2", 109, "t"},
	{"pop3", 110, "t"},
	{"sunrpc", 111, "tu"},
	{"ident", 113, "t"},
	{"nntp", 119, "t"},
	{"ntp", 123, "u"},
	{"msrpc", 135, "tu"},
	{"netbios-ns", 137, "u"},
	{"netbios-dgm", 138, "u"},
	{"netbios-ssn", 139, "t"},
	{"imap", 143, "t"},
	{"snmp", 161, "u"},
	{"snmptrap", 162, "u"},
	{"xdmcp", 177, "u"},
	{"bgp", 179, "t"},
	{"irc", 194, "t"},
	{"ptp-event", 319, "u"},
	{"ptp-general", 320, "u"},
	{"ldap", 389, "tu"},
	{"svrloc", 427, "tu"},
	{"https", 443, "tu"},
	{"microsoft-ds", 445, "t"},
	{"kpasswd", 464, "tu"},
	{"smtps", 465, "t"},
	{"isakmp", 500, "u"},
	{"modbus", 502, "t"},
	{"exec", 512, "t"},
	{"login", 513, "t"},
	{"shell", 514, "t"},
	{"syslog", 514, "u"},
	{"printer", 515, "t"},
	{"talk", 517, "u"},
	{"ntalk", 518, "u"},
	{"rip", 520, "u"},
	{"ripng", 521, "u"},
	{"uucp", 540, "t"},
	{"dhcpv6-client", 546, "u"},
	{"dhcpv6-server", 547, "u"},
	{"afp", 548, "t"},
	{"rtsp", 554, "tu"},
	{"nntps", 563, "t"},
	{"submission", 587, "t"},
	{"http-rpc-epmap", 593, "t"},
	{"asf-rmcp", 623, "u"},
	{"ipp", 631, "tu"},
	{"ldaps", 636, "t"},
	{"ldp", 646, "tu"},
	{"kerberos-adm", 749, "t"},
	{"netconf-ssh", 830, "t"},
	{"domain-s", 853, "t"},
	{"rsync", 873, "t"},
	{"vmware-auth", 902, "t"},
	{"ftps-data", 989, "t"},
	{"ftps", 990, "t"},
	{"telnets", 992, "t"},
	{"imaps", 993, "t"},
	{"pop3s", 995, "t"},
	{"socks", 1080, "t"},
	{"rmiregistry", 1099, "t"},
	{"openvpn", 1194, "tu"},
	{"ms-sql-s", 1433, "t"},
	{"ms-sql-m", 1434, "u"},
	{"citrix-ica", 1494, "t"},
	{"oracle-tns", 1521, "t"},
	{"l2tp", 1701, "u"},
	{"h323q931", 1720, "t"},
	{"pptp", 1723, "t"},
	{"radius", 1812, "u"},
	{"radius-acct", 1813, "u"},
	{"mqtt", 1883, "t"},
	{"ssdp", 1900, "u"},
	{"rtmp", 1935, "t"},
	{"hsrp", 1985, "u"},
	{"cisco-sccp", 2000, "t"},
	{"nfs", 2049, "tu"},
	{"gtp-c", 2123, "u"},
	{"gtp-u", 2152, "u"},
	{"zookeeper", 2181, "t"},
	{"docker", 2375, "t"},
	{"docker-s", 2376, "t"},
	{"etcd-client", 2379, "t"},
	{"etcd-server", 2380, "t"},
	{"cvspserver", 2401, "t"},
	{"mgcp", 2427, "u"},
	{"iscsi", 3260, "t"},
	{"msft-gc", 3268, "t"},
	{"msft-gc-ssl", 3269, "t"},
	{"mysql", 3306, "t"},
	{"ms-wbt-server", 3389, "t"},
	{"stun", 3478, "tu"},
	{"teredo", 3544, "u"},
	{"distcc", 3632, "t"},
	{"svn", 3690, "t"},
	{"ws-discovery", 3702, "u"},
	{"diameter", 3868, "t"},
	{"nats", 4222, "t"},
	{"epmd", 4369, "t"},
	{"ipsec-nat-t", 4500, "u"},
	{"vxlan", 4789, "u"},
	{"sip", 5060, "tu"},
	{"sips", 5061, "t"},
	{"xmpp-client", 5222, "t"},
	{"xmpp-server", 5269, "t"},
	{"mdns", 5353, "u"},
	{"llmnr", 5355, "tu"},
	{"postgresql", 5432, "t"},
	{"kibana", 5601, "t"},
	{"pcanywheredata", 5631, "t"},
	{"pcanywherestat", 5632, "u"},
	{"nrpe", 5666, "t"},
	{"amqp", 5672, "t"},
	{"coap", 5683, "u"},
	{"vnc-http", 5800, "t"},
	{"vnc", 5900, "t"},
	{"couchdb", 5984, "t"},
	{"wsman", 5985, "t"},
	{"wsmans", 5986, "t"},
	{"x11", 6000, "t"},
	{"geneve", 6081, "u"},
	{"redis", 6379, "t"},
	{"kube-apiserver", 6443, "t"},
	{"syslog-tls", 6514, "t"},
	{"openflow", 6653, "t"},
	{"irc", 6667, "t"},
	{"bittorrent", 6881, "tu"},
	{"neo4j", 7474, "t"},
	{"cwmp", 7547, "t"},
	{"http-alt", 8080, "t"},
	{"http-alt", 8008, "t"},
	{"ajp13", 8009, "t"},
	{"influxdb", 8086, "t"},
	{"puppet", 8140, "t"},
	{"vault", 8200, "t"},
	{"bitcoin", 8333, "t"},
	{"https-alt", 8443, "t"},
	{"matrix-federation", 8448, "t"},
	{"consul", 8500, "t"},
	{"prometheus", 9090, "t"},
	{"kafka", 9092, "t"},
	{"jetdirect", 9100, "t"},
	{"elasticsearch", 9200, "t"},
	{"git", 9418, "t"},
	{"teamspeak", 9987, "u"},
	{"zabbix-agent", 10050, "t"},
	{"zabbix-trapper", 10051, "t"},
	{"kubelet", 10250, "t"},
	{"memcache", 11211, "tu"},
	{"hkp", 11371, "t"},
	{"rabbitmq-mgmt", 15672, "t"},
	{"dnp3", 20000, "t"},
	{"minecraft", 25565, "t"},
	{"mongodb", 27017, "t"},
	{"steam", 27015, "u"},
	{"ethereum", 30303, "tu"},
	{"enip", 44818, "tu"},
	{"bacnet", 47808, "u"},
	{"db2", 50000, "t"},
	{"wireguard", 51820, "u"},
}

// serviceAliases maps common alternative spellings to table names.
var serviceAliases = [...][2]string{
	{"www", "http"},
	{"dns", "domain"},
	{"rdp", "ms-wbt-server"},
	{"smb", "microsoft-ds"},
	{"postgres", "postgresql"},
	{"mssql", "ms-sql-s"},
	{"rpcbind", "sunrpc"},
	{"auth", "ident"},
	{"bootps", "dhcps"},
	{"bootpc", "dhcpc"},
	{"ike", "isakmp"},
	{"upnp", "ssdp"},
	{"lpd", "printer"},
	{"rlogin", "login"},
	{"rsh", "shell"},
	{"rexec", "exec"},
	{"winrm", "wsman"},
	{"submissions", "smtps"},
	{"ipmi", "asf-rmcp"},
	{"slp", "svrloc"},
	{"memcached", "memcache"},
	{"oracle", "oracle-tns"},
	{"imap4", "imap"},
	{"dot", "domain-s"},
}

// ServicePort returns the ports of a service name from portsense's own
// table of well-known services (case-insensitive; a few aliases such as
// "www", "dns" and "rdp" are accepted). A name can map to several ports,
// for example "domain" to 53/tcp and 53/udp.
func ServicePort(name string) ([]Port, bool) {
	name = strings.ToLower(name)
	for _, a := range serviceAliases {
		if a[0] == name {
			name = a[1]
			break
		}
	}
	var out []Port
	for _, s := range services {
		if s.name != name {
			continue
		}
		if strings.Contains(s.proto, "t") {
			out = append(out, Port{TCP, s.num})
		}
		if strings.Contains(s.proto, "u") {
			out = append(out, Port{UDP, s.num})
		}
	}
	return out, len(out) > 0
}

// ServiceName returns the name of the well-known service on p from
// portsense's own table, or "" if it is unknown.
func ServiceName(p Port) string {
	var want string
	switch p.Proto {
	case TCP:
		want = "t"
	case UDP:
		want = "u"
	default:
		return ""
	}
	for _, s := range services {
		if s.num == p.Num && strings.Contains(s.proto, want) {
			return s.name
		}
	}
	return ""
}

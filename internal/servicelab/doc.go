// Package servicelab starts real Debian daemons (OpenSSH, nginx, lighttpd,
// Redis, PostgreSQL, MariaDB, vsftpd, Exim, Dovecot, memcached, Mosquitto,
// OpenLDAP, dnsmasq, etcd, Prometheus node_exporter) inside netlab host namespaces, for the version
// detection tests of probe/service and the side-by-side benchmark in
// bench/. Each daemon gets its own configuration and data directory under
// t.TempDir(); the versions the tests expect are read from the installed
// binaries or packages at run time, never written down.
package servicelab

// Package service names the service behind an open TCP port: service name,
// product, version, extra information and CPE, as nmap's -sV does, with a
// probe database of its own.
//
// # Detection
//
// A [Detector] first connects and listens (the NULL probe): SSH, FTP, SMTP,
// POP3, IMAP, MySQL/MariaDB, VNC and Telnet servers speak first, and their
// banner usually names them at once. After 500 ms of silence it starts
// sending probes, each on a fresh connection, while the NULL connection
// keeps listening (up to 2 s) for a slow banner: first those a reply asked for (a soft match such as
// "an SMTP server" limits the probes to those that can name the product;
// a TLS alert or nginx's "plain HTTP request was sent to HTTPS port" moves
// the TLS probe to the front), then those listed for the port number, then
// the rest by rarity up to the intensity. The port number only orders the
// probes, it never decides: ssh on 8080 and redis on 443 are named as on
// their own ports. Up to four probes to one port are in flight at once,
// but their replies are judged in probe order, so that a generic rule of a
// later probe never shadows an earlier, more specific one.
//
// The TLS probe is a crypto/tls handshake offering ALPN h2 and http/1.1.
// On success the result's TLS field has the protocol version, cipher
// suite, ALPN, certificate subject, SANs, issuer and expiry, and detection
// starts again inside TLS (Tunnel "ssl").
//
// A plaintext SMTP, IMAP, POP3, FTP, PostgreSQL or LDAP service that offers
// an upgrade to TLS (STARTTLS, STLS, AUTH TLS, SSLRequest, the LDAP StartTLS
// extended operation) gets one more connection that takes it, and the TLS
// field describes that session the same way, with Tunnel left empty ([WithStartTLS] turns this off). The
// dialogue's replies are capped, plain text sent after the server agreed
// to TLS is refused, and the upgrade counts against the port's budget.
//
// An HTTP service whose rule gives no extra information gets the page's
// <title> there ("title: Welcome").
//
// Every port ends with a result: when no rule matches, the name comes from
// the port table (method "table", conf 3) and Fingerprint holds the first
// bytes the port sent, hex-escaped and capped at 256 bytes.
//
// Budgets bound the cost of hostile ports: the NULL probe waits at most
// 2 s for a banner, other probes 2 s for a reply, a reply is cut at 16 KiB
// and a peer that goes quiet for 300 ms after sending is done; no port
// costs more than its budget (15 s), however slowly it trickles bytes.
// [WithTimeouts], [WithMaxRead], [WithParallel] and [WithIntensity] change
// them. A Detector is safe for concurrent use; the scanner package runs
// one as a stage on open ports (scanner.WithServiceDetection) with bounded
// concurrency.
//
// [Detector.DetectConn] works on a connection the caller already has: it
// listens for a banner and sends at most one probe on it.
//
// # Rule files
//
// The built-in rules ([Builtin]) are embedded from rules/builtin.rules and
// were written from the protocols' specifications and from what real
// daemons send; none come from nmap's nmap-service-probes. Users add their
// own with [DB.Add] or replace them with [Parse] and [WithDB]. The format
// is line based; '#' starts a comment line:
//
//	probe NAME [tls]          start (or continue) a probe section
//	  send "Go string"        the payload, in Go double-quoted syntax (\r \n \x00)
//	  ports 80,8000-8010      ports where the probe is likely (tried first)
//	  tlsports 443            the same, for the probe inside TLS
//	  rarity 1-9              tried when rarity <= intensity (default 5)
//	  wait 2s                 how long to wait for a reply
//	  maxread 1048576         bytes kept of the reply (default 16 KiB; WithMaxRead caps it)
//	  fallback OTHER ...      also try OTHER's rules on this probe's reply
//	  match SERVICE /REGEXP/FLAGS key="template" ...
//	  softmatch SERVICE /REGEXP/FLAGS key="template" ...
//
// A probe without send is a listening probe (the NULL probe is one); a
// probe declared "tls" is the TLS handshake. Every probe falls back to the
// NULL probe's rules. REGEXP is Go RE2 syntax between slashes (write \/ for
// a slash); FLAGS are i (case-insensitive) and s (dot matches newline).
// Replies are matched as Latin-1 text, one character per byte, so \x00 to
// \xff in a pattern match those bytes. Keys are product, version, info and
// cpe (repeatable); in their templates {name} is a named group and {1} a
// numbered one. A pattern group named product, version or info fills that
// field when the rule has no template for it. A match of the service
// "ssl" means "this port speaks TLS". A soft match names the service but
// keeps probing for its product and version. Errors name the source and
// line: "site.rules:12: match: bad pattern: …".
package service

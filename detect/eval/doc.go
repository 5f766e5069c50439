// Package eval is the evaluation harness of package detect: a seeded
// synthetic traffic generator with labelled scanners and hard benign
// negatives, baseline detectors, and a scorer that compares them with
// detect's analysers.
//
// # Traffic
//
// Generate builds []detect.Observation in time order for a Scenario. The
// protected network is 198.18.0.0/22 (about 300 live hosts, a fifth of
// them firewalled, the rest dark: half answered by the router with ICMP
// host unreachable, half black-holed) and 2001:db8:1::/64; outside sources
// come from 198.19.0.0/16 and 2001:db8:ffff::/48. The network side is
// simulated: SYN-ACK from open ports, RST from closed ones, ICMP port
// unreachable for closed UDP ports, silence from filtered ones, RST to ACK
// probes from unfiltered hosts. Benign actors: web clients, crawlers (many
// hosts, one open port, a few stale addresses), monitors (fixed checks,
// some dead), flaky clients retrying a dead service, P2P clients trying
// stale peers on 6881 (half dead), DNS clients. Scanners: vertical,
// horizontal and block × SYN, connect, FIN, NULL, Xmas, ACK, UDP × line
// rate, 10 ms and 1 s between probes; slow scans at 30 s, 1 min and 5 min;
// IPv6; TRW evaders that interleave connections to open services;
// distributed campaigns of k = 2…16 sources splitting one job; nmap-style
// decoy scans (live decoys reset SYN-ACKs from their own hop distance,
// dead ones stay silent); and a flood of spoofed one-packet sources.
// WritePcap turns a trace into a pcap file.
//
// # Baselines
//
// Approximations written from the tools' published descriptions:
// Zeek's scan policy (25 hosts on one port or 15 ports on one host, failed
// connections, 5-minute epochs), Snort sfPortscan at sense level low (our
// reading: 5 error responses over 5 ports of a host or 5 hosts within
// 60 s), scanlogd (weights 3 for ports below 1024 and 1 otherwise,
// threshold 21, reset after a 3 s gap; counted per (host, port)), and
// plain TRW (hosts only, no port keying, benign verdicts final). Zeek,
// Snort and plain TRW get connection outcomes from detect.OutcomeTracker.
//
// # Real captures
//
// The corpus under testdata/corpus is real traffic: TestMakeCorpus
// (corpus_lab_test.go, build tag corpus; as root, about 7 minutes:
// go test -tags corpus -run TestMakeCorpus ./detect/eval/) builds a netns
// lab with nginx, sshd, dnsmasq, chronyd and small Go TCP services, runs
// real benign clients (curl and wget browsers with closed ports, dead
// bookmarks and https→http fallbacks; ssh admins; an IMAPS→IMAP mail
// client; monitoring of 40 hosts × 4 ports with 4 dead; a crawler;
// happy-eyeballs curl; a NAT gateway; dig and chronyd -Q clients; P2P-like
// peers) and real scanners (nmap in every mode, IPv6 nmap, masscan, zmap,
// hping3 spoofed sources, slow nmap, a TRW evader, 8 nmap instances
// splitting one scan, nmap -D with live and dead decoys), captures each
// scenario with tcpdump (snap length 96) and writes the gzipped pcap and a
// JSON label file per capture. LoadCorpus decodes them with detect's own
// decoder; answers to every probe are taken from the capture, so "att
// ansd" counts probes whose answer was on the wire before the event.
// TestCorpus (default go test, about a second) requires of the default
// analyser: every scanner found, no benign source flagged, no decoy or
// spoofed source reported, the real source of a decoy scan with silent
// decoys named, and, pooled over the captures, a median of at most 5
// answered probes for fast scanners and 10 probes for slow ones.
//
// `go run ./detect/eval/cmd/evaltable -corpus detect/eval/testdata/corpus`
// printed:
//
//	capture decoy (14401 observations, 41 actors): nmap -D with live decoys (their kernels reset the SYN-ACKs) and with dead decoys (silent), among the benign mix
//	detector         recall      fast      slow  FP(benign)     FP%   prec  att wire  att ansd     TTD med/p95   peakMiB decoyOK blocked   flood  linked badlink shape,type ok
//	ours-default     100.0%    2/2       0/0        0/40     0.000%  1.000    0/0       0/0       2.7s/2.7s        20.12   1/2         0       0   0/0         0   0,  0/0
//	ours-trw         100.0%    2/2       0/0        0/40     0.000%  0.182    0/0       0/0        4ms/4ms         18.77   0/2         9       0   0/0         0   0,  0/0
//	ours-slow        100.0%    2/2       0/0        0/40     0.000%  0.182    0/0       0/0        8ms/8ms         17.77   0/2         9       0   0/0         0   0,  0/0
//	ours-threshold   100.0%    2/2       0/0        0/40     0.000%  0.182    0/0       0/0        9ms/9ms         17.77   0/2         9       0   0/0         0   0,  0/0
//	zeek             100.0%    2/2       0/0        0/40     0.000%  0.182    0/0       0/0        8ms/8ms          6.48   0/2         9       0   0/0         0   0,  0/0
//	snort-low        100.0%    2/2       0/0        0/40     0.000%  0.182    0/0       0/0        4ms/4ms          6.34   0/2         9       0   0/0         0   0,  0/0
//	scanlogd         100.0%    2/2       0/0        8/40    20.000%  0.105    0/0       0/0        0ms/0ms          0.02   0/2         9       0   0/0         0   0,  0/0
//	plain-trw          0.0%    0/2       0/0        0/40     0.000%  0.000    0/0       0/0        0ms/0ms          6.27   0/2         0       0   0/0         0   0,  0/0
//
//	capture fast (18966 observations, 51 actors): nmap -sS -sT -sA -sF -sN -sX -sU, horizontal and IPv6 nmap, masscan, zmap, hping3 spoofed sources, among the benign mix
//	detector         recall      fast      slow  FP(benign)     FP%   prec  att wire  att ansd     TTD med/p95   peakMiB decoyOK blocked   flood  linked badlink shape,type ok
//	ours-default     100.0%   11/11      0/0        0/40     0.000%  1.000   10/212     4/10       1ms/23.5s       20.12   0/0         0       0   0/0         0  11, 10/11
//	ours-trw         100.0%   11/11      0/0        0/40     0.000%  1.000   10/212     4/10       1ms/23.5s       18.77   0/0         0       0   0/0         0  11, 10/11
//	ours-slow        100.0%   11/11      0/0        0/40     0.000%  1.000   30/212    13/17       6ms/23.5s       17.77   0/0         0       0   0/0         0  11, 10/11
//	ours-threshold   100.0%   11/11      0/0        0/40     0.000%  1.000   30/212    20/22       6ms/23.5s       17.77   0/0         0       0   0/0         0  11, 10/11
//	zeek             100.0%   11/11      0/0        0/40     0.000%  1.000   30/332    15/163      6ms/23.5s        6.80   0/0         0       0   0/0         0   0,  0/11
//	snort-low         90.9%   10/11      0/0        1/40     2.500%  0.909   10/212     5/7        5ms/23.5s        6.39   0/0         0       0   0/0         0   0,  0/10
//	scanlogd          81.8%    9/11      0/0        8/40    20.000%  0.529    9/21      0/4        0ms/23.5s        0.06   0/0         0       0   0/0         0   0,  0/9
//	plain-trw         27.3%    3/11      0/0        0/40     0.000%  1.000   20/212     4/4       18ms/105ms        6.27   0/0         0       0   0/0         0   0,  0/3
//
//	capture stealthy (38441 observations, 44 actors): slow nmap scans (10 s and 20 s between probes), a TRW evader interleaving successful connections, a distributed scan from 8 sources, IPv6 slow scan
//	detector         recall      fast      slow  FP(benign)     FP%   prec  att wire  att ansd     TTD med/p95   peakMiB decoyOK blocked   flood  linked badlink shape,type ok
//	ours-default     100.0%    2/2       3/3        0/40     0.000%  1.000   10/10     10/10     30.1s/2.0m        20.12   0/0         0       0   1/1         0   2,  4/4
//	ours-trw         100.0%    2/2       3/3        0/40     0.000%  1.000   10/10     10/10     30.1s/2.0m        18.77   0/0         0       0   0/1         0   2,  4/4
//	ours-slow         60.0%    2/2       1/3        0/40     0.000%  1.000   16/16     16/16     12.7s/2.5m        17.77   0/0         0       0   0/1         0   2,  2/2
//	ours-threshold    40.0%    2/2       0/3        0/40     0.000%  1.000   23/23     23/23     20.9s/20.9s       17.77   0/0         0       0   0/1         0   1,  1/1
//	zeek              60.0%    2/2       1/3        0/40     0.000%  1.000   18/18     18/18     15.4s/2.8m         6.36   0/0         0       0   0/1         0   0,  0/2
//	snort-low         60.0%    2/2       1/3        0/40     0.000%  1.000    8/8       8/8       4.1s/40.1s        6.30   0/0         0       0   0/1         0   0,  0/2
//	scanlogd          40.0%    2/2       0/3        9/40    22.500%  0.500    9/9       8/8       5.1s/5.1s         0.01   0/0         0       0   0/1         0   0,  0/1
//	plain-trw          0.0%    0/2       0/3        0/40     0.000%  0.000    0/0       0/0        0ms/0ms          6.27   0/0         0       0   0/1         0   0,  0/0
//
// # Results
//
// `go run ./detect/eval/cmd/evaltable` (default scenario, seed 1; see
// Table for the columns) printed at the time of writing:
//
//	detector         recall      fast      slow  FP(benign)     FP%   prec  att wire  att ansd     TTD med/p95   peakMiB decoyOK blocked   flood  linked badlink shape,type ok
//	ours-default     100.0%   83/83      6/6        0/1860   0.000%  1.000    6/200     4/14     507ms/1.4m        20.12   3/4         0       0  10/10        0  74, 72/75
//	ours-trw         100.0%   83/83      6/6        0/1860   0.000%  0.894    6/200     4/64     113ms/2.6m        18.77   0/4        17       0   0/10        0  71, 74/75
//	ours-slow         97.8%   81/83      6/6        0/1860   0.000%  0.873   15/200    13/40     280ms/7.7m        17.77   0/4        17       0   0/10        0  75, 72/75
//	ours-threshold    93.3%   83/83      0/6        0/1860   0.000%  0.889   21/200    20/47     363ms/23.5s       17.77   0/4        17       0   0/10        0  69, 67/69
//	zeek              60.7%   54/83      0/6        0/1860   0.000%  0.830   25/200    17/62     248ms/25.5s       10.17   0/4        17       0   0/10        0   0,  0/45
//	snort-low         76.4%   68/83      0/6        5/1860   0.269%  0.805    5/200     5/16      90ms/9.0s         8.95   0/4        17       0   0/10        0   0,  0/57
//	scanlogd          71.9%   64/83      0/6       19/1860   1.022%  0.768    7/21      5/16     163ms/14.2s        2.56   0/4        17       0   0/10        0   0,  0/50
//	plain-trw         57.3%   48/83      3/6        3/1860   0.161%  0.963    6/200     5/12     113ms/1.3m         7.27   0/4         0       0   0/10        0   0,  0/46
//
// `go test ./detect/eval/` asserts the default analyser's results;
// PORTSENSE_EVAL_BIG=1 runs BigScenario (7,395 benign sources, 10^6
// spoofed ones).
package eval

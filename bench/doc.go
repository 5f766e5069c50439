// Package bench is portsense's side-by-side benchmark against nmap, masscan
// and zmap. It has no API. Its tests carry the benchcompare build tag and
// need Linux, so that go test ./... never runs them; run them as root with
// bench/compare.sh, which builds the scanners once and writes the results
// into BENCHMARKS.md. See BENCHMARKS.md at the repository root for the
// method.
package bench

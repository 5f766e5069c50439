#!/usr/bin/env bash
# Side-by-side benchmark of portsense's examples/scan against nmap, masscan
# and zmap on a lab of network namespaces (see BENCHMARKS.md for the method).
#
#   sudo bench/compare.sh [--quick] [-n RUNS] [--only REGEXP] [--no-update] ...
#
# --quick      one run per tool, ports 1-10000 and a /20 (a smoke test)
# -n RUNS      runs per tool and workload (default 3)
# --only RE    only the workloads whose name matches RE
# --no-update  leave BENCHMARKS.md alone; results stay in bench/results.{md,json}
# --log        log the end of every run's output (debugging)
# --timeout D  kill a run after D (Go duration; default 3m, 2m with --quick)
# --budget D   start no run after D (default 13m); later runs are skipped
#
# Every scanner, peers included, runs inside the test's own network namespace,
# which has no route out; targets are lab addresses in 198.18.0.0/15 only.
set -euo pipefail

cd "$(dirname "$0")/.."
root=$PWD

args=()
update=1
while (($#)); do
	case $1 in
	--quick) args+=(-cmp.quick) ;;
	-n) args+=("-cmp.n=$2"); shift ;;
	--log) args+=(-cmp.log) ;;
	--timeout) args+=("-cmp.timeout=$2"); shift ;;
	--budget) args+=("-cmp.budget=$2"); shift ;;
	--only) args+=("-cmp.only=$2"); shift ;;
	--no-update) update=0 ;;
	-h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
	*) echo "compare.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
	esac
	shift
done

if [[ $EUID -ne 0 ]]; then
	echo "compare.sh: run as root: the lab needs network namespaces and the peers raw sockets" >&2
	exit 1
fi

# sudo's secure_path usually leaves Go out.
if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=$PATH:/usr/local/go/bin
fi
command -v go >/dev/null || { echo "compare.sh: go not found on PATH" >&2; exit 1; }

# Peers, and what the lab itself needs (ip, nft).
missing=()
for t in nmap masscan zmap; do
	command -v "$t" >/dev/null || missing+=("$t")
done
command -v ip >/dev/null || missing+=(iproute2)
command -v nft >/dev/null || missing+=(nftables)
if ((${#missing[@]})); then
	echo "compare.sh: installing ${missing[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Build once; build time is not measured.
echo "compare.sh: building examples/scan and the benchmark" >&2
go build -o "$tmp/scan" ./examples/scan
go test -c -tags benchcompare -o "$tmp/bench.test" ./bench/

rev=$(git -C "$root" describe --always --dirty 2>/dev/null || echo unknown)
md=$root/bench/results.md
json=$root/bench/results.json
(
	cd bench
	"$tmp/bench.test" -test.run '^TestCompare$' -test.v -test.timeout 30m \
		-cmp.scan="$tmp/scan" -cmp.md="$md" -cmp.json="$json" -cmp.rev="$rev" "${args[@]}"
)

echo
cat "$md"

if ((update)); then
	out=$root/BENCHMARKS.md
	if ! grep -q '<!-- results:start -->' "$out" || ! grep -q '<!-- results:end -->' "$out"; then
		echo "compare.sh: $out lacks the results markers; results left in $md" >&2
		exit 1
	fi
	awk -v md="$md" '
		/<!-- results:start -->/ { print; while ((getline l < md) > 0) print l; skip = 1; next }
		/<!-- results:end -->/ { skip = 0 }
		!skip { print }
	' "$out" >"$tmp/BENCHMARKS.md"
	cp "$tmp/BENCHMARKS.md" "$out"
	echo "compare.sh: results written to $out and $json" >&2
fi

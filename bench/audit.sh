#!/bin/sh
# The audit trail's costs, in ONE run (see bench/audit_bench.c, bench/check_bench.c and
# docs/performance.md):
#  1. durable audited checks per second (group commit, `--audit-durability sync`, the
#     default) against the same load on a second server started with `--audit off`
#     (BENCHMARK ONLY: checks answered without their audit record; the task's call
#     counter is still committed and synced the same way), both driven by check_bench
#     (same client, same tokens and proofs made before the clock starts); goal: audited
#     at least half of off;
#  2. `mandate audit verify` over a store of RECORDS (default 1,000,000) records written
#     straight into SQLite, with the SQLite-scan floor and the SHA-256 ceiling (audit_bench);
#     goal: more than 1,000,000 records/s.
#   bench/audit.sh [BUILD_DIR] [SECONDS_PER_ROW] [RECORDS]
# Use a release-like build (not ASan); the machine should be otherwise idle.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
secs=${2:-3}
records=${3:-1000000}
threads=${THREADS:-32}
case $build in /*) ;; *) build=$top/$build ;; esac
[ -f "$build/build.ninja" ] || meson setup "$build" "$top" --buildtype=release >/dev/null
ninja -C "$build" src/cli/mandate bench/check_bench bench/audit_bench >/dev/null
dir=$(mktemp -d /tmp/mandate-abench-XXXXXX)
srv=""; osrv=""
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    [ -n "$osrv" ] && kill "$osrv" 2>/dev/null && wait "$osrv" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
start() { # name port extra-args...
    name=$1; p=$2; shift 2
    k=$("$build/src/cli/mandate" init --db "$dir/$name.db" --kek-file "$dir/$name.kek" --key-only)
    "$build/src/cli/mandate" serve --db "$dir/$name.db" --kek-file "$dir/$name.kek" \
        --listen "127.0.0.1:$p" --threads "$threads" --log-level "${LOG_LEVEL:-error}" "$@" \
        2>"$dir/$name.log" &
    last=$!
    i=0
    until curl -sf "http://127.0.0.1:$p/readyz" >/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/$name.log"; exit 1; }; sleep 0.05
    done
    key=$k
}
port=$(freeport); start audited "$port"; srv=$last; akey=$key
oport=$(freeport); start off "$oport" --audit off; osrv=$last; okey=$key

# check_bench's second server is labelled "async" by the program: here it is the one
# without auditing.
"$build/bench/check_bench" "http://127.0.0.1:$port" "$akey" - \
    "$top/examples/policies.cedar" "$top/examples/schema.cedarschema" "$secs" \
    "http://127.0.0.1:$oport" "$okey" | sed 's/, async/, audit off/' | tee "$dir/checks.txt"

echo
echo "audited checks vs the same load with --audit off (same run):"
awk -F'|' '
    /POST \/v1\/check, (DPoP|bearer), max/ {
        what = $2; gsub(/^ +| +$/, "", what); rps = $3 + 0
        if (what ~ /audit off/) { sub(/, audit off/, "", what); off[what] = rps } else on[what] = rps
    }
    END {
        printf "| %-32s | %10s | %10s | %6s | %-14s |\n", "checks", "audited/s", "off/s", "ratio", "goal >= 0.5"
        printf "|----------------------------------|------------|------------|--------|----------------|\n"
        for (w in on) if (off[w] > 0)
            printf "| %-32s | %10.0f | %10.0f | %6.2f | %-14s |\n", w, on[w], off[w], on[w] / off[w], (on[w] / off[w] >= 0.5) ? "yes" : "no"
    }' "$dir/checks.txt"
# The audited server's trail must verify after the load (a sanity check of what was measured).
kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""
"$build/src/cli/mandate" audit verify --db "$dir/audited.db"
echo
"$build/bench/audit_bench" "$dir" "$records"

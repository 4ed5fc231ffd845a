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
cputicks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process
stop_servers() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null; srv=""
    [ -n "$osrv" ] && kill "$osrv" 2>/dev/null && wait "$osrv" 2>/dev/null; osrv=""
    return 0
}

# check_bench's second server is labelled "async" by the program: here it is the other
# configuration.  ROUNDS (default 2) rounds alternate which server goes first, so that a change
# of load on a shared machine during the run does not favour one side.
rounds=${ROUNDS:-2}
: >"$dir/checks.txt"
r=1
while [ "$r" -le "$rounds" ]; do
    # fresh stores every round (check_bench registers its issuer, agent and intents)
    stop_servers
    rm -f "$dir"/audited.* "$dir"/off.*
    port=$(freeport); start audited "$port"; srv=$last; akey=$key
    oport=$(freeport); start off "$oport" --audit off; osrv=$last; okey=$key
    if [ $((r % 2)) -eq 1 ]; then
        first="http://127.0.0.1:$port $akey"; second="http://127.0.0.1:$oport $okey"; lab=", audit off"
    else
        first="http://127.0.0.1:$oport $okey"; second="http://127.0.0.1:$port $akey"; lab=", audited"
    fi
    echo "== round $r"
    c_on=$(cputicks "$srv"); c_off=$(cputicks "$osrv")
    # shellcheck disable=SC2086
    "$build/bench/check_bench" ${first%% *} ${first##* } - \
        "$top/examples/policies.cedar" "$top/examples/schema.cedarschema" "$secs" \
        ${second%% *} ${second##* } | sed "s/, async/$lab/" |
        awk -v r="$r" -v lab="$lab" -v secs="$secs" '{ print } /POST \/(v1\/check|oauth2\/token)/ {
            n = split($0, f, "|"); what = f[2]; gsub(/^ +| +$/, "", what); rps = f[3] + 0
            side = (what ~ /, audit off/) ? "off" : (what ~ /, audited/) ? "on" : (lab == ", audit off" ? "on" : "off")
            sub(/, audit off|, audited/, "", what)
            req[side] += rps * secs
            if (what ~ /check, (DPoP|bearer), max/) printf "%s|%s|%s|%d\n", r, what, side, rps > "/dev/stderr" }
            END { printf "R|%s|on|%d\nR|%s|off|%d\n", r, req["on"], r, req["off"] > "/dev/stderr" }' \
        2>>"$dir/checks.txt"
    echo "C|$r|on|$(( $(cputicks "$srv") - c_on ))" >>"$dir/checks.txt"
    echo "C|$r|off|$(( $(cputicks "$osrv") - c_off ))" >>"$dir/checks.txt"
    r=$((r + 1))
done

echo
echo "audited checks vs the same load with --audit off (same run; rounds alternate the order):"
awk -F'|' '
    /^[RC]\|/ { next }
    { k = $2; if ($3 == "on") on[$1 "|" k] = $4; else off[$1 "|" k] = $4; kinds[k] = 1; rr[$1] = 1 }
    END {
        printf "| %-28s | %5s | %10s | %10s | %6s |\n", "checks", "round", "audited/s", "off/s", "ratio"
        printf "|------------------------------|-------|------------|------------|--------|\n"
        for (k in kinds) {
            son = 0; soff = 0
            for (r in rr) if (off[r "|" k] > 0) {
                printf "| %-28s | %5s | %10d | %10d | %6.2f |\n", k, r, on[r "|" k], off[r "|" k], on[r "|" k] / off[r "|" k]
                son += on[r "|" k]; soff += off[r "|" k]
            }
            if (soff > 0) printf "| %-28s | %5s | %10d | %10d | %6.2f | goal >= 0.5: %s\n", k, "all", son, soff, son / soff, (son / soff >= 0.5) ? "yes" : "no"
        }
    }' "$dir/checks.txt"
echo
echo "server CPU per request (exchanges and checks, /proc utime+stime over each round's run;"
echo "steadier than the rates on a shared machine; capacity ratio = off CPU / audited CPU):"
awk -F'|' -v hz="$(getconf CLK_TCK)" '
    /^R\|/ { req[$3] += $4 } /^C\|/ { cpu[$3] += $4 }
    END {
        if (req["on"] > 0 && req["off"] > 0) {
            on = cpu["on"] / hz / req["on"] * 1e6; off = cpu["off"] / hz / req["off"] * 1e6
            printf "| %-10s | %9s | %12s |\n| audited    | %9d | %12.0f |\n| audit off  | %9d | %12.0f |\n", "server", "requests", "CPU us/req", req["on"], on, req["off"], off
            printf "capacity ratio audited/off: %.2f (goal >= 0.5: %s)\n", off / on, (off / on >= 0.5) ? "yes" : "no"
        }
    }' "$dir/checks.txt"
# The audited server's trail must verify after the load (a sanity check of what was measured).
kill "$srv"; wait "$srv" 2>/dev/null || true; srv=""
"$build/src/cli/mandate" audit verify --db "$dir/audited.db"
echo
"$build/bench/audit_bench" "$dir" "$records"

#!/bin/sh
# bench/cedar.sh [BUILD]: the Cedar benchmark.  Generates the inputs
# (bench/cedar-data.mjs), runs BUILD/bench/cedar_bench on them (our engine),
# then cedar-wasm's statefulIsAuthorized on the same inputs
# (bench/cedar-wasm.mjs, needs scripts/test-setup) and prints one table:
# median and p99 microseconds per decision for both and the ratio, policy
# parse speed and entity load rate.  Scenarios: small (20 policies, 12
# entities) and an agent estate (1,000 agents, 200 tools) with 50, 500 and
# 5,000 policies.
set -eu
build=${1:-build}
top=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$top/$build ;; esac
data=${CEDAR_BENCH_DATA:-$build/bench/cedar-data}
bin=$build/bench/cedar_bench
[ -x "$bin" ] || { echo "cedar.sh: $bin not built (make, or ninja -C $build)" >&2; exit 2; }
mkdir -p "$data"
node "$top/bench/cedar-data.mjs" "$data"
echo "== mandate (bench/cedar_bench) =="
"$bin" "$data" | tee "$data/c-results.txt" | grep -v '^result '
echo
echo "== mandate vs cedar-wasm =="
node "$top/bench/cedar-wasm.mjs" "$data" "$data/c-results.txt"

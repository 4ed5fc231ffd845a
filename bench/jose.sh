#!/bin/sh
# Runs the JOSE benchmark: our JOSE layer vs raw OpenSSL EVP on the same key
# and message, per algorithm (see bench/jose_bench.c and docs/jose.md).
#   bench/jose.sh [BUILD_DIR] [SECONDS_PER_ROUND]
# Use a release-like build (the default debugoptimized is fine); not an
# ASan build.  The machine should be otherwise idle for stable figures.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
secs=${2:-0.3}
case $build in /*) ;; *) build=$top/$build ;; esac
[ -f "$build/build.ninja" ] || meson setup "$build" "$top" --buildtype=debugoptimized >/dev/null
ninja -C "$build" bench/jose_bench >/dev/null
exec "$build/bench/jose_bench" "$secs"

#!/bin/sh
# Runs the access-path benchmark: POST /v1/check (cached token with DPoP
# proofs, and bearer) and POST /oauth2/token against a fresh `mandate serve`,
# with the raw ES256 ceilings and nginx answering a static 200 on loopback,
# all in one run (see bench/check_bench.c and docs/performance.md).
#   bench/check.sh [BUILD_DIR] [SECONDS_PER_ROW] [SERVER_THREADS]
# A second server with `--audit-durability async` gives the rows marked
# "async" (answer once the audit record is committed, before it is synced);
# ASYNC=0 skips it.
# SERVER_THREADS (default 32): `serve --threads`; checks waiting on the group
# commit of their audit records share one fsync, so more requests in flight
# means bigger batches.
# The column "srv us/rq" is the server's CPU time (all its threads, from
# /proc/PID/stat) per request of that row: steadier than the rates on a shared
# machine, since other jobs slow the server down but do not add to its CPU.
# Use a release-like build (not ASan); nginx is optional (apt-get install
# nginx-light); the machine should be otherwise idle.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-build}
secs=${2:-3}
threads=${3:-32}
case $build in /*) ;; *) build=$top/$build ;; esac
if [ -z "${NO_BUILD:-}" ]; then # NO_BUILD=1: use the binaries as they are
    [ -f "$build/build.ninja" ] || meson setup "$build" "$top" --buildtype=release >/dev/null
    ninja -C "$build" src/cli/mandate bench/check_bench >/dev/null
fi
dir=$(mktemp -d /tmp/mandate-bench-XXXXXX)
srv=""; ngx=""; asrv=""
cleanup() {
    [ -n "$srv" ] && kill "$srv" 2>/dev/null && wait "$srv" 2>/dev/null
    [ -n "$asrv" ] && kill "$asrv" 2>/dev/null && wait "$asrv" 2>/dev/null
    [ -n "$ngx" ] && kill "$ngx" 2>/dev/null
    [ -n "${KEEP_LOG:-}" ] && cp "$dir/serve.log" "$KEEP_LOG"
    rm -rf "$dir"
}
trap cleanup EXIT INT TERM
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
key=$("$build/src/cli/mandate" init --db "$dir/m.db" --kek-file "$dir/kek" --key-only)
"$build/src/cli/mandate" serve --db "$dir/m.db" --kek-file "$dir/kek" \
    --listen "127.0.0.1:$port" --threads "$threads" --log-level "${LOG_LEVEL:-error}" 2>"$dir/serve.log" &
srv=$!
i=0
until curl -sf "http://127.0.0.1:$port/readyz" >/dev/null; do
    i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/serve.log"; exit 1; }; sleep 0.05
done
async_args=""
if [ "${ASYNC:-1}" != 0 ]; then
    aport=$(freeport)
    akey=$("$build/src/cli/mandate" init --db "$dir/a.db" --kek-file "$dir/akek" --key-only)
    "$build/src/cli/mandate" serve --db "$dir/a.db" --kek-file "$dir/akek" \
        --listen "127.0.0.1:$aport" --threads "$threads" --audit-durability async \
        --log-level "${LOG_LEVEL:-error}" 2>"$dir/aserve.log" &
    asrv=$!
    i=0
    until curl -sf "http://127.0.0.1:$aport/readyz" >/dev/null; do
        i=$((i + 1)); [ $i -lt 100 ] || { cat "$dir/aserve.log"; exit 1; }; sleep 0.05
    done
    async_args="http://127.0.0.1:$aport $akey"
fi
nginx_url=-
if command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ]; then
    nport=$(freeport)
    mkdir -p "$dir/ngx/logs"
    cat >"$dir/ngx/nginx.conf" <<NGX
worker_processes $(nproc);
pid $dir/ngx/nginx.pid;
error_log $dir/ngx/logs/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $dir/ngx; proxy_temp_path $dir/ngx; fastcgi_temp_path $dir/ngx;
    uwsgi_temp_path $dir/ngx; scgi_temp_path $dir/ngx;
    keepalive_requests 1000000;
    server { listen 127.0.0.1:$nport; location / { return 200 "ok\n"; } }
}
NGX
    PATH=$PATH:/usr/sbin nginx -p "$dir/ngx" -c "$dir/ngx/nginx.conf" -g 'daemon off;' &
    ngx=$!
    sleep 0.3
    nginx_url="http://127.0.0.1:$nport"
fi
BENCH_PID=$srv BENCH_ASYNC_PID=$asrv "$build/bench/check_bench" "http://127.0.0.1:$port" "$key" "$nginx_url" \
    "$top/examples/policies.cedar" "$top/examples/schema.cedarschema" "$secs" $async_args

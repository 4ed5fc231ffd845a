#!/bin/sh
# Runs `mandate policy conformance` over the Cedar conformance suites in
# $MANDATE_SHARED/conformance/cedar (default: ../shared next to the repo).
# Absent suites are a skip (exit 77), not a failure.
# usage: run-conformance.sh MANDATE_BIN REPO_ROOT [--via json|format]
set -u
bin=$1
root=$2
shared=${MANDATE_SHARED:-$root/../shared}
dir=$shared/conformance/cedar
if [ ! -d "$dir" ]; then
    echo "skipped: Cedar conformance suites not found at $dir (set MANDATE_SHARED)"
    echo "0 passed, 0 failed, 1 skipped"
    exit 77
fi
shift 2
exec "$bin" policy conformance "$dir" "$@"

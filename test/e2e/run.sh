#!/usr/bin/env bash
# Builds the herald binary and runs the end-to-end tests against it. The
# tests start and restart the binary themselves (HERALD_BIN).
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
bin=$(mktemp -d)/herald
(cd ../.. && go build -o "$bin" ./cmd/herald) || exit 1
HERALD_BIN="$bin" node --test --test-concurrency=1 --test-timeout=60000 ./*.test.mjs
status=$?
rm -rf "$(dirname "$bin")"
exit $status

#!/usr/bin/env bash
# Builds the herald binary and runs the end-to-end tests against it. The
# tests start and restart the binary themselves (HERALD_BIN).
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
# Browser tests use Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1
fi
exec bash ../support/with-herald.sh node --test --test-concurrency=1 --test-timeout=60000 ./*.test.mjs

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
# node --test applies --test-timeout to each file as a whole: the image
# test builds the release binaries for two platforms first (minutes on a
# cold cache), so it runs apart with a longer bound.
export TESTS="$(ls ./*.test.mjs | grep -v '/image\.test\.mjs$' | tr '\n' ' ')"
exec bash ../support/with-herald.sh bash -c 'rc=0
  node --test --test-concurrency=1 --test-timeout=60000 $TESTS || rc=1
  node --test --test-timeout=900000 ./image.test.mjs || rc=1
  exit $rc'

#!/usr/bin/env bash
# The Socket.IO Admin UI (the npm package's own built files) in Debian's
# chromium against the herald binary with the admin UI on.
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
# The herald launcher is the e2e suite's (../e2e/server.mjs), with its packages.
[ -d ../e2e/node_modules ] || (cd ../e2e && npm ci --no-audit --no-fund --loglevel=error)
# Browser tests use Debian's chromium (never a downloaded browser).
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq chromium) >/dev/null 2>&1
fi
exec bash ../support/with-herald.sh node --test --test-timeout=120000 ./admin-ui.test.mjs

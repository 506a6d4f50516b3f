#!/usr/bin/env bash
# Three herald nodes behind HAProxy with deploy/haproxy.cfg (round robin,
# no affinity), on Redis and a fresh PostgreSQL database, driven by the
# official socket.io-client. Installs Debian's haproxy when missing.
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
if ! command -v haproxy >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq haproxy) >/dev/null 2>&1
fi
command -v haproxy >/dev/null 2>&1 || { echo "haproxy is not installed" >&2; exit 1; }
exec bash ../support/with-herald.sh node --test --test-concurrency=1 --test-timeout=120000 ./*.test.mjs

#!/usr/bin/env bash
# Builds herald, starts nothing itself but the two nodes the test runs
# (Redis and PostgreSQL must be up: scripts/services.sh), compiles the
# TypeScript and runs the end-to-end test on a fresh schema and Redis
# prefix.
set -u
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error || exit 1
npx tsc || exit 1
work=$(mktemp -d)
(cd ../.. && go build -o "$work/herald" ./cmd/herald) || exit 1
id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
schema="herald_example_$id"
psql -q -h 127.0.0.1 -U postgres -d test -c "create schema $schema" || exit 1
HERALD_BIN="$work/herald" \
  HERALD_REDIS_URL=redis://127.0.0.1:6379/0 HERALD_REDIS_PREFIX="herald-example-$id" \
  HERALD_DATABASE_URL="postgres://postgres@127.0.0.1:5432/test?sslmode=disable&search_path=$schema" \
  node --test --test-concurrency=1 --test-timeout=60000 dist/test/*.test.js
status=$?
psql -q -h 127.0.0.1 -U postgres -d test -c "set client_min_messages = warning; drop schema $schema cascade"
rm -rf "$work"
exit $status

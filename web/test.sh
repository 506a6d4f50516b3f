#!/usr/bin/env bash
# Type-checks the hooks and app, and runs their unit tests.
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx tsc --noEmit
npx vitest run

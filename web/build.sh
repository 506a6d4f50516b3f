#!/usr/bin/env bash
# Rebuilds dist/ (committed, embedded in the herald binary).
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
npx vite build --logLevel warn

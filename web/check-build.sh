#!/usr/bin/env bash
# Fails if the committed dist/ is not what src/ builds to.
set -eu
cd "$(dirname "$0")"
[ -d node_modules ] || npm ci --no-audit --no-fund --loglevel=error
out=$(mktemp -d)
npx vite build --logLevel warn --outDir "$out" --emptyOutDir
if diff -r "$out" dist >/dev/null; then
  echo "web: committed build is current"
  rm -rf "$out"
else
  diff -r "$out" dist | head -20
  echo "web: dist/ is stale: run web/build.sh and commit"
  rm -rf "$out"
  exit 1
fi

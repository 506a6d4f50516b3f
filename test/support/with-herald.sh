#!/usr/bin/env bash
# Builds the herald binary into a temporary directory and runs the given
# command with HERALD_BIN naming it; the binary is removed afterwards.
#   bash test/support/with-herald.sh node --test ./*.test.mjs
set -u
bin=$(mktemp -d)/herald
(cd "$(dirname "$0")/../.." && go build -o "$bin" ./cmd/herald) || exit 1
HERALD_BIN="$bin" "$@"
status=$?
rm -rf "$(dirname "$bin")"
exit $status

#!/usr/bin/env bash
# The project's test command: every suite, with the real Redis, PostgreSQL,
# official socket.io-client and Chromium. Installs what it needs (npm
# packages from the lockfiles, Debian's chromium) and starts the services.
#   bash scripts/test.sh          everything
#   QUICK=1 bash scripts/test.sh  Go tests only
set -u
cd "$(dirname "$0")/.."
export HERALD_NODE_INTEROP=1

passed=0
failed=0
failures=()
run() { # name, command...
  local name=$1; shift
  echo "=== suite: $name"
  if "$@"; then passed=$((passed + 1)); echo "=== ok: $name"
  else failed=$((failed + 1)); failures+=("$name"); echo "=== FAILED: $name"; fi
}

bash scripts/services.sh

# The Go tests that talk to Node (client, Redis adapters) share interop/'s
# packages: install them once here rather than from parallel test binaries.
[ -d interop/node_modules ] || (cd interop && npm ci --no-audit --no-fund --loglevel=error)

run "go vet" go vet ./...
run "lint: gofmt, go mod tidy, staticcheck" bash scripts/lint.sh
# ./... holds the examples' Go tests too: examples/orders embeds the service
# and drives it with the Go client and the official client (interop/'s
# packages, installed above).
run "go test -race" go test -race -count=1 -timeout 15m ./...
run "chaos and abuse suites" env HERALD_CHAOS=1 go test -count=1 -timeout 10m ./test/chaos/
# Every fuzz target, briefly (iteration counts, not time: a loaded machine
# must not turn into a failure).
for f in $(grep -l '^func Fuzz' $(git ls-files '*_test.go') 2>/dev/null | xargs -r dirname | sort -u); do
  for fn in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$f"/*_test.go | sed 's/func //'); do
    run "fuzz: $f $fn" go test -run '^$' -fuzz "^$fn\$" -fuzztime "${FUZZ_RUNS:-50000}x" "./$f/"
  done
done

if [ -z "${QUICK:-}" ]; then
  go build -o .bin/interop ./examples/interop
  [ -x interop/run.sh ] && run "interop: socket.io-client vs Herald" env SERVER_CMD="$PWD/.bin/interop" bash interop/run.sh
  [ -x interop/run.sh ] && run "interop: socket.io-client vs Node reference" bash interop/run.sh
  [ -x interop/run.sh ] && run "interop: socket.io-msgpack-parser vs Herald" env PARSER=msgpack SERVER_CMD="$PWD/.bin/interop" bash interop/run.sh
  [ -x interop/run.sh ] && run "interop: socket.io-msgpack-parser vs Node reference" env PARSER=msgpack bash interop/run.sh
  [ -x interop/eio3/run.sh ] && run "interop: socket.io-client 2.x (EIO3) vs Herald" env SERVER_CMD="$PWD/.bin/interop" bash interop/eio3/run.sh
  [ -x interop/eio3/run.sh ] && run "interop: socket.io-client 2.x (EIO3) vs Node reference (allowEIO3)" bash interop/eio3/run.sh
  [ -x interop/cluster.sh ] && run "interop: Node and Herald nodes share Redis" env HERALD_CMD="$PWD/.bin/interop" bash interop/cluster.sh
  [ -x interop/cluster.sh ] && run "interop: Node and Herald nodes share Redis, socket.io-msgpack-parser" env PARSER=msgpack HERALD_CMD="$PWD/.bin/interop" bash interop/cluster.sh
  [ -x interop/cluster.sh ] && run "interop: two Herald nodes share Redis, socket.io-msgpack-parser" env PARSER=msgpack NODE_CMD="$PWD/.bin/interop" HERALD_CMD="$PWD/.bin/interop" bash interop/cluster.sh
  [ -x test/e2e/run.sh ] && run "e2e: herald binary" bash test/e2e/run.sh
  [ -x test/adminui/run.sh ] && run "admin UI: @socket.io/admin-ui's own UI in Chromium against herald" bash test/adminui/run.sh
  [ -x test/lb/run.sh ] && run "lb: 3 nodes behind HAProxy, round robin, no affinity" bash test/lb/run.sh
  [ -x examples/notification-service/run.sh ] && run "example: the seed's NotificationService (TypeScript, server API) on 2 nodes" bash examples/notification-service/run.sh
  [ -x web/test.sh ] && run "web: hooks and browser" bash web/test.sh
  [ -x web/check-build.sh ] && run "web: committed build is current" bash web/check-build.sh
fi

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed suite: %s\n' "${failures[@]}"
echo "suites: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The lint gates: gofmt, go mod tidy and staticcheck must be clean.
# staticcheck is installed from the Go module proxy at a pinned version.
set -u
cd "$(dirname "$0")/.."
status=0
unformatted=$(gofmt -l $(git ls-files '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt: not formatted:"; echo "$unformatted"; status=1
fi
if ! go mod tidy -diff >/dev/null; then
  echo "go mod tidy: go.mod or go.sum is not tidy:"; go mod tidy -diff; status=1
fi
STATICCHECK_VERSION=v0.8.2 # release 2026.2.2
bin=$PWD/.bin/staticcheck-$STATICCHECK_VERSION
if [ ! -x "$bin" ]; then
  mkdir -p .bin
  GOBIN=$PWD/.bin/sc go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION" && mv .bin/sc/staticcheck "$bin" || status=1
fi
[ -x "$bin" ] && { "$bin" ./... || status=1; }
exit $status

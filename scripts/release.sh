#!/usr/bin/env bash
# Release binaries of herald: static (CGO_ENABLED=0: no libc needed, so the
# binary runs in an empty image), -trimpath, with version, commit and build
# date in `herald version`, and their SHA-256 checksums.
#   bash scripts/release.sh      dist/herald-VERSION-linux-{amd64,arm64}, dist/SHA256SUMS
# Environment: PLATFORMS ("linux/amd64 linux/arm64"), OUT (dist), and
# VERSION, COMMIT, DATE to override what git says (a build without .git,
# as in the Dockerfile). DATE defaults to the commit's time, not the
# build's, so two builds of one commit are identical.
set -eu
cd "$(dirname "$0")/.."
PLATFORMS=${PLATFORMS:-"linux/amd64 linux/arm64"}
OUT=${OUT:-dist}
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
COMMIT=${COMMIT:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
DATE=${DATE:-$(TZ=UTC git log -1 --date=iso-strict-local --format=%cd 2>/dev/null || echo unknown)}
mkdir -p "$OUT"
names=()
for p in $PLATFORMS; do
  os=${p%/*}; arch=${p#*/}
  name=herald-$VERSION-$os-$arch
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath -buildvcs=false \
    -ldflags "-s -w -X main.version=$VERSION -X main.commit=$COMMIT -X main.date=$DATE" \
    -o "$OUT/$name" ./cmd/herald
  names+=("$name")
  echo "$OUT/$name"
done
(cd "$OUT" && sha256sum "${names[@]}" > SHA256SUMS)
echo "$OUT/SHA256SUMS"

# The herald service in a minimal image: a static binary, CA certificates,
# a data directory, nothing else (no shell, no libc), run as a non-root user.
#   docker build -t herald --build-arg VERSION=$(git describe --tags --always) .
#   docker run -p 8080:8080 -v herald-data:/data -e HERALD_JWT_SECRET=... herald
# test/e2e/image.test.mjs runs what this image would run: the same build
# script, the final stage's files in an empty root, its ENV, USER,
# ENTRYPOINT and HEALTHCHECK (read from this file).

FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG TARGETOS=linux TARGETARCH=amd64 VERSION=dev COMMIT=unknown DATE=unknown
RUN PLATFORMS=$TARGETOS/$TARGETARCH OUT=/out VERSION=$VERSION COMMIT=$COMMIT DATE=$DATE \
      bash scripts/release.sh \
 && cp /out/herald-$VERSION-$TARGETOS-$TARGETARCH /herald \
 && mkdir -p /rootfs/data /rootfs/tmp \
 && chown 65532:65532 /rootfs/data && chmod 1777 /rootfs/tmp

FROM scratch
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /rootfs/ /
COPY --from=build /herald /herald
# Listens on every interface: set HERALD_JWT_SECRET (or keys), as dev mode
# refuses a non-loopback address.
ENV HERALD_ADDR=0.0.0.0:8080 HERALD_DATA_DIR=/data HERALD_LOG_FORMAT=json
VOLUME /data
EXPOSE 8080
USER 65532:65532
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/herald", "healthcheck"]
ENTRYPOINT ["/herald"]

# hubspot-mcp-server in an image that holds the static binary, the mock's fixtures and an
# empty data directory: nothing else, no shell, no libc, no CA files (the roots are built
# into the binary). Build: `make image` or `docker build -t hubspot-mcp-server:latest .`;
# for ARM: `docker buildx build --platform linux/arm64 -t hubspot-mcp-server:arm64 .`
# (cross-compiled on the build machine, no emulation).
#
# No HEALTHCHECK: scratch has no shell or curl to run one. Probe over HTTP instead:
#   liveness  GET /health  (200 while the process serves)
#   readiness GET /ready   (200 while serving, 503 once a graceful stop has begun)
# e.g. Kubernetes httpGet probes on port 3000, or `curl -f http://localhost:3000/health`.
#
# Credentials: the image binds 0.0.0.0, so with a real HubSpot key it needs MCP_API_KEYS (or
# MCP_API_KEYS_FILE, e.g. a mounted secret) and/or ADMIN_API_TOKEN, else it exits with code 2
# (docs/security.md). The mock (`--mock /fixtures`) runs without them.

FROM --platform=$BUILDPLATFORM rust:1-bookworm AS build
ARG TARGETARCH
WORKDIR /src
COPY . .
# The Makefile installs what each target needs (musl-tools; or Zig from PyPI for arm64).
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv \
    && if [ "$TARGETARCH" = "arm64" ]; then make static-arm64; else make static; fi \
    && mkdir -p /out/data \
    && cp target/*-unknown-linux-musl/release/hubspot-mcp-server /out/ \
    && cp -r fixtures/hubspot /out/fixtures

FROM scratch
COPY --from=build /out/hubspot-mcp-server /hubspot-mcp-server
COPY --from=build /out/fixtures /fixtures
COPY --from=build --chown=65532:65532 /out/data /data
# A non-root uid; /data (the registry of scoped servers) is the only place it writes.
USER 65532:65532
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
EXPOSE 3000
VOLUME ["/data"]
ENTRYPOINT ["/hubspot-mcp-server"]
CMD ["serve"]

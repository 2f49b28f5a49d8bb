# hubspot-mcp-server in an image that holds the static binary, the mock's fixtures and an
# empty data directory: nothing else, no shell, no libc, no CA files (the roots are built
# into the binary). Nothing is compiled or pulled here: the binaries come from `make static`
# and `make static-arm64`, and `make image` lays them out in the build context target/image/
# (amd64/ and arm64/ each holding the binary, then fixtures/ and data/) and builds one image
# per architecture with podman or docker (README: Static binaries and Docker). By hand, once
# `make image` has laid out the context:
#   podman build --platform linux/arm64 -t hubspot-mcp-server:arm64 -f Dockerfile target/image
#   docker build --platform linux/arm64 --build-arg TARGETARCH=arm64 -f Dockerfile target/image
#
# No HEALTHCHECK: scratch has no shell or curl to run one. Probe over HTTP instead:
#   liveness  GET /health  (200 while the process serves)
#   readiness GET /ready   (200 while serving, 503 once a graceful stop has begun)
# e.g. Kubernetes httpGet probes on port 3000, or `curl -f http://localhost:3000/health`.
#
# Credentials: the image binds 0.0.0.0, so with a real HubSpot key it needs MCP_API_KEYS (or
# MCP_API_KEYS_FILE, e.g. a mounted secret) and/or ADMIN_API_TOKEN, else it exits with code 2
# (docs/security.md). The mock (`--mock /fixtures`) runs without them.

FROM scratch
# amd64 or arm64: set by podman and BuildKit from --platform; the classic docker builder
# needs it as a --build-arg.
ARG TARGETARCH
COPY ${TARGETARCH}/hubspot-mcp-server /hubspot-mcp-server
COPY fixtures /fixtures
COPY --chown=65532:65532 data /data
# A non-root uid; /data (the registry of scoped servers) is the only place it writes.
USER 65532:65532
ENV HOST=0.0.0.0 PORT=3000 DATA_DIR=/data
EXPOSE 3000
VOLUME ["/data"]
ENTRYPOINT ["/hubspot-mcp-server"]
CMD ["serve"]

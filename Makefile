# hubspot-mcp-server: every task a developer or CI needs. `make help` lists them.

CARGO ?= cargo
PORT ?= 3000
HOST ?= 127.0.0.1
FIXTURES ?= fixtures/hubspot
BIN := hubspot-mcp-server

.PHONY: help run build release check test unit lint fmt clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Start the server on the embedded mock HubSpot (no token needed) at http://127.0.0.1:3000
	$(CARGO) run --quiet -- serve --mock $(FIXTURES) --host $(HOST) --port $(PORT)

build: ## Debug build
	$(CARGO) build

release: ## Optimised, stripped build: target/release/hubspot-mcp-server
	$(CARGO) build --release

check: lint ## The edit loop: rustfmt check, clippy, then `cargo test` (no SDK interop, no static builds)
	$(CARGO) test

test: lint etcd strace ## Lint, then every unit and black-box test (the servers run on loopback only)
	$(CARGO) test --bins --tests

lint: ## rustfmt check and clippy with warnings as errors
	$(CARGO) fmt --check
	$(CARGO) clippy --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt

clean: ## Remove build output
	$(CARGO) clean

# --- Benchmark: `make bench` (not part of `make test`) ------------------------------------
# Release builds of the server, the may_minihttp baseline (examples/baseline.rs) and the
# driver (examples/bench.rs); wrk from Debian as the load generator. Everything runs on
# 127.0.0.1 and stops by itself; the table is printed, written to bench/results.json and
# pasted into docs/performance.md (between the bench markers).
# BENCH_SECS (seconds per load run, default 3) and BENCH_CONNS (default 1,64,256,1024) tune it.
# It also compares tools/call with bench/rmcp-baseline, a server on the official Rust MCP SDK
# (rmcp on axum, pooled reqwest; its own cargo workspace, ~4 min first release build on 2
# cores): BENCH_RMCP=0 skips that comparison; `make bench-rmcp` runs only it.

.PHONY: bench bench-rmcp bench-registry rmcp-baseline wrk

RELEASE_DIR := $(or $(CARGO_TARGET_DIR),target)/release
BENCH_RMCP ?= 1
RMCP_DIR := bench/rmcp-baseline
RMCP_BIN := $(or $(CARGO_TARGET_DIR),$(RMCP_DIR)/target)/release/rmcp-baseline
# "Ours" is the static musl binary (what ships); the glibc release build is an extra column
# of the rmcp comparison.
BENCH_ARGS = --server $(STATIC_BIN) --glibc $(RELEASE_DIR)/$(BIN) --baseline $(RELEASE_DIR)/examples/baseline \
	--fixtures $(FIXTURES) --script bench/wrk.lua --work bench/out

wrk: ## Install wrk (Debian package) when it is missing
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

rmcp-baseline: ## Release build of bench/rmcp-baseline (rmcp + axum + reqwest; its own Cargo.lock)
	$(CARGO) build --release --quiet --locked --manifest-path $(RMCP_DIR)/Cargo.toml

bench: wrk static $(if $(filter 0,$(BENCH_RMCP)),,rmcp-baseline) ## Throughput, latency, memory, start-up, isolation; tools/call vs rmcp unless BENCH_RMCP=0 (~3 min)
	$(CARGO) build --release --quiet --bin $(BIN) --example baseline --example bench
	$(RELEASE_DIR)/examples/bench $(BENCH_ARGS) $(if $(filter 0,$(BENCH_RMCP)),,--rmcp $(RMCP_BIN)) \
		--out bench/results.json --paste-into docs/performance.md

bench-rmcp: wrk static rmcp-baseline ## Only tools/call get_contacts, ours against the rmcp baseline (printed, nothing written)
	$(CARGO) build --release --quiet --bin $(BIN) --example baseline --example bench
	BENCH_ONLY=rmcp $(RELEASE_DIR)/examples/bench $(BENCH_ARGS) --rmcp $(RMCP_BIN) --out bench/out/rmcp.json

bench-registry: static ## Only admin writes/s (creates, 8 clients) with 100 and 10,000 servers in the registry (printed, nothing written)
	$(CARGO) build --release --quiet --bin $(BIN) --example bench
	BENCH_ONLY=registry $(RELEASE_DIR)/examples/bench $(BENCH_ARGS) --out bench/out/registry.json

# --- Soak: `make soak` (not part of `make test`; docs/deployment.md) ------------------
# Mixed traffic for SOAK_MINUTES (default 10) against the static binary, its mock HubSpot
# behind a relay that drops connections, all on 127.0.0.1 (scripts/soak.py, stdlib Python).
# Fails on a crash, a panic in the log, a hang, a lost admin write or RSS growth after warm-up.

.PHONY: soak

SOAK_MINUTES ?= 10

soak: static ## Mixed traffic for SOAK_MINUTES (10) min; fails on crash, panic, hang, lost write, RSS growth
	$(PYTHON) scripts/soak.py --bin $(STATIC_BIN) --fixtures $(FIXTURES) --minutes $(SOAK_MINUTES)

# --- Fuzzing: libFuzzer targets in fuzz/ (its own workspace; docs/performance.md) ---
# Each target runs FUZZ_SECS seconds from the committed seeds (fuzz/corpus/<target>); new
# inputs go to fuzz/target/corpus/<target>, crashes to fuzz/artifacts/<target>. Needs a
# nightly toolchain: with cargo-fuzz installed it runs `cargo fuzz run`, else it builds the
# target with the same coverage flags cargo-fuzz passes and runs it. Without nightly it says
# SKIP and succeeds (the stable property tests of the same invariants run in `make test`).

.PHONY: fuzz

FUZZ_SECS ?= 60
FUZZ_TARGETS := framing jsonrpc journal etcd_gateway
FUZZ_TRIPLE := $(shell rustc -vV 2>/dev/null | sed -n 's/^host: //p')
FUZZ_RUSTFLAGS := -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
	-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
	-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks

fuzz: ## Run each libFuzzer target FUZZ_SECS (60) s on nightly (cargo-fuzz if installed); SKIP without nightly
	@if ! rustup toolchain list 2>/dev/null | grep -q '^nightly'; then \
	  echo "SKIP fuzz: no nightly toolchain (rustup toolchain install nightly); the property tests run in make test"; exit 0; fi; \
	for target in $(FUZZ_TARGETS); do \
	  mkdir -p fuzz/target/corpus/$$target fuzz/artifacts/$$target; \
	  echo "==> fuzz $$target for $(FUZZ_SECS) s"; \
	  if $(CARGO) +nightly fuzz --version >/dev/null 2>&1; then \
	    $(CARGO) +nightly fuzz run $$target fuzz/target/corpus/$$target fuzz/corpus/$$target \
	      -- -max_total_time=$(FUZZ_SECS) || exit 1; \
	  else \
	    (cd fuzz && RUSTFLAGS="$(FUZZ_RUSTFLAGS)" $(CARGO) +nightly build --quiet --release \
	      --target $(FUZZ_TRIPLE) --bin $$target) || exit 1; \
	    fuzz/target/$(FUZZ_TRIPLE)/release/$$target fuzz/target/corpus/$$target fuzz/corpus/$$target \
	      -max_total_time=$(FUZZ_SECS) -artifact_prefix=fuzz/artifacts/$$target/ || exit 1; \
	  fi; \
	done

# --- Interop: real MCP clients against the built server (tests/interop/) ---------------
# Python SDK (pytest, .venv), TypeScript SDK and Inspector CLI (node:test), the official
# conformance suite. Everything installs from PyPI and npm into .venv and
# tests/interop/node_modules; the tests talk only to servers they start on 127.0.0.1.

.PHONY: interop conformance venv node-deps

PYTHON ?= python3
NPM ?= npm
NODE ?= node
VENV := .venv
INTEROP := tests/interop
INTEROP_BIN ?= $(or $(CARGO_TARGET_DIR),target)/debug/$(BIN)

venv: $(VENV)/.installed ## Python venv with the pinned MCP Python SDK and pytest (.venv)
$(VENV)/.installed: $(INTEROP)/requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r $(INTEROP)/requirements.txt
	touch $@

node-deps: $(INTEROP)/node_modules/.installed ## npm ci: TypeScript SDK, Inspector, conformance suite, Node 22
$(INTEROP)/node_modules/.installed: $(INTEROP)/package.json $(INTEROP)/package-lock.json
	cd $(INTEROP) && $(NPM) ci --no-audit --no-fund --loglevel=error
	touch $@

interop: build venv node-deps ## Python SDK (HTTP + stdio, both eras), TypeScript SDK and Inspector CLI flows
	PYTHONDONTWRITEBYTECODE=1 HUBSPOT_MCP_BIN=$(INTEROP_BIN) $(VENV)/bin/pytest $(INTEROP) -q -p no:cacheprovider
	HUBSPOT_MCP_BIN=$(INTEROP_BIN) $(NODE) --test --test-reporter=spec $(INTEROP)/ts_sdk.test.mjs $(INTEROP)/inspector.test.mjs

conformance: build node-deps ## The official MCP conformance suite's server scenarios (docs/clients.md)
	HUBSPOT_MCP_BIN=$(INTEROP_BIN) $(INTEROP)/conformance.sh

test: interop conformance

# --- Static binaries, size budget, FROM scratch ------------------------------------------
# Fully static musl binaries with TLS (rustls on ring, whose C code needs a C compiler
# for the target) and the Mozilla CA roots built in. A fresh Debian 12 machine with rustup,
# gcc and python3 is enough: each target installs what it lacks and says so.
#   x86_64:  Debian's musl-tools (musl-gcc) compiles the C code.
#   aarch64: Zig's clang and musl (the `ziglang` wheel from PyPI, pinned, in .tools/zig)
#            through scripts/zig-cc; rust-lld (shipped with rustup) links.

.PHONY: static static-arm64 size test-scratch test-arm64 image test-image podman musl-gcc zig qemu

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
STATIC_TARGET := x86_64-unknown-linux-musl
ARM_TARGET := aarch64-unknown-linux-musl
STATIC_BIN := $(TARGET_DIR)/$(STATIC_TARGET)/release/$(BIN)
ARM_BIN := $(TARGET_DIR)/$(ARM_TARGET)/release/$(BIN)
# The x86_64 binary may not grow past this many bytes (docs/deployment.md).
SIZE_BUDGET ?= 3560000
ZIG_VERSION := 0.15.2
ZIG_VENV := .tools/zig
ZIG_BIN = $(shell $(ZIG_VENV)/bin/python -c 'import ziglang, os; print(os.path.join(os.path.dirname(ziglang.__file__), "zig"))')
# apt-get as root, else through sudo when there is one.
APT := $(if $(filter 0,$(shell id -u)),,$(if $(shell command -v sudo),sudo ))apt-get

musl-gcc: ## Install Debian's musl-tools (musl-gcc) if missing
	@command -v musl-gcc >/dev/null || { \
	  echo "==> installing musl-tools (musl-gcc) to compile ring's C code for $(STATIC_TARGET)"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq musl-tools >/dev/null; }

zig: $(ZIG_VENV)/.installed ## Zig (pinned) from PyPI in .tools/zig: the C compiler and musl for aarch64
$(ZIG_VENV)/.installed:
	@echo "==> installing ziglang==$(ZIG_VERSION) from PyPI into $(ZIG_VENV) (C compiler for $(ARM_TARGET))"
	$(PYTHON) -m venv $(ZIG_VENV)
	$(ZIG_VENV)/bin/pip install --quiet --disable-pip-version-check ziglang==$(ZIG_VERSION)
	touch $@

rustup-target-%:
	@rustup target list --installed | grep -qx '$*' || { \
	  echo "==> rustup target add $*"; rustup target add '$*'; }

static: rustup-target-$(STATIC_TARGET) musl-gcc ## Fully static x86_64 musl binary: target/x86_64-unknown-linux-musl/release/
	CC_x86_64_unknown_linux_musl=musl-gcc $(CARGO) build --release --locked --target $(STATIC_TARGET)
	@! readelf -l $(STATIC_BIN) | grep -q 'INTERP' || { echo "$(STATIC_BIN) asks for a dynamic loader"; exit 1; }
	@ls -l $(STATIC_BIN)

static-arm64: rustup-target-$(ARM_TARGET) zig ## Fully static aarch64 musl binary (Zig's clang for the C code)
	ZIG="$(ZIG_BIN)" ZIG_TARGET=aarch64-linux-musl CC_aarch64_unknown_linux_musl=$(CURDIR)/scripts/zig-cc \
	  AR_aarch64_unknown_linux_musl=ar CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=rust-lld \
	  $(CARGO) build --release --locked --target $(ARM_TARGET)
	@readelf -h $(ARM_BIN) | grep -q 'AArch64' || { echo "$(ARM_BIN) is not an AArch64 binary"; exit 1; }
	@! readelf -l $(ARM_BIN) | grep -q 'INTERP' || { echo "$(ARM_BIN) asks for a dynamic loader"; exit 1; }
	@ls -l $(ARM_BIN)

size: static ## Fail when the static x86_64 binary is past SIZE_BUDGET bytes (3.56 MB); print both sizes
	@size=$$(stat -c %s $(STATIC_BIN)); \
	echo "x86_64  $$size bytes ($(STATIC_BIN)), budget $(SIZE_BUDGET)"; \
	if [ -f $(ARM_BIN) ]; then echo "aarch64 $$(stat -c %s $(ARM_BIN)) bytes ($(ARM_BIN))"; fi; \
	if [ $$size -gt $(SIZE_BUDGET) ]; then \
	  echo "FAIL: $(STATIC_BIN) is $$((size - $(SIZE_BUDGET))) bytes over the budget (docs/deployment.md)"; exit 1; fi

test-scratch: static ## Run the static binary alone in an empty root, as PID 1 (unshare): /health, tools/call, SIGTERM
	$(PYTHON) scripts/test-scratch.py --bin $(STATIC_BIN) --fixtures $(FIXTURES)

qemu: ## Install qemu-user-static if missing (runs the aarch64 binary here)
	@command -v qemu-aarch64-static >/dev/null || { \
	  echo "==> installing qemu-user-static to run the aarch64 binary"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq qemu-user-static >/dev/null; }

test-arm64: static-arm64 qemu ## The aarch64 binary under qemu: /health, tools/call, SIGTERM
	$(PYTHON) scripts/test-scratch.py --bin $(ARM_BIN) --fixtures $(FIXTURES) --qemu qemu-aarch64-static

# --- The image: FROM scratch, from the two static binaries (docs/deployment.md) ------
# Built by podman, or by docker when there is no podman and docker's daemon answers; with
# neither, `make podman` installs Debian's podman (root or sudo). IMAGE_ENGINE=docker
# chooses docker when both are here. Nothing is compiled in a container and nothing is
# pulled: the Dockerfile has no base image and no RUN; its context is target/image.
# Both engines leave hubspot-mcp-server:amd64 and :arm64, and :latest naming this machine's.
# podman also writes the manifest list of both, with the images, to target/image/
# hubspot-mcp-server.oci.tar (OCI layout; `skopeo copy --all oci-archive:... docker://...`
# pushes it). The list is not kept in podman's store: Debian 12's podman 4.3 then fails
# `podman images` whenever an untagged image is present too
# (https://github.com/containers/podman/issues/19757).
# docker keeps no local manifest lists: `docker buildx build --platform linux/amd64,linux/arm64
# --push` makes one in a registry.

IMAGE_NAME ?= $(BIN)
IMAGE_CTX := $(TARGET_DIR)/image
IMAGE_ARCHIVE := $(IMAGE_CTX)/$(IMAGE_NAME).oci.tar
IMAGE_ENGINE ?= $$(command -v podman >/dev/null && echo podman || echo docker)
HOST_ARCH = $$(uname -m | sed 's/x86_64/amd64/; s/aarch64/arm64/')

podman: ## Install podman and runc (Debian) when there is neither podman nor a docker daemon
	@command -v podman >/dev/null || docker info >/dev/null 2>&1 || { \
	  echo "==> installing podman (and runc, for hosts whose cgroups crun refuses) to build the image"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq podman runc >/dev/null; }

image: static static-arm64 podman ## FROM scratch image for amd64 and arm64 (podman or docker; no pull), and its manifest list
	rm -rf $(IMAGE_CTX)
	mkdir -p $(IMAGE_CTX)/amd64 $(IMAGE_CTX)/arm64 && install -d -m 700 $(IMAGE_CTX)/data
	cp $(STATIC_BIN) $(IMAGE_CTX)/amd64/ && cp $(ARM_BIN) $(IMAGE_CTX)/arm64/
	cp -r $(FIXTURES) $(IMAGE_CTX)/fixtures
	@set -e; engine=$(IMAGE_ENGINE); echo "==> building $(IMAGE_NAME) with $$engine"; \
	if [ $$engine = podman ]; then \
	  ! podman manifest exists $(IMAGE_NAME):latest 2>/dev/null || podman manifest rm $(IMAGE_NAME):latest >/dev/null; \
	  podman rmi --ignore $(IMAGE_NAME):latest $(IMAGE_NAME):amd64 $(IMAGE_NAME):arm64 >/dev/null 2>&1 || true; \
	fi; \
	for arch in amd64 arm64; do \
	  if [ $$engine = podman ]; then \
	    podman build --quiet --pull=never --network=none --layers=false --platform linux/$$arch \
	      -t $(IMAGE_NAME):$$arch -f Dockerfile $(IMAGE_CTX); \
	  else \
	    docker build --quiet --network=none --platform linux/$$arch --build-arg TARGETARCH=$$arch \
	      -t $(IMAGE_NAME):$$arch -f Dockerfile $(IMAGE_CTX); \
	  fi; \
	done; \
	if [ $$engine = podman ]; then \
	  podman manifest create $(IMAGE_NAME):latest >/dev/null; \
	  for arch in amd64 arm64; do \
	    podman manifest add $(IMAGE_NAME):latest containers-storage:localhost/$(IMAGE_NAME):$$arch >/dev/null; \
	  done; \
	  podman manifest push --quiet --all $(IMAGE_NAME):latest oci-archive:$(IMAGE_ARCHIVE):latest; \
	  podman manifest rm $(IMAGE_NAME):latest >/dev/null; \
	  ls -l $(IMAGE_ARCHIVE); \
	fi; \
	$$engine tag $(IMAGE_NAME):$(HOST_ARCH) $(IMAGE_NAME):latest; \
	$$engine image ls $(IMAGE_NAME)

test-image: image ## Inspect the image (files, user, entrypoint, size, manifest list) and run it on loopback: /health, tools/call, SIGTERM
	$(PYTHON) scripts/test-image.py --engine $(IMAGE_ENGINE) --name $(IMAGE_NAME) \
	  --amd64 $(STATIC_BIN) --arm64 $(ARM_BIN) --fixtures $(FIXTURES) \
	  --archive $(IMAGE_ARCHIVE)

# make test builds and checks the static binaries and the image where this machine can
# install what they need (root, or sudo); elsewhere it says so and goes on.
CAN_INSTALL := $(or $(filter 0,$(shell id -u)),$(shell command -v sudo))
ifneq ($(or $(shell command -v musl-gcc),$(CAN_INSTALL)),)
test: test-scratch
ifneq ($(or $(shell command -v qemu-aarch64-static),$(CAN_INSTALL)),)
test: test-arm64
endif
ifneq ($(or $(shell command -v podman),$(CAN_INSTALL),$(shell docker info >/dev/null 2>&1 && echo docker)),)
test: test-image
else
test: image-skipped
endif
test: size
else
test: static-skipped
endif

.PHONY: static-skipped image-skipped
static-skipped:
	@echo "SKIP static builds: no musl-gcc and no root or sudo to install musl-tools"
image-skipped:
	@echo "SKIP test-image: no podman, no docker daemon, and no root or sudo to install podman"

# --- Several replicas on etcd (tests/blackbox/cluster.rs, tests/blackbox/etcd_tls.rs) ---------------------
# A 3-member etcd cluster (Debian's etcd-server, 3.4) on loopback with fresh data
# directories, and two server replicas on it; about 75 s, most of it the expiry-by-lease
# test waiting a minute. Without etcd the tests print SKIP.

.PHONY: etcd cluster-test strace

strace: ## Install strace when missing (a transport test watches the server for new threads; it SKIPs without)
	@command -v strace >/dev/null || { \
	  echo "==> installing strace for the no-thread-per-call test"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq strace >/dev/null; } \
	  || echo "==> strace could not be installed: that test will SKIP"

etcd: ## Install Debian's etcd-server when etcd is missing (the cluster tests SKIP without it)
	@command -v etcd >/dev/null || { \
	  echo "==> installing etcd-server (etcd 3.4) for the cluster tests"; \
	  $(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq etcd-server >/dev/null; } \
	  || echo "==> etcd-server could not be installed: the cluster tests will SKIP"

cluster-test: etcd ## Replicas sharing a registry on a real 3-member etcd cluster (~75 s), and TLS to etcd
	$(CARGO) test --test blackbox -- --test-threads=3 cluster:: etcd_tls::

# hubspot-mcp-server: every task a developer or CI needs. `make help` lists them.

CARGO ?= cargo
PORT ?= 3000
HOST ?= 127.0.0.1
FIXTURES ?= fixtures/hubspot
BIN := hubspot-mcp-server

.PHONY: help run build release test unit lint fmt clean

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

run: ## Start the server on the embedded mock HubSpot (no token needed) at http://127.0.0.1:3000
	$(CARGO) run --quiet -- serve --mock $(FIXTURES) --host $(HOST) --port $(PORT)

build: ## Debug build
	$(CARGO) build

release: ## Optimised, stripped build: target/release/hubspot-mcp-server
	$(CARGO) build --release

test: lint ## Lint, then every unit and black-box test (the servers run on loopback only)
	$(CARGO) test --all-targets

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
# pasted into README.md (between the bench markers).
# BENCH_SECS (seconds per load run, default 3) and BENCH_CONNS (default 1,64,256,1024) tune it.

.PHONY: bench wrk

RELEASE_DIR := $(or $(CARGO_TARGET_DIR),target)/release

wrk: ## Install wrk (Debian package) when it is missing
	@command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

bench: wrk ## Throughput, latency, memory, start-up and isolation against the baseline (~3 min)
	$(CARGO) build --release --quiet --bin $(BIN) --example baseline --example bench
	$(RELEASE_DIR)/examples/bench --server $(RELEASE_DIR)/$(BIN) \
		--baseline $(RELEASE_DIR)/examples/baseline --fixtures $(FIXTURES) \
		--script bench/wrk.lua --work bench/out --out bench/results.json --readme README.md

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

conformance: build node-deps ## The official MCP conformance suite's server scenarios (README: MCP clients)
	HUBSPOT_MCP_BIN=$(INTEROP_BIN) $(INTEROP)/conformance.sh

test: interop conformance

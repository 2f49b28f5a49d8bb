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

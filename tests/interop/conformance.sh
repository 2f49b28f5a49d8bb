#!/usr/bin/env bash
# Runs the official MCP conformance suite's server scenarios
# (@modelcontextprotocol/conformance, pinned in package.json) against hubspot-mcp-server on
# the mock HubSpot, on a free loopback port. Scenarios that do not apply to this server are
# listed with their reasons in conformance-baseline.yml; the suite exits non-zero if any
# other scenario fails. The suite needs Node 22, taken from the `node` package in
# node_modules. Results go to $CONFORMANCE_OUT when set, else to a temporary directory.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${HUBSPOT_MCP_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/hubspot-mcp-server}
node22="$here/node_modules/.bin/node"

log=$(mktemp)
out=${CONFORMANCE_OUT:-$(mktemp -d)}
env -i PATH="$PATH" HOST=127.0.0.1 PORT=0 LOG_LEVEL=info \
  "$bin" serve --mock "$root/fixtures/hubspot" 2>"$log" &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -f "$log"
  [ -n "${CONFORMANCE_OUT:-}" ] || rm -rf "$out"
}
trap cleanup EXIT

addr=
for _ in $(seq 200); do
  addr=$(sed -n 's|.*listening on http://\(127\.0\.0\.1:[0-9]*\).*|\1|p' "$log" | head -n 1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "conformance: the server did not start:" >&2
  cat "$log" >&2
  exit 1
fi

echo "conformance: @modelcontextprotocol/conformance $("$node22" -p "require('$here/node_modules/@modelcontextprotocol/conformance/package.json').version") on Node $("$node22" --version), server http://$addr/mcp"
cd "$out"
status=0
"$node22" "$here/node_modules/.bin/conformance" server \
  --url "http://$addr/mcp" \
  --expected-failures "$here/conformance-baseline.yml" \
  -o "$out" | tee "$out/summary.txt" || status=$?

# One closing line that counts the scenarios that do not apply as skipped, not failed.
ran=$(sed -n 's/^Running .* suite (\([0-9]*\) scenarios).*/\1/p' "$out/summary.txt")
skipped=$(grep -c '^  - ' "$here/conformance-baseline.yml")
if [ "$status" -eq 0 ] && [ -n "$ran" ]; then
  echo "conformance: $((ran - skipped)) passed, 0 failed, $skipped skipped"
else
  echo "conformance: the suite failed (exit $status); see the unexpected failures above" >&2
  exit 1
fi

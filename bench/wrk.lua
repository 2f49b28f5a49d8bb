-- wrk script for `make bench`: one fixed request on every connection, taken from the
-- environment (BENCH_METHOD, BENCH_BODY), and the figures the driver needs printed as
-- one JSON line at the end. No per-request Lua: wrk builds the request bytes once.
wrk.method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")
if body ~= nil and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/json"
  -- What MCP clients send with a POST; rmcp's Streamable HTTP answers 406 without it.
  wrk.headers["Accept"] = "application/json, text/event-stream"
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean))
end

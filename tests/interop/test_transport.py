"""Streamable HTTP details the SDK clients depend on, in both eras, seen from a client:
plain HTTP requests (stdlib only) against the same mock server the SDK tests use."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from conftest import AUTH

MODERN = "2026-07-28"
BOTH = "application/json, text/event-stream"


def post(url: str, body: dict, headers: dict[str, str]):
    """POSTs `body`; returns (status, headers, parsed JSON-RPC message or None)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **AUTH, **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, got, raw = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, got, raw = error.code, error.headers, error.read()
    if not raw:
        return status, got, None
    if got.get("Content-Type", "").startswith("text/event-stream"):
        events = [e for e in raw.decode().split("\n\n") if e.strip()]
        assert len(events) == 1, events
        lines = events[0].split("\n")
        assert lines[0] == "event: message", lines
        data = "".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        return status, got, json.loads(data)
    return status, got, json.loads(raw)


def legacy_list(protocol_version: str | None = "2025-11-25"):
    headers = {"MCP-Protocol-Version": protocol_version} if protocol_version else {}
    return {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}, headers


def modern(method: str, params: dict | None = None, **extra_headers: str):
    params = dict(params or {})
    params["_meta"] = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "interop", "version": "1"},
    }
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": method, **extra_headers}
    return {"jsonrpc": "2.0", "id": "m1", "method": method, "params": params}, headers


@pytest.mark.parametrize("era", ["legacy", "modern"])
@pytest.mark.parametrize(
    "accept,content_type",
    [(BOTH, "application/json"), ("text/event-stream", "text/event-stream")],
)
def test_accept_both_is_json_and_sse_only_is_one_message_event(server_url, era, accept, content_type):
    body, headers = legacy_list() if era == "legacy" else modern("tools/list")
    status, got, reply = post(server_url, body, {"Accept": accept, **headers})
    assert status == 200
    assert got["Content-Type"].startswith(content_type)
    assert reply["id"] == body["id"]
    assert any(t["name"] == "get_contacts" for t in reply["result"]["tools"])
    assert got.get("Mcp-Session-Id") is None, "a stateless server mints no session"


def test_legacy_protocol_version_header(server_url):
    # missing: taken as 2025-03-26 and served
    body, headers = legacy_list(None)
    status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
    assert status == 200 and "result" in reply
    # every legacy version is served
    for version in ["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25"]:
        body, headers = legacy_list(version)
        status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
        assert status == 200 and "result" in reply, version
    # unsupported: 400
    body, headers = legacy_list("1999-01-01")
    status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
    assert status == 400
    assert reply["error"]["code"] == -32022
    assert "2025-11-25" in reply["error"]["data"]["supported"]


def test_a_session_id_is_never_required_and_any_is_ignored(server_url):
    body, headers = legacy_list()
    for session in [None, "made-up-session-1234"]:
        extra = {"Mcp-Session-Id": session} if session else {}
        status, got, reply = post(server_url, body, {"Accept": BOTH, **headers, **extra})
        assert status == 200 and "result" in reply
        assert got.get("Mcp-Session-Id") is None


def test_modern_headers_are_checked_against_the_body(server_url):
    args = {"name": "get_deals", "arguments": {"limit": 1}}
    ok = modern("tools/call", args, **{"Mcp-Name": "get_deals"})
    assert post(server_url, ok[0], {"Accept": BOTH, **ok[1]})[0] == 200
    for wrong in [
        {"Mcp-Name": "get_contacts"},
        {"Mcp-Method": "tools/list", "Mcp-Name": "get_deals"},
        {"MCP-Protocol-Version": "2025-11-25", "Mcp-Name": "get_deals"},
        {},  # Mcp-Name missing
    ]:
        body, headers = modern("tools/call", args, **wrong)
        status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
        assert (status, reply["error"]["code"]) == (400, -32020), wrong


def test_modern_unknown_method_is_404_with_32601(server_url):
    body, headers = modern("no/such/method")
    status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
    assert (status, reply["error"]["code"]) == (404, -32601)


def test_modern_unsupported_version_is_400_with_32022(server_url):
    body, headers = modern("tools/list")
    body["params"]["_meta"]["io.modelcontextprotocol/protocolVersion"] = "2099-01-01"
    headers["MCP-Protocol-Version"] = "2099-01-01"
    status, _, reply = post(server_url, body, {"Accept": BOTH, **headers})
    assert (status, reply["error"]["code"]) == (400, -32022)
    assert MODERN in reply["error"]["data"]["supported"]


def test_notifications_get_202_with_no_body(server_url):
    note = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    status, _, reply = post(server_url, note, {"Accept": BOTH, "MCP-Protocol-Version": "2025-11-25"})
    assert (status, reply) == (202, None)

"""Shared fixtures: the server binary on the mock HubSpot, on a free loopback port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import threading
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = str(ROOT / "fixtures" / "hubspot")
# The admin API token of the test server (admin routes are off without one).
ADMIN_TOKEN = "interop-admin-token-0123456789"
# An MCP_API_KEYS key: with the admin API on, `/mcp` needs a credential (docs/security.md).
API_KEY = "interop-api-key-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {API_KEY}"}

def binary() -> str:
    """The server binary: $HUBSPOT_MCP_BIN, else the cargo debug build."""
    explicit = os.environ.get("HUBSPOT_MCP_BIN")
    if explicit:
        return explicit
    target = os.environ.get("CARGO_TARGET_DIR") or str(ROOT / "target")
    return str(Path(target) / "debug" / "hubspot-mcp-server")


@pytest.fixture(scope="session")
def anyio_backend():
    return "asyncio"


@pytest.fixture(scope="session")
def server_url():
    """Starts `hubspot-mcp-server serve --mock fixtures/hubspot` on 127.0.0.1, port 0, and
    yields its `/mcp` URL (read from the start-up log line). The admin API is on, with a
    throwaway DATA_DIR, so that scoped `/mcp/<token>` servers can be minted; `/mcp` then
    takes the API key `API_KEY` (or a scoped token) in `Authorization`."""
    data_dir = tempfile.TemporaryDirectory(prefix="hubspot-mcp-interop-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "info",
        "ADMIN_API_TOKEN": ADMIN_TOKEN,
        "MCP_API_KEYS": API_KEY,
        "DATA_DIR": data_dir.name,
    }
    proc = subprocess.Popen(
        [binary(), "serve", "--mock", FIXTURES],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    found = threading.Event()
    address: list[str] = []
    log: list[str] = []

    def drain():
        for line in proc.stderr:
            log.append(line)
            match = re.search(r"listening on http://(\S+)", line)
            if match and not found.is_set():
                address.append(match.group(1))
                found.set()
        found.set()

    threading.Thread(target=drain, daemon=True).start()
    if not found.wait(20) or not address:
        proc.kill()
        raise RuntimeError("server did not start:\n" + "".join(log))
    assert address[0].startswith("127.0.0.1:"), address[0]
    yield f"http://{address[0]}/mcp"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
    data_dir.cleanup()


def admin(url: str, method: str = "GET", body: dict | None = None) -> dict:
    """One admin API call with the admin token; the JSON answer."""
    request = urllib.request.Request(
        url,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@pytest.fixture(scope="session")
def scoped_url(server_url):
    """A scoped MCP server minted through the admin API on the start-up account, exposing
    only the tools tagged `contacts`; yields its secret `/mcp/<token>` URL."""
    base = server_url.removesuffix("/mcp")
    account = admin(f"{base}/integrated-account")["result"][0]["id"]
    minted = admin(
        f"{base}/integrated-account/{account}/mcp",
        "POST",
        {"name": "SDK interop, contacts only", "config": {"tags": ["contacts"]}},
    )
    assert minted["url"].startswith(f"{base}/mcp/"), minted["url"]
    yield minted["url"]

"""Shared fixtures: the server binary on the mock HubSpot, on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = str(ROOT / "fixtures" / "hubspot")

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
    yields its `/mcp` URL (read from the start-up log line)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": "0",
        "LOG_LEVEL": "info",
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

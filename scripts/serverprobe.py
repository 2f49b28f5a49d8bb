"""Checks shared by test-scratch.py and test-image.py: start a server that logs its
address, probe it over HTTP (/health and an MCP tools/call on the mock), stop it with
SIGTERM, and count the results.

Each check prints one line ('ok' or 'FAIL' with the detail); finish() prints the closing
'N passed, N failed' line and exits 1 on a failure.
"""

import json
import subprocess
import sys
import threading
import time
import urllib.request

results = {"passed": 0, "failed": 0}


def check(name, ok, detail=""):
    results["passed" if ok else "failed"] += 1
    print(f"{'ok  ' if ok else 'FAIL'} {name}" + (f": {detail}" if detail and not ok else ""))
    return ok


def finish():
    print(f"{results['passed']} passed, {results['failed']} failed")
    sys.exit(1 if results["failed"] else 0)


def start(cmd, env):
    """Starts the server; returns (process, address, log lines) once it listens."""
    proc = subprocess.Popen(
        cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True,
    )
    lines, found = [], threading.Event()
    address = []

    def pump():
        for line in proc.stderr:
            lines.append(line.rstrip())
            marker = " listening on http://"
            if not found.is_set() and marker in line:
                address.append(line.split(marker, 1)[1].split()[0])
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + 60
    while not found.wait(0.1) and proc.poll() is None and time.monotonic() < deadline:
        pass
    if not found.is_set():
        proc.kill()
        time.sleep(0.2)  # let the pump take the last lines
        check("the server starts and listens", False, "\n".join(lines))
        finish()
    return proc, address[0], lines


def http(addr, method, path, body=None):
    headers = {"Content-Type": "application/json", "Accept": "application/json, text/event-stream"}
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://{addr}{path}", data=data, method=method, headers=headers)
    with urllib.request.urlopen(req, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


def probe(addr):
    status, health = http(addr, "GET", "/health")
    check("GET /health answers 200 healthy", status == 200 and health.get("status") == "healthy",
          json.dumps(health))
    call = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_contacts", "arguments": {"limit": 1}}}
    status, reply = http(addr, "POST", "/mcp", call)
    result = reply.get("result", {})
    text = "".join(c.get("text", "") for c in result.get("content", []))
    check("MCP tools/call get_contacts answers from the fixtures",
          status == 200 and not result.get("isError") and "priya.raman@" in text, json.dumps(reply))


def stop(proc, send_sigterm, lines):
    """Calls send_sigterm() and checks that `proc` then ends with exit code 0."""
    send_sigterm()
    try:
        code = proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        code = "still running 30 s after SIGTERM"
    check("SIGTERM ends the server with exit code 0", code == 0, f"{code}\n" + "\n".join(lines))

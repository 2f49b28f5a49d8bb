#!/usr/bin/env python3
"""`make soak`: mixed traffic against the server for a while, to catch what only shows over
time on the patched coroutine runtime (a racy wake-up path, a leak). docs/deployment.md, Soak.

Starts, all on 127.0.0.1: the mock HubSpot (`mock-hubspot`), a relay in front of it that drops
some connections mid-request, and the server pointed at the relay. Then, until the time is up:
tool calls with an API key while the mock is told to be slow (sometimes past the server's
HubSpot timeout) or to answer 429 and 503; tools/list and JSON-RPC batches; admin creates and
deletes of scoped servers and calls through their tokens; a new connection per request (some
closed early, some left half-sent until the request timeout); idle keep-alive connections that
rest past a second and wake, or pass the idle timeout and must be closed; pipelined requests.

Fails (exit 1, one line per finding) on: the server exiting (crash), `panicked` in its log, a
hang (an answer slower than its bound, below), an acknowledged admin create that is not listed
or usable, or an acknowledged delete that still is (checked at the end and again after a
restart on the same data), a failed graceful stop, or VmRSS growing faster than --rss-slope
MB/min, a line fitted over the second half of the run (the first half is warm-up).

--sabotage kill|stop SIGKILLs or SIGSTOPs the server half way, to see the soak fail.
"""

import argparse
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

# The server's timeouts in the soak, shorter than the defaults so their paths run often.
HUBSPOT_TIMEOUT_S = 5
MAX_WAIT_S = 2
RETRIES = 2
IDLE_TIMEOUT_S = 5
REQUEST_TIMEOUT_S = 3
SETTINGS = {
    "HUBSPOT_TIMEOUT_MS": HUBSPOT_TIMEOUT_S * 1000,
    "HUBSPOT_MAX_WAIT_MS": MAX_WAIT_S * 1000,
    "HUBSPOT_MAX_RETRIES": RETRIES,
    "HTTP_IDLE_TIMEOUT_MS": IDLE_TIMEOUT_S * 1000,
    "HTTP_REQUEST_TIMEOUT_MS": REQUEST_TIMEOUT_S * 1000,
    # Unpaced, so most calls reach the mock; searches keep their 5/s pacing (its waits).
    "HUBSPOT_RATE_LIMIT_PER_10S": 0,
}
# What a loaded, shared 2-core machine may add to any answer.
SLACK_S = 10
# A request carrying one tool call: each of 1 + RETRIES attempts waits at most MAX_WAIT_S
# for a rate-limit slot and HUBSPOT_TIMEOUT_S for HubSpot, with at most MAX_WAIT_S between
# attempts. The soak keeps fewer tool calls in flight than HUBSPOT_POOL_THREADS (16), so
# none waits for a thread.
TOOL_BOUND_S = (1 + RETRIES) * (MAX_WAIT_S + HUBSPOT_TIMEOUT_S) + RETRIES * MAX_WAIT_S + SLACK_S
# Any other request (no HubSpot call).
PLAIN_BOUND_S = SLACK_S
ADMIN = "soak-admin-token-0123456789abcdef"
API_KEY = "soak-api-key-0123456789abcdef"
# Scoped server configs and a tool each one exposes.
CONFIGS = [
    ({"methods": ["read"], "tags": ["contacts"]}, "get_contacts", {"limit": 2}),
    ({"methods": ["read", "custom"]}, "search_contacts", {"query": "a"}),
    ({"tags": ["deals"]}, "get_deals", {"limit": 2}),
    ({"methods": ["list"]}, "get_companies", {"limit": 2}),
]
# Tool calls with the API key (update and create change the mock, never the server).
TOOL_CALLS = [
    ("get_contacts", lambda: {"limit": 5}),
    ("get_contact", lambda: {"id": str(random.randint(101, 130))}),
    ("search_contacts", lambda: {"query": random.choice(["priya", "a", "acme"])}),
    ("get_deals", lambda: {"limit": 3}),
    ("update_contact",
     lambda: {"id": str(random.randint(101, 130)), "properties": {"jobtitle": "Soak"}}),
    ("create_contact", lambda: {"email": f"soak-{random.getrandbits(48)}@example.com"}),
]
# Mock fault rules; every few seconds the plan becomes two of them.
FAULTS = [
    {"status": 429, "retryAfter": 1, "times": 4},
    {"status": 429, "policy": "SECONDLY", "times": 2},
    {"method": "GET", "status": 503, "times": 3},
    {"delayMs": 1500, "times": 4},
    {"delayMs": (HUBSPOT_TIMEOUT_S + 1) * 1000, "times": 1},
]
DROP_RATE = 0.04  # of the request chunks the relay sees
NO_LINGER = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: the close is a TCP reset


class Findings:
    """What went wrong, the counters and the latencies; `stop` ends every client."""

    def __init__(self):
        self.lock = threading.Lock()
        self.failures = []
        self.counts = {}  # requests answered, by kind
        self.slowest = {}  # the slowest answer of each kind, seconds
        self.events = {}  # what else happened, by kind
        self.stop = threading.Event()

    def fail(self, what, first=False):
        """A finding (`first`: the cause, listed before its effects); stops the clients."""
        with self.lock:
            self.failures.insert(0 if first else len(self.failures), what)
        self.stop.set()

    def answered(self, kind, seconds, n=1):
        """`n` requests of `kind` answered, the last batch of them in `seconds`."""
        with self.lock:
            self.counts[kind] = self.counts.get(kind, 0) + n
            self.slowest[kind] = max(self.slowest.get(kind, 0.0), seconds)

    def event(self, kind):
        """Something else that happened, counted for the summary."""
        with self.lock:
            self.events[kind] = self.events.get(kind, 0) + 1


class Hang(Exception):
    """No answer within its bound."""


def request(method, path, body=None, token=None, extra=""):
    """The bytes of one HTTP/1.1 request (JSON body when given)."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    data = b""
    if body is not None:
        data = json.dumps(body).encode()
        head += "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\n"
        head += f"Content-Length: {len(data)}\r\n"
    return (head + "\r\n").encode() + data


def rpc(id_, method, params=None):
    """A JSON-RPC request."""
    msg = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        msg["params"] = params
    return msg


def call(id_, tool, args):
    """A tools/call request."""
    return rpc(id_, "tools/call", {"name": tool, "arguments": args})


class Conn:
    """A client connection: send bytes, read whole answers (Content-Length or chunked)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=PLAIN_BOUND_S)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.file = self.sock.makefile("rb")

    def close(self, reset=False):
        """Closes; with `reset`, as a TCP reset."""
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
        self.file.close()
        self.sock.close()

    def answer(self):
        """(status, headers, body) of the next answer."""
        line = self.file.readline()
        if not line:
            raise EOFError("the server closed the connection instead of answering")
        status = int(line.split(b" ", 2)[1])
        headers = {}
        while (line := self.file.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if "chunked" in headers.get("transfer-encoding", ""):
            body = b""
            while size := int(self.file.readline().split(b";")[0], 16):
                body += self.file.read(size)
                self.file.readline()
            while self.file.readline() not in (b"\r\n", b""):
                pass
        else:
            body = self.file.read(int(headers.get("content-length", "0")))
        return status, headers, body

    def exchange(self, data, bound, answers=1):
        """Sends `data` and reads `answers` answers, all within `bound` seconds."""
        started = time.monotonic()
        self.sock.settimeout(bound)
        try:
            self.sock.sendall(data)
            got = [self.answer() for _ in range(answers)]
        except socket.timeout:
            raise Hang(f"no answer within {bound} s") from None
        elapsed = time.monotonic() - started
        if elapsed > bound:
            raise Hang(f"answered after {elapsed:.1f} s, past its {bound} s bound")
        return got, elapsed


def json_body(headers, body):
    """An answer's JSON (from the data lines when it came as an event stream)."""
    if headers.get("content-type", "").startswith("text/event-stream"):
        body = b"".join(l[5:] for l in body.splitlines() if l.startswith(b"data:"))
    return json.loads(body) if body else None


class Soak:
    """The clients, and the scoped servers the server acknowledged creating and deleting."""

    def __init__(self, port, account, findings):
        self.port = port
        self.account = account
        self.f = findings
        self.live = {}  # scoped server id -> (token, tool, args): acknowledged creates
        self.deleted = {}  # id -> token: acknowledged deletes
        self.lock = threading.Lock()
        self.forwarded = 0

    def one(self, kind, method, path, body=None, token=None, want=200, bound=PLAIN_BOUND_S,
            conn=None, extra=""):
        """One request (on `conn`, or a new connection); its JSON body. Fails on another status."""
        own = conn is None
        conn = conn or Conn(self.port)
        try:
            raw = request(method, path, body, token, extra)
            [(status, headers, data)], took = conn.exchange(raw, bound)
        except Hang as e:
            raise Hang(f"{kind}: {e}") from None
        finally:
            if own:
                conn.close()
        self.f.answered(kind, took)
        if status != want:
            raise AssertionError(
                f"{kind}: {method} {path} answered {status}, expected {want}: {data[:300]!r}")
        return json_body(headers, data)

    def mcp(self, kind, body, token=API_KEY, **kw):
        """`POST /mcp`: one JSON-RPC body."""
        return self.one(kind, "POST", "/mcp", body, token, **kw)

    def servers(self, sid=""):
        """The admin path of the account's scoped servers, or of one."""
        return f"/integrated-account/{self.account}/mcp" + (f"/{sid}" if sid else "")

    def tool(self, conn, tool, args, token=API_KEY, kind="tools/call"):
        """One tool call: a result (an error result too), never a JSON-RPC error."""
        reply = self.mcp(kind, call(1, tool, args), token, bound=TOOL_BOUND_S, conn=conn)
        if "result" not in reply:
            raise AssertionError(f"{kind} {tool}: JSON-RPC error {reply.get('error')}")
        failed = reply["result"].get("isError")
        self.f.event("tool results with isError" if failed else "tool results ok")

    def guard(self, name, body):
        """Runs `body`; any exception is a finding."""
        try:
            body()
        except Hang as e:
            self.f.fail(f"hang ({name}): {e}")
        except Exception as e:  # noqa: BLE001 - every failure of a client is a finding
            self.f.fail(f"{name}: {type(e).__name__}: {e}")

    def worker(self, name, body):
        """Runs `body` until stopped, in a guard."""
        def rounds():
            while not self.f.stop.is_set():
                body()
        self.guard(name, rounds)

    # ------------------------------------------------------------------ the clients

    def tool_caller(self):
        """Tool calls with the API key on one keep-alive connection."""
        conn = Conn(self.port)
        try:
            while not self.f.stop.is_set():
                tool, args = random.choice(TOOL_CALLS)
                self.tool(conn, tool, args())
        finally:
            conn.close()

    def lister(self):
        """tools/list, then a batch (every id answered), on one keep-alive connection."""
        conn = Conn(self.port)
        try:
            while not self.f.stop.is_set():
                tools = self.mcp("tools/list", rpc(1, "tools/list"), conn=conn)
                if not tools["result"]["tools"]:
                    raise AssertionError("tools/list listed no tools")
                methods = ["tools/list", "ping", "resources/list", "prompts/list"]
                batch = [rpc(i, random.choice(methods)) for i in range(random.randint(1, 5))]
                batch.append({"jsonrpc": "2.0", "method": "notifications/initialized"})
                if random.random() < 0.5:
                    batch.append(call(99, "get_owners", {}))
                random.shuffle(batch)
                replies = self.mcp("batch", batch, bound=TOOL_BOUND_S, conn=conn)
                want = sorted(m["id"] for m in batch if "id" in m)
                if sorted(r.get("id") for r in replies) != want:
                    raise AssertionError(f"a batch of ids {want} was answered {replies!r:.300}")
        finally:
            conn.close()

    def admin(self):
        """Creates scoped servers and uses them; deletes them again (at most 15 live each)."""
        mine = []
        while not self.f.stop.is_set():
            if len(mine) < 15 and (not mine or random.random() < 0.6):
                config, tool, args = random.choice(CONFIGS)
                body = {"name": f"soak {random.getrandbits(32)}", "config": config}
                if random.random() < 0.5:
                    tomorrow = time.gmtime(time.time() + 86400)
                    body["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", tomorrow)
                made = self.one("admin create", "POST", self.servers(), body, ADMIN, want=201)
                with self.lock:
                    self.live[made["id"]] = (made["token"], tool, args)
                mine.append(made["id"])
                self.use(made["token"], tool, args)
            else:
                sid = mine.pop(random.randrange(len(mine)))
                self.one("admin delete", "DELETE", self.servers(sid), None, ADMIN)
                with self.lock:
                    token = self.live.pop(sid)[0]
                    self.deleted[sid] = token
                self.gone(sid, token)
            if mine and random.random() < 0.5:
                with self.lock:
                    token, tool, args = self.live[random.choice(mine)]
                self.use(token, tool, args)

    def use(self, token, tool, args):
        """A live scoped server lists tools and runs its tool, by header and by URL."""
        listed = self.mcp("scoped tools/list", rpc(1, "tools/list"), token)
        if tool not in [t["name"] for t in listed["result"]["tools"]]:
            raise AssertionError(f"a scoped server does not list {tool}")
        self.one("scoped tools/list", "POST", f"/mcp/{token}", rpc(1, "tools/list"))
        self.tool(None, tool, args, token, kind="scoped tools/call")

    def gone(self, sid, token):
        """A deleted server: 404 to the admin API, its token refused. Each refusal comes
        forwarded (TRUSTED_PROXIES trusts loopback) from its own 127.1.x.y, so the guessing
        brake never counts it against the soak's other requests."""
        self.one("admin get deleted", "GET", self.servers(sid), None, ADMIN, want=404)
        with self.lock:
            self.forwarded += 1
            n = self.forwarded
        xff = f"X-Forwarded-For: 127.1.{n // 250 % 250}.{n % 250 + 1}\r\n"
        self.mcp("deleted token", rpc(1, "tools/list"), token, want=401, extra=xff)

    def churn(self):
        """A new connection per request, some cut short or left half-sent."""
        what = random.choice(["health", "ready", "close", "reset", "tool-close"] * 4 + ["half"])
        if what in ("health", "ready"):
            self.one(f"churn /{what}", "GET", f"/{what}")
        elif what == "tool-close":
            conn = Conn(self.port)
            try:
                raw = request("POST", "/mcp", call(1, "get_owners", {}), API_KEY,
                              "Connection: close\r\n")
                [(status, _, _)], _ = conn.exchange(raw, TOOL_BOUND_S)
                if status != 200 or conn.file.read(1) != b"":
                    raise AssertionError(f"Connection: close answered {status} and stayed open")
            finally:
                conn.close()
            self.f.event("churn: Connection: close honoured")
        elif what in ("close", "reset"):
            conn = Conn(self.port)
            raw = request("POST", "/mcp", rpc(1, "tools/list"), API_KEY)
            conn.sock.sendall(raw[: random.randint(0, 80)])
            conn.close(reset=what == "reset")
            self.f.event(f"churn: {what} mid-request")
        else:  # a half-sent request ends in 408
            conn = Conn(self.port)
            try:
                conn.sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                [(status, _, _)], _ = conn.exchange(b"", REQUEST_TIMEOUT_S + PLAIN_BOUND_S)
                if status != 408:
                    raise AssertionError(f"a half-sent request answered {status}, expected 408")
            finally:
                conn.close()
            self.f.event("churn: half-sent request, 408")

    def idler(self):
        """Rests 1.2-3.5 s (the socket is parked) and wakes; now and then idles past
        HTTP_IDLE_TIMEOUT_MS and the server must have closed the connection."""
        conn = Conn(self.port)
        try:
            while not self.f.stop.is_set():
                if random.random() < 0.15:
                    self.f.stop.wait(IDLE_TIMEOUT_S + 2.5)
                    conn.sock.settimeout(PLAIN_BOUND_S)
                    try:
                        closed = conn.sock.recv(1) == b""
                    except ConnectionResetError:
                        closed = True
                    except socket.timeout:
                        closed = False
                    if not closed and not self.f.stop.is_set():
                        raise AssertionError(
                            f"a connection idle for {IDLE_TIMEOUT_S + 2.5} s was not closed "
                            f"(HTTP_IDLE_TIMEOUT_MS={IDLE_TIMEOUT_S * 1000})")
                    conn.close()
                    conn = Conn(self.port)
                    self.f.event("idle connections closed by the server")
                    continue
                self.f.stop.wait(random.uniform(1.2, 3.5))
                if random.random() < 0.5:
                    self.one("woken /health", "GET", "/health", conn=conn)
                else:
                    self.mcp("woken tools/list", rpc(1, "tools/list"), conn=conn)
        finally:
            conn.close()

    def pipeliner(self):
        """2-8 requests written at once (sometimes split mid-request), answers in order."""
        conn = Conn(self.port)
        try:
            while not self.f.stop.is_set():
                n = random.randint(2, 8)
                tool_at = random.randrange(n) if random.random() < 0.5 else -1
                ids, data = [], b""
                for i in range(n):
                    if i != tool_at and random.random() < 0.3:
                        data += request("GET", "/health")
                        ids.append(None)
                        continue
                    msg = call(i, "get_contacts", {"limit": 1}) if i == tool_at else rpc(
                        i, random.choice(["ping", "tools/list"]))
                    data += request("POST", "/mcp", msg, API_KEY)
                    ids.append(i)
                bound = PLAIN_BOUND_S + (TOOL_BOUND_S if tool_at >= 0 else 0)
                cut = random.randrange(len(data)) if random.random() < 0.3 else len(data)
                conn.sock.sendall(data[:cut])
                answers, took = conn.exchange(data[cut:], bound, answers=n)
                self.f.answered("pipelined", took, n)
                for want, (status, headers, body) in zip(ids, answers):
                    got = json_body(headers, body)
                    if status != 200 or (want is not None and got.get("id") != want):
                        raise AssertionError(f"pipelined answer out of order or failed: {status} "
                                             f"{body[:200]!r}, wanted id {want}")
        finally:
            conn.close()

    # ------------------------------------------------------------------ the registry

    def listed(self):
        """The ids the admin API lists for the account (every page)."""
        ids, cursor = set(), None
        while True:
            path = self.servers() + "?limit=100" + (f"&next_cursor={cursor}" if cursor else "")
            page = self.one("admin list", "GET", path, None, ADMIN)
            ids |= {s["id"] for s in page["result"]}
            cursor = page.get("next_cursor")
            if not cursor:
                return ids

    def check_registry(self):
        """Every acknowledged create is listed and works; every acknowledged delete is gone."""
        ids = self.listed()
        lost = set(self.live) - ids
        kept = set(self.deleted) & ids
        if lost:
            raise AssertionError(f"{len(lost)} acknowledged creates are not listed: "
                        f"{sorted(lost)[:5]}")
        if kept:
            raise AssertionError(f"{len(kept)} acknowledged deletes are still listed: "
                        f"{sorted(kept)[:5]}")
        for token, tool, args in list(self.live.values()):
            self.use(token, tool, args)
        for sid, token in list(self.deleted.items())[-20:]:
            self.gone(sid, token)


# ---------------------------------------------------------------------- upstream relay


class Relay:
    """Forwards the server's HubSpot connections to the mock; drops DROP_RATE of the request
    chunks instead (a close or a reset, no answer), like a flaky network or load balancer."""

    def __init__(self, upstream, findings):
        self.upstream = upstream
        self.f = findings
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.upstream))
            except OSError:
                client.close()
                continue
            threading.Thread(target=self.pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self.pump, args=(upstream, client, False), daemon=True).start()

    def pump(self, src, dst, may_drop):
        """Copies `src` to `dst` until either closes or a chunk is dropped."""
        try:
            while data := src.recv(65536):
                if may_drop and random.random() < DROP_RATE:
                    self.f.event("upstream connections dropped")
                    if random.random() < 0.5:
                        src.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, NO_LINGER)
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        src.close()

    def close(self):
        self.listener.close()


def post_faults(mock_port, findings):
    """Every 3 s, a new plan of two fault rules (or none) for the mock."""
    while not findings.stop.wait(3):
        plan = random.sample(FAULTS, 2) if random.random() < 0.8 else []
        conn = Conn(mock_port)
        try:
            conn.exchange(request("POST", "/__mock/faults", plan), PLAIN_BOUND_S)
            findings.event("fault plans")
        finally:
            conn.close()


# ---------------------------------------------------------------------- processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_answering(proc, port, path, what):
    """Waits until `proc` answers `GET path`; exits the soak when it cannot start."""
    started = time.monotonic()
    while time.monotonic() - started < 20:
        if proc.poll() is not None:
            raise SystemExit(f"soak: {what} exited with {proc.returncode} at start (see its log)")
        try:
            conn = Conn(port)
            try:
                conn.exchange(request("GET", path), 2)
                return
            finally:
                conn.close()
        except (OSError, EOFError, Hang):
            time.sleep(0.05)
    raise SystemExit(f"soak: {what} did not answer {path} within 20 s")


def start_server(args, work, relay_port, log):
    """The server with the soak's settings on a free port, once it answers /health."""
    port = free_port()
    ours = ("HUBSPOT_", "MCP_", "HTTP_", "ADMIN_", "LOG_", "DATA_DIR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
    env.update({k: str(v) for k, v in SETTINGS.items()})
    env.update(
        HOST="127.0.0.1", PORT=str(port), DATA_DIR=os.path.join(work, "data"),
        ADMIN_API_TOKEN=ADMIN, MCP_API_KEYS=API_KEY, LOG_LEVEL="info",
        HUBSPOT_PRIVATE_APP_ACCESS_TOKEN="soak-hubspot-token",
        HUBSPOT_API_URL=f"http://127.0.0.1:{relay_port}",
    )
    proc = subprocess.Popen([args.bin, "serve"], env=env, stdout=log, stderr=log)
    wait_answering(proc, port, "/health", "the server")
    return proc, port


def rss_kb(pid):
    """VmRSS of `pid` in kB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def slope_mb_per_min(samples):
    """Least-squares slope of (seconds, kB) samples, in MB per minute."""
    n = len(samples)
    mt = sum(t for t, _ in samples) / n
    mr = sum(r for _, r in samples) / n
    var = sum((t - mt) ** 2 for t, _ in samples)
    return sum((t - mt) * (r - mr) for t, r in samples) / var * 60 / 1024 if var else 0.0


def panics(path):
    """The first lines of a log that say a thread panicked."""
    with open(path, "rb") as f:
        return [l.decode("utf-8", "replace").strip() for l in f if b"panicked" in l][:3]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", required=True)
    p.add_argument("--fixtures", default="fixtures/hubspot")
    p.add_argument("--minutes", type=float, default=float(os.environ.get("SOAK_MINUTES", 10)))
    p.add_argument("--rss-slope", type=float, default=1.0, help="MB/min allowed after warm-up")
    p.add_argument("--sabotage", choices=["kill", "stop"],
                   help="SIGKILL or SIGSTOP the server half way (the soak must fail)")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="soak-")
    procs = []
    findings = Findings()
    try:
        ok = run(args, work, procs, findings)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGCONT)
                proc.kill()
                proc.wait()
    if ok:
        shutil.rmtree(work)
    else:
        print(f"soak: logs kept in {work}", file=sys.stderr)
    sys.exit(0 if ok else 1)


def run(args, work, procs, f):
    """Starts everything, runs the clients, checks; True when nothing was found."""
    seconds = args.minutes * 60
    mock_port = free_port()
    mock_log = open(os.path.join(work, "mock.log"), "wb")
    server_log_path = os.path.join(work, "server.log")
    log = open(server_log_path, "wb")
    mock = [args.bin, "mock-hubspot", "--fixtures", args.fixtures, "--port", str(mock_port)]
    procs.append(subprocess.Popen(mock, stdout=mock_log, stderr=mock_log))
    wait_answering(procs[0], mock_port, "/__mock/requests", "the mock HubSpot")
    relay = Relay(mock_port, f)
    server, port = start_server(args, work, relay.port, log)
    procs.append(server)
    accounts = Soak(port, None, f).one("admin accounts", "GET", "/integrated-account", None, ADMIN)
    soak = Soak(port, accounts["result"][0]["id"], f)
    print(f"soak: {args.minutes:g} min against {args.bin} (pid {server.pid}) on 127.0.0.1:{port}; "
          f"bounds: tool call {TOOL_BOUND_S} s, other {PLAIN_BOUND_S} s, "
          f"RSS {args.rss_slope} MB/min after warm-up")

    clients = ([soak.tool_caller] * 4 + [soak.lister] + [soak.admin] * 2 + [soak.churn] * 2
               + [soak.idler] * 12 + [soak.pipeliner])
    threads = [threading.Thread(target=soak.worker, args=(c.__name__, c)) for c in clients]
    faults = threading.Thread(target=soak.guard, args=("faults", lambda: post_faults(mock_port, f)))
    threads.append(faults)
    for t in threads:
        t.start()
    started = time.monotonic()
    samples, sabotaged = [], False
    while not f.stop.wait(2):
        now = time.monotonic() - started
        if server.poll() is not None:
            f.fail(f"crash: the server exited with {server.returncode} after {now:.0f} s",
                   first=True)
            break
        try:
            samples.append((now, rss_kb(server.pid)))
        except OSError:
            continue  # it just exited: the next round says so
        if args.sabotage and not sabotaged and now > seconds / 2:
            os.kill(server.pid, signal.SIGKILL if args.sabotage == "kill" else signal.SIGSTOP)
            sabotaged = True
        if now >= seconds:
            f.stop.set()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started

    if server.poll() is not None and not any(x.startswith("crash") for x in f.failures):
        f.fail(f"crash: the server exited with {server.returncode}", first=True)
    if not f.failures:
        soak.guard("the registry at the end", soak.check_registry)
    if not f.failures:
        server.send_signal(signal.SIGTERM)
        try:
            if server.wait(timeout=10 + PLAIN_BOUND_S) != 0:
                f.fail(f"SIGTERM: the server exited with {server.returncode}, not 0")
        except subprocess.TimeoutExpired:
            f.fail("SIGTERM: the server did not stop within GRACEFUL_SHUTDOWN_TIMEOUT + 10 s")
    if not f.failures:  # the same data after a restart
        again, soak.port = start_server(args, work, relay.port, log)
        procs.append(again)
        soak.guard("the registry after a restart", soak.check_registry)
    relay.close()
    log.flush()
    for path in (server_log_path, os.path.join(work, "mock.log")):
        for line in panics(path):
            f.fail(f"panic in {os.path.basename(path)}: {line}")

    rss = [r for _, r in samples]
    warm = [(t, r) for t, r in samples if t >= samples[-1][0] / 2] if samples else []
    slope = slope_mb_per_min(warm) if len(warm) >= 10 else None
    if slope is not None and slope > args.rss_slope:
        f.fail(f"RSS grew {slope:.2f} MB/min over the second half (bound {args.rss_slope} MB/min)")

    print(f"soak: {elapsed / 60:.1f} min, {sum(f.counts.values())} requests answered")
    for kind in sorted(f.counts):
        print(f"  {kind:40} {f.counts[kind]:8}, slowest {f.slowest[kind]:.2f} s")
    for kind in sorted(f.events):
        print(f"  {kind:40} {f.events[kind]:8}")
    if rss:
        trend = "too short for a slope" if slope is None else (
            f"slope over the second half {slope:+.2f} MB/min")
        print(f"  RSS: {rss[0] / 1024:.1f} MB at start, {max(rss) / 1024:.1f} MB max, "
              f"{rss[-1] / 1024:.1f} MB at the end; {trend}")
    for what in f.failures[:5]:
        print(f"SOAK FAILED: {what}", file=sys.stderr)
    if len(f.failures) > 5:
        print(f"SOAK FAILED: ... and {len(f.failures) - 5} more", file=sys.stderr)
    if not f.failures:
        print("soak: passed")
    return not f.failures


if __name__ == "__main__":
    main()

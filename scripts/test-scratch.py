#!/usr/bin/env python3
"""The FROM scratch property, proven without Docker.

Default mode: copies the static binary and the fixtures into an empty directory (plus an
empty data/ owned by the image's uid) and runs `serve --mock /fixtures` there with
`unshare --pid --fork --root DIR`, as PID 1 of a new PID namespace and, when run as root,
as uid 65532 like the image. Checks /health, an MCP tools/call on the mock, and that
SIGTERM ends PID 1 with exit code 0. Skips with a message where namespaces are not allowed.

--qemu QEMU: runs a foreign-architecture binary under QEMU's user-mode emulator instead
(no chroot: the emulator itself is dynamically linked) with the same HTTP checks.

Prints one line per check and a closing 'N passed, N failed' line; exits 1 on a failure.
"""

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from serverprobe import check, finish, probe, start, stop

UID = 65532  # the image's non-root user ("nonroot" in distroless terms)


def namespaces_allowed():
    """The unshare prefix this machine allows, or None with the reason printed."""
    if shutil.which("unshare") is None:
        print("SKIP test-scratch: util-linux 'unshare' is not installed")
        return None
    probe = ["unshare", "--pid", "--fork", "true"]
    if os.geteuid() == 0 and subprocess.run(probe, capture_output=True).returncode == 0:
        return ["unshare", "--pid", "--fork"], True
    rootless = ["unshare", "--map-root-user", "--pid", "--fork"]
    if subprocess.run(rootless + ["true"], capture_output=True).returncode == 0:
        return rootless, False
    print("SKIP test-scratch: this machine allows neither root nor user namespaces for unshare")
    return None


def child_of(pid):
    """The forked child of `unshare --fork` (the server, PID 1 inside)."""
    for _ in range(100):
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                return int(entry)
        time.sleep(0.05)
    check("unshare forked the server", False, f"no child of {pid}")
    finish()


def scratch(binary, fixtures):
    allowed = namespaces_allowed()
    if allowed is None:
        sys.exit(0)
    prefix, as_root = allowed
    root = tempfile.mkdtemp(prefix="hubspot-mcp-scratch-")
    try:
        shutil.copy(binary, os.path.join(root, "hubspot-mcp-server"))
        shutil.copytree(fixtures, os.path.join(root, "fixtures"))
        os.mkdir(os.path.join(root, "data"), 0o700)
        if as_root:
            os.chown(os.path.join(root, "data"), UID, UID)
            os.chmod(root, 0o755)
            prefix = prefix + ["--setgid", str(UID), "--setuid", str(UID)]
        check("the root holds only the binary, fixtures/ and data/",
              sorted(os.listdir(root)) == ["data", "fixtures", "hubspot-mcp-server"],
              str(os.listdir(root)))
        env = {"PORT": "0", "HOST": "127.0.0.1", "DATA_DIR": "/data", "LOG_LEVEL": "info"}
        cmd = prefix + ["--root", root, "/hubspot-mcp-server", "serve", "--mock", "/fixtures"]
        proc, addr, lines = start(cmd, env)
        server = child_of(proc.pid)
        with open(f"/proc/{server}/status") as f:
            status = dict(line.split(":", 1) for line in f if ":" in line)
        check("the server is PID 1 of its PID namespace",
              status.get("NSpid", "").split()[-1:] == ["1"], status.get("NSpid", "?"))
        if as_root:
            check(f"the server runs as uid {UID}", status["Uid"].split()[0] == str(UID),
                  status["Uid"])
        check("the server sees / as the scratch root",
              os.readlink(f"/proc/{server}/root") == root, os.readlink(f"/proc/{server}/root"))
        probe(addr)
        stop(proc, lambda: os.kill(server, signal.SIGTERM), lines)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def emulated(qemu, binary, fixtures):
    data = tempfile.mkdtemp(prefix="hubspot-mcp-qemu-")
    try:
        env = {"PORT": "0", "HOST": "127.0.0.1", "DATA_DIR": data, "LOG_LEVEL": "info"}
        proc, addr, lines = start([qemu, binary, "serve", "--mock", fixtures], env)
        probe(addr)
        stop(proc, proc.terminate, lines)
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin", required=True, help="the static binary")
    parser.add_argument("--fixtures", required=True, help="the mock's fixtures directory")
    parser.add_argument("--qemu", help="run under this QEMU user-mode emulator instead")
    args = parser.parse_args()
    if args.qemu:
        emulated(args.qemu, os.path.abspath(args.bin), os.path.abspath(args.fixtures))
    else:
        scratch(os.path.abspath(args.bin), os.path.abspath(args.fixtures))
    finish()


if __name__ == "__main__":
    main()

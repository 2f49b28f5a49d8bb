#!/usr/bin/env python3
"""The image `make image` built, inspected and run.

For each architecture (amd64, arm64) it reads the image's configuration (platform, user,
entrypoint, command, environment, port, volume) and its layers (`save`): the files must be
exactly the static binary (byte for byte the one `make static` / `make static-arm64` built),
the fixtures and an empty /data owned by uid 65532, and the image no bigger than those plus
a little archive overhead. NAME:latest must be this machine's architecture; with podman, the
OCI archive must hold one manifest list naming exactly those two images.

Then it runs the image of this machine's architecture on the host network, bound to
127.0.0.1 on a free port: the server must run as uid 65532 and PID 1 of its namespace,
answer /health and an MCP tools/call on the mock, and stop with exit code 0 on SIGTERM
(`kill --signal TERM`, what `stop` sends). Where the engine cannot start containers at all
(its OCI runtime refuses, as in some sandboxes), it prints a SKIP line with the engine's
error and checks the rest.

Prints one line per check and a closing 'N passed, N failed' line; exits 1 on a failure.
"""

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tarfile
import tempfile

from serverprobe import check, finish, probe, start, stop

UID = 65532
# Tar headers and padding: 512 bytes a header plus rounding each file up to 512 bytes,
# generously; anything past the files and this is something that should not be there.
ARCHIVE_SLACK = 64 * 1024
# Run options tried in order until the engine starts a container: plain; explicit ulimits
# for sandboxes whose hard limits are below podman's defaults (crun/runc then fail on
# setrlimit); runc for hosts with both cgroup v1 and v2 mounted, which crun refuses.
ULIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def engine_run(engine, *args):
    return subprocess.run([engine, *args], capture_output=True, text=True)


def inspect(engine, ref):
    out = engine_run(engine, "image", "inspect", ref)
    if out.returncode != 0:
        check(f"{ref} exists", False, out.stderr.strip())
        finish()
    return json.loads(out.stdout)[0]


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def layer_files(engine, ref, work):
    """{path: (TarInfo, sha256 or None)} of the image's layers, in order, from `save`."""
    archive = os.path.join(work, "image.tar")
    out = engine_run(engine, "save", "-o", archive, ref)
    if out.returncode != 0:
        check(f"{engine} save {ref}", False, out.stderr.strip())
        finish()
    files = {}
    with tarfile.open(archive) as outer:
        manifest = json.load(outer.extractfile("manifest.json"))
        for layer in manifest[0]["Layers"]:
            with tarfile.open(fileobj=outer.extractfile(layer), mode="r:*") as tar:
                for info in tar:
                    name = info.name.removeprefix("./").rstrip("/")
                    if name and name != ".":
                        digest = sha256(tar.extractfile(info).read()) if info.isfile() else None
                        files[name] = (info, digest)
    os.remove(archive)
    return files


def expected_files(binary, fixtures):
    """{path in the image: sha256 of its content, None for a directory}."""
    with open(binary, "rb") as f:
        want = {"hubspot-mcp-server": sha256(f.read()), "data": None, "fixtures": None}
    for folder, dirs, names in os.walk(fixtures):
        rel = os.path.relpath(folder, fixtures)
        base = "fixtures" if rel == "." else f"fixtures/{rel}"
        for d in dirs:
            want[f"{base}/{d}"] = None
        for n in names:
            with open(os.path.join(folder, n), "rb") as f:
                want[f"{base}/{n}"] = sha256(f.read())
    return want


def check_image(engine, ref, arch, binary, fixtures, work):
    """Configuration, files and size of one architecture's image; returns its inspect data."""
    image = inspect(engine, ref)
    config = image.get("Config") or {}
    check(f"{ref} is linux/{arch}", (image.get("Os"), image.get("Architecture")) == ("linux", arch),
          f"{image.get('Os')}/{image.get('Architecture')}")
    check(f"{ref} runs as {UID}:{UID}", config.get("User") == f"{UID}:{UID}", config.get("User"))
    check(f"{ref} entrypoint is the binary, command serve",
          (config.get("Entrypoint"), config.get("Cmd")) == (["/hubspot-mcp-server"], ["serve"]),
          f"{config.get('Entrypoint')} {config.get('Cmd')}")
    env = set(config.get("Env") or [])
    want_env = {"HOST=0.0.0.0", "PORT=3000", "DATA_DIR=/data"}
    check(f"{ref} sets {' '.join(sorted(want_env))}", want_env <= env, str(sorted(env)))
    check(f"{ref} exposes 3000/tcp and declares the /data volume",
          "3000/tcp" in (config.get("ExposedPorts") or {})
          and "/data" in (config.get("Volumes") or {}),
          f"{config.get('ExposedPorts')} {config.get('Volumes')}")

    files = layer_files(engine, ref, work)
    want = expected_files(binary, fixtures)
    check(f"{ref} holds only the binary, fixtures/ and data/", set(files) == set(want),
          f"extra {sorted(set(files) - set(want))}, missing {sorted(set(want) - set(files))}")
    changed = [p for p, digest in want.items() if p in files and files[p][1] != digest]
    check(f"{ref} files are byte for byte {binary} and {fixtures}", not changed, str(changed))
    server = files.get("hubspot-mcp-server", (None, None))[0]
    check(f"{ref} /hubspot-mcp-server is executable", server is not None and server.mode & 0o111,
          oct(server.mode) if server else "missing")
    data = files.get("data", (None, None))[0]
    check(f"{ref} /data is a directory owned by {UID}:{UID}, not group or world writable",
          data is not None and data.isdir() and (data.uid, data.gid) == (UID, UID)
          and not data.mode & 0o022,
          f"uid {data.uid} gid {data.gid} mode {oct(data.mode)}" if data else "missing")

    content = sum(info.size for info, _ in files.values())
    size = image.get("Size") or 0
    binary_size = os.path.getsize(binary)
    print(f"     {ref}: image {size:,} bytes; binary {binary_size:,}, files in all {content:,}")
    check(f"{ref} is no bigger than its files plus {ARCHIVE_SLACK // 1024} KiB",
          0 < size <= content + ARCHIVE_SLACK, f"image {size}, files {content}")
    return image


def check_latest(engine, name, images):
    latest = inspect(engine, f"{name}:latest")
    check(f"{name}:latest is this machine's image ({host_arch()})",
          latest["Id"] == images[host_arch()]["Id"], latest["Id"])


def check_archive(archive, images):
    """The OCI archive holds one manifest list naming exactly the images checked."""
    if not check(f"{archive} exists", os.path.isfile(archive)):
        return
    with tarfile.open(archive) as tar:
        def blob(digest):
            return json.load(tar.extractfile("blobs/sha256/" + digest.split(":", 1)[1]))

        index = json.load(tar.extractfile("index.json"))["manifests"]
        lists = [m for m in index if m["mediaType"] == "application/vnd.oci.image.index.v1+json"]
        if not check(f"{archive} holds one manifest list", len(index) == 1 and len(lists) == 1,
                     json.dumps(index)):
            return
        listed = {}
        for entry in blob(lists[0]["digest"])["manifests"]:
            config = blob(entry["digest"])["config"]["digest"]
            listed[(entry["platform"]["os"], entry["platform"]["architecture"])] = config
    want = {("linux", arch): "sha256:" + image["Id"].removeprefix("sha256:")
            for arch, image in images.items()}
    check("the manifest list names linux/amd64 and linux/arm64, the images just checked",
          listed == want, f"listed {listed}, built {want}")
    print(f"     {archive}: {os.path.getsize(archive):,} bytes (layers compressed)")


def host_arch():
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())


def run_options(engine, ref):
    """(engine options, run options) this engine starts the image with, or None with a
    SKIP printed when its OCI runtime refuses every way tried."""
    candidates = [([], []), ([], ULIMITS)]
    if engine == "podman" and shutil.which("runc"):
        candidates.append((["--runtime", "runc"], ULIMITS))
    for global_opts, opts in candidates:
        out = engine_run(engine, *global_opts, "run", "--rm", "--network=none", *opts, ref,
                         "--version")
        if out.returncode == 0 and out.stdout.startswith("hubspot-mcp-server "):
            if global_opts or opts:
                print(f"     {engine} starts containers here with: {' '.join(global_opts + opts)}")
            return global_opts, opts
        error = ((out.stderr.strip() or out.stdout.strip()).splitlines() or ["no output"])[-1]
    if "OCI" in error:
        print(f"SKIP running the image: {engine}'s OCI runtime cannot start containers here "
              f"({error})")
    else:
        # Not the runtime refusing: the image itself did not start.
        check(f"{ref} --version prints the version", False, error)
    return None


def run_image(engine, ref):
    found = run_options(engine, ref)
    if found is None:
        return
    global_opts, opts = found
    name = f"hubspot-mcp-test-image-{os.getpid()}"
    cmd = [engine, *global_opts, "run", "--rm", "--name", name, "--network=host", *opts,
           "-e", "HOST=127.0.0.1", "-e", "PORT=0", "-e", "LOG_LEVEL=info",
           ref, "serve", "--mock", "/fixtures"]
    try:
        proc, addr, lines = start(cmd, dict(os.environ))
        check("the server listens on loopback", addr.startswith("127.0.0.1:"), addr)
        pid = engine_run(engine, "inspect", "--format", "{{.State.Pid}}", name).stdout.strip()
        try:
            with open(f"/proc/{pid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except OSError as err:
            status = {"error": str(err)}
        check(f"the server runs as uid {UID}", status.get("Uid", "").split()[:1] == [str(UID)],
              str(status.get("Uid", status)))
        check("the server is PID 1 of its PID namespace",
              status.get("NSpid", "").split()[-1:] == ["1"], str(status.get("NSpid", status)))
        probe(addr)
        stop(proc, lambda: engine_run(engine, "kill", "--signal", "TERM", name), lines)
    finally:
        engine_run(engine, "rm", "--force", name)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", required=True, choices=["podman", "docker"])
    parser.add_argument("--name", required=True,
                        help="the image name (tags :amd64, :arm64, :latest)")
    parser.add_argument("--amd64", required=True, help="the x86_64 static binary")
    parser.add_argument("--arm64", required=True, help="the aarch64 static binary")
    parser.add_argument("--fixtures", required=True, help="the mock's fixtures directory")
    parser.add_argument("--archive", required=True,
                        help="the OCI archive of the manifest list (podman writes it)")
    args = parser.parse_args()
    binaries = {"amd64": os.path.abspath(args.amd64), "arm64": os.path.abspath(args.arm64)}
    work = tempfile.mkdtemp(prefix="hubspot-mcp-image-")
    try:
        images = {arch: check_image(args.engine, f"{args.name}:{arch}", arch, binary,
                                    args.fixtures, work)
                  for arch, binary in binaries.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.engine == "podman":
        check_archive(args.archive, images)
    if host_arch() in images:
        check_latest(args.engine, args.name, images)
        run_image(args.engine, f"{args.name}:{host_arch()}")
    else:
        print(f"SKIP running the image: no image for this machine ({platform.machine()})")
    finish()


if __name__ == "__main__":
    main()

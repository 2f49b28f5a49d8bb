//! The `make bench` driver: starts the release server, a separate mock HubSpot and the
//! may_minihttp baseline on 127.0.0.1, drives them with wrk, and measures memory, start-up
//! and isolation. Prints a Markdown table and writes the same figures as JSON.
//!
//! Usage (what `make bench` runs):
//! `bench --server BIN --baseline BIN --fixtures DIR --script bench/wrk.lua --out FILE --work DIR
//! [--rmcp BIN] [--glibc BIN] [--paste-into docs/performance.md]`
//! `--server` is the binary measured as "ours" everywhere: `make bench` passes the static
//! musl build, the one that ships. `--glibc BIN` adds the glibc release build as an extra
//! column of the rmcp comparison.
//! Environment: `BENCH_SECS` (seconds per load run, default 3), `BENCH_CONNS` (default
//! `1,64,256,1024`), `BENCH_STARTS` (start-up samples, default 20), `BENCH_ONLY=connections`
//! (only the idle-connection memory and pipelining-fairness figures, printed on stderr),
//! `BENCH_ONLY=rmcp` (only the tools/call comparison with the rmcp baseline, on stdout),
//! `BENCH_ONLY=registry` (only the admin writes/s with 100 and 10,000 servers, on stdout).
//! `--rmcp BIN` (bench/rmcp-baseline, built by `make bench` unless `BENCH_RMCP=0`) adds the
//! comparison of `tools/call get_contacts` with a server on the official Rust MCP SDK.
//!
//! Every process it starts dies with it: each is killed when its handle drops and is
//! started with `PR_SET_PDEATHSIG`, so even a killed driver leaves nothing behind.

use serde_json::{json, Value};
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One benchmarked request.
struct Probe {
    /// Short name used in the table and in JSON.
    name: &'static str,
    /// The file the baseline answers it from.
    file: &'static str,
    method: &'static str,
    path: &'static str,
    body: &'static str,
}

const PROBES: &[Probe] = &[
    Probe {
        name: "GET /health",
        file: "health.json",
        method: "GET",
        path: "/health",
        body: "",
    },
    Probe {
        name: "initialize",
        file: "initialize.json",
        method: "POST",
        path: "/mcp/initialize",
        body: r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2024-11-05","capabilities":{},"clientInfo":{"name":"bench","version":"1.0.0"}}}"#,
    },
    Probe {
        name: "tools/list",
        file: "tools_list.json",
        method: "POST",
        path: "/mcp/tools/list",
        body: r#"{"jsonrpc":"2.0","id":2,"method":"tools/list","params":{}}"#,
    },
    Probe {
        name: "tools/call get_contacts",
        file: "tools_call.json",
        method: "POST",
        path: "/mcp/tools/call",
        body: TOOLS_CALL_BODY,
    },
];

const TOOLS_CALL_BODY: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"get_contacts","arguments":{"limit":5,"properties":["firstname","lastname","email","company"]}}}"#;

/// The rmcp comparison's request: tools/call to the one MCP endpoint, the same bytes to our
/// server and to the rmcp baseline (whose Streamable HTTP has no per-method paths).
const RMCP_PROBE: Probe = Probe {
    name: "tools/call get_contacts, POST /mcp",
    file: "",
    method: "POST",
    path: "/mcp",
    body: TOOLS_CALL_BODY,
};

/// tools/list and initialize req/s ÷ the baseline's, at every connection count.
const TARGET_TOOLS_LIST_RATIO: f64 = 0.85;
const TARGET_ISOLATION_FACTOR: f64 = 3.0;
const TARGET_RSS_IDLE_KB: u64 = 4 * 1024;
const TARGET_RSS_PEAK_KB: u64 = 24 * 1024;
const TARGET_START_MS: f64 = 20.0;
/// The x86_64 static binary's size budget (the Makefile's `SIZE_BUDGET`).
const TARGET_BINARY_BYTES: u64 = 3_560_000;
/// Concurrent tool calls held waiting on the slow upstream in the isolation run.
const SLOW_CALLS: usize = 500;
/// The slow upstream's latency: longer than the isolation window, so no call completes
/// while /health is measured (and shorter than the server's 30 s HubSpot timeout).
const SLOW_MS: u64 = 25_000;
/// Idle keep-alive connection counts whose RSS is reported.
const IDLE_CONNECTIONS: [usize; 2] = [1_000, 10_000];
/// Target for the RSS each idle keep-alive connection adds.
const TARGET_IDLE_CONNECTION_BYTES: u64 = 8 * 1024;
/// Clients pipelining `/health` as fast as they can in the fairness run.
const PIPELINERS: usize = 2;
/// tools/call req/s at [`RMCP_TARGET_CONNS`] connections, ours ÷ the rmcp baseline's
/// (official Rust SDK on axum, one pooled reqwest client).
const TARGET_RMCP_RATIO: f64 = 1.5;
/// tools/call server CPU per call at [`RMCP_TARGET_CONNS`] connections, ours ÷ rmcp's.
const TARGET_RMCP_CPU_RATIO: f64 = 0.5;
const RMCP_TARGET_CONNS: usize = 64;
/// Scoped servers already in the registry when admin writes are measured.
const REGISTRY_SIZES: [usize; 2] = [100, 10_000];
/// Concurrent admin clients creating scoped servers.
const REGISTRY_CLIENTS: usize = 8;
/// Admin writes/s at each of [`REGISTRY_SIZES`].
const TARGET_REGISTRY_WRITES: f64 = 200.0;
/// The admin token of the registry-write runs.
const BENCH_ADMIN_TOKEN: &str = "bench-admin-token-0123456789abcdef";

struct Args {
    server: PathBuf,
    baseline: PathBuf,
    /// The rmcp baseline (bench/rmcp-baseline), if given; without it that comparison is skipped.
    rmcp: Option<PathBuf>,
    /// The glibc release build, if given: an extra column of the rmcp comparison.
    glibc: Option<PathBuf>,
    fixtures: PathBuf,
    script: PathBuf,
    out: PathBuf,
    work: PathBuf,
    /// A file whose bench markers get the table (docs/performance.md), if given.
    paste_into: Option<PathBuf>,
    secs: u64,
    conns: Vec<usize>,
    starts: usize,
}

fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("bench: {message}");
            std::process::exit(2);
        }
    };
    // BENCH_ONLY=connections or rmcp: only those figures (a quick one-off run).
    let result = match std::env::var("BENCH_ONLY").as_deref() {
        Ok("connections") => {
            raise_fd_limit();
            connections(&args).map(|_| ())
        }
        Ok("registry") => registry_only(&args),
        Ok("rmcp") => {
            raise_fd_limit();
            rmcp_only(&args)
        }
        _ => run(&args),
    };
    if let Err(message) = result {
        eprintln!("bench: FAILED: {message}");
        std::process::exit(1);
    }
}

fn parse_args() -> Result<Args, String> {
    let mut flags = std::collections::HashMap::new();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        flags.insert(flag, value);
    }
    let paste_into = flags.remove("--paste-into").map(PathBuf::from);
    let rmcp = flags.remove("--rmcp").map(PathBuf::from);
    let glibc = flags.remove("--glibc").map(PathBuf::from);
    let mut take = |name: &str| {
        flags.remove(name).map(PathBuf::from).ok_or(format!(
            "missing {name}; see the doc comment of examples/bench.rs"
        ))
    };
    let env_num = |name: &str, default: u64| -> Result<u64, String> {
        match std::env::var(name) {
            Ok(v) => v.parse().map_err(|_| format!("{name}={v} is not a number")),
            Err(_) => Ok(default),
        }
    };
    let conns = std::env::var("BENCH_CONNS").unwrap_or_else(|_| "1,64,256,1024".into());
    let conns = conns
        .split(',')
        .map(|c| c.trim().parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| format!("BENCH_CONNS={conns} is not a comma list of numbers"))?;
    Ok(Args {
        server: take("--server")?,
        baseline: take("--baseline")?,
        rmcp,
        glibc,
        fixtures: take("--fixtures")?,
        script: take("--script")?,
        out: take("--out")?,
        work: take("--work")?,
        paste_into,
        secs: env_num("BENCH_SECS", 3)?.max(1),
        conns,
        starts: env_num("BENCH_STARTS", 20)?.max(1) as usize,
    })
}

// ---------------------------------------------------------------- processes

/// A child process that is killed when dropped (and when the driver dies).
struct Proc {
    name: String,
    child: Child,
}

impl Proc {
    #[allow(unsafe_code, reason = "pre_exec and prctl have no safe std form")]
    fn start(name: &str, cmd: &mut Command) -> Result<Proc, String> {
        cmd.stdin(Stdio::null());
        // SAFETY: prctl is async-signal-safe; it only sets a flag on the new process.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = cmd
            .spawn()
            .map_err(|err| format!("cannot start {name}: {err}"))?;
        Ok(Proc {
            name: name.to_string(),
            child,
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS` and `VmHWM` (peak) from /proc, in KiB.
    fn memory_kb(&self) -> (u64, u64) {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// CPU time used so far (user + system), in µs.
    #[allow(unsafe_code, reason = "sysconf has no safe std wrapper")]
    fn cpu_us(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap_or_default();
        // Fields after the parenthesised command name; utime and stime are the 14th and
        // 15th fields of the whole line.
        let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ticks: u64 = rest
            .split_whitespace()
            .skip(11)
            .take(2)
            .filter_map(|t| t.parse::<u64>().ok())
            .sum();
        // SAFETY: sysconf only reads a constant.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
        ticks as f64 * 1e6 / hz
    }

    fn check_alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Err(format!("{} exited early: {status}", self.name)),
            _ => Ok(()),
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port that was free a moment ago.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot find a free port on 127.0.0.1")
}

#[allow(unsafe_code, reason = "getrlimit/setrlimit have no safe std wrapper")]
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max.min(65536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
    }
    if lim.rlim_cur < 4096 {
        eprintln!(
            "bench: warning: only {} file descriptors allowed (ulimit -n); 1024 connections need ~2100",
            lim.rlim_cur
        );
    }
}

// ---------------------------------------------------------------- tiny HTTP client

fn request_bytes(port: u16, method: &str, path: &str, body: &str) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n");
    if !body.is_empty() {
        let _ = write!(
            req,
            "Content-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\n",
            body.len()
        );
    }
    req.push_str("\r\n");
    req.push_str(body);
    req.into_bytes()
}

/// Sends one request on a new connection; returns the status and body.
fn http(port: u16, raw: &[u8], timeout: Duration) -> io::Result<(u16, Vec<u8>)> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_nodelay(true)?;
    exchange(&mut stream, raw)
}

/// Sends one request on `stream` and reads its answer; returns the status and body.
fn exchange(stream: &mut TcpStream, raw: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    stream.write_all(raw)?;
    let mut buf = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
        let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&buf[..end]).to_string();
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        if buf.len() >= end + 4 + length {
            return Ok((status, buf[end + 4..end + 4 + length].to_vec()));
        }
    }
}

/// Polls `GET /health` until it answers 200; returns how long that took.
fn wait_healthy(port: u16, proc: &mut Proc, limit: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    let raw = request_bytes(port, "GET", "/health", "");
    loop {
        if let Ok((200, _)) = http(port, &raw, Duration::from_secs(1)) {
            return Ok(started.elapsed());
        }
        proc.check_alive()?;
        if started.elapsed() > limit {
            return Err(format!(
                "{} did not answer /health within {limit:?}",
                proc.name
            ));
        }
        std::thread::sleep(Duration::from_micros(100));
    }
}

/// Open connections to the upstream on `port` (the server's side of each call that is
/// waiting there), from /proc/net/tcp.
fn upstream_calls(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let remote = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // fields[2] is the remote address, fields[3] the state (01: established).
            fields.len() > 3 && fields[2].ends_with(&remote) && fields[3] == "01"
        })
        .count()
}

/// Waits until at least `want` calls are waiting on the upstream at `port`.
fn wait_upstream_calls(port: u16, want: usize, limit: Duration) -> Result<usize, String> {
    let started = Instant::now();
    loop {
        let now = upstream_calls(port);
        if now >= want {
            return Ok(now);
        }
        if started.elapsed() > limit {
            return Err(format!(
                "only {now} of {want} tool calls reached the slow upstream within {limit:?}"
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------- wrk

/// What one wrk run measured.
#[derive(Clone, Debug)]
struct Load {
    rps: f64,
    requests: u64,
    p50_us: f64,
    p90_us: f64,
    p99_us: f64,
    max_us: f64,
    errors: u64,
    timeouts: u64,
    /// The server's CPU time (user + system) per request, in µs; 0 when not measured.
    /// Less sensitive than req/s to other processes on a shared machine.
    cpu_us: f64,
}

impl Load {
    fn to_json(&self) -> Value {
        json!({
            "rps": self.rps.round(),
            "requests": self.requests,
            "p50_us": self.p50_us,
            "p90_us": self.p90_us,
            "p99_us": self.p99_us,
            "max_us": self.max_us,
            "errors": self.errors,
            "timeouts": self.timeouts,
            "server_cpu_us_per_request": (self.cpu_us * 100.0).round() / 100.0,
        })
    }
}

/// The wrk command for `probe` against `port` with `conns` connections for `secs`.
fn wrk(args: &Args, port: u16, probe: &Probe, conns: usize, secs: u64, timeout_s: u64) -> Command {
    let mut cmd = Command::new("wrk");
    cmd.env("BENCH_METHOD", probe.method)
        .env("BENCH_BODY", probe.body)
        .arg("-t")
        .arg(conns.clamp(1, 2).to_string())
        .arg("-c")
        .arg(conns.to_string())
        .arg("-d")
        .arg(format!("{secs}s"))
        .arg("--timeout")
        .arg(format!("{timeout_s}s"))
        .arg("-s")
        .arg(&args.script)
        .arg(format!("http://127.0.0.1:{port}{}", probe.path))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn wrk_result(proc: Proc) -> Result<Load, String> {
    let mut proc = proc;
    let mut out = String::new();
    if let Some(stdout) = proc.child.stdout.as_mut() {
        let _ = stdout.read_to_string(&mut out);
    }
    let mut err = String::new();
    if let Some(stderr) = proc.child.stderr.as_mut() {
        let _ = stderr.read_to_string(&mut err);
    }
    let _ = proc.child.wait();
    let line = out
        .lines()
        .find_map(|l| l.strip_prefix("BENCH_JSON "))
        .ok_or_else(|| format!("wrk printed no result:\n{out}{err}"))?;
    let v: Value = serde_json::from_str(line).map_err(|e| format!("bad wrk output {line}: {e}"))?;
    let num = |ptr: &str| v.pointer(ptr).and_then(Value::as_f64).unwrap_or(0.0);
    let errors = ["connect", "read", "write", "status"]
        .iter()
        .map(|k| num(&format!("/errors/{k}")) as u64)
        .sum();
    Ok(Load {
        rps: num("/requests") / (num("/duration_us") / 1e6).max(1e-9),
        requests: num("/requests") as u64,
        p50_us: num("/latency_us/p50"),
        p90_us: num("/latency_us/p90"),
        p99_us: num("/latency_us/p99"),
        max_us: num("/latency_us/max"),
        errors,
        timeouts: num("/errors/timeout") as u64,
        cpu_us: 0.0,
    })
}

/// [`load`] against `server`, with its CPU time per request.
fn load_server(
    args: &Args,
    server: &Proc,
    port: u16,
    probe: &Probe,
    conns: usize,
) -> Result<Load, String> {
    load_server_for(args, server, port, probe, conns, args.secs)
}

/// [`load_server`] for `secs` seconds.
fn load_server_for(
    args: &Args,
    server: &Proc,
    port: u16,
    probe: &Probe,
    conns: usize,
    secs: u64,
) -> Result<Load, String> {
    let before = server.cpu_us();
    let mut load = load(args, port, probe, conns, secs)?;
    load.cpu_us = (server.cpu_us() - before) / (load.requests.max(1) as f64);
    Ok(load)
}

fn load(args: &Args, port: u16, probe: &Probe, conns: usize, secs: u64) -> Result<Load, String> {
    let proc = Proc::start("wrk", &mut wrk(args, port, probe, conns, secs, 10))?;
    wrk_result(proc)
}

/// `probe` on one connection against each of `ports` in turn, `windows` runs of 1 s each;
/// for each port the run with the median p99. Taking turns puts both under the same noise
/// from other processes on a shared machine, and the median keeps one window that caught
/// a burst out of a p99 meant to show our own behaviour.
fn interleaved(
    args: &Args,
    ports: [u16; 2],
    probe: &Probe,
    windows: u64,
) -> Result<[Load; 2], String> {
    let mut runs: [Vec<Load>; 2] = [Vec::new(), Vec::new()];
    for _ in 0..windows.max(3) {
        for (port, runs) in ports.iter().zip(runs.iter_mut()) {
            runs.push(load(args, *port, probe, 1, 1)?);
        }
    }
    Ok(runs.map(|mut runs| {
        runs.sort_by(|a, b| a.p99_us.total_cmp(&b.p99_us));
        runs.swap_remove(runs.len() / 2)
    }))
}

// ---------------------------------------------------------------- connections

/// RSS with `counts` (cumulative) idle keep-alive connections open, each after one
/// `/health` answered on it: (connections, RSS KiB, bytes added per connection).
fn idle_connections(
    port: u16,
    server: &Proc,
    counts: &[usize],
) -> Result<Vec<(usize, u64, u64)>, String> {
    let (before, _) = server.memory_kb();
    let raw = request_bytes(port, "GET", "/health", "");
    let mut held = Vec::new();
    let mut out = Vec::new();
    for &count in counts {
        while held.len() < count {
            let mut stream = TcpStream::connect(("127.0.0.1", port))
                .map_err(|e| format!("connection {}: {e}", held.len() + 1))?;
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .map_err(|e| e.to_string())?;
            match exchange(&mut stream, &raw) {
                Ok((200, _)) => held.push(stream),
                other => return Err(format!("connection {}: {other:?}", held.len() + 1)),
            }
        }
        // Past the server's 1 s rest (src/http/conn.rs REST_AFTER).
        std::thread::sleep(Duration::from_millis(1500));
        let (rss, _) = server.memory_kb();
        out.push((count, rss, rss.saturating_sub(before) * 1024 / count as u64));
    }
    Ok(out)
}

/// Clients that pipeline `GET /health` as fast as the server reads them, until dropped.
struct Pipeliners {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Pipeliners {
    fn start(port: u16, clients: usize) -> Result<Pipeliners, String> {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut threads = Vec::new();
        let burst = String::from_utf8(request_bytes(port, "GET", "/health", ""))
            .unwrap_or_default()
            .repeat(200);
        for _ in 0..clients {
            let mut writer = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
            let mut reader = writer.try_clone().map_err(|e| e.to_string())?;
            let (stop, burst) = (stop.clone(), burst.clone());
            threads.push(std::thread::spawn(move || {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    if writer.write_all(burst.as_bytes()).is_err() {
                        break;
                    }
                }
                let _ = writer.shutdown(std::net::Shutdown::Both);
            }));
            threads.push(std::thread::spawn(move || {
                let mut sink = vec![0u8; 64 * 1024];
                while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            }));
        }
        Ok(Pipeliners { stop, threads })
    }
}

impl Drop for Pipeliners {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// The p99 of `GET /health` answered on one keep-alive connection, over `n` requests, in µs.
fn health_p99(port: u16, n: usize) -> Result<f64, String> {
    let raw = request_bytes(port, "GET", "/health", "");
    let mut stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let mut took = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        exchange(&mut stream, &raw).map_err(|e| format!("/health: {e}"))?;
        took.push(started.elapsed().as_secs_f64() * 1e6);
    }
    took.sort_by(f64::total_cmp);
    Ok(took[n * 99 / 100])
}

/// What the connection runs measured.
struct ConnectionFigures {
    /// (connections, RSS KiB, bytes per connection) at 1k and 10k idle connections.
    idle: Vec<(usize, u64, u64)>,
    /// /health p99 in µs: idle server, and while [`PIPELINERS`] clients pipeline.
    health_idle_us: f64,
    health_pipelined_us: f64,
}

/// Idle keep-alive connections' memory, and `/health` while clients pipeline as fast as
/// they can (median over interleaved windows against an idle control server).
fn connections(args: &Args) -> Result<ConnectionFigures, String> {
    let (_mock, mock_port) = start_mock(args, 0)?;
    let (server, port) = start_server(args, mock_port, &[])?;
    let idle = idle_connections(port, &server, &IDLE_CONNECTIONS)?;
    for (count, rss, per) in &idle {
        eprintln!(
            "bench: {count} idle keep-alive connections: RSS {} ({per} bytes each)",
            mb(*rss)
        );
    }
    let control_data = (
        "DATA_DIR",
        args.work.join("data").join("control").display().to_string(),
    );
    let (_control, control_port) = start_server(args, mock_port, &[control_data])?;
    let pipeliners = Pipeliners::start(port, PIPELINERS)?;
    std::thread::sleep(Duration::from_millis(500));
    let (mut idle_runs, mut loaded_runs) = (Vec::new(), Vec::new());
    for _ in 0..5 {
        idle_runs.push(health_p99(control_port, 200)?);
        loaded_runs.push(health_p99(port, 200)?);
    }
    drop(pipeliners);
    drop(server);
    let figures = ConnectionFigures {
        idle,
        health_idle_us: median(&mut idle_runs),
        health_pipelined_us: median(&mut loaded_runs),
    };
    eprintln!(
        "bench: /health p99 idle {} ms, with {PIPELINERS} clients pipelining {} ms",
        ms(figures.health_idle_us),
        ms(figures.health_pipelined_us)
    );
    Ok(figures)
}

// ---------------------------------------------------------------- rmcp

/// One row of the rmcp comparison: connections, ours (static), the rmcp baseline's, and
/// the glibc build's when `--glibc` is given.
type RmcpRow = (usize, Load, Load, Option<Load>);

/// Starts the rmcp baseline `bin` on a free port against the mock HubSpot at `upstream`.
fn start_rmcp(bin: &Path, upstream: u16) -> Result<(Proc, u16), String> {
    let port = free_port();
    let mut rmcp = Proc::start(
        "rmcp baseline",
        Command::new(bin)
            .arg("--port")
            .arg(port.to_string())
            .env("HUBSPOT_API_URL", format!("http://127.0.0.1:{upstream}"))
            .env("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "bench")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    wait_healthy(port, &mut rmcp, Duration::from_secs(10))?;
    Ok((rmcp, port))
}

/// [`RMCP_PROBE`] against our server (`server` on `port`) and the rmcp baseline `bin`, both
/// calling the mock HubSpot at `upstream`: at each of `args.conns` and
/// [`RMCP_TARGET_CONNS`], the two taking turns.
fn rmcp_comparison(
    args: &Args,
    bin: &Path,
    server: &mut Proc,
    port: u16,
    upstream: u16,
) -> Result<Vec<RmcpRow>, String> {
    let (mut rmcp, rmcp_port) = start_rmcp(bin, upstream)?;
    let data = (
        "DATA_DIR",
        args.work.join("data").join("glibc").display().to_string(),
    );
    let mut glibc = match &args.glibc {
        Some(glibc) => Some(start_server_bin(glibc, args, upstream, &[data])?),
        None => None,
    };
    let probe = &RMCP_PROBE;
    let mut servers = vec![("our server", port), ("the rmcp baseline", rmcp_port)];
    servers.extend(glibc.as_ref().map(|(_, p)| ("the glibc build", *p)));
    for (name, p) in servers {
        let raw = request_bytes(p, probe.method, probe.path, probe.body);
        let (status, body) = http(p, &raw, Duration::from_secs(10))
            .map_err(|e| format!("{} on {name}: {e}", probe.name))?;
        let text = String::from_utf8_lossy(&body);
        if status != 200 || !text.contains("\"result\"") || text.contains("\"isError\":true") {
            return Err(format!(
                "{} on {name} answered {status}: {text}",
                probe.name
            ));
        }
    }
    // Warm both: upstream connection pools, threads, page faults. A failed run names the
    // server, and says whether it is still running.
    let failed = |name: &str, proc: &mut Proc, err: String| {
        let state = proc.check_alive().err().unwrap_or("still running".into());
        format!("{} on {name} ({state}): {err}", probe.name)
    };
    load(args, rmcp_port, probe, RMCP_TARGET_CONNS, 1)
        .map_err(|e| failed("the rmcp baseline", &mut rmcp, e))?;
    load(args, port, probe, RMCP_TARGET_CONNS, 1).map_err(|e| failed("our server", server, e))?;
    if let Some((glibc, glibc_port)) = &mut glibc {
        load(args, *glibc_port, probe, RMCP_TARGET_CONNS, 1)
            .map_err(|e| failed("the glibc build", glibc, e))?;
    }
    let mut conns = args.conns.clone();
    if !conns.contains(&RMCP_TARGET_CONNS) {
        conns.push(RMCP_TARGET_CONNS);
        conns.sort_unstable();
    }
    let mut rows = Vec::new();
    for conns in conns {
        // 1 s windows taking turns (BENCH_SECS of each, at least 3), and for each server the
        // window with the median req/s: both see the same noise from other processes, and
        // one window that caught a burst does not decide the ratio.
        let (mut theirs, mut ours, mut glibcs) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.secs.max(3) {
            if let Some((glibc, glibc_port)) = &mut glibc {
                glibcs.push(
                    load_server_for(args, glibc, *glibc_port, probe, conns, 1)
                        .map_err(|e| failed("the glibc build", glibc, e))?,
                );
            }
            theirs.push(
                load_server_for(args, &rmcp, rmcp_port, probe, conns, 1)
                    .map_err(|e| failed("the rmcp baseline", &mut rmcp, e))?,
            );
            ours.push(
                load_server_for(args, server, port, probe, conns, 1)
                    .map_err(|e| failed("our server", server, e))?,
            );
        }
        let median = |mut runs: Vec<Load>| {
            runs.sort_by(|a, b| a.rps.total_cmp(&b.rps));
            runs.swap_remove(runs.len() / 2)
        };
        let (theirs, ours) = (median(theirs), median(ours));
        let glibc = (!glibcs.is_empty()).then(|| median(glibcs));
        eprintln!(
            "bench: {:<24} {:>5} conns  ours {:>9.0} req/s  rmcp {:>9.0} req/s  ratio {:.2}  CPU/call {:.1} / {:.1} µs",
            probe.name,
            conns,
            ours.rps,
            theirs.rps,
            ours.rps / theirs.rps,
            ours.cpu_us,
            theirs.cpu_us
        );
        rows.push((conns, ours, theirs, glibc));
    }
    Ok(rows)
}

/// The rmcp comparison's table (Markdown) and its row for the figures table.
fn rmcp_markdown(rows: &[RmcpRow]) -> (String, String) {
    let mut table = String::from(
        "| request | conns | ours (static) req/s | rmcp req/s | ratio | ours p50 / p99 ms | rmcp p50 / p99 ms | server CPU µs/call ours / rmcp | glibc build req/s, CPU µs/call |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (conns, ours, theirs, glibc) in rows {
        let flag = if ours.errors + theirs.errors > 0 {
            format!(" (errors: ours {}, rmcp {})", ours.errors, theirs.errors)
        } else {
            String::new()
        };
        let glibc = glibc.as_ref().map_or("not run".to_string(), |g| {
            format!("{:.0}, {:.1}", g.rps, g.cpu_us)
        });
        let _ = writeln!(
            table,
            "| {}{flag} | {conns} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} | {:.1} / {:.1} | {glibc} |",
            RMCP_PROBE.name,
            ours.rps,
            theirs.rps,
            ours.rps / theirs.rps,
            ms(ours.p50_us),
            ms(ours.p99_us),
            ms(theirs.p50_us),
            ms(theirs.p99_us),
            ours.cpu_us,
            theirs.cpu_us
        );
    }
    let target = match rows.iter().find(|r| r.0 == RMCP_TARGET_CONNS) {
        Some((_, ours, theirs, _)) => {
            let ratio = ours.rps / theirs.rps;
            let cpu = ours.cpu_us / theirs.cpu_us.max(0.001);
            format!(
                "| tools/call req/s at {RMCP_TARGET_CONNS} conns ÷ rmcp's ({:.0} / {:.0}) | {ratio:.2} | ≥ {TARGET_RMCP_RATIO} | {} |\n| tools/call server CPU per call at {RMCP_TARGET_CONNS} conns ÷ rmcp's ({:.1} / {:.1} µs) | {cpu:.2} | ≤ {TARGET_RMCP_CPU_RATIO} | {} |",
                ours.rps,
                theirs.rps,
                verdict(ratio >= TARGET_RMCP_RATIO),
                ours.cpu_us,
                theirs.cpu_us,
                verdict(cpu <= TARGET_RMCP_CPU_RATIO)
            )
        }
        None => format!(
            "| tools/call req/s and CPU per call at {RMCP_TARGET_CONNS} conns ÷ rmcp's | not run (BENCH_RMCP=0) | ≥ {TARGET_RMCP_RATIO}, ≤ {TARGET_RMCP_CPU_RATIO} | |"
        ),
    };
    (table, target)
}

/// `BENCH_ONLY=rmcp`: the mock, our server and the rmcp baseline, and only their
/// tools/call comparison, printed as Markdown.
fn rmcp_only(args: &Args) -> Result<(), String> {
    let bin = args
        .rmcp
        .as_deref()
        .ok_or("BENCH_ONLY=rmcp needs --rmcp BIN (make bench-rmcp builds and passes it)")?;
    std::fs::create_dir_all(&args.work).map_err(|e| format!("{}: {e}", args.work.display()))?;
    let (_mock, mock_port) = start_mock(args, 0)?;
    let (mut server, port) = start_server(args, mock_port, &[])?;
    let rows = rmcp_comparison(args, bin, &mut server, port, mock_port)?;
    let (table, target) = rmcp_markdown(&rows);
    println!("\n{table}\n| figure | measured | target | |\n|---|---:|---:|---|\n{target}");
    Ok(())
}

// ---------------------------------------------------------------- registry writes

/// One registry-write run: creates of scoped servers by [`REGISTRY_CLIENTS`] keep-alive
/// clients for the run's seconds.
struct RegistryRun {
    /// Servers in the registry before the run.
    servers: usize,
    /// Creates acknowledged (201).
    writes: usize,
    per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

impl RegistryRun {
    fn to_json(&self) -> Value {
        json!({
            "servers_before": self.servers,
            "creates": self.writes,
            "creates_per_s": self.per_s.round(),
            "p50_us": self.p50_us,
            "p99_us": self.p99_us,
        })
    }

    fn row(&self) -> String {
        format!(
            "| admin writes/s, {} servers in the registry ({} at the end; creates by {REGISTRY_CLIENTS} clients, p50 / p99 {} / {} ms) | {:.0} | ≥ {TARGET_REGISTRY_WRITES} | {} |",
            self.servers,
            self.servers + self.writes,
            ms(self.p50_us),
            ms(self.p99_us),
            self.per_s,
            verdict(self.per_s >= TARGET_REGISTRY_WRITES)
        )
    }
}

/// Writes a registry snapshot of `n` scoped servers on one integrated account (on the mock,
/// so no HubSpot key to seal) into `dir`, unsigned as an older version wrote it (the server
/// signs it at start, with `REGISTRY_ACCEPT_UNSIGNED`); returns the account's id. Much
/// faster than `n` creates, which is what is being measured.
fn seed_registry(dir: &Path, n: usize) -> Result<String, String> {
    let account = "00000000-0000-4000-8000-00000000bead";
    let at = "2026-01-01T00:00:00.000Z";
    let servers: Vec<Value> = (0..n)
        .map(|i| {
            json!({
                "id": format!("00000000-0000-4000-8000-{i:012x}"),
                "name": format!("seeded {i}"),
                "config": {"methods": ["read"], "tags": ["contacts"]},
                "integrated_account_id": account,
                "created_by": "admin",
                "created_at": at,
                "updated_at": at,
                "expires_at": null,
                "token_sha256": format!("{i:064x}"),
            })
        })
        .collect();
    let registry = json!({
        "version": 1,
        "accounts": [{"id": account, "name": "bench", "mock": true, "is_default": false,
                      "created_at": at, "updated_at": at}],
        "servers": servers,
    });
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let text = serde_json::to_string_pretty(&registry).map_err(|e| e.to_string())?;
    write_file(&dir.join("registry.json"), &text)?;
    Ok(account.to_string())
}

/// Admin writes/s with `n` servers already in the registry: a fresh `DATA_DIR` seeded with
/// them, then [`REGISTRY_CLIENTS`] clients creating scoped servers for `args.secs`.
fn registry_writes(args: &Args, upstream: u16, n: usize) -> Result<RegistryRun, String> {
    let dir = args.work.join("data").join(format!("registry-{n}"));
    let account = seed_registry(&dir, n)?;
    let env = [
        ("DATA_DIR", dir.display().to_string()),
        ("ADMIN_API_TOKEN", BENCH_ADMIN_TOKEN.to_string()),
        ("MAX_SERVERS_PER_ACCOUNT", "1000000".to_string()),
        ("REGISTRY_ACCEPT_UNSIGNED", "true".to_string()),
    ];
    let (mut server, port) = start_server(args, upstream, &env)?;
    let body = r#"{"name":"bench","config":{"methods":["read"],"tags":["contacts"]}}"#;
    let raw = format!(
        "POST /integrated-account/{account}/mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {BENCH_ADMIN_TOKEN}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes();
    let started = Instant::now();
    let deadline = started + Duration::from_secs(args.secs);
    let clients: Vec<_> = (0..REGISTRY_CLIENTS)
        .map(|_| {
            let raw = raw.clone();
            std::thread::spawn(move || -> Result<Vec<f64>, String> {
                let addr = SocketAddr::from(([127, 0, 0, 1], port));
                let mut stream = TcpStream::connect(addr).map_err(|e| e.to_string())?;
                let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                let _ = stream.set_nodelay(true);
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let (status, answer) =
                        exchange(&mut stream, &raw).map_err(|e| e.to_string())?;
                    if status != 201 {
                        return Err(format!(
                            "a create answered {status}: {}",
                            String::from_utf8_lossy(&answer)
                        ));
                    }
                    latencies.push(sent.elapsed().as_secs_f64() * 1e6);
                }
                Ok(latencies)
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for client in clients {
        latencies.extend(client.join().map_err(|_| "a registry client panicked")??);
    }
    let secs = started.elapsed().as_secs_f64();
    server.check_alive()?;
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    let run = RegistryRun {
        servers: n,
        writes: latencies.len(),
        per_s: latencies.len() as f64 / secs,
        p50_us: at(0.5),
        p99_us: at(0.99),
    };
    eprintln!(
        "bench: admin writes with {n} servers: {:.0} creates/s ({} in {secs:.1} s), p50 {} ms, p99 {} ms",
        run.per_s,
        run.writes,
        ms(run.p50_us),
        ms(run.p99_us)
    );
    Ok(run)
}

/// Every run of [`REGISTRY_SIZES`], against its own mock HubSpot (never called).
fn registry_runs(args: &Args) -> Result<Vec<RegistryRun>, String> {
    let (_mock, mock_port) = start_mock(args, 0)?;
    REGISTRY_SIZES
        .iter()
        .map(|&n| registry_writes(args, mock_port, n))
        .collect()
}

/// `BENCH_ONLY=registry`: only the admin writes/s rows, printed.
fn registry_only(args: &Args) -> Result<(), String> {
    std::fs::create_dir_all(&args.work).map_err(|e| format!("{}: {e}", args.work.display()))?;
    let runs = registry_runs(args)?;
    println!("\n| figure | measured | target | |\n|---|---:|---:|---|");
    for run in &runs {
        println!("{}", run.row());
    }
    Ok(())
}

// ---------------------------------------------------------------- the run

struct Machine {
    nproc: usize,
    cpu: String,
    kernel: String,
    wrk: String,
    /// The commit the measured tree is at (`git describe --always --dirty`), so every
    /// pasted figure says which build it came from.
    build: String,
}

fn machine() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        .unwrap_or_else(|| "unknown".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let wrk = Command::new("wrk")
        .arg("-v")
        .output()
        .map(|o| {
            let text = String::from_utf8_lossy(&o.stdout).to_string()
                + &String::from_utf8_lossy(&o.stderr);
            text.lines()
                .next()
                .unwrap_or("")
                .split(" Copyright")
                .next()
                .unwrap_or("")
                .to_string()
        })
        .unwrap_or_default();
    let build = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| format!("commit `{}`", String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| "an unknown commit (no git)".into());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu,
        kernel,
        wrk,
        build,
    }
}

fn server_cmd(args: &Args, port: u16, upstream: u16) -> Command {
    server_cmd_for(&args.server, args, port, upstream)
}

/// [`server_cmd`] for another build of the server (`--glibc`).
fn server_cmd_for(bin: &Path, args: &Args, port: u16, upstream: u16) -> Command {
    let mut cmd = Command::new(bin);
    cmd.arg("serve")
        .env("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "bench")
        .env("HUBSPOT_API_URL", format!("http://127.0.0.1:{upstream}"))
        .env("HOST", "127.0.0.1")
        .env("PORT", port.to_string())
        // The registry (DATA_DIR) is created on the first start; later starts reuse it.
        .env("DATA_DIR", args.work.join("data").join("server"))
        // Our own pacing of HubSpot calls (0 = off) would throttle the measured path:
        // the mock does not limit, so neither do we here.
        .env("HUBSPOT_RATE_LIMIT_PER_10S", "0")
        .env("HUBSPOT_SEARCH_RATE_PER_S", "0")
        .env_remove("HUBSPOT_POOL_THREADS")
        .env_remove("HUBSPOT_POOL_QUEUE")
        .env_remove("HUBSPOT_MOCK")
        .env_remove("LOG_LEVEL")
        .env_remove("WORKERS")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn start_mock(args: &Args, latency_ms: u64) -> Result<(Proc, u16), String> {
    let port = free_port();
    let mut mock = Proc::start(
        "mock HubSpot",
        Command::new(&args.server)
            .arg("mock-hubspot")
            .arg("--fixtures")
            .arg(&args.fixtures)
            .arg("--port")
            .arg(port.to_string())
            .arg("--latency-ms")
            .arg(latency_ms.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    // The mock has no /health; its request log answers at once, even in slow mode.
    let started = Instant::now();
    let raw = request_bytes(port, "GET", "/__mock/requests", "");
    while http(port, &raw, Duration::from_secs(5)).is_err() {
        mock.check_alive()?;
        if started.elapsed() > Duration::from_secs(10) {
            return Err("the mock HubSpot did not start within 10 s".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok((mock, port))
}

/// Starts our server on a free port with `env` on top of [`server_cmd`]'s, and waits
/// until it is healthy.
fn start_server(args: &Args, upstream: u16, env: &[(&str, String)]) -> Result<(Proc, u16), String> {
    start_server_bin(&args.server, args, upstream, env)
}

/// [`start_server`] for another build of the server.
fn start_server_bin(
    bin: &Path,
    args: &Args,
    upstream: u16,
    env: &[(&str, String)],
) -> Result<(Proc, u16), String> {
    let port = free_port();
    let mut cmd = server_cmd_for(bin, args, port, upstream);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let mut server = Proc::start("hubspot-mcp-server", &mut cmd)?;
    wait_healthy(port, &mut server, Duration::from_secs(10))?;
    Ok((server, port))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(us: f64) -> String {
    if us >= 100_000.0 {
        format!("{:.0}", us / 1000.0)
    } else if us >= 10_000.0 {
        format!("{:.1}", us / 1000.0)
    } else {
        format!("{:.2}", us / 1000.0)
    }
}

fn mb(kb: u64) -> String {
    format!("{:.1} MB", kb as f64 / 1024.0)
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}

fn run(args: &Args) -> Result<(), String> {
    let begun = Instant::now();
    raise_fd_limit();
    let machine = machine();
    if machine.wrk.is_empty() {
        return Err("wrk is not installed (apt-get install -y wrk)".into());
    }
    let _ = std::fs::remove_dir_all(args.work.join("data"));
    std::fs::create_dir_all(&args.work).map_err(|e| format!("{}: {e}", args.work.display()))?;
    let linking = if dynamically_linked(&args.server) {
        "dynamically linked"
    } else {
        "static"
    };
    let binary_bytes = std::fs::metadata(&args.server)
        .map_err(|e| format!("{}: {e}", args.server.display()))?
        .len();
    eprintln!(
        "bench: {} × {}, {} s per run, connections {:?}",
        machine.nproc, machine.cpu, args.secs, args.conns
    );

    // 1. The mock HubSpot, as its own process so its cost is not counted as ours.
    let (mock, mock_port) = start_mock(args, 0)?;

    // 2. Start-up: exec to the first 200 from /health, several times, after one start
    // that creates the registry (a first run's one-off cost, with fsyncs).
    start_server(args, mock_port, &[])?;
    let mut starts: Vec<f64> = Vec::new();
    for _ in 0..args.starts {
        let port = free_port();
        let started = Instant::now();
        let mut server = Proc::start("hubspot-mcp-server", &mut server_cmd(args, port, mock_port))?;
        wait_healthy(port, &mut server, Duration::from_secs(10))?;
        starts.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    let start_min = starts.iter().copied().fold(f64::MAX, f64::min);
    let start_max = starts.iter().copied().fold(0.0, f64::max);
    let start_median = median(&mut starts);
    eprintln!("bench: start to first /health: median {start_median:.2} ms");

    // 3. Our server; capture its answers for the baseline; idle memory.
    let (mut server, port) = start_server(args, mock_port, &[])?;
    let responses = args.work.join("responses");
    std::fs::create_dir_all(&responses).map_err(|e| e.to_string())?;
    for probe in PROBES {
        let raw = request_bytes(port, probe.method, probe.path, probe.body);
        let (status, body) = http(port, &raw, Duration::from_secs(10))
            .map_err(|e| format!("{} on our server: {e}", probe.name))?;
        let text = String::from_utf8_lossy(&body);
        if status != 200 || text.contains("\"error\"") || text.contains("\"isError\":true") {
            return Err(format!("{} answered {status}: {text}", probe.name));
        }
        std::fs::write(responses.join(probe.file), &body).map_err(|e| e.to_string())?;
    }
    std::thread::sleep(Duration::from_millis(200));
    let (rss_idle_kb, _) = server.memory_kb();

    // 4. The baseline, answering the captured bytes.
    let base_port = free_port();
    let mut baseline = Proc::start(
        "baseline",
        Command::new(&args.baseline)
            .arg("--port")
            .arg(base_port.to_string())
            .arg("--responses")
            .arg(&responses)
            .env_remove("WORKERS")
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    )?;
    wait_healthy(base_port, &mut baseline, Duration::from_secs(10))?;
    let (base_rss_idle_kb, _) = baseline.memory_kb();

    // 5. Throughput and latency, baseline and ours back to back for every cell.
    let warm = &PROBES[0];
    load(args, base_port, warm, 64, 1)?;
    load(args, port, warm, 64, 1)?;
    let mut rows: Vec<(&Probe, usize, Load, Load)> = Vec::new();
    let mut rss_peak_no_calls_kb = 0;
    for probe in PROBES {
        for &conns in &args.conns {
            let base = load_server(args, &baseline, base_port, probe, conns)?;
            let ours = load_server(args, &server, port, probe, conns)?;
            server.check_alive()?;
            eprintln!(
                "bench: {:<24} {:>5} conns  ours {:>9.0} req/s  baseline {:>9.0} req/s  ratio {:.2}  CPU/req {:.1} / {:.1} µs",
                probe.name,
                conns,
                ours.rps,
                base.rps,
                ours.rps / base.rps,
                ours.cpu_us,
                base.cpu_us
            );
            rows.push((probe, conns, ours, base));
        }
        // The peak so far (VmHWM only grows): without tools/call, connections that wait on
        // HubSpot hold their request and stack for the whole wait.
        if probe.name == "tools/list" {
            rss_peak_no_calls_kb = server.memory_kb().1;
        }
    }
    let (_, rss_peak_kb) = server.memory_kb();
    let (_, base_rss_peak_kb) = baseline.memory_kb();
    drop(baseline);

    // 5b. tools/call against the rmcp baseline (the official Rust SDK), same mock.
    let rmcp_rows = match &args.rmcp {
        Some(bin) => rmcp_comparison(args, bin, &mut server, port, mock_port)?,
        None => Vec::new(),
    };
    drop(server);
    drop(mock);

    // 6. Isolation: /health while SLOW_CALLS tool calls wait on a slow upstream. The
    // upstream answers only after SLOW_MS, longer than the whole window, so every call is
    // still waiting while /health is measured (their completion cost is what the
    // tools/call rows above measure).
    let (slow_mock, slow_port) = start_mock(args, SLOW_MS)?;
    // A pool thread for every waiting call, so all of them are in flight upstream at
    // once (the hardest case for isolation), and a queue with room to spare.
    let pool = [
        ("HUBSPOT_POOL_THREADS", SLOW_CALLS.to_string()),
        ("HUBSPOT_POOL_QUEUE", (2 * SLOW_CALLS).to_string()),
    ];
    let (mut server, port) = start_server(args, slow_port, &pool)?;
    // The control: the same server, idle, measured in turns with the loaded one.
    let control_data = (
        "DATA_DIR",
        args.work.join("data").join("control").display().to_string(),
    );
    let (control, control_port) = start_server(
        args,
        slow_port,
        &[pool[0].clone(), pool[1].clone(), control_data],
    )?;
    let hold = 2 * args.secs.max(3) + 15;
    let window = Instant::now();
    let slow = Proc::start(
        "wrk (slow calls)",
        &mut wrk(args, port, &PROBES[3], SLOW_CALLS, hold, hold + 60),
    )?;
    let waiting_before = wait_upstream_calls(slow_port, SLOW_CALLS, Duration::from_secs(10))?;
    // Let the calls' set-up (coroutines, connections, page faults) settle before measuring.
    std::thread::sleep(Duration::from_secs(2));
    let [idle, loaded] = interleaved(args, [control_port, port], &PROBES[0], args.secs)?;
    let waiting_after = upstream_calls(slow_port);
    if window.elapsed() >= Duration::from_millis(SLOW_MS) {
        return Err("the isolation window outlasted the slow upstream; raise SLOW_MS".into());
    }
    server.check_alive()?;
    let (rss_slow_kb, _) = server.memory_kb();
    drop(slow);
    let factor = loaded.p99_us / idle.p99_us.max(1.0);
    eprintln!(
        "bench: /health p99 idle {} ms, with {waiting_after} tool calls waiting upstream {} ms: ×{factor:.2}",
        ms(idle.p99_us),
        ms(loaded.p99_us)
    );
    drop(server);
    drop(control);
    drop(slow_mock);

    // 7. Connections: idle keep-alive memory, /health beside pipelining clients.
    let conn = connections(args)?;
    let pipelined_factor = conn.health_pipelined_us / conn.health_idle_us.max(1.0);

    // 7b. Admin writes/s with 100 and 10,000 scoped servers in the registry.
    let registry = registry_runs(args)?;
    let registry_min = registry.iter().map(|r| r.per_s).fold(f64::MAX, f64::min);

    // 8. Report.
    let elapsed = begun.elapsed().as_secs_f64();
    let lowest_ratio = |name: &str| {
        rows.iter()
            .filter(|r| r.0.name == name)
            .map(|r| r.2.rps / r.3.rps)
            .fold(f64::MAX, f64::min)
    };
    let tools_list_min = lowest_ratio("tools/list");
    let initialize_min = lowest_ratio("initialize");
    let mut table = String::new();
    let _ = writeln!(
        table,
        "Machine: {} × {}, Linux {}, {}; {} s per run. Ours: `{}` ({linking}) built from {}; ratios are ours ÷ the may_minihttp baseline (glibc) in the same run.\n",
        machine.nproc, machine.cpu, machine.kernel, machine.wrk, args.secs, args.server.display(), machine.build
    );
    table.push_str("| request | conns | ours req/s | baseline req/s | ratio | ours p50 / p99 ms | baseline p50 / p99 ms | server CPU µs/req ours / baseline |\n");
    table.push_str("|---|---:|---:|---:|---:|---:|---:|---:|\n");
    for (probe, conns, ours, base) in &rows {
        let flag = if ours.errors + base.errors > 0 {
            format!(" (errors: ours {}, baseline {})", ours.errors, base.errors)
        } else {
            String::new()
        };
        let _ = writeln!(
            table,
            "| {}{flag} | {conns} | {:.0} | {:.0} | {:.2} | {} / {} | {} / {} | {:.1} / {:.1} |",
            probe.name,
            ours.rps,
            base.rps,
            ours.rps / base.rps,
            ms(ours.p50_us),
            ms(ours.p99_us),
            ms(base.p50_us),
            ms(base.p99_us),
            ours.cpu_us,
            base.cpu_us
        );
    }
    table.push_str("\n| figure | measured | target | |\n|---|---:|---:|---|\n");
    let _ = writeln!(
        table,
        "| tools/list req/s ÷ baseline (lowest over conns) | {tools_list_min:.2} | ≥ {TARGET_TOOLS_LIST_RATIO} | {} |",
        verdict(tools_list_min >= TARGET_TOOLS_LIST_RATIO)
    );
    let _ = writeln!(
        table,
        "| initialize req/s ÷ baseline (lowest over conns) | {initialize_min:.2} | ≥ {TARGET_TOOLS_LIST_RATIO} | {} |",
        verdict(initialize_min >= TARGET_TOOLS_LIST_RATIO)
    );
    let _ = writeln!(
        table,
        "| /health p99 with {waiting_after} tool calls waiting on a slow upstream ÷ idle p99 | {factor:.2} ({} / {} ms) | ≤ {TARGET_ISOLATION_FACTOR} | {} |",
        ms(loaded.p99_us),
        ms(idle.p99_us),
        verdict(factor <= TARGET_ISOLATION_FACTOR)
    );
    let _ = writeln!(
        table,
        "| RSS idle (baseline {}) | {} | ≤ {} | {} |",
        mb(base_rss_idle_kb),
        mb(rss_idle_kb),
        mb(TARGET_RSS_IDLE_KB),
        verdict(rss_idle_kb <= TARGET_RSS_IDLE_KB)
    );
    let peak = format!(
        "{} ({} before the tools/call runs)",
        mb(rss_peak_kb),
        mb(rss_peak_no_calls_kb)
    );
    let _ = writeln!(
        table,
        "| peak RSS, runs up to 1024 connections (baseline {}) | {peak} | ≤ {} | {} |",
        mb(base_rss_peak_kb),
        mb(TARGET_RSS_PEAK_KB),
        verdict(rss_peak_kb <= TARGET_RSS_PEAK_KB)
    );
    let _ = writeln!(
        table,
        "| /health p99 with {PIPELINERS} clients pipelining /health ÷ idle p99 | {pipelined_factor:.2} ({} / {} ms) | ≤ {TARGET_ISOLATION_FACTOR} | {} |",
        ms(conn.health_pipelined_us),
        ms(conn.health_idle_us),
        verdict(pipelined_factor <= TARGET_ISOLATION_FACTOR)
    );
    for (count, rss, per) in &conn.idle {
        let _ = writeln!(
            table,
            "| RSS added per idle keep-alive connection, {count} open (RSS {}) | {:.1} KiB | ≤ {} KiB | {} |",
            mb(*rss),
            *per as f64 / 1024.0,
            TARGET_IDLE_CONNECTION_BYTES / 1024,
            verdict(*per <= TARGET_IDLE_CONNECTION_BYTES)
        );
    }
    let _ = writeln!(
        table,
        "| RSS with {waiting_after} tool calls waiting ({SLOW_CALLS} pool threads) | {} | | |",
        mb(rss_slow_kb)
    );
    let _ = writeln!(
        table,
        "| exec to first /health 200 (median of {}, min {start_min:.1}, max {start_max:.1}) | {start_median:.1} ms | ≤ {TARGET_START_MS} ms | {} |",
        args.starts,
        verdict(start_median <= TARGET_START_MS)
    );
    let _ = writeln!(
        table,
        "| binary measured, stripped ({linking}) | {binary_bytes} bytes | ≤ {TARGET_BINARY_BYTES} | {} |",
        verdict(binary_bytes <= TARGET_BINARY_BYTES)
    );
    for run in &registry {
        let _ = writeln!(table, "{}", run.row());
    }
    let (rmcp_table, rmcp_target) = rmcp_markdown(&rmcp_rows);
    let _ = writeln!(table, "{rmcp_target}");
    if !rmcp_rows.is_empty() {
        let _ = writeln!(
            table,
            "\ntools/call against the rmcp baseline (`bench/rmcp-baseline`: the official Rust MCP SDK on axum, one pooled reqwest client) calling the same mock, the same request bytes to `POST /mcp`; ratios are ours ÷ rmcp in the same run.\n\n{rmcp_table}"
        );
    }
    let _ = writeln!(table, "\nWhole run: {elapsed:.0} s.");
    println!("\n{table}");

    let results = json!({
        "machine": {
            "nproc": machine.nproc,
            "cpu": machine.cpu,
            "kernel": machine.kernel,
            "load_generator": machine.wrk,
        },
        "settings": {
            "seconds_per_run": args.secs,
            "connections": args.conns,
            "server_env": "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN=bench HUBSPOT_API_URL=<mock> HOST=127.0.0.1, other settings default (LOG_LEVEL info, logs to /dev/null)",
        },
        "throughput": rows.iter().map(|(probe, conns, ours, base)| json!({
            "request": probe.name,
            "method": probe.method,
            "path": probe.path,
            "connections": conns,
            "ratio": (ours.rps / base.rps * 1000.0).round() / 1000.0,
            "ours": ours.to_json(),
            "baseline": base.to_json(),
        })).collect::<Vec<_>>(),
        "memory_kb": {
            "rss_idle": rss_idle_kb,
            "rss_peak_1024": rss_peak_kb,
            "rss_peak_1024_before_tools_call": rss_peak_no_calls_kb,
            "baseline_rss_idle": base_rss_idle_kb,
            "baseline_rss_peak_1024": base_rss_peak_kb,
        },
        "startup_ms": {
            "median": (start_median * 100.0).round() / 100.0,
            "min": (start_min * 100.0).round() / 100.0,
            "max": (start_max * 100.0).round() / 100.0,
            "samples": args.starts,
        },
        "binary_bytes": binary_bytes,
        "binary_linking": linking,
        "rmcp": rmcp_rows.iter().map(|(conns, ours, theirs, glibc)| json!({
            "request": RMCP_PROBE.name,
            "connections": conns,
            "ratio": (ours.rps / theirs.rps * 1000.0).round() / 1000.0,
            "ours": ours.to_json(),
            "rmcp": theirs.to_json(),
            "glibc": glibc.as_ref().map(Load::to_json),
        })).collect::<Vec<_>>(),
        "isolation": {
            "slow_upstream_ms": SLOW_MS,
            "waiting_calls": SLOW_CALLS,
            "health_idle": idle.to_json(),
            "health_with_slow_calls": loaded.to_json(),
            "calls_waiting_upstream": { "before": waiting_before, "after": waiting_after },
            "rss_kb_with_calls_waiting": rss_slow_kb,
            "p99_factor": (factor * 100.0).round() / 100.0,
        },
        "connections": {
            "idle": conn.idle.iter().map(|(count, rss, per)| json!({
                "connections": count, "rss_kb": rss, "bytes_per_connection": per,
            })).collect::<Vec<_>>(),
            "pipelining_clients": PIPELINERS,
            "health_p99_idle_us": conn.health_idle_us,
            "health_p99_pipelined_us": conn.health_pipelined_us,
            "p99_factor": (pipelined_factor * 100.0).round() / 100.0,
        },
        "targets": {
            "tools_list_ratio": { "min": tools_list_min, "target": TARGET_TOOLS_LIST_RATIO, "met": tools_list_min >= TARGET_TOOLS_LIST_RATIO },
            "isolation_factor": { "value": factor, "target": TARGET_ISOLATION_FACTOR, "met": factor <= TARGET_ISOLATION_FACTOR },
            "rss_idle_kb": { "value": rss_idle_kb, "target": TARGET_RSS_IDLE_KB, "met": rss_idle_kb <= TARGET_RSS_IDLE_KB },
            "rss_peak_kb": { "value": rss_peak_kb, "target": TARGET_RSS_PEAK_KB, "met": rss_peak_kb <= TARGET_RSS_PEAK_KB },
            "startup_ms": { "value": start_median, "target": TARGET_START_MS, "met": start_median <= TARGET_START_MS },
            "binary_bytes": { "value": binary_bytes, "target": TARGET_BINARY_BYTES, "met": binary_bytes <= TARGET_BINARY_BYTES },
            "registry_writes_per_s": { "min": registry_min.round(), "target": TARGET_REGISTRY_WRITES, "met": registry_min >= TARGET_REGISTRY_WRITES },
            "rmcp_ratio": rmcp_rows.iter().find(|r| r.0 == RMCP_TARGET_CONNS).map(|(_, ours, theirs, _)| {
                let ratio = ours.rps / theirs.rps;
                json!({ "value": ratio, "connections": RMCP_TARGET_CONNS, "target": TARGET_RMCP_RATIO, "met": ratio >= TARGET_RMCP_RATIO })
            }),
            "rmcp_cpu_ratio": rmcp_rows.iter().find(|r| r.0 == RMCP_TARGET_CONNS).map(|(_, ours, theirs, _)| {
                let ratio = ours.cpu_us / theirs.cpu_us.max(0.001);
                json!({ "value": ratio, "connections": RMCP_TARGET_CONNS, "target": TARGET_RMCP_CPU_RATIO, "met": ratio <= TARGET_RMCP_CPU_RATIO })
            }),
            "initialize_ratio": { "min": initialize_min, "target": TARGET_TOOLS_LIST_RATIO, "met": initialize_min >= TARGET_TOOLS_LIST_RATIO },
        },
        "registry_writes": registry.iter().map(RegistryRun::to_json).collect::<Vec<_>>(),
        "run_seconds": elapsed.round(),
        "table_markdown": table,
    });
    let text = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    write_file(&args.out, &(text + "\n"))?;
    eprintln!("bench: wrote {}", args.out.display());
    if let Some(doc) = &args.paste_into {
        paste_table(doc, &table)?;
        eprintln!("bench: table pasted into {}", doc.display());
    }
    Ok(())
}

/// True when the ELF file at `path` names a dynamic loader (has a `PT_INTERP` header).
fn dynamically_linked(path: &Path) -> bool {
    let Ok(elf) = std::fs::read(path) else {
        return false;
    };
    let u16_at = |at: usize| {
        elf.get(at..at + 2)
            .map_or(0, |b| u16::from_le_bytes([b[0], b[1]]) as usize)
    };
    let Some(phoff) = elf
        .get(0x20..0x28)
        .map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as usize)
    else {
        return false;
    };
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count)
        .any(|i| elf.get(phoff + i * size..phoff + i * size + 4) == Some(&3u32.to_le_bytes()[..]))
}

/// Replaces what stands between `<!-- bench:begin -->` and `<!-- bench:end -->` in the
/// file at `path` with `table`.
fn paste_table(path: &Path, table: &str) -> Result<(), String> {
    const BEGIN: &str = "<!-- bench:begin -->";
    const END: &str = "<!-- bench:end -->";
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(begin), Some(end)) = (text.find(BEGIN), text.find(END)) else {
        return Err(format!("{} has no {BEGIN} … {END} markers", path.display()));
    };
    if end < begin {
        return Err(format!("{}: {END} comes before {BEGIN}", path.display()));
    }
    let pasted = format!(
        "{}{BEGIN}\n{}\n{}",
        &text[..begin],
        table.trim(),
        &text[end..]
    );
    write_file(path, &pasted)
}

fn write_file(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

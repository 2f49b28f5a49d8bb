//! The benchmark's baseline: a minimal may_minihttp 0.1.11 server that answers each
//! benchmarked request with response bytes captured from hubspot-mcp-server beforehand
//! (same status, same `Content-Type`, same body) and does nothing else: no parsing of the
//! body, no JSON, no upstream call. It is the practical ceiling for a may coroutine HTTP
//! server on this machine; `make bench` reports our figures as ratios to it.
//!
//! Usage: `baseline --port P --responses DIR` where DIR holds `health.json`,
//! `initialize.json`, `tools_list.json` and `tools_call.json` (the bodies to answer
//! `GET /health`, `POST /mcp/initialize`, `POST /mcp/tools/list`, `POST /mcp/tools/call`).
//! `WORKERS` sets the may worker threads (default: CPU count, like the server).

use may_minihttp::{HttpServer, HttpService, Request, Response};
use std::io;
use std::path::Path;

/// The pre-built bodies, leaked once so that every response borrows them (no copy).
#[derive(Clone, Copy)]
struct Baseline {
    health: &'static str,
    initialize: &'static str,
    tools_list: &'static str,
    tools_call: &'static str,
}

impl HttpService for Baseline {
    fn call(&mut self, req: Request, rsp: &mut Response) -> io::Result<()> {
        let body = match req.path() {
            "/health" => self.health,
            "/mcp/initialize" => self.initialize,
            "/mcp/tools/list" => self.tools_list,
            "/mcp/tools/call" => self.tools_call,
            _ => {
                rsp.status_code(404, "Not Found");
                return Ok(());
            }
        };
        // Dropping the body reader consumes the request body from the buffer.
        drop(req.body());
        rsp.header("Content-Type: application/json");
        rsp.body(body);
        Ok(())
    }
}

fn load(dir: &Path, name: &str) -> &'static str {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    Box::leak(text.into_boxed_str())
}

fn main() {
    let mut port = 8080u16;
    let mut dir = String::from("bench/responses");
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().expect("every flag needs a value");
        match flag.as_str() {
            "--port" => port = value.parse().expect("--port takes a number"),
            "--responses" => dir = value,
            other => panic!("unknown flag {other}; usage: baseline --port P --responses DIR"),
        }
    }
    let workers = std::env::var("WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    may::config().set_workers(workers);
    let dir = Path::new(&dir);
    let service = Baseline {
        health: load(dir, "health.json"),
        initialize: load(dir, "initialize.json"),
        tools_list: load(dir, "tools_list.json"),
        tools_call: load(dir, "tools_call.json"),
    };
    let server = HttpServer(service)
        .start(("127.0.0.1", port))
        .expect("cannot listen");
    eprintln!("baseline listening on http://127.0.0.1:{port}");
    let _ = server.join();
}

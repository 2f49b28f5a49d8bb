//! The server's routes: `/health`, `/ready`, the MCP endpoints, CORS, and one log line per
//! request. Everything here runs on may coroutines and never blocks.

use crate::accounts::Connector;
use crate::admin::Admin;
use crate::http::{CorsPolicy, Handler, LogField, Request, Response, Shutdown};
use crate::hubspot::Client;
use crate::mcp::{self, exchange, version::Headers, Exposure};
use crate::registry::{token, ScopedServer, ToolFilter};
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The main server's state.
pub struct App {
    /// Allowed browser origins.
    pub cors: CorsPolicy,
    /// When the server started (for `uptime`).
    pub started: Instant,
    /// Graceful-stop state (`/ready` turns 503 while stopping).
    pub shutdown: Arc<Shutdown>,
    /// The default server's exposure: every tool.
    pub exposure: Exposure,
    /// The default HubSpot account.
    pub client: Client,
    /// The admin API and the registry behind scoped servers.
    pub admin: Admin,
    /// Builds the HubSpot client of a scoped server's account.
    pub connector: Connector,
    /// Scoped servers' exposures by server id, rebuilt when the config changes.
    pub scoped: Mutex<HashMap<String, (ToolFilter, Arc<Exposure>)>>,
}

/// What the log line says about the JSON-RPC side of a request.
#[derive(Default)]
struct Trace {
    methods: Vec<String>,
}

impl Handler for App {
    fn handle(&self, req: &Request) -> Response {
        let started = Instant::now();
        let mut trace = Trace::default();
        let response = match self.cors.check(req) {
            Err(forbidden) => forbidden,
            Ok(()) => {
                let response = self.route(req, &mut trace);
                self.cors.decorate(req, response)
            }
        };
        // Client-chosen fields are escaped and capped (LogField); a batch logs its size.
        let rpc = match trace.methods.as_slice() {
            [] => String::new(),
            [one] => format!(" rpc={}", LogField(one, 120)),
            many => format!(" rpc=batch({})", many.len()),
        };
        log::info!(
            "{} {} {} {:.1}ms{rpc}",
            LogField(req.method, 16),
            LogField(loggable_path(req.path), 200),
            response.status,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        response
    }
}

impl App {
    fn route(&self, req: &Request, trace: &mut Trace) -> Response {
        if req.method == "OPTIONS" {
            return self.cors.preflight(req);
        }
        match (req.method, req.path) {
            ("GET" | "HEAD", "/health") => self.health(),
            ("GET" | "HEAD", "/ready") => self.ready(),
            ("POST", "/mcp") => self.mcp(req, &self.exposure, &self.client, None, trace),
            ("POST", path) if path.starts_with("/mcp/") => {
                let rest = &path[5..];
                let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
                if token::is_token_format(first) {
                    self.scoped(req, first, (!tail.is_empty()).then_some(tail), trace)
                } else {
                    self.mcp(req, &self.exposure, &self.client, Some(rest), trace)
                }
            }
            (_, path)
                if path == "/integrated-account" || path.starts_with("/integrated-account/") =>
            {
                self.admin.handle(req)
            }
            (_, "/health" | "/ready") => method_not_allowed("GET, HEAD, OPTIONS"),
            (_, path) if path == "/mcp" || path.starts_with("/mcp/") => {
                method_not_allowed("POST, OPTIONS")
            }
            _ => not_found(req.path),
        }
    }

    fn health(&self) -> Response {
        // Written directly (the hottest route; none of these values needs escaping): the
        // same bytes as serializing the json! object, without building and dropping it.
        let body = format!(
            r#"{{"status":"healthy","timestamp":"{}","uptime":{},"version":"{}","service":"hubspot-mcp-server"}}"#,
            crate::clock::now_rfc3339(),
            self.started.elapsed().as_secs(),
            env!("CARGO_PKG_VERSION"),
        );
        Response::json_bytes(200, body.into_bytes())
    }

    fn ready(&self) -> Response {
        let stopping = self.shutdown.is_stopping();
        // The server does not start without a HubSpot token or the mock (exit code 2), so
        // the token check always passes here; only a stop makes the server not ready.
        let ready = !stopping;
        Response::json(
            if ready { 200 } else { 503 },
            &json!({
                "status": if ready { "ready" } else { "not_ready" },
                "timestamp": crate::clock::now_rfc3339(),
                "checks": {
                    "hubspot_token": true,
                    "server": if stopping { "stopping" } else { "running" }
                }
            }),
        )
    }

    /// `POST /mcp/<token>[/<method path>]`: a scoped server from the registry. An unknown,
    /// deleted or expired token gets 404; a Bearer token, when sent, must be the same one.
    fn scoped(
        &self,
        req: &Request,
        url_token: &str,
        method_path: Option<&str>,
        trace: &mut Trace,
    ) -> Response {
        if let Some(bearer) = req.bearer_token() {
            if !token::constant_time_eq(bearer.as_bytes(), url_token.as_bytes()) {
                return error_envelope(401, "the Bearer token does not match the token in the URL");
            }
        }
        let registry = self.admin.registry.clone();
        let owned = url_token.to_string();
        // Resolving may delete an expired server (an fsync): do it off the coroutine worker.
        let resolved = self
            .admin
            .pool
            .run(move || registry.resolve_token(&owned, crate::clock::now_millis()));
        let server: ScopedServer = match resolved {
            Ok(Some(server)) => server,
            Ok(None) => return error_envelope(404, "unknown, deleted or expired MCP server token"),
            Err(_) => return error_envelope(503, "the server is busy; try again in a moment"),
        };
        let client = match self.connector.client(&server.auth) {
            Ok(client) => client,
            Err(why) => return error_envelope(503, &why),
        };
        let exposure = self.scoped_exposure(&server);
        self.mcp(req, &exposure, &client, method_path, trace)
    }

    /// The exposure of a scoped server, built once per config.
    fn scoped_exposure(&self, server: &ScopedServer) -> Arc<Exposure> {
        let mut cache = self.scoped.lock().unwrap_or_else(|e| e.into_inner());
        match cache.get(&server.id) {
            Some((filter, exposure)) if *filter == server.filter => exposure.clone(),
            _ => {
                let filter = server.filter.clone();
                let exposure = Arc::new(Exposure::new(filter.tool_exposure(), |tool| {
                    filter.allows(tool.method, tool.tags)
                }));
                cache.insert(server.id.clone(), (filter, exposure.clone()));
                exposure
            }
        }
    }

    /// `POST /mcp` and `POST /mcp/<method path>`: JSON-RPC in, JSON (or one SSE event) out.
    fn mcp(
        &self,
        req: &Request,
        exposure: &Exposure,
        client: &Client,
        method_path: Option<&str>,
        trace: &mut Trace,
    ) -> Response {
        if let Some(content_type) = req.header("content-type") {
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/json") {
                return error_envelope(415, &format!(
                    "Content-Type '{content_type}' is not supported; send Content-Type: application/json"
                ));
            }
        }
        let sse = wants_sse(req.header("accept"));
        let headers = Headers {
            protocol_version: req.header("mcp-protocol-version"),
            method: req.header("mcp-method"),
            name: req.header("mcp-name"),
            http: true,
        };
        let server = mcp::Server { exposure, client };
        let Some((status, bytes)) =
            exchange(&server, req.body, method_path, headers, &mut trace.methods)
        else {
            return Response::empty(202);
        };
        if sse {
            let mut event = b"event: message\ndata: ".to_vec();
            event.extend_from_slice(&bytes);
            event.extend_from_slice(b"\n\n");
            let mut response = Response::json_bytes(status, event);
            response.content_type = Some("text/event-stream");
            return response.with_header("Cache-Control", "no-cache");
        }
        Response::json_bytes(status, bytes)
    }
}

/// True when the client accepts `text/event-stream` but not JSON.
fn wants_sse(accept: Option<&str>) -> bool {
    let Some(accept) = accept else { return false };
    let types: Vec<&str> = accept
        .split(',')
        .map(|t| t.split(';').next().unwrap_or("").trim())
        .collect();
    let json = types.iter().any(|t| {
        t.eq_ignore_ascii_case("application/json")
            || *t == "*/*"
            || t.eq_ignore_ascii_case("application/*")
    });
    !json
        && types
            .iter()
            .any(|t| t.eq_ignore_ascii_case("text/event-stream"))
}

/// The path as logged: a scoped server's token never reaches the log.
fn loggable_path(path: &str) -> &str {
    match path.strip_prefix("/mcp/") {
        Some(rest) if !mcp::METHODS.contains(&rest) && !rest.starts_with("notifications/") => {
            "/mcp/<redacted>"
        }
        _ => path,
    }
}

/// The error envelope for non-JSON-RPC answers: `{statusCode, error, message}`.
pub fn error_envelope(status: u16, message: &str) -> Response {
    Response::json(
        status,
        &json!({
            "statusCode": status,
            "error": crate::http::reason(status),
            "message": message
        }),
    )
}

fn not_found(path: &str) -> Response {
    error_envelope(
        404,
        &format!(
            "no route for {}; see README for the routes",
            loggable_path(path)
        ),
    )
}

fn method_not_allowed(allow: &'static str) -> Response {
    error_envelope(405, &format!("method not allowed here; use {allow}"))
        .with_header("Allow", allow)
}

//! The server's routes: `/health`, `/ready`, the MCP endpoints behind their credentials,
//! the admin API, CORS, and one log line per request. Everything here runs on may
//! coroutines and never blocks: tokens resolve in memory, and the registry writes MCP
//! traffic causes (deleting an expired server) go to the registry's own small pool.

use crate::catalog::Tool;
use crate::front::accounts::Connector;
use crate::front::admin::Admin;
use crate::front::auth::{self, Policy};
use crate::front::exposures::ExposureCache;
use crate::front::throttle::Throttle;
use crate::http::{CorsPolicy, Handler, LogField, Request, Response, Shutdown};
use crate::hubspot::{Client, Gate};
use crate::mcp::jsonrpc::RpcError;
use crate::mcp::{self, version::Headers, Exposure, Method, Recheck};
use crate::registry::{token, Registry, Resolved, ScopedServer};
use crate::runtime::clock;
use crate::runtime::pool::BlockingPool;
use serde_json::json;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

/// The main server's state.
pub struct App {
    /// Allowed browser origins.
    pub cors: CorsPolicy,
    /// When the server started (for `uptime`).
    pub started: Instant,
    /// Graceful-stop state (`/ready` turns 503 while stopping).
    pub shutdown: Arc<Shutdown>,
    /// Who may call the MCP endpoints.
    pub auth: Policy,
    /// Failed credential attempts per client address (shared with the admin API).
    pub throttle: Arc<Throttle>,
    /// The default HubSpot account.
    pub client: Client,
    /// The admin API.
    pub admin: Admin,
    /// True when the admin API has its own listener (`ADMIN_PORT`): its routes are gone
    /// from this one.
    pub admin_elsewhere: bool,
    /// The registry behind scoped servers.
    pub registry: Arc<Registry>,
    /// Where registry writes run (never the HubSpot pool, so a slow HubSpot cannot hold
    /// them up).
    pub registry_pool: Arc<BlockingPool>,
    /// Builds the HubSpot client of a scoped server's account.
    pub connector: Connector,
    /// `/mcp`'s exposure and scoped servers' ones.
    pub exposures: ExposureCache,
}

/// What the log line says about the JSON-RPC side of a request.
#[derive(Default)]
struct Trace {
    methods: Vec<String>,
}

/// How much of a request has arrived when it is looked at.
#[derive(Clone, Copy, PartialEq)]
enum Arrived {
    /// The head, its body still to come: only an answer the head decides is given (a
    /// refused credential, no such route), so an unauthenticated body is never read.
    Head,
    /// The whole request.
    Whole,
}

/// Which listener a request came in on.
#[derive(Clone, Copy, PartialEq)]
enum Surface {
    /// `HOST:PORT`: everything (the admin API only when it has no listener of its own).
    Public,
    /// `ADMIN_HOST:ADMIN_PORT`: the admin API, `/health` and `/ready`.
    Admin,
}

impl Handler for App {
    fn handle(&self, req: &Request) -> Response {
        self.answer(req, Surface::Public)
    }

    fn precheck(&self, req: &Request) -> Option<Response> {
        self.respond(req, Surface::Public, Arrived::Head)
    }
}

/// The admin API's own listener (`ADMIN_PORT`).
pub struct AdminListener(pub Arc<App>);

impl Handler for AdminListener {
    fn handle(&self, req: &Request) -> Response {
        self.0.answer(req, Surface::Admin)
    }

    fn precheck(&self, req: &Request) -> Option<Response> {
        self.0.respond(req, Surface::Admin, Arrived::Head)
    }
}

/// The message of every refused credential: the same whatever part was wrong.
const INVALID_CREDENTIAL: &str = "the credential in Authorization is not valid (an MCP_API_KEYS key or a live scoped server token is expected)";
/// The refusal of a `require_api_token_auth` server reached without an API key.
const NEEDS_API_KEY: &str = "this MCP server requires an MCP API key besides its token: POST to its URL (/mcp/<token>) with Authorization: Bearer <an MCP_API_KEYS key>";
/// The 404 of an unknown `/mcp/<token>` (Truto's answer).
const UNKNOWN_TOKEN: &str = "unknown, deleted or expired MCP server token";

impl App {
    /// The answer to a whole request.
    fn answer(&self, req: &Request, surface: Surface) -> Response {
        self.respond(req, surface, Arrived::Whole)
            .expect("a whole request is always answered")
    }

    /// The answer to `req`, logged; `None` only for a head whose answer needs the body.
    fn respond(&self, req: &Request, surface: Surface, arrived: Arrived) -> Option<Response> {
        let started = Instant::now();
        let mut trace = Trace::default();
        let response = match self.cors.check(req) {
            Err(forbidden) => forbidden,
            Ok(()) if is_admin_path(req.path) => match req.header("origin") {
                // The admin API is not a browser target: no CORS headers, and nothing a
                // page could make a browser send (a cross-site form post) is served.
                Some(origin) if !origin.is_empty() => Response::error(
                    403,
                    "the admin API does not answer browser requests (the request has an Origin header); call it from a server or the command line",
                ),
                _ => self.route(req, surface, arrived, &mut trace)?,
            },
            Ok(()) => {
                let response = self.route(req, surface, arrived, &mut trace)?;
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
            LogField(&loggable_path(req.path), 200),
            response.status,
            started.elapsed().as_secs_f64() * 1000.0,
        );
        Some(response)
    }

    /// The route's answer; `None` only when `arrived` is the head and the answer needs the
    /// body (past the credential check of the MCP endpoints and the admin API).
    fn route(
        &self,
        req: &Request,
        surface: Surface,
        arrived: Arrived,
        trace: &mut Trace,
    ) -> Option<Response> {
        let admin_path = is_admin_path(req.path);
        Some(match (req.method, req.path) {
            ("GET" | "HEAD", "/health") => self.health(),
            ("GET" | "HEAD", "/ready") => self.ready(),
            _ if admin_path && (surface == Surface::Admin || !self.admin_elsewhere) => {
                match self.admin.admit(req) {
                    Err(refused) => refused,
                    Ok(()) if arrived == Arrived::Head => return None,
                    Ok(()) => self.admin.serve(req),
                }
            }
            _ if surface == Surface::Admin || admin_path => not_found(req.path),
            ("OPTIONS", _) => self.cors.preflight(req),
            ("POST", "/mcp") => self.mcp_endpoint(req, None, arrived, trace)?,
            ("POST", path) if path.starts_with("/mcp/") => {
                let rest = &path[5..];
                let (first, tail) = rest.split_once('/').unwrap_or((rest, ""));
                if token::is_token_format(first) {
                    let tail = (!tail.is_empty()).then_some(tail);
                    self.scoped_by_url(req, first, tail, arrived, trace)?
                } else {
                    self.mcp_endpoint(req, Some(rest), arrived, trace)?
                }
            }
            (_, "/health" | "/ready") => method_not_allowed("GET, HEAD, OPTIONS"),
            (_, path) if path == "/mcp" || path.starts_with("/mcp/") => {
                method_not_allowed("POST, OPTIONS")
            }
            _ => not_found(req.path),
        })
    }

    fn health(&self) -> Response {
        // Written directly (the hottest route; none of these values needs escaping): the
        // same bytes as serializing the json! object, without building and dropping it.
        let body = format!(
            r#"{{"status":"healthy","timestamp":"{}","uptime":{},"version":"{}","service":"hubspot-mcp-server"}}"#,
            crate::runtime::clock::now_rfc3339(),
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
        let mut body = json!({
            "status": if ready { "ready" } else { "not_ready" },
            "timestamp": crate::runtime::clock::now_rfc3339(),
            "checks": {
                "hubspot_token": true,
                "server": if stopping { "stopping" } else { "running" }
            }
        });
        // With the registry on etcd: whether etcd answers (MCP is served from memory
        // either way, so it does not make the replica unready).
        if let Some(registry) = self.registry.check() {
            body["checks"]["registry"] = registry;
        }
        // Replicas on etcd: how many share the HubSpot budget, and this one's share.
        let settings = &self.connector.settings;
        if let Some(replicas) = settings.replicas.check(settings.policy.per_10s) {
            body["checks"]["replicas"] = replicas;
        }
        Response::json(if ready { 200 } else { 503 }, &body)
    }

    /// The answer to a credential found wrong: `refusal`, counted as a failed attempt,
    /// or 429 when the client has failed too often (decided only now, after the
    /// credential was checked, so a valid one is never refused for its address).
    fn refuse_credential(&self, req: &Request, refusal: Response) -> Response {
        match self.throttle.fail_request(req) {
            Some(wait) => auth::too_many_attempts(wait, true),
            None => refusal,
        }
    }

    /// `POST /mcp` and `POST /mcp/<method path>`: the credential in `Authorization` says
    /// which server answers: an API key the full one, a scoped token its scoped server;
    /// none, the full one where [`Policy::credential_required`] allows it.
    fn mcp_endpoint(
        &self,
        req: &Request,
        method_path: Option<&str>,
        arrived: Arrived,
        trace: &mut Trace,
    ) -> Option<Response> {
        match req.bearer_token() {
            None if self.auth.credential_required(is_proxied(req)) => Some(auth::unauthorized(
                "this server needs a credential: send Authorization: Bearer <key>, with an MCP_API_KEYS key or a scoped server's token (requests through a proxy always need one)",
            )),
            Some(credential) if !self.auth.keys.contains(credential) => {
                self.scoped_by_header(req, credential, method_path, arrived, trace)
            }
            // Admitted: the rest waits for the body.
            _ if arrived == Arrived::Head => None,
            _ => Some(self.mcp(
                req,
                self.exposures.unfiltered(),
                &self.client,
                None,
                method_path,
                trace,
            )),
        }
    }

    /// `POST /mcp` with a Bearer that is not an API key: the scoped server whose token it
    /// is, or 401 (the same answer whatever was wrong).
    fn scoped_by_header(
        &self,
        req: &Request,
        credential: &str,
        method_path: Option<&str>,
        arrived: Arrived,
        trace: &mut Trace,
    ) -> Option<Response> {
        let server =
            match self.live_server(req, credential, || auth::unauthorized(INVALID_CREDENTIAL)) {
                Ok(server) => server,
                Err(refused) => return Some(refused),
            };
        if server.filter.requires_api_key() {
            return Some(auth::unauthorized(NEEDS_API_KEY));
        }
        if arrived == Arrived::Head {
            // Admitted: the rest waits for the body.
            return None;
        }
        Some(self.serve_scoped(req, &server, credential, false, method_path, trace))
    }

    /// The live scoped server whose token is `token`, or the answer when there is none:
    /// `refusal()` for an expired token (deleted now) or an unknown one (a failed attempt
    /// for the throttle), 503 while the registry cannot tell whether it was revoked.
    fn live_server(
        &self,
        req: &Request,
        token: &str,
        refusal: impl Fn() -> Response,
    ) -> Result<Arc<ScopedServer>, Response> {
        match self.registry.resolve_token(token, clock::now_millis()) {
            Resolved::Live(server) => Ok(server),
            Resolved::Expired => {
                self.purge_expired();
                Err(refusal())
            }
            Resolved::Unverifiable(down_for) => Err(auth::unverifiable_response(down_for)),
            Resolved::Unknown => Err(self.refuse_credential(req, refusal())),
        }
    }

    /// `POST /mcp/<token>[/<method path>]`: a scoped server by its URL (Truto's form). An
    /// unknown, deleted or expired token gets 404. A Bearer, when sent, must be the same
    /// token or an API key; `require_api_token_auth` servers need the API key.
    fn scoped_by_url(
        &self,
        req: &Request,
        url_token: &str,
        method_path: Option<&str>,
        arrived: Arrived,
        trace: &mut Trace,
    ) -> Option<Response> {
        let server = match self.live_server(req, url_token, || Response::error(404, UNKNOWN_TOKEN))
        {
            Ok(server) => server,
            Err(refused) => return Some(refused),
        };
        let with_key = match req.bearer_token() {
            Some(bearer) if self.auth.keys.contains(bearer) => true,
            Some(bearer) if !token::constant_time_eq(bearer.as_bytes(), url_token.as_bytes()) => {
                return Some(self.refuse_credential(req, auth::unauthorized(INVALID_CREDENTIAL)));
            }
            _ if server.filter.requires_api_key() => {
                return Some(auth::unauthorized(NEEDS_API_KEY))
            }
            _ => false,
        };
        if arrived == Arrived::Head {
            // Admitted: the rest waits for the body.
            return None;
        }
        Some(self.serve_scoped(req, &server, url_token, with_key, method_path, trace))
    }

    /// Serves one request on a scoped server, asking the registry again before each tool
    /// call (see [`Recheck`]). `with_key`: the caller also sent an API key.
    fn serve_scoped(
        &self,
        req: &Request,
        server: &ScopedServer,
        token: &str,
        with_key: bool,
        method_path: Option<&str>,
        trace: &mut Trace,
    ) -> Response {
        let gate: Gate = {
            let (registry, token, id) =
                (self.registry.clone(), token.to_string(), server.id.clone());
            Arc::new(move || {
                still_live(&registry, &token, &id, with_key)
                    .map(drop)
                    .map_err(|refused| refused.message)
            })
        };
        let client = match self.connector.client(&server.auth) {
            Ok(client) => client.for_server(&server.id).gated(gate),
            Err(why) => return Response::error(503, &why),
        };
        let exposure = self
            .exposures
            .get(&server.filter, &self.registry, clock::now_millis());
        let recheck = |tool: Option<&Tool>| self.recheck(token, &server.id, with_key, tool);
        self.mcp(req, &exposure, &client, Some(&recheck), method_path, trace)
    }

    /// Before each request of a scoped server's body and right before each HubSpot call:
    /// the server must still be live (not deleted, not expired, its account still there),
    /// still accept how the caller came in, and its current filter must still allow `tool`.
    fn recheck(
        &self,
        token: &str,
        id: &str,
        with_key: bool,
        tool: Option<&Tool>,
    ) -> Result<(), RpcError> {
        let now = still_live(&self.registry, token, id, with_key)?;
        match tool {
            Some(tool) if !now.filter.allows(tool.method, tool.tags) => {
                Err(RpcError::invalid_params(format!(
                    "tool not available on this server: '{}'",
                    tool.name
                )))
            }
            _ => Ok(()),
        }
    }

    /// Deletes expired servers on the registry's pool, without waiting (the request that
    /// found one is refused either way).
    fn purge_expired(&self) {
        let registry = self.registry.clone();
        let queued = self.registry_pool.spawn(move || {
            if let Err(err) = registry.purge_expired(clock::now_millis()) {
                log::warn!("could not delete expired MCP servers: {err}");
            }
        });
        if queued.is_err() {
            log::debug!("registry pool busy; expired servers are deleted with the next change");
        }
    }

    /// JSON-RPC in, JSON (or one SSE event) out, on `exposure` with `client`.
    fn mcp(
        &self,
        req: &Request,
        exposure: &Exposure,
        client: &Client,
        recheck: Option<Recheck>,
        method_path: Option<&str>,
        trace: &mut Trace,
    ) -> Response {
        if let Some(content_type) = req.header("content-type") {
            let media = content_type.split(';').next().unwrap_or("").trim();
            if !media.eq_ignore_ascii_case("application/json") {
                return Response::error(415, &format!(
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
        let server = mcp::Server {
            exposure,
            client,
            recheck,
        };
        let Some((outcome, bytes)) =
            mcp::exchange(&server, req.body, method_path, headers, &mut trace.methods)
        else {
            return Response::empty(202);
        };
        let status = mcp::http_status(outcome);
        let response = if sse {
            let mut event = b"event: message\ndata: ".to_vec();
            event.extend_from_slice(&bytes);
            event.extend_from_slice(b"\n\n");
            let mut response = Response::json_bytes(status, event);
            response.content_type = Some("text/event-stream");
            response.with_header("Cache-Control", "no-cache")
        } else {
            Response::json_bytes(status, bytes)
        };
        if status == 401 {
            return response.with_header("WWW-Authenticate", auth::CHALLENGE);
        }
        response
    }
}

/// The scoped server `id` of `token` as the registry has it now, if it is still live (not
/// deleted, not expired, its account still there) and still accepts how the caller came in
/// (`with_key`: with an API key as well). Asked before each request of a body, each tool
/// run, and (as its HubSpot client's [`Gate`]) right before each HubSpot request.
fn still_live(
    registry: &Registry,
    token: &str,
    id: &str,
    with_key: bool,
) -> Result<Arc<ScopedServer>, RpcError> {
    let now = match registry.resolve_token(token, clock::now_millis()) {
        Resolved::Live(now) if now.id == id => now,
        Resolved::Unverifiable(down_for) => return Err(auth::unverifiable(down_for)),
        _ => {
            return Err(RpcError::new(
                auth::UNAUTHORIZED,
                "this MCP server was deleted or has expired; nothing more was sent to HubSpot",
            ))
        }
    };
    if now.filter.requires_api_key() && !with_key {
        return Err(RpcError::new(auth::UNAUTHORIZED, NEEDS_API_KEY));
    }
    Ok(now)
}

/// True for the admin API's paths.
fn is_admin_path(path: &str) -> bool {
    path == "/integrated-account" || path.starts_with("/integrated-account/")
}

/// Headers a reverse proxy adds; any one of them, whatever its value, marks a request as
/// proxied.
const PROXY_HEADERS: [&str; 8] = [
    "forwarded",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "via",
    "cf-connecting-ip",
    "true-client-ip",
];

/// True when the request came through a proxy, where every caller looks local. Only the
/// header names count, so no value (empty, not UTF-8) can hide one.
fn is_proxied(req: &Request) -> bool {
    req.headers
        .iter()
        .any(|h| PROXY_HEADERS.iter().any(|p| h.name.eq_ignore_ascii_case(p)))
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
fn loggable_path(path: &str) -> Cow<'_, str> {
    match path.strip_prefix("/mcp/") {
        Some(rest) if Method::named(rest).is_none() && !rest.starts_with("notifications/") => {
            Cow::Borrowed("/mcp/<redacted>")
        }
        // Elsewhere (`//mcp/<token>`, a token under another prefix), any segment that
        // could be a token.
        _ => crate::http::redacted_path(path),
    }
}

fn not_found(path: &str) -> Response {
    Response::error(
        404,
        &format!(
            "no route for {}; see README for the routes",
            loggable_path(path)
        ),
    )
}

fn method_not_allowed(allow: &'static str) -> Response {
    Response::error(405, &format!("method not allowed here; use {allow}"))
        .with_header("Allow", allow)
}

//! The admin API (Truto-compatible): integrated accounts and the scoped MCP servers minted
//! for them, behind `Authorization: Bearer <ADMIN_API_TOKEN>`. Registry changes fsync, so
//! they run on the registry's blocking pool, never on a coroutine worker. Wrong admin tokens
//! count as failed credential attempts (see [`Throttle`]).

use crate::catalog;
use crate::front::auth::too_many_attempts;
use crate::front::throttle::Throttle;
use crate::http::{Request, Response};
use crate::registry::{
    token, NewAccount, NewServer, Page, Registry, RegistryError, ServerPatch, ADMIN_IDENTITY,
};
use crate::runtime::clock;
use crate::runtime::pool::BlockingPool;
use serde_json::Value;
use std::sync::Arc;

/// The admin API's state.
pub struct Admin {
    /// `ADMIN_API_TOKEN`; `None` turns the admin API off (404).
    pub token: Option<String>,
    /// `PUBLIC_URL`: the base of minted URLs (else the request's scheme and Host).
    pub public_url: Option<String>,
    /// The registry.
    pub registry: Arc<Registry>,
    /// Where registry writes run.
    pub pool: Arc<BlockingPool>,
    /// Failed credential attempts per client address.
    pub throttle: Arc<Throttle>,
}

impl Admin {
    /// Checks the credential of a request under `/integrated-account` (from its head alone:
    /// a refusal needs no body): `Err` with the answer when the API is off or the admin
    /// token is missing or wrong (429 for a wrong one from a client that failed too often).
    pub fn admit(&self, req: &Request) -> Result<(), Response> {
        let Some(expected) = &self.token else {
            return Err(Response::error(
                404,
                "the admin API is off: set ADMIN_API_TOKEN to turn it on",
            ));
        };
        match req.bearer_token() {
            Some(given) if token::constant_time_eq(given.as_bytes(), expected.as_bytes()) => Ok(()),
            // Blocked or not is decided only for a wrong token: the right one always works.
            Some(_) => Err(match self.throttle.fail_request(req) {
                Some(wait) => too_many_attempts(wait, false),
                None => Response::error(401, "the admin token is not valid")
                    .with_header("WWW-Authenticate", "Bearer"),
            }),
            None => Err(
                Response::error(401, "send Authorization: Bearer <ADMIN_API_TOKEN>")
                    .with_header("WWW-Authenticate", "Bearer"),
            ),
        }
    }

    /// Answers a request under `/integrated-account` that [`Admin::admit`] let in.
    pub fn serve(&self, req: &Request) -> Response {
        let result = match self.dispatch(req) {
            Ok(Ok((status, body))) => return Response::json(status, &body),
            Ok(Err(err)) => err,
            Err(response) => return response,
        };
        Response::error(result.status(), result.message())
    }

    /// Routes to a registry call; the outer `Err` is an answer made here (404, 405, 400 on
    /// a body that is not JSON, 503 when the pool is full).
    fn dispatch(&self, req: &Request) -> Result<Result<(u16, Value), RegistryError>, Response> {
        let rest = req
            .path
            .trim_start_matches("/integrated-account")
            .trim_matches('/');
        let segments: Vec<&str> = if rest.is_empty() {
            Vec::new()
        } else {
            rest.split('/').collect()
        };
        let page = || {
            Page::from_query(
                req.query_param("limit").as_deref(),
                req.query_param("next_cursor").as_deref(),
            )
        };
        let registry = &self.registry;
        let now = clock::now_millis();
        Ok(match (req.method, segments.as_slice()) {
            ("GET", []) => page().map(|p| (200, registry.list_accounts(&p))),
            ("POST", []) => match NewAccount::parse(&json_body(req)?) {
                Ok(input) => self.write(move |r| r.add_account(input, now).map(|v| (201, v)))?,
                Err(err) => Err(err),
            },
            ("GET", [id]) => registry.get_account(id).map(|v| (200, v)),
            ("DELETE", [id]) => {
                let id = id.to_string();
                self.write(move |r| r.delete_account(&id, now).map(|v| (200, v)))?
            }
            ("GET", [id, "mcp"]) => page()
                .and_then(|p| registry.list_servers(id, &p, now))
                .map(|v| (200, v)),
            ("POST", [id, "mcp"]) => {
                let body = json_body(req)?;
                let input = registry
                    .get_account(id)
                    .and_then(|_| NewServer::parse(&body, catalog::filter_view(), now));
                match input {
                    Ok(input) => {
                        let (id, base) = (id.to_string(), self.base_url(req));
                        self.write(move |r| {
                            r.mint_server(&id, input, ADMIN_IDENTITY, base.as_deref(), now)
                                .map(|mut shown| {
                                    if base.is_none() {
                                        shown["url_note"] = NO_URL.into();
                                    }
                                    (201, shown)
                                })
                        })?
                    }
                    Err(err) => Err(err),
                }
            }
            ("GET", [id, "mcp", mcp_id]) => registry.get_server(id, mcp_id, now).map(|v| (200, v)),
            ("PATCH", [id, "mcp", mcp_id]) => {
                let body = json_body(req)?;
                let patch = registry
                    .get_server(id, mcp_id, now)
                    .and_then(|_| ServerPatch::parse(&body, catalog::filter_view(), now));
                match patch {
                    Ok(patch) => {
                        let (id, mcp_id) = (id.to_string(), mcp_id.to_string());
                        self.write(move |r| {
                            r.patch_server(&id, &mcp_id, patch, now).map(|v| (200, v))
                        })?
                    }
                    Err(err) => Err(err),
                }
            }
            ("DELETE", [id, "mcp", mcp_id]) => {
                let (id, mcp_id) = (id.to_string(), mcp_id.to_string());
                self.write(move |r| r.delete_server(&id, &mcp_id, now).map(|v| (200, v)))?
            }
            (_, [] | [_] | [_, "mcp"] | [_, "mcp", _]) => {
                return Err(Response::error(
                    405,
                    &format!("{} is not supported on {}", req.method, req.path),
                ))
            }
            _ => {
                return Err(Response::error(
                    404,
                    &format!("no admin route {}", req.path),
                ))
            }
        })
    }

    /// Runs a registry change on the blocking pool (it fsyncs).
    fn write<T: Send + 'static>(
        &self,
        change: impl FnOnce(&Registry) -> T + Send + 'static,
    ) -> Result<T, Response> {
        let registry = self.registry.clone();
        self.pool
            .run(move || change(&registry))
            .map_err(|_| Response::error(503, "the server is busy; try again in a moment"))
    }

    /// The base of minted URLs: `PUBLIC_URL`, else `http://<Host>` (or the scheme named by
    /// `X-Forwarded-Proto` from a proxy in front) when `Host` names this machine (loopback);
    /// `None` for any other `Host`, which is only the client's word: a URL built from it
    /// could point the token's holder, and the token, at someone else's server.
    fn base_url(&self, req: &Request) -> Option<String> {
        if let Some(url) = &self.public_url {
            return Some(url.trim_end_matches('/').to_string());
        }
        let host = req.header("host").filter(|h| is_loopback_host(h))?;
        let scheme = match req.header("x-forwarded-proto") {
            Some(p) if p.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        Some(format!("{scheme}://{host}"))
    }
}

/// Why a server was minted without a URL (`url_note`).
const NO_URL: &str = "no url: the request's Host is not this machine's loopback name, and \
    PUBLIC_URL is not set; set PUBLIC_URL to the server's public base URL (such as \
    https://mcp.example.com) to get one. Until then use the token as a Bearer on POST /mcp, or \
    at <your base URL>/mcp/<token>";

/// True for a `Host` header that names a loopback address: `localhost`, `127.x.x.x` or
/// `[::1]`, with at most a port (digits only, so nothing can follow it into the URL).
fn is_loopback_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((ip, "")) => (ip, None),
            Some((ip, port)) => match port.strip_prefix(':') {
                Some(port) => (ip, Some(port)),
                None => return false,
            },
            None => return false,
        },
        None => match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok =
        port.is_none_or(|p| (1..=5).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback() && ip.is_ipv6() == host.starts_with('['));
    port_ok && name_ok
}

/// The request body as JSON, or a 400 envelope.
fn json_body(req: &Request) -> Result<Value, Response> {
    serde_json::from_slice(req.body)
        .map_err(|err| Response::error(400, &format!("the body is not valid JSON: {err}")))
}

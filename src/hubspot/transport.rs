//! One HTTP/1.1 exchange with HubSpot (or the mock) over [ureq]: one [`ureq::Agent`] per
//! upstream origin, shared by the blocking pool's threads, so calls reuse kept-alive
//! connections (and their TLS sessions) instead of opening one each.
//!
//! - **Pool.** At most [`IDLE_PER_HOST`] idle connections per origin, each closed after
//!   [`IDLE_AGE`] unused: shorter than the idle timeouts servers and load balancers commonly
//!   use (HubSpot publishes none), so a connection is rarely reused just as the far end drops
//!   it; a connection the far end has closed is noticed before reuse and replaced.
//! - **Proxies.** `HTTPS_PROXY` (for `https://`), `HTTP_PROXY` (for `http://`), `ALL_PROXY`,
//!   and `NO_PROXY`, lower-case forms first, as curl reads them ([`proxy_for`]); every call
//!   goes through the proxy with `CONNECT`. Loopback addresses never use a proxy.
//! - **TLS.** Our own rustls on ring ([`tls_config`]): the Mozilla roots compiled into the
//!   binary (webpki-roots), so the static binary reaches HubSpot from an empty `FROM scratch`
//!   image, plus every certificate in `SSL_CERT_FILE` (a TLS-inspecting proxy's CA, or a test
//!   CA). ureq's own TLS roots are either/or, so ureq is built without TLS and [`TlsConnector`]
//!   wraps its connections.
//! - **Bounds.** `HUBSPOT_TIMEOUT_MS` covers resolve, connect, proxy, handshake and the last
//!   byte of the body; the body is read as a stream and refused past
//!   [`Request::max_body`] (`HUBSPOT_MAX_RESPONSE_BYTES`); a header block past 32 KiB is refused; 1xx answers are
//!   skipped.

use super::dns;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use ureq::unversioned::transport::time::{Duration as UreqDuration, Instant as UreqInstant};
use ureq::unversioned::transport::{
    Buffers, ConnectProxyConnector, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout,
    Transport, TransportAdapter,
};
use ureq::Agent;

/// Idle connections kept per origin (HubSpot, or the mock): enough for a burst of
/// concurrent calls to find warm connections, few enough to hold little memory.
const IDLE_PER_HOST: usize = 8;
/// How long an idle connection is kept before it is closed.
const IDLE_AGE: Duration = Duration::from_secs(15);
/// The largest response header block accepted (HubSpot's are about 2 KiB).
const MAX_HEAD: usize = 32 * 1024;
/// Each connection's read buffer: ureq refuses a header block only once more than
/// [`MAX_HEAD`] bytes are buffered, so the buffer is larger.
const READ_BUFFER: usize = MAX_HEAD + 8 * 1024;

/// The default of `HUBSPOT_MAX_RESPONSE_BYTES`: HubSpot's largest pages (100 records with
/// many properties) are well under a megabyte.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 8 * 1024 * 1024;

/// A request to send to HubSpot (or the proxy); not an [`crate::http::Request`], which
/// is one a client sent us.
pub struct UpstreamRequest<'a> {
    /// `GET`, `POST`, `PUT`, `PATCH` or `DELETE`.
    pub method: &'a str,
    /// The absolute `http://` or `https://` URL.
    pub url: &'a str,
    /// Extra header lines (Host, Content-Length and User-Agent are added).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, if any.
    pub body: Option<&'a [u8]>,
    /// The whole exchange's time limit, connect to last byte.
    pub timeout: Duration,
    /// The largest answer body read: a larger one is refused after reading at most this
    /// many bytes.
    pub max_body: u64,
}

/// HubSpot's complete answer; not an [`crate::http::Response`], which we send.
#[derive(Debug)]
pub struct UpstreamResponse {
    /// The final status (1xx interim answers are skipped).
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The whole body.
    pub body: Vec<u8>,
}

impl UpstreamResponse {
    /// The first header called `name` (lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why no complete answer came back. The split matters for creates: only [`Failure::NotSent`]
/// proves HubSpot never saw the request.
#[derive(Debug, PartialEq)]
pub enum Failure {
    /// No connection was made (bad URL, DNS, refused, proxy, TLS): nothing was sent.
    NotSent(String),
    /// The time limit ran out.
    Timeout,
    /// The request went out, then the connection failed before the whole answer came.
    Lost(String),
    /// The answer came but cannot be used (malformed, or larger than allowed).
    Unreadable(String),
}

/// Sends one request on a pooled connection to its origin and reads the whole answer.
pub fn send(request: &UpstreamRequest) -> Result<UpstreamResponse, Failure> {
    let agent = agent(origin(request.url), request.timeout)?;
    let mut builder = ureq::http::Request::builder()
        .method(request.method)
        .uri(request.url);
    for (name, value) in request.headers {
        builder = builder.header(*name, *value);
    }
    let result = match request.body {
        Some(body) => builder.body(body).map(|r| agent.run(r)),
        None => builder.body(()).map(|r| agent.run(r)),
    };
    let mut response = result
        .map_err(|err| Failure::NotSent(format!("bad request: {err}")))?
        .map_err(failure)?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            let value = String::from_utf8_lossy(value.as_bytes()).trim().to_string();
            (name.as_str().to_string(), value)
        })
        .collect();
    let body = response
        .body_mut()
        .with_config()
        .limit(request.max_body)
        .read_to_vec()
        .map_err(failure)?;
    Ok(UpstreamResponse {
        status,
        headers,
        body,
    })
}

/// Sorts a ureq error by whether the request may have reached HubSpot.
fn failure(err: ureq::Error) -> Failure {
    use ureq::Error as E;
    match err {
        E::Timeout(_) => Failure::Timeout,
        E::Io(err) if err.kind() == io::ErrorKind::TimedOut => Failure::Timeout,
        E::HostNotFound => Failure::NotSent("the host name does not resolve".into()),
        E::ConnectionFailed => Failure::NotSent("no connection could be made".into()),
        E::Io(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
            Failure::NotSent(format!("connection refused ({err})"))
        }
        E::ConnectProxyFailed(why) => Failure::NotSent(format!(
            "the proxy refused the tunnel ({why}); check HTTPS_PROXY / HTTP_PROXY and its credentials"
        )),
        E::InvalidProxyUrl => Failure::NotSent("the proxy URL is not valid".into()),
        E::BadUri(why) => Failure::NotSent(format!("bad URL: {why}")),
        E::Other(err) if err.is::<HandshakeFailed>() => Failure::NotSent(err.to_string()),
        E::BodyExceedsLimit(limit) => Failure::Unreadable(format!(
            "the answer is larger than HUBSPOT_MAX_RESPONSE_BYTES ({limit} bytes); ask for fewer records or properties"
        )),
        E::LargeResponseHeader(_, limit) => Failure::Unreadable(format!(
            "the answer's header block is larger than {limit} bytes"
        )),
        E::Protocol(err) => Failure::Unreadable(format!("malformed HTTP answer ({err})")),
        E::Io(err) if err.kind() == io::ErrorKind::InvalidData => {
            Failure::Unreadable(format!("malformed HTTP answer ({err})"))
        }
        E::Io(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
            Failure::Lost("the connection closed before the whole answer".into())
        }
        other => Failure::Lost(format!("the connection failed ({other})")),
    }
}

/// `scheme://authority` of a URL: the pool key.
fn origin(url: &str) -> &str {
    let rest = url.find("://").map_or(0, |i| i + 3);
    let end = url[rest..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| rest + i);
    &url[..end]
}

/// The shared agent for `origin` and `timeout`, made on first use.
fn agent(origin: &str, timeout: Duration) -> Result<Agent, Failure> {
    type Agents = Mutex<HashMap<(String, Duration), Result<Agent, String>>>;
    static AGENTS: OnceLock<Agents> = OnceLock::new();
    let mut agents = AGENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    agents
        .entry((origin.to_string(), timeout))
        .or_insert_with(|| new_agent(origin, timeout))
        .clone()
        .map_err(Failure::NotSent)
}

fn new_agent(origin: &str, timeout: Duration) -> Result<Agent, String> {
    let (scheme, authority) = origin.split_once("://").unwrap_or(("", origin));
    let proxy = match proxy_for(scheme, host_of(authority), |name| std::env::var(name).ok()) {
        Some((variable, url)) => {
            let proxy = ureq::Proxy::new(&url)
                .ok()
                .filter(|proxy| {
                    matches!(
                        proxy.protocol(),
                        ureq::ProxyProtocol::Http | ureq::ProxyProtocol::Https
                    )
                })
                .ok_or_else(|| {
                    format!(
                        "{variable} is not an HTTP proxy URL like http://[user:password@]host:port"
                    )
                })?;
            log::info!(
                "HubSpot calls to {origin} go through the proxy {}:{} ({variable})",
                proxy.host(),
                proxy.port()
            );
            Some(proxy)
        }
        None => None,
    };
    let config = Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(timeout))
        .user_agent(concat!("hubspot-mcp-server/", env!("CARGO_PKG_VERSION")))
        .max_response_header_size(MAX_HEAD)
        .input_buffer_size(READ_BUFFER)
        .output_buffer_size(16 * 1024)
        .max_idle_connections(IDLE_PER_HOST)
        .max_idle_connections_per_host(IDLE_PER_HOST)
        .max_idle_age(IDLE_AGE)
        .proxy(proxy)
        .build();
    Ok(tls_agent(config, tls_config()))
}

/// An agent for `config` whose `https://` connections use `tls` (our rustls on ring; an
/// error there fails each TLS handshake with it), through a `CONNECT` proxy when `config`
/// has one, with host names looked up only when a connection is opened, cached, and
/// never on a thread of their own ([`dns`]). HubSpot's agents use [`tls_config`]; etcd's
/// (`src/registry/etcd/`) its own roots and client certificate.
pub(crate) fn tls_agent(
    config: ureq::config::Config,
    tls: Result<Arc<ClientConfig>, String>,
) -> Agent {
    let connector =
        ().chain(ConnectProxyConnector::default())
            .chain(dns::ResolvingTcp::default())
            .chain(TlsConnector(tls));
    Agent::with_parts(config, connector, dns::LateResolver)
}

/// The host of `host[:port]` or `[v6]:port`, without brackets.
fn host_of(authority: &str) -> &str {
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.split(':').next().unwrap_or(authority)
}

/// The proxy for calls to `scheme://host`, and the variable it came from, read as curl
/// does: `https_proxy`/`HTTPS_PROXY` for `https`, `http_proxy`/`HTTP_PROXY` for `http`, else
/// `all_proxy`/`ALL_PROXY`; none when `no_proxy`/`NO_PROXY` lists the host (`*`, a name
/// that also covers its subdomains, an optional leading `.`; ports ignored) or the host is a
/// loopback address, which a proxy elsewhere could never reach. Empty values count as unset.
pub(crate) fn proxy_for(
    scheme: &str,
    host: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Option<(&'static str, String)> {
    let first = |names: &[&'static str]| {
        names
            .iter()
            .find_map(|name| Some((*name, env(name).filter(|v| !v.trim().is_empty())?)))
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) {
        return None;
    }
    if let Some((_, list)) = first(&["no_proxy", "NO_PROXY"]) {
        let listed = list
            .split([',', ' ', '\t'])
            .map(|entry| entry.trim().to_ascii_lowercase())
            .filter(|entry| !entry.is_empty())
            .any(|entry| {
                let entry = match entry.strip_prefix('[') {
                    Some(v6) => v6.split(']').next().unwrap_or_default().to_string(),
                    None if entry.matches(':').count() == 1 => {
                        entry.split(':').next().unwrap_or_default().to_string()
                    }
                    None => entry,
                };
                let entry = entry.trim_start_matches("*.").trim_start_matches('.');
                entry == "*"
                    || host == entry
                    || host
                        .strip_suffix(entry)
                        .is_some_and(|rest| rest.ends_with('.'))
            });
        if listed {
            return None;
        }
    }
    let scheme_vars: &[&'static str] = match scheme {
        "https" => &["https_proxy", "HTTPS_PROXY"],
        _ => &["http_proxy", "HTTP_PROXY"],
    };
    first(scheme_vars)
        .or_else(|| first(&["all_proxy", "ALL_PROXY"]))
        .map(|(name, url)| (name, url.trim().to_string()))
}

/// The proxy credentials in the proxy variables (`user:password` and the password alone,
/// of each URL that has them), read once: what a proxy's or upstream's echo must never
/// carry into a log or an answer (see [`super::error::redact`]).
pub(crate) fn proxy_credentials() -> &'static [String] {
    static CREDENTIALS: OnceLock<Vec<String>> = OnceLock::new();
    CREDENTIALS.get_or_init(|| {
        let names = ["https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"];
        let names = names.iter().chain(&["all_proxy", "ALL_PROXY"]);
        names
            .filter_map(|name| credentials_of(&std::env::var(name).ok()?))
            .flat_map(|(userinfo, password)| [userinfo, password])
            .filter(|secret| !secret.is_empty())
            .collect()
    })
}

/// `user:password` and `password` of a proxy URL like `http://user:password@host:port`.
fn credentials_of(url: &str) -> Option<(String, String)> {
    let rest = url.trim().split_once("://").map_or(url.trim(), |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let password = userinfo.split_once(':').map_or("", |(_, p)| p);
    Some((userinfo.to_string(), password.to_string()))
}

/// The TLS client configuration, built once: the built-in roots plus `SSL_CERT_FILE`'s.
fn tls_config() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            if let Some(path) = std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
                let shown = path.to_string_lossy().into_owned();
                let certs = CertificateDer::pem_file_iter(&path)
                    .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
                    .map_err(|err| format!("SSL_CERT_FILE={shown}: {err}"))?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(format!("SSL_CERT_FILE={shown} holds no usable certificate"));
                }
            }
            let config = ClientConfig::builder()
                .with_root_certificates(roots)
                .with_no_client_auth();
            Ok(Arc::new(config))
        })
        .clone()
}

/// Wraps `https://` connections (direct, or tunnelled through a proxy) in TLS with its
/// configuration (or fails them with its error); passes plain ones through.
struct TlsConnector(Result<Arc<ClientConfig>, String>);

impl fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsConnector")
    }
}

/// A TLS handshake that failed (an unknown CA, a wrong name): nothing was sent.
#[derive(Debug)]
struct HandshakeFailed(io::Error);

impl fmt::Display for HandshakeFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the TLS handshake failed: {}", self.0)
    }
}

impl std::error::Error for HandshakeFailed {}

impl<In: Transport> Connector<In> for TlsConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details.uri.host().unwrap_or_default();
        let name = ServerName::try_from(host.trim_start_matches('[').trim_end_matches(']'))
            .map_err(|_| ureq::Error::Tls("not a valid TLS server name"))?
            .to_owned();
        let handshake_failed = |err| ureq::Error::Other(Box::new(HandshakeFailed(err)));
        let config = self
            .0
            .clone()
            .map_err(|err| handshake_failed(io::Error::other(err)))?;
        let tls = ClientConnection::new(config, name)
            .map_err(|err| handshake_failed(io::Error::other(err)))?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(remaining(details));
        let mut stream = StreamOwned::new(tls, sock);
        stream
            .conn
            .complete_io(&mut stream.sock)
            .map_err(handshake_failed)?;
        Ok(Some(Either::B(TlsTransport {
            buffers: LazyBuffers::new(
                details.config.input_buffer_size(),
                details.config.output_buffer_size(),
            ),
            stream,
        })))
    }
}

/// What is left of the connection's time budget now (the TCP connect used some).
fn remaining(details: &ConnectionDetails) -> NextTimeout {
    let mut timeout = details.timeout;
    if let (UreqInstant::Exact(now), UreqInstant::Exact(start), UreqDuration::Exact(after)) =
        ((details.current_time)(), details.now, timeout.after)
    {
        let spent = now.saturating_duration_since(start);
        timeout.after = UreqDuration::Exact(after.saturating_sub(spent));
    }
    timeout
}

/// A TLS connection for ureq.
struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsTransport")
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = match self.stream.read(input) {
            // A peer that closes without close_notify counts as closed: HTTP framing, not
            // the TLS layer, says whether data is missing.
            Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => 0,
            other => other?,
        };
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_key_the_pool() {
        assert_eq!(
            origin("https://api.hubapi.com/crm/v3/objects/contacts?limit=1"),
            "https://api.hubapi.com"
        );
        assert_eq!(origin("http://[::1]:8080"), "http://[::1]:8080");
        assert_eq!(origin("http://127.0.0.1:9?x=/y"), "http://127.0.0.1:9");
        assert_eq!(host_of("[::1]:8080"), "::1");
        assert_eq!(host_of("user:pw@proxy:3128"), "proxy");
        assert_eq!(
            credentials_of("http://user:p@ss:w0rd@proxy:3128/x"),
            Some(("user:p@ss:w0rd".into(), "p@ss:w0rd".into()))
        );
        assert_eq!(credentials_of("proxy:3128"), None);
        assert_eq!(credentials_of("http://proxy:3128/a@b"), None);
        assert_eq!(host_of("api.hubapi.com"), "api.hubapi.com");
    }

    fn proxy(scheme: &str, host: &str, vars: &[(&str, &str)]) -> Option<(&'static str, String)> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        proxy_for(scheme, host, |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        })
    }

    #[test]
    fn proxies_are_chosen_like_curl() {
        let p = |name: &'static str, url: &str| Some((name, url.to_string()));
        let both = [("HTTPS_PROXY", "http://s:1"), ("HTTP_PROXY", "http://p:2")];
        assert_eq!(
            proxy("https", "api.hubapi.com", &both),
            p("HTTPS_PROXY", "http://s:1")
        );
        assert_eq!(
            proxy("http", "mock.corp", &both),
            p("HTTP_PROXY", "http://p:2")
        );
        assert_eq!(
            proxy("https", "api.hubapi.com", &[("HTTP_PROXY", "http://p:2")]),
            None
        );
        let lower = [("https_proxy", "http://l:1"), ("HTTPS_PROXY", "http://u:1")];
        assert_eq!(
            proxy("https", "x.com", &lower),
            p("https_proxy", "http://l:1")
        );
        let all = [("ALL_PROXY", "http://a:3"), ("HTTPS_PROXY", "")];
        assert_eq!(proxy("https", "x.com", &all), p("ALL_PROXY", "http://a:3"));
        assert_eq!(proxy("https", "x.com", &[]), None);
    }

    #[test]
    fn no_proxy_and_loopback_go_direct() {
        let with = |no_proxy: &str, host: &str| {
            proxy(
                "https",
                host,
                &[("HTTPS_PROXY", "http://s:1"), ("NO_PROXY", no_proxy)],
            )
            .is_some()
        };
        assert!(
            !with("hubapi.com", "api.hubapi.com"),
            "a name covers its subdomains"
        );
        assert!(!with(".hubapi.com", "api.hubapi.com"));
        assert!(!with("*.hubapi.com", "api.hubapi.com"));
        assert!(
            !with("corp, api.hubapi.com:443", "api.hubapi.com"),
            "spaces, ports"
        );
        assert!(!with("*", "api.hubapi.com"));
        assert!(!with("LOCALHOST", "localhost"));
        assert!(!with("[::2]", "::2"));
        assert!(
            with("pi.hubapi.com", "api.hubapi.com"),
            "not a suffix match"
        );
        assert!(with("hubapi.co", "api.hubapi.com"));
        assert!(with("", "api.hubapi.com"));
        assert!(
            with("other", "localhost"),
            "a name follows NO_PROXY, as in curl"
        );
        let direct = |host: &str| proxy("http", host, &[("HTTP_PROXY", "http://p:2")]).is_none();
        assert!(direct("127.0.0.1") && direct("127.1.2.3") && direct("::1"));
        assert!(!direct("10.0.0.1"));
    }
}

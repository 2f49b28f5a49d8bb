//! Configuration from the environment (the first specification's table plus ours) and command-line
//! flags, validated once at start with errors that name the variable and what it allows.

use crate::catalog::discovery::ToolExposure;
use crate::front::auth::{ApiKeys, McpAuth};
use crate::http::{CorsPolicy, IpRange};
use crate::hubspot::{ApiVersion, CallPolicy};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `serve` needs to know, validated.
#[derive(Debug, Clone)]
pub struct Config {
    /// The address to bind (`HOST`, default `0.0.0.0`).
    pub host: String,
    /// The port to bind (`PORT`, default 3000; 0 picks a free one).
    pub port: u16,
    /// Where HubSpot is.
    pub upstream: Upstream,
    /// `HUBSPOT_API_URL`, used with a token.
    pub hubspot_api_url: String,
    /// `NODE_ENV`: production, development or test (development logs at debug).
    pub node_env: String,
    /// `CORS_ORIGIN`.
    pub cors: CorsPolicy,
    /// `MAX_REQUEST_SIZE` in bytes.
    pub max_request_size: usize,
    /// `GRACEFUL_SHUTDOWN_TIMEOUT` (ms).
    pub shutdown_timeout: Duration,
    /// `LOG_LEVEL`.
    pub log_level: log::LevelFilter,
    /// `HUBSPOT_TIMEOUT_MS`: the whole-call timeout for one HubSpot request.
    pub hubspot_timeout: Duration,
    /// `HUBSPOT_POOL_THREADS`: OS threads that make HubSpot calls.
    pub pool_threads: usize,
    /// `HUBSPOT_POOL_QUEUE`: calls that may wait for a pool thread before new ones are refused.
    pub pool_queue: usize,
    /// `HTTP_IDLE_TIMEOUT_MS`: how long a keep-alive connection may idle.
    pub idle_timeout: Duration,
    /// `HTTP_REQUEST_TIMEOUT_MS`: how long a client may take to send one request.
    pub request_timeout: Duration,
    /// `WORKERS`: may coroutine worker threads (default: the number of CPUs).
    pub workers: usize,
    /// `ADMIN_API_TOKEN`: turns the admin API on (`None`: off).
    pub admin_token: Option<String>,
    /// `DATA_DIR`: where the registry file lives.
    pub data_dir: PathBuf,
    /// `PUBLIC_URL`: the base of minted MCP server URLs.
    pub public_url: Option<String>,
    /// `TOOL_EXPOSURE`: how `/mcp` and stdio list the tools (scoped servers have their own).
    pub tool_exposure: ToolExposure,
    /// `HUBSPOT_RATE_LIMIT_PER_10S`, `HUBSPOT_SEARCH_RATE_PER_S`, `HUBSPOT_MAX_RETRIES`,
    /// `HUBSPOT_MAX_WAIT_MS`: how HubSpot calls are paced and retried.
    pub hubspot_policy: CallPolicy,
    /// `TOOL_RESULT_MAX_BYTES`: the most text one tool result holds before records are
    /// left out (default 100 000).
    pub tool_result_max_bytes: usize,
    /// `MCP_PAGE_SIZE`: items per `tools/list`, `resources/list`, `resources/templates/list`
    /// and `prompts/list` page (`nextCursor` beyond it).
    pub mcp_page_size: usize,
    // --- Who may call the server (docs/security.md) ---
    /// `MCP_AUTH`: when `/mcp` needs a credential.
    pub mcp_auth: McpAuth,
    /// `MCP_API_KEYS` and `MCP_API_KEYS_FILE`: keys with full access to the start-up account.
    pub api_keys: ApiKeys,
    /// `ADMIN_HOST` and `ADMIN_PORT`: the admin API's own listener; when set, the admin
    /// routes are gone from the public port.
    pub admin_listen: Option<(String, u16)>,
    /// `TRUSTED_PROXIES`: peers whose `X-Forwarded-For` names the client that failed
    /// credential attempts are counted for (default: loopback).
    pub trusted_proxies: Vec<IpRange>,
    // Scoped servers.
    /// `MAX_SERVERS_PER_ACCOUNT`: live scoped MCP servers one integrated account may have
    /// (default 1000); a create beyond it answers 409.
    pub max_servers_per_account: usize,
    // HubSpot's date-versioned API.
    /// `HUBSPOT_API_VERSION`: which HubSpot paths are called (`2026-09`, `2026-03` or
    /// `legacy`; see `hubspot::paths`).
    pub hubspot_api_version: ApiVersion,
    // --- HubSpot answers ---
    /// `HUBSPOT_MAX_RESPONSE_BYTES`: the largest answer body read from HubSpot; a larger one
    /// is refused after reading this many bytes (default 8 MiB).
    pub hubspot_max_response_bytes: u64,
    // HTTP connection limits.
    /// `MAX_CONNECTIONS`: connections served in full at once; `0` sizes it from the fd limit
    /// (see `http::default_max_connections`).
    pub max_connections: usize,
    // Request limits of the JSON-RPC layer.
    /// `MAX_BATCH`: the most messages one JSON-RPC batch holds; a larger one is refused whole.
    pub max_batch: usize,
    // --- Where the registry lives (docs/deployment.md: Running several replicas) ---
    /// `REGISTRY=etcd` and the `ETCD_*` settings: the registry on etcd, shared by replicas;
    /// `None` (`REGISTRY=file`, the default): the file under `DATA_DIR`.
    pub etcd: Option<crate::registry::etcd::Settings>,
    /// `REGISTRY_KEY_FILE`: the key sealing HubSpot keys in etcd (required with etcd).
    pub registry_key_file: Option<PathBuf>,
    /// `MAX_CONNECTIONS_PER_CLIENT`: connections one client address (an IPv6 client: its
    /// /64) may hold; past it its oldest idle one is shed. Trusted proxies are exempt.
    pub max_connections_per_client: usize,
    /// `MAX_BUFFERED_BODY_BYTES`: bytes all connections together may hold for request
    /// bodies (default the larger of 64 MiB and 4 × `MAX_REQUEST_SIZE`).
    pub max_buffered_body_bytes: usize,
    /// `REGISTRY_ACCEPT_UNSIGNED`: the one-time migration of a registry written before
    /// records were signed; its records without a MAC are taken at start and signed.
    pub registry_accept_unsigned: bool,
}

/// Where HubSpot calls go.
#[derive(Clone)]
pub enum Upstream {
    /// The real API (or any URL) with this private app token.
    Token(String),
    /// The embedded mock HubSpot, from these fixtures.
    Mock(PathBuf),
}

impl fmt::Debug for Upstream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Upstream::Token(_) => write!(f, "Token(<redacted>)"),
            Upstream::Mock(dir) => write!(f, "Mock({})", dir.display()),
        }
    }
}

/// A configuration problem: the variable (or flag), the value and what is allowed.
#[derive(Debug, PartialEq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Config {
    /// Reads the configuration from `env` (a lookup such as `std::env::var`) and the flags
    /// of `serve` (`--port`, `--host`, `--mock DIR`, `--log-level`), flags winning.
    pub fn load(
        env: impl Fn(&str) -> Option<String>,
        flags: &[String],
    ) -> Result<Config, ConfigError> {
        let env = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let overrides = flag_overrides(flags)?;
        let get = |name: &str| {
            overrides
                .iter()
                .rev()
                .find(|(var, _)| *var == name)
                .map(|(_, value)| value.clone())
                .or_else(|| env(name))
        };

        let node_env = node_env(&get)?;
        let upstream = upstream(&get)?;
        let hubspot_api_url = hubspot_api_url(&get)?;
        let log_level = log_level(&get, &node_env)?;
        let cors = cors(&get)?;
        let admin_token = admin_token(&get)?;
        let public_url = public_url(&get)?;
        let tool_exposure = choice(
            &get,
            "TOOL_EXPOSURE",
            ToolExposure::parse,
            ToolExposure::ALLOWED,
        )?;
        let (mcp_auth, api_keys) = mcp_credentials(&get, admin_token.is_some())?;
        let admin_listen = admin_listen(&get, admin_token.is_some())?;
        let trusted_proxies = trusted_proxies(&get)?;
        let hubspot_api_version = choice(
            &get,
            "HUBSPOT_API_VERSION",
            ApiVersion::parse,
            ApiVersion::ALLOWED,
        )?;
        check_ssl_cert_file(&get)?;
        let (etcd, registry_key_file) = registry_settings(&get)?;
        let (max_request_size, max_buffered_body_bytes) = body_limits(&get)?;
        Ok(Config {
            host: get("HOST").unwrap_or_else(|| "0.0.0.0".into()),
            port: number(&get, "PORT", 3000, 0, 65_535)? as u16,
            upstream,
            hubspot_api_url,
            node_env,
            cors,
            max_request_size,
            shutdown_timeout: millis(&get, "GRACEFUL_SHUTDOWN_TIMEOUT", 10_000)?,
            log_level,
            hubspot_timeout: millis(&get, "HUBSPOT_TIMEOUT_MS", 30_000)?,
            pool_threads: number(&get, "HUBSPOT_POOL_THREADS", 16, 1, 1024)? as usize,
            pool_queue: number(&get, "HUBSPOT_POOL_QUEUE", 1024, 1, 1 << 20)? as usize,
            idle_timeout: millis(&get, "HTTP_IDLE_TIMEOUT_MS", 60_000)?,
            request_timeout: millis(&get, "HTTP_REQUEST_TIMEOUT_MS", 30_000)?,
            workers: number(&get, "WORKERS", cpus() as u64, 1, 256)? as usize,
            admin_token,
            data_dir: PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into())),
            public_url,
            tool_exposure,
            hubspot_policy: call_policy(&get)?,
            tool_result_max_bytes: number(
                &get,
                "TOOL_RESULT_MAX_BYTES",
                crate::catalog::DEFAULT_RESULT_LIMIT as u64,
                1_000,
                100_000_000,
            )? as usize,
            mcp_page_size: number(
                &get,
                "MCP_PAGE_SIZE",
                crate::mcp::paging::DEFAULT_PAGE_SIZE as u64,
                1,
                1_000,
            )? as usize,
            mcp_auth,
            api_keys,
            admin_listen,
            trusted_proxies,
            // Scoped servers.
            max_servers_per_account: number(
                &get,
                "MAX_SERVERS_PER_ACCOUNT",
                crate::registry::DEFAULT_MAX_SERVERS_PER_ACCOUNT as u64,
                1,
                1_000_000,
            )? as usize,
            hubspot_api_version,
            hubspot_max_response_bytes: number(
                &get,
                "HUBSPOT_MAX_RESPONSE_BYTES",
                crate::hubspot::transport::DEFAULT_MAX_RESPONSE_BYTES,
                1024,
                1 << 30,
            )?,
            max_connections: number(&get, "MAX_CONNECTIONS", 0, 0, 1 << 24)? as usize,
            // Request limits of the JSON-RPC layer.
            max_batch: number(
                &get,
                "MAX_BATCH",
                crate::mcp::jsonrpc::DEFAULT_MAX_BATCH as u64,
                1,
                1_000,
            )? as usize,
            etcd,
            registry_key_file,
            max_connections_per_client: number(&get, "MAX_CONNECTIONS_PER_CLIENT", 64, 1, 1 << 24)?
                as usize,
            max_buffered_body_bytes,
            registry_accept_unsigned: accept_unsigned(&get)?,
        })
    }

    /// Whether HubSpot calls go to the embedded mock.
    pub fn is_mock(&self) -> bool {
        matches!(self.upstream, Upstream::Mock(_))
    }
}

/// The flags of `serve` as the variables they stand for, in the order given (a later one
/// wins).
fn flag_overrides(flags: &[String]) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut overrides = Vec::new();
    let mut args = flags.iter();
    while let Some(flag) = args.next() {
        let var = match flag.as_str() {
            "--port" => "PORT",
            "--host" => "HOST",
            "--mock" => "HUBSPOT_MOCK",
            "--log-level" => "LOG_LEVEL",
            other => {
                return Err(ConfigError(format!(
                    "unknown option '{other}' for serve; see --help"
                )))
            }
        };
        let value = args
            .next()
            .ok_or_else(|| ConfigError(format!("{flag} needs a value; see --help")))?;
        overrides.push((var, value.clone()));
    }
    Ok(overrides)
}

/// `NODE_ENV`: production (the default), development or test.
fn node_env(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let node_env = get("NODE_ENV").unwrap_or_else(|| "production".into());
    if !matches!(node_env.as_str(), "production" | "development" | "test") {
        return Err(invalid(
            "NODE_ENV",
            &node_env,
            "production, development or test",
        ));
    }
    Ok(node_env)
}

/// `LOG_LEVEL`, by default debug in development and info otherwise.
fn log_level(
    get: &impl Fn(&str) -> Option<String>,
    node_env: &str,
) -> Result<log::LevelFilter, ConfigError> {
    let log_default = if node_env == "development" {
        "debug"
    } else {
        "info"
    };
    let log_text = get("LOG_LEVEL").unwrap_or_else(|| log_default.into());
    log_text.parse().map_err(|_| {
        invalid(
            "LOG_LEVEL",
            &log_text,
            "off, error, warn, info, debug or trace",
        )
    })
}

/// Where HubSpot calls go: the mock (`HUBSPOT_MOCK`, which wins) or HubSpot with the
/// start-up account's token.
fn upstream(get: &impl Fn(&str) -> Option<String>) -> Result<Upstream, ConfigError> {
    // HUBSPOT_ACCESS_TOKEN (e.g. a Service Key) is an alias; the first name wins.
    let token = get("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN").or_else(|| get("HUBSPOT_ACCESS_TOKEN"));
    match (get("HUBSPOT_MOCK"), token) {
        (Some(dir), _) => {
            let dir = PathBuf::from(dir);
            if !dir.is_dir() {
                return Err(ConfigError(format!(
                    "HUBSPOT_MOCK={} is not a directory: point it (or --mock) at the fixtures, e.g. fixtures/hubspot",
                    dir.display()
                )));
            }
            Ok(Upstream::Mock(dir))
        }
        (None, Some(token)) => Ok(Upstream::Token(token.trim().to_string())),
        (None, None) => Err(ConfigError(
            "HUBSPOT_PRIVATE_APP_ACCESS_TOKEN is not set: set it (or HUBSPOT_ACCESS_TOKEN) to your HubSpot Service Key (HubSpot: Development > Keys > Service keys) or private app token, or set HUBSPOT_MOCK=fixtures/hubspot (or pass --mock DIR) to use the built-in mock HubSpot".into(),
        )),
    }
}

/// `HUBSPOT_API_URL`: an http(s) URL, HubSpot's own by default.
fn hubspot_api_url(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let url = get("HUBSPOT_API_URL").unwrap_or_else(|| "https://api.hubapi.com".into());
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(invalid(
            "HUBSPOT_API_URL",
            &url,
            "an http:// or https:// URL",
        ));
    }
    Ok(url)
}

/// `CORS_ORIGIN`: which browser origins may call (`localhost` by default).
fn cors(get: &impl Fn(&str) -> Option<String>) -> Result<CorsPolicy, ConfigError> {
    let cors_text = get("CORS_ORIGIN").unwrap_or_else(|| "localhost".into());
    CorsPolicy::parse(&cors_text).map_err(|why| invalid("CORS_ORIGIN", &cors_text, &why))
}

/// The CPUs this process may use (2 when unknown): `WORKERS`' default.
fn cpus() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// `SSL_CERT_FILE`, when set, must be a file (the HubSpot client reads it at start).
fn check_ssl_cert_file(get: &impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
    match get("SSL_CERT_FILE") {
        Some(path) if !std::path::Path::new(&path).is_file() => Err(invalid(
            "SSL_CERT_FILE",
            &path,
            "a readable PEM file of CA certificates to trust besides the built-in roots",
        )),
        _ => Ok(()),
    }
}

/// One of a setting's named values (`parse`), or its default when unset.
fn choice<T: Default>(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    parse: impl Fn(&str) -> Option<T>,
    allowed: &str,
) -> Result<T, ConfigError> {
    match get(name) {
        None => Ok(T::default()),
        Some(text) => parse(&text).ok_or_else(|| invalid(name, &text, allowed)),
    }
}

/// `ADMIN_API_TOKEN`: at least 16 printable characters; the admin API is off without it.
fn admin_token(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let admin_token = get("ADMIN_API_TOKEN").map(|t| t.trim().to_string());
    if let Some(token) = &admin_token {
        if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ConfigError(
                "ADMIN_API_TOKEN is not valid: expected at least 16 printable characters without spaces (e.g. openssl rand -hex 32)".into(),
            ));
        }
    }
    Ok(admin_token)
}

/// `PUBLIC_URL`: the base of minted servers' URLs, without a trailing slash.
fn public_url(get: &impl Fn(&str) -> Option<String>) -> Result<Option<String>, ConfigError> {
    let public_url = get("PUBLIC_URL").map(|u| u.trim().trim_end_matches('/').to_string());
    if let Some(url) = &public_url {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(invalid(
                "PUBLIC_URL",
                url,
                "an http:// or https:// URL such as https://mcp.example.com",
            ));
        }
    }
    Ok(public_url)
}

/// `MCP_AUTH` and the API keys of `MCP_API_KEYS` and `MCP_API_KEYS_FILE`; `required` needs
/// some credential that could be presented (a key, or an admin token to mint servers).
fn mcp_credentials(
    get: &impl Fn(&str) -> Option<String>,
    has_admin_token: bool,
) -> Result<(McpAuth, ApiKeys), ConfigError> {
    let mcp_auth = choice(get, "MCP_AUTH", McpAuth::parse, McpAuth::ALLOWED)?;
    let mut api_keys = ApiKeys::default();
    if let Some(text) = get("MCP_API_KEYS") {
        api_keys.add("MCP_API_KEYS", &text).map_err(ConfigError)?;
    }
    if let Some(path) = get("MCP_API_KEYS_FILE") {
        let text = std::fs::read_to_string(&path).map_err(|err| {
            ConfigError(format!(
                "MCP_API_KEYS_FILE={path} cannot be read ({err}): expected a file with one key per line"
            ))
        })?;
        api_keys
            .add("MCP_API_KEYS_FILE", &text)
            .map_err(ConfigError)?;
    }
    if mcp_auth == McpAuth::Required && api_keys.is_empty() && !has_admin_token {
        return Err(ConfigError(
            "MCP_AUTH=required, but no credential could ever be presented: set MCP_API_KEYS (or MCP_API_KEYS_FILE) or ADMIN_API_TOKEN to mint scoped servers".into(),
        ));
    }
    Ok((mcp_auth, api_keys))
}

/// `ADMIN_HOST` and `ADMIN_PORT`: the admin API's own listener (host 127.0.0.1 by
/// default), which needs the admin API on.
fn admin_listen(
    get: &impl Fn(&str) -> Option<String>,
    has_admin_token: bool,
) -> Result<Option<(String, u16)>, ConfigError> {
    match (get("ADMIN_HOST"), get("ADMIN_PORT")) {
        (None, None) => Ok(None),
        (Some(_), None) => Err(ConfigError(
            "ADMIN_HOST is set without ADMIN_PORT: set ADMIN_PORT to give the admin API its own listener".into(),
        )),
        (_, Some(_)) if !has_admin_token => Err(ConfigError(
            "ADMIN_PORT is set but the admin API is off: set ADMIN_API_TOKEN too".into(),
        )),
        (host, Some(_)) => {
            let host = host.unwrap_or_else(|| "127.0.0.1".into());
            Ok(Some((host, number(get, "ADMIN_PORT", 0, 0, 65_535)? as u16)))
        }
    }
}

/// `TRUSTED_PROXIES`: loopback by default, `none`, or a list of addresses and ranges.
fn trusted_proxies(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<IpRange>, ConfigError> {
    match get("TRUSTED_PROXIES") {
        None => Ok(["127.0.0.1", "::1"]
            .into_iter()
            .filter_map(IpRange::parse)
            .collect()),
        Some(text) if text.trim().eq_ignore_ascii_case("none") => Ok(Vec::new()),
        Some(text) => text
            .split(',')
            .map(IpRange::parse)
            .collect::<Option<_>>()
            .ok_or_else(|| {
                invalid(
                    "TRUSTED_PROXIES",
                    &text,
                    "none, or a comma-separated list of IP addresses or CIDR ranges such as 127.0.0.1,::1,172.16.0.0/12",
                )
            }),
    }
}

/// `MAX_REQUEST_SIZE` and `MAX_BUFFERED_BODY_BYTES`, in bytes: the second holds at least
/// two requests of the first, so one always fits (a chunked body's buffer grows by
/// doubling).
fn body_limits(get: &impl Fn(&str) -> Option<String>) -> Result<(usize, usize), ConfigError> {
    let max_request_size = number(get, "MAX_REQUEST_SIZE", 10_485_760, 1024, 1 << 30)?;
    let max_buffered_body_bytes = number(
        get,
        "MAX_BUFFERED_BODY_BYTES",
        (64 << 20).max(4 * max_request_size),
        2 * max_request_size,
        1 << 40,
    )?;
    Ok((max_request_size as usize, max_buffered_body_bytes as usize))
}

fn invalid(name: &str, value: &str, allowed: &str) -> ConfigError {
    ConfigError(format!("{name}={value} is not valid: expected {allowed}"))
}

/// A whole number from `min` to `max`, or `default` when unset.
fn number(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let Some(text) = get(name) else {
        return Ok(default);
    };
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(invalid(
            name,
            &text,
            &format!("a whole number from {min} to {max}"),
        )),
    }
}

/// The pacing and retry policy of HubSpot calls (0 turns a rate limit or retries off).
fn call_policy(get: &impl Fn(&str) -> Option<String>) -> Result<CallPolicy, ConfigError> {
    let defaults = CallPolicy::default();
    Ok(CallPolicy {
        per_10s: number(
            get,
            "HUBSPOT_RATE_LIMIT_PER_10S",
            defaults.per_10s.into(),
            0,
            100_000,
        )? as u32,
        search_per_s: number(
            get,
            "HUBSPOT_SEARCH_RATE_PER_S",
            defaults.search_per_s.into(),
            0,
            10_000,
        )? as u32,
        max_retries: number(
            get,
            "HUBSPOT_MAX_RETRIES",
            defaults.max_retries.into(),
            0,
            10,
        )? as u32,
        max_wait: Duration::from_millis(number(
            get,
            "HUBSPOT_MAX_WAIT_MS",
            defaults.max_wait.as_millis() as u64,
            0,
            60_000,
        )?),
    })
}

/// `REGISTRY_ACCEPT_UNSIGNED`: `true` or `false` (the default).
pub fn accept_unsigned(get: &impl Fn(&str) -> Option<String>) -> Result<bool, ConfigError> {
    match get("REGISTRY_ACCEPT_UNSIGNED").as_deref() {
        None | Some("false") => Ok(false),
        Some("true") => Ok(true),
        Some(other) => Err(invalid(
            "REGISTRY_ACCEPT_UNSIGNED",
            other,
            "true (once, to sign a registry written before records were signed) or false",
        )),
    }
}

/// A duration in milliseconds from 1 ms to one day, or `default` ms when unset.
fn millis(
    get: &impl Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
) -> Result<Duration, ConfigError> {
    number(get, name, default, 1, 86_400_000).map(Duration::from_millis)
}

/// `REGISTRY` (`file` or `etcd`), the `ETCD_*` settings and `REGISTRY_KEY_FILE`: where
/// the registry lives. etcd needs endpoints and a sealing key; a client certificate needs
/// its key and the other way round.
pub fn registry_settings(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<(Option<crate::registry::etcd::Settings>, Option<PathBuf>), ConfigError> {
    let key_file = get("REGISTRY_KEY_FILE").map(PathBuf::from);
    match get("REGISTRY").as_deref().unwrap_or("file") {
        "file" => return Ok((None, key_file)),
        "etcd" => {}
        other => return Err(invalid("REGISTRY", other, "file (the default) or etcd")),
    }
    let settings = crate::registry::etcd::Settings {
        endpoints: get("ETCD_ENDPOINTS")
            .unwrap_or_default()
            .split(',')
            .map(|e| e.trim().trim_end_matches('/').to_string())
            .filter(|e| !e.is_empty())
            .collect(),
        prefix: get("ETCD_PREFIX").unwrap_or_else(|| crate::registry::etcd::DEFAULT_PREFIX.into()),
        credentials: match (get("ETCD_USERNAME"), get("ETCD_PASSWORD")) {
            (Some(user), Some(password)) => Some((user, password)),
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "ETCD_USERNAME and ETCD_PASSWORD go together: set both or neither".into(),
                ))
            }
        },
        ca_file: get("ETCD_CA_FILE").map(PathBuf::from),
        client_cert: match (get("ETCD_CERT_FILE"), get("ETCD_KEY_FILE")) {
            (Some(cert), Some(key)) => Some((cert.into(), key.into())),
            (None, None) => None,
            (Some(_), None) => return Err(ConfigError(
                "ETCD_CERT_FILE is set without ETCD_KEY_FILE: a client certificate needs its private key (set both or neither)".into(),
            )),
            (None, Some(_)) => return Err(ConfigError(
                "ETCD_KEY_FILE is set without ETCD_CERT_FILE: a private key needs its client certificate (set both or neither)".into(),
            )),
        },
        max_staleness: match number(
            get,
            "ETCD_MAX_STALENESS_MS",
            crate::registry::etcd::DEFAULT_MAX_STALENESS.as_millis() as u64,
            0,
            86_400_000,
        )? {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        },
    };
    settings.check().map_err(ConfigError)?;
    if key_file.is_none() {
        return Err(ConfigError(
            "REGISTRY=etcd needs REGISTRY_KEY_FILE: a file of 32 random bytes or 64 hex digits (openssl rand -hex 32), the same on every replica, that seals HubSpot keys stored in etcd".into(),
        ));
    }
    Ok((Some(settings), key_file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)], flags: &[&str]) -> Result<Config, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let flags: Vec<String> = flags.iter().map(|s| s.to_string()).collect();
        Config::load(
            move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            &flags,
        )
    }

    #[test]
    fn defaults_follow_the_first_specification() {
        let config = load(&[("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-1")], &[]).unwrap();
        assert_eq!((config.host.as_str(), config.port), ("0.0.0.0", 3000));
        assert_eq!(config.hubspot_api_url, "https://api.hubapi.com");
        assert_eq!(config.max_request_size, 10_485_760);
        assert_eq!(config.shutdown_timeout, Duration::from_millis(10_000));
        assert_eq!(config.tool_exposure, ToolExposure::All);
        assert!(config.cors.allows("http://localhost:5173"));
        assert!(
            !format!("{config:?}").contains("pat-1"),
            "the token must never be printed"
        );
    }

    #[test]
    fn errors_name_the_variable_and_what_is_allowed() {
        let err = load(&[], &[]).unwrap_err().0;
        assert!(err.contains("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN") && err.contains("HUBSPOT_MOCK"));
        let err = load(
            &[
                ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"),
                ("PORT", "eighty"),
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert_eq!(
            err,
            "PORT=eighty is not valid: expected a whole number from 0 to 65535"
        );
        let err = load(
            &[
                ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"),
                ("LOG_LEVEL", "loud"),
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("LOG_LEVEL=loud"));
        let err = load(&[("HUBSPOT_MOCK", "/no/such/dir")], &[])
            .unwrap_err()
            .0;
        assert!(err.contains("not a directory"));
        assert!(load(&[("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t")], &["--port"]).is_err());
        let err = load(
            &[
                ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"),
                ("ADMIN_API_TOKEN", "short"),
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert!(
            err.starts_with("ADMIN_API_TOKEN") && !err.contains("short"),
            "never echo a secret: {err}"
        );
        let err = load(
            &[
                ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"),
                ("PUBLIC_URL", "mcp.example.com"),
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert!(err.starts_with("PUBLIC_URL=mcp.example.com"));
        let err = load(
            &[
                ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"),
                ("TOOL_EXPOSURE", "some"),
            ],
            &[],
        )
        .unwrap_err()
        .0;
        assert_eq!(
            err,
            "TOOL_EXPOSURE=some is not valid: expected all or discovery"
        );
    }

    #[test]
    fn hubspot_pacing_and_retries_are_configurable_and_checked() {
        let token = ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t");
        let config = load(&[token], &[]).unwrap();
        assert_eq!(config.hubspot_policy, CallPolicy::default());
        assert_eq!(
            (
                config.hubspot_policy.per_10s,
                config.hubspot_policy.search_per_s
            ),
            (100, 5)
        );
        assert_eq!(config.hubspot_policy.max_retries, 2);
        assert_eq!(config.hubspot_policy.max_wait, Duration::from_secs(2));
        let config = load(
            &[
                token,
                ("HUBSPOT_RATE_LIMIT_PER_10S", "190"),
                ("HUBSPOT_SEARCH_RATE_PER_S", "0"),
                ("HUBSPOT_MAX_RETRIES", "0"),
                ("HUBSPOT_MAX_WAIT_MS", "500"),
            ],
            &[],
        )
        .unwrap();
        assert_eq!(
            config.hubspot_policy,
            CallPolicy {
                per_10s: 190,
                search_per_s: 0,
                max_retries: 0,
                max_wait: Duration::from_millis(500),
            }
        );
        for (name, value, allowed) in [
            ("HUBSPOT_RATE_LIMIT_PER_10S", "-1", "from 0 to 100000"),
            ("HUBSPOT_SEARCH_RATE_PER_S", "five", "from 0 to 10000"),
            ("HUBSPOT_MAX_RETRIES", "11", "from 0 to 10"),
            ("HUBSPOT_MAX_WAIT_MS", "60001", "from 0 to 60000"),
        ] {
            let err = load(&[token, (name, value)], &[]).unwrap_err().0;
            assert!(
                err.starts_with(&format!("{name}={value} is not valid")),
                "{err}"
            );
            assert!(err.contains(allowed), "{err}");
        }
    }

    #[test]
    fn credentials_settings_are_checked_and_never_echoed() {
        let mock = ("HUBSPOT_MOCK", env!("CARGO_MANIFEST_DIR"));
        let config = load(&[mock], &[]).unwrap();
        assert_eq!(config.mcp_auth, McpAuth::Auto);
        assert!(config.api_keys.is_empty() && config.admin_listen.is_none());
        let dir = std::env::temp_dir().join(format!("mcp-keys-{}", std::process::id()));
        std::fs::write(&dir, "# team keys\nfile-key-0123456789abcdef\n").unwrap();
        let config = load(
            &[
                mock,
                ("MCP_AUTH", "Required"),
                ("MCP_API_KEYS", "env-key-0123456789abcdef"),
                ("MCP_API_KEYS_FILE", dir.to_str().unwrap()),
            ],
            &[],
        )
        .unwrap();
        std::fs::remove_file(&dir).unwrap();
        assert_eq!(config.mcp_auth, McpAuth::Required);
        assert!(config.api_keys.contains("env-key-0123456789abcdef"));
        assert!(config.api_keys.contains("file-key-0123456789abcdef"));
        assert!(
            !format!("{config:?}").contains("key-0123"),
            "keys never printed"
        );
        let admin = ("ADMIN_API_TOKEN", "admin-token-0123456789");
        for (vars, want) in [
            (
                vec![("MCP_AUTH", "sometimes")],
                "MCP_AUTH=sometimes is not valid: expected auto, required or none",
            ),
            (
                vec![("MCP_AUTH", "required")],
                "MCP_AUTH=required, but no credential",
            ),
            (
                vec![("MCP_API_KEYS", "tiny-secret")],
                "MCP_API_KEYS: key 1 is not valid",
            ),
            (
                vec![("MCP_API_KEYS_FILE", "/no/such/keys")],
                "MCP_API_KEYS_FILE=/no/such/keys cannot be read",
            ),
            (
                vec![("ADMIN_HOST", "127.0.0.1")],
                "ADMIN_HOST is set without ADMIN_PORT",
            ),
            (vec![("ADMIN_PORT", "3100")], "set ADMIN_API_TOKEN too"),
            (
                vec![admin, ("ADMIN_PORT", "http")],
                "ADMIN_PORT=http is not valid",
            ),
            (
                vec![("TRUSTED_PROXIES", "10.0.0.0/33")],
                "TRUSTED_PROXIES=10.0.0.0/33 is not valid",
            ),
        ] {
            let mut all = vec![mock];
            all.extend(vars);
            let err = load(&all, &[]).unwrap_err().0;
            assert!(err.contains(want), "{err}");
            assert!(!err.contains("tiny-secret"), "{err}");
        }
        let config = load(&[mock, admin, ("ADMIN_PORT", "3100")], &[]).unwrap();
        assert_eq!(config.admin_listen, Some(("127.0.0.1".into(), 3100)));
        let proxies = |value| {
            load(&[mock, ("TRUSTED_PROXIES", value)], &[])
                .unwrap()
                .trusted_proxies
        };
        assert!(proxies("none").is_empty());
        let two: Vec<IpRange> = ["10.0.0.0/8", "::1"]
            .into_iter()
            .filter_map(IpRange::parse)
            .collect();
        assert_eq!(proxies(" 10.0.0.0/8 , ::1"), two);
        assert_eq!(load(&[mock], &[]).unwrap().trusted_proxies.len(), 2);
    }

    #[test]
    fn flags_win_over_the_environment() {
        let dir = std::env::temp_dir();
        let config = load(
            &[("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t"), ("PORT", "1")],
            &["--port", "8080", "--mock", dir.to_str().unwrap()],
        )
        .unwrap();
        assert_eq!(config.port, 8080);
        assert!(config.is_mock());
    }

    #[test]
    fn api_version_defaults_to_2026_09_and_names_the_allowed_values() {
        let token = ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t");
        let config = load(&[token], &[]).unwrap();
        assert_eq!(config.hubspot_api_version, ApiVersion::V2026_09);
        let config = load(&[token, ("HUBSPOT_API_VERSION", "legacy")], &[]).unwrap();
        assert_eq!(config.hubspot_api_version, ApiVersion::Legacy);
        let config = load(&[token, ("HUBSPOT_API_VERSION", "2026-03")], &[]).unwrap();
        assert_eq!(config.hubspot_api_version, ApiVersion::V2026_03);
        let err = load(&[token, ("HUBSPOT_API_VERSION", "v3")], &[])
            .unwrap_err()
            .0;
        assert!(
            err.contains("HUBSPOT_API_VERSION=v3")
                && err.contains("2026-09 (default), 2026-03 or legacy"),
            "{err}"
        );
    }

    #[test]
    fn hubspot_access_token_is_an_alias_and_the_seed_name_wins() {
        let config = load(&[("HUBSPOT_ACCESS_TOKEN", "key-1")], &[]).unwrap();
        assert!(matches!(config.upstream, Upstream::Token(ref t) if t == "key-1"));
        let both = [
            ("HUBSPOT_ACCESS_TOKEN", "key-1"),
            ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "pat-2"),
        ];
        let config = load(&both, &[]).unwrap();
        assert!(matches!(config.upstream, Upstream::Token(ref t) if t == "pat-2"));
    }

    #[test]
    fn max_batch_defaults_to_20_and_is_checked() {
        let token = ("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t");
        assert_eq!(load(&[token], &[]).unwrap().max_batch, 20);
        assert_eq!(
            load(&[token, ("MAX_BATCH", "1")], &[]).unwrap().max_batch,
            1
        );
        let err = load(&[token, ("MAX_BATCH", "0")], &[]).unwrap_err().0;
        assert!(err.starts_with("MAX_BATCH=0 is not valid"), "{err}");
    }

    #[test]
    fn registry_settings_need_endpoints_and_a_key_and_refuse_tls_by_name() {
        let base = [("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t")];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut vars = base.to_vec();
            vars.extend_from_slice(extra);
            load(&vars, &[])
        };
        let config = with(&[]).unwrap();
        assert!(config.etcd.is_none());
        let err = with(&[("REGISTRY", "consul")]).unwrap_err().0;
        assert!(
            err.starts_with("REGISTRY=consul") && err.contains("etcd"),
            "{err}"
        );
        let err = with(&[("REGISTRY", "etcd")]).unwrap_err().0;
        assert!(err.contains("ETCD_ENDPOINTS"), "{err}");
        let endpoints = (
            "ETCD_ENDPOINTS",
            "http://127.0.0.1:2379, http://10.0.0.2:2379/",
        );
        let err = with(&[("REGISTRY", "etcd"), endpoints]).unwrap_err().0;
        assert!(err.contains("REGISTRY_KEY_FILE"), "{err}");
        let key = ("REGISTRY_KEY_FILE", "/run/secrets/registry.key");
        let config = with(&[("REGISTRY", "etcd"), endpoints, key]).unwrap();
        let etcd = config.etcd.unwrap();
        assert_eq!(
            etcd.endpoints,
            ["http://127.0.0.1:2379", "http://10.0.0.2:2379"]
        );
        assert_eq!(etcd.prefix, "/hubspot-mcp/");
        assert_eq!(
            etcd.max_staleness,
            Some(crate::registry::etcd::DEFAULT_MAX_STALENESS)
        );
        let mixed = (
            "ETCD_ENDPOINTS",
            "http://10.0.0.1:2379,https://10.0.0.2:2379",
        );
        let err = with(&[("REGISTRY", "etcd"), mixed, key]).unwrap_err().0;
        assert!(
            err.contains("https://10.0.0.2:2379") && err.contains("mixes"),
            "{err}"
        );
        let ca = ("ETCD_CA_FILE", "/ca.pem");
        let err = with(&[("REGISTRY", "etcd"), endpoints, key, ca])
            .unwrap_err()
            .0;
        assert!(
            err.contains("ETCD_CA_FILE") && err.contains("https://"),
            "{err}"
        );
        let tls = ("ETCD_ENDPOINTS", "https://10.0.0.1:2379");
        let cert = ("ETCD_CERT_FILE", "/client.pem");
        let err = with(&[("REGISTRY", "etcd"), tls, key, cert]).unwrap_err().0;
        assert!(
            err.starts_with("ETCD_CERT_FILE is set without ETCD_KEY_FILE"),
            "{err}"
        );
        let client_key = ("ETCD_KEY_FILE", "/client.key");
        let err = with(&[("REGISTRY", "etcd"), tls, key, client_key])
            .unwrap_err()
            .0;
        assert!(
            err.starts_with("ETCD_KEY_FILE is set without ETCD_CERT_FILE"),
            "{err}"
        );
        let config = with(&[("REGISTRY", "etcd"), tls, key, ca, cert, client_key]).unwrap();
        let etcd = config.etcd.unwrap();
        assert_eq!(etcd.ca_file, Some(PathBuf::from("/ca.pem")));
        assert_eq!(
            etcd.client_cert,
            Some(("/client.pem".into(), "/client.key".into()))
        );
        let never = ("ETCD_MAX_STALENESS_MS", "0");
        let config = with(&[("REGISTRY", "etcd"), endpoints, key, never]).unwrap();
        assert_eq!(config.etcd.unwrap().max_staleness, None);
        let bad = ("ETCD_MAX_STALENESS_MS", "soon");
        let err = with(&[("REGISTRY", "etcd"), endpoints, key, bad])
            .unwrap_err()
            .0;
        assert!(err.starts_with("ETCD_MAX_STALENESS_MS=soon"), "{err}");
        let user = ("ETCD_USERNAME", "mcp");
        let err = with(&[("REGISTRY", "etcd"), endpoints, key, user])
            .unwrap_err()
            .0;
        assert!(err.contains("ETCD_PASSWORD"), "{err}");
        let secret = ("ETCD_PASSWORD", "hunter2-secret");
        let config = with(&[("REGISTRY", "etcd"), endpoints, key, user, secret]).unwrap();
        assert!(
            !format!("{config:?}").contains("hunter2"),
            "no password in Debug"
        );
    }

    #[test]
    fn the_compose_file_runs_etcd_with_auth_for_the_replicas_prefix_only() {
        // Before, deploy/compose.yaml ran etcd open to anyone on its network.
        let compose = include_str!("../../deploy/compose.yaml");
        for needed in [
            "ETCD_USERNAME: hubspot-mcp",
            "ETCD_PASSWORD: ${ETCD_PASSWORD:?",
            "call enable",
            "condition: service_completed_successfully",
        ] {
            assert!(compose.contains(needed), "{needed} in deploy/compose.yaml");
        }
        // The role's range is exactly the default ETCD_PREFIX: [prefix, prefix + 1).
        let field = |name: &str| {
            let at = compose.find(&format!("\"{name}\":\"")).unwrap() + name.len() + 4;
            let text = &compose[at..at + compose[at..].find('"').unwrap()];
            String::from_utf8(crate::runtime::base64::decode(text).unwrap()).unwrap()
        };
        let prefix = crate::registry::etcd::DEFAULT_PREFIX;
        assert_eq!(field("key"), prefix);
        let mut end = prefix.as_bytes().to_vec();
        *end.last_mut().unwrap() += 1;
        assert_eq!(field("range_end").as_bytes(), end);
    }

    #[test]
    fn the_compose_file_trusts_its_own_network_as_proxies() {
        // deploy/compose.yaml puts Caddy in another container in front of the replicas:
        // without TRUSTED_PROXIES naming that network, every client shared one count.
        let compose = include_str!("../../deploy/compose.yaml");
        let value = |key: &str| {
            let line = compose
                .lines()
                .find(|l| l.trim_start().starts_with(key))
                .unwrap_or_else(|| panic!("{key} in deploy/compose.yaml"));
            let value = line.trim_start()[key.len()..].trim().to_string();
            // ${VAR:-default} as compose reads it with VAR unset.
            match value.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
                Some(v) => v.split_once(":-").map_or(v, |(_, d)| d).to_string(),
                None => value,
            }
        };
        let subnet = value("- subnet:");
        assert_eq!(value("TRUSTED_PROXIES:"), subnet);
        let mock = ("HUBSPOT_MOCK", env!("CARGO_MANIFEST_DIR"));
        let config = load(&[mock, ("TRUSTED_PROXIES", &subnet)], &[]).unwrap();
        let network = IpRange::parse(&subnet).unwrap();
        assert_eq!(config.trusted_proxies, vec![network]);
    }
}

/// The settings table of docs/configuration.md and what the server reads agree: every
/// variable that `Config::load` or the HubSpot client's proxy lookup asks for has a row, and
/// every row names something that is read.
#[cfg(test)]
mod docs {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// The variables named in the first cell of the first table of docs/configuration.md.
    fn documented() -> BTreeSet<String> {
        let doc = include_str!("../../docs/configuration.md");
        doc.lines()
            .skip_while(|line| !line.starts_with('|'))
            .take_while(|line| line.starts_with('|'))
            .skip(2)
            .filter_map(|row| row.split('|').nth(1))
            .flat_map(|cell| {
                cell.split('`')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// Every variable the configuration and the proxy lookup ask for, over start-ups that
    /// take each branch (the mock, a token, its alias).
    fn read() -> BTreeSet<String> {
        let asked = RefCell::new(BTreeSet::new());
        let fixtures = env!("CARGO_MANIFEST_DIR");
        let etcd = [
            ("HUBSPOT_MOCK", fixtures),
            ("REGISTRY", "etcd"),
            ("ETCD_ENDPOINTS", "http://127.0.0.1:2379"),
            ("REGISTRY_KEY_FILE", "/run/secrets/registry.key"),
        ];
        let variants: [&[(&str, &str)]; 4] = [
            &[("HUBSPOT_MOCK", fixtures)],
            &[("HUBSPOT_PRIVATE_APP_ACCESS_TOKEN", "t")],
            &[("HUBSPOT_ACCESS_TOKEN", "t")],
            &etcd,
        ];
        for vars in variants {
            Config::load(
                |name| {
                    asked.borrow_mut().insert(name.to_string());
                    vars.iter()
                        .find(|(k, _)| *k == name)
                        .map(|(_, v)| v.to_string())
                },
                &[],
            )
            .expect("a valid configuration");
        }
        for scheme in ["https", "http"] {
            crate::hubspot::transport::proxy_for(scheme, "api.hubapi.com", |name| {
                asked.borrow_mut().insert(name.to_string());
                None
            });
        }
        asked.into_inner()
    }

    #[test]
    fn every_setting_has_a_documented_row_and_every_row_is_a_setting() {
        let (documented, read) = (documented(), read());
        let missing: Vec<&String> = read.difference(&documented).collect();
        let stale: Vec<&String> = documented.difference(&read).collect();
        assert!(
            missing.is_empty(),
            "read but not in docs/configuration.md's settings table: {missing:?}"
        );
        assert!(
            stale.is_empty(),
            "in docs/configuration.md's settings table but never read: {stale:?}"
        );
        assert!(read.len() > 40, "the scan found the settings: {read:?}");
    }
}

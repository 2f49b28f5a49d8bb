//! hubspot-mcp-server: a Model Context Protocol server for the HubSpot CRM.
//!
//! `serve` (the default) runs the MCP server; `mock-hubspot` runs the fixture-driven fake
//! HubSpot API on its own.

mod catalog;
mod front;
mod http;
mod hubspot;
mod mcp;
mod mock;
mod registry;
mod runtime;
#[cfg(test)]
mod testing;

/// The allocator of the static (musl) builds: musl's own returns large blocks to the kernel
/// on every free, so an 84 KB `tools/list` answer page-faults on every request (docs/performance.md,
/// the allocator). glibc builds keep glibc's malloc.
#[cfg(target_env = "musl")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use front::accounts::Connector;
use front::auth::{McpAuth, Policy};
use front::config::{self, Config, Upstream};
use front::exposures::ExposureCache;
use front::{admin, app, throttle};
use http::{Limits, Shutdown};
use mcp::stdio;
use registry::{replicas, store};
use registry::{AccountAuth, Registry};
use runtime::{clock, logger, pool, signals};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const USAGE: &str = "\
hubspot-mcp-server: a Model Context Protocol server for the HubSpot CRM

USAGE:
    hubspot-mcp-server [serve] [--port P] [--host H] [--mock DIR] [--log-level L]
    hubspot-mcp-server stdio [--mock DIR] [--log-level L]
    hubspot-mcp-server mock-hubspot --fixtures DIR [--port P] [--host H] [--latency-ms N]
                                    [--faults FILE] [--api-version V]
    hubspot-mcp-server registry export > registry.json
    hubspot-mcp-server registry import [FILE]
    hubspot-mcp-server --help | --version

serve           Runs the MCP server (JSON-RPC over HTTP at /mcp, /health, /ready).
                Needs HUBSPOT_PRIVATE_APP_ACCESS_TOKEN (or HUBSPOT_ACCESS_TOKEN: a HubSpot
                Service Key or private app token), or HUBSPOT_MOCK=DIR / --mock DIR
                for the built-in mock HubSpot. Every setting is an environment variable
                (see docs/configuration.md: PORT, HOST, MCP_AUTH, MCP_API_KEYS, ...).
stdio           Speaks MCP as newline-delimited JSON-RPC on stdin/stdout (logs on stderr),
                for clients that start the server themselves; exits at end of input.
mock-hubspot    Serves a fake HubSpot CRM API from fixture files (default port 3001), at the
                paths of --api-version (2026-09, the default; 2026-03; or legacy for v3/v4).
                --latency-ms makes every answer wait that long (slow-upstream tests);
                --faults FILE starts with a fault plan (429, 5xx, slow answers; see
                src/mock/faults.rs, also settable with POST /__mock/faults).
registry        Moves the registry between stores: `export` prints every account and
                scoped server as JSON (tokens hashed, HubSpot keys sealed); `import` loads
                one (FILE or stdin) into the configured store (REGISTRY=file with DATA_DIR,
                or REGISTRY=etcd with ETCD_ENDPOINTS; the same sealing key on both sides).
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (command, rest) = match args.first().map(String::as_str) {
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("--version" | "-V") => {
            println!("hubspot-mcp-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Some("serve") => ("serve", &args[1..]),
        Some("mock-hubspot") => ("mock-hubspot", &args[1..]),
        Some("stdio") => ("stdio", &args[1..]),
        Some("registry") => ("registry", &args[1..]),
        Some(flag) if flag.starts_with("--") => ("serve", &args[..]),
        None => ("serve", &args[..]),
        Some(other) => {
            eprintln!("unknown command '{other}'; run hubspot-mcp-server --help");
            return ExitCode::from(2);
        }
    };
    // Block SIGTERM/SIGINT before any thread starts, so that only our signal thread sees them.
    let signals = signals::block_termination();
    let result = match command {
        "serve" => serve(rest, signals),
        "stdio" => stdio_mode(rest, signals),
        "registry" => registry_command(rest),
        _ => mock_hubspot(rest, signals),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("hubspot-mcp-server: {message}");
            ExitCode::from(2)
        }
    }
}

fn bind(host: &str, port: u16) -> Result<runtime::Listener, String> {
    runtime::Listener::bind((host, port))
        .map_err(|err| format!("cannot listen on {host}:{port}: {err}"))
}

/// The connector for every account's client and the start-up account's credentials,
/// starting the embedded mock when asked.
fn connector(config: &Config) -> Result<(Connector, AccountAuth), String> {
    let mut connector = Connector {
        api_url: config.hubspot_api_url.clone(),
        mock_url: None,
        pool: Arc::new(pool::BlockingPool::new(
            config.pool_threads,
            config.pool_queue,
        )),
        settings: hubspot::Settings {
            timeout: config.hubspot_timeout,
            policy: config.hubspot_policy,
            api_version: config.hubspot_api_version,
            max_response_bytes: config.hubspot_max_response_bytes,
            replicas: Arc::default(),
        },
    };
    log::info!(
        "HubSpot API version {} (HUBSPOT_API_VERSION)",
        config.hubspot_api_version
    );
    let auth = match &config.upstream {
        Upstream::Token(token) => AccountAuth::Token(token.clone()),
        Upstream::Mock(dir) => {
            let addr = start_embedded_mock(dir, config.hubspot_api_version)?;
            log::info!(
                "mock HubSpot from {} on http://{addr} (no HubSpot account used)",
                dir.display()
            );
            connector.mock_url = Some(format!("http://{addr}"));
            AccountAuth::Mock
        }
    };
    Ok((connector, auth))
}

/// Opens the registry (under `DATA_DIR`, or on etcd) and registers the start-up account.
fn open_registry(config: &Config, auth: AccountAuth) -> Result<Arc<Registry>, String> {
    let max = config.max_servers_per_account;
    let unsigned = config.registry_accept_unsigned;
    let registry = match (&config.etcd, &config.registry_key_file) {
        (Some(settings), Some(key_file)) => {
            registry::etcd_store::open(settings, key_file, max, unsigned)?
        }
        _ => {
            let store = store::Store::open(&config.data_dir).map_err(|err| err.to_string())?;
            let registry = Registry::open(store, unsigned).map_err(|err| err.to_string())?;
            Arc::new(registry.with_max_servers_per_account(max))
        }
    };
    let id = registry
        .ensure_default_account(auth, clock::now_millis())
        .map_err(|err| format!("cannot register the start-up account: {}", err.message()))?;
    log::info!(
        "registry {}; start-up integrated account {id}",
        registry.describe()
    );
    Ok(registry)
}

/// `registry export` / `registry import [FILE]` on the configured store (no HubSpot
/// settings needed). A file store in use by a running server is refused by its lock.
fn registry_command(args: &[String]) -> Result<ExitCode, String> {
    let get = |name: &str| std::env::var(name).ok();
    let (etcd, key_file) = config::registry_settings(&get).map_err(|err| err.to_string())?;
    let unsigned = config::accept_unsigned(&get).map_err(|err| err.to_string())?;
    let open = || match (&etcd, &key_file) {
        (Some(settings), Some(key_file)) => registry::etcd_store::open(
            settings,
            key_file,
            registry::DEFAULT_MAX_SERVERS_PER_ACCOUNT,
            unsigned,
        ),
        _ => {
            let dir = PathBuf::from(get("DATA_DIR").unwrap_or_else(|| "./data".into()));
            let store = store::Store::open(&dir).map_err(|err| err.to_string())?;
            Ok(Arc::new(
                Registry::open(store, unsigned).map_err(|err| err.to_string())?,
            ))
        }
    };
    match args
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["export"] => {
            let export = open()?.export().map_err(|err| err.message().to_string())?;
            let text = serde_json::to_string_pretty(&export).map_err(|err| err.to_string())?;
            println!("{text}");
        }
        ["import", rest @ ..] if rest.len() <= 1 => {
            let text = match rest.first() {
                Some(path) => std::fs::read_to_string(path)
                    .map_err(|err| format!("cannot read {path}: {err}"))?,
                None => std::io::read_to_string(std::io::stdin())
                    .map_err(|err| format!("cannot read stdin: {err}"))?,
            };
            let export = serde_json::from_str(&text)
                .map_err(|err| format!("the export is not JSON: {err}"))?;
            let registry = open()?;
            let (accounts, servers) = registry
                .import(export, clock::now_millis())
                .map_err(|err| err.message().to_string())?;
            eprintln!(
                "imported {accounts} integrated accounts and {servers} MCP servers into {}",
                registry.describe()
            );
        }
        _ => return Err("usage: registry export | registry import [FILE]".into()),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `serve` and `stdio` share: the validated config, logging and the coroutine
/// runtime set up, the connector, the start-up account and its client.
fn prepare(flags: &[String]) -> Result<(Config, Connector, AccountAuth, hubspot::Client), String> {
    let config =
        Config::load(|name| std::env::var(name).ok(), flags).map_err(|err| err.to_string())?;
    logger::init(config.log_level);
    runtime::configure(config.workers);
    let (connector, auth) = connector(&config)?;
    let client = connector.client(&auth)?;
    Ok((config, connector, auth, client))
}

/// The limits of the MCP endpoints (`MCP_PAGE_SIZE`, `TOOL_RESULT_MAX_BYTES`, `MAX_BATCH`).
fn mcp_settings(config: &Config) -> mcp::Settings {
    mcp::Settings {
        page_size: config.mcp_page_size,
        result_limit: config.tool_result_max_bytes,
        max_batch: config.max_batch,
    }
}

/// `stdio`: MCP over stdin/stdout until end of input (or SIGTERM/SIGINT).
fn stdio_mode(flags: &[String], signals: signals::Signals) -> Result<ExitCode, String> {
    let (config, _, _, client) = prepare(flags)?;
    signals.on_termination(|| std::process::exit(0));
    let exposure = mcp::Exposure::all(mcp_settings(&config), config.tool_exposure);
    let server = mcp::Server {
        exposure: &exposure,
        client: &client,
        recheck: None,
    };
    log::info!(
        "hubspot-mcp-server {} on stdio ({} tools)",
        env!("CARGO_PKG_VERSION"),
        exposure.len()
    );
    stdio::run(&server, config.max_request_size).map_err(|err| format!("stdio failed: {err}"))?;
    Ok(ExitCode::SUCCESS)
}

/// Threads and queue of the registry's pool: admin writes and the deletion of expired
/// servers, kept apart from the HubSpot pool so a slow HubSpot never holds them up.
const REGISTRY_POOL: (usize, usize) = (2, 256);

/// Refuses a start that would serve the HubSpot key to the network with no credential
/// (a real token, a non-loopback bind, nothing configured), and warns about `MCP_AUTH=none`.
/// Checked before binding, so a refused start never listens at all.
fn check_exposure(config: &Config, auth: &Policy) -> Result<(), String> {
    let addr = format!("{}:{}", config.host, config.port);
    match auth.mode {
        McpAuth::None => log::warn!(
            "MCP_AUTH=none: anyone who reaches {addr} can call every tool on /mcp{}",
            if config.is_mock() { " (mock HubSpot)" } else { " with the server's HubSpot key" }
        ),
        _ if !is_loopback_host(&config.host) && !config.is_mock() && !auth.has_credentials() => {
            return Err(format!(
                "refusing to serve the HubSpot key on {addr} (beyond loopback) with no credential: set MCP_API_KEYS (or MCP_API_KEYS_FILE) to API keys clients send as Authorization: Bearer <key>, or ADMIN_API_TOKEN to mint scoped servers; bind HOST=127.0.0.1; or set MCP_AUTH=none to serve it to anyone who reaches the port"
            ))
        }
        _ => {}
    }
    Ok(())
}

/// True when `host` names a loopback address (an IP literal, or `localhost`); any other
/// name counts as beyond loopback.
fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Runs the MCP server until SIGTERM/SIGINT, then drains in-flight requests.
fn serve(flags: &[String], signals: signals::Signals) -> Result<ExitCode, String> {
    let started = Instant::now();
    let (config, connector, auth, client) = prepare(flags)?;
    let registry = open_registry(&config, auth)?;
    if config.admin_token.is_none() {
        log::info!("admin API off (set ADMIN_API_TOKEN to mint scoped MCP servers)");
    }
    let policy = Policy {
        mode: config.mcp_auth,
        keys: config.api_keys.clone(),
        admin_on: config.admin_token.is_some(),
    };
    check_exposure(&config, &policy)?;
    let listener = bind(&config.host, config.port)?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    let admin_listener = match &config.admin_listen {
        Some((host, port)) => {
            let listener = bind(host, *port)?;
            let admin_addr = listener.local_addr().map_err(|err| err.to_string())?;
            log::info!("admin API on http://{admin_addr} (not on {addr})");
            Some((listener, admin_addr))
        }
        None => None,
    };
    let shutdown = Arc::new(Shutdown::default());
    let registry_pool = Arc::new(pool::BlockingPool::new(REGISTRY_POOL.0, REGISTRY_POOL.1));
    // Separate counts for MCP credentials and the admin token: guessing one cannot lock
    // holders of the other out.
    let throttle = Arc::new(throttle::Throttle::new(config.trusted_proxies.clone()));
    let admin_throttle = Arc::new(throttle::Throttle::new(config.trusted_proxies.clone()));
    let app = Arc::new(app::App {
        cors: config.cors.clone(),
        started,
        shutdown: shutdown.clone(),
        auth: policy,
        throttle,
        client,
        admin: admin::Admin {
            token: config.admin_token.clone(),
            public_url: config.public_url.clone(),
            registry: registry.clone(),
            pool: registry_pool.clone(),
            throttle: admin_throttle,
        },
        admin_elsewhere: admin_listener.is_some(),
        registry,
        registry_pool,
        connector,
        exposures: ExposureCache::new(Arc::new(mcp::Exposure::all(
            mcp_settings(&config),
            config.tool_exposure,
        ))),
    });
    // With etcd, this replica counts itself in before it serves, so every replica paces
    // HubSpot at its share from the first call.
    let membership = match &config.etcd {
        Some(settings) => Some(replicas::join(
            settings,
            app.connector.settings.replicas.clone(),
        )?),
        None => None,
    };
    let limits = Limits {
        max_body: config.max_request_size,
        idle_timeout: config.idle_timeout,
        request_timeout: config.request_timeout,
        max_connections: match config.max_connections {
            0 => http::default_max_connections(),
            n => n,
        },
        max_client_connections: config.max_connections_per_client,
        exempt_clients: config.trusted_proxies.clone(),
        // One budget for both listeners: the whole process's request bodies.
        body_budget: http::BodyBudget::new(config.max_buffered_body_bytes),
    };
    log::info!(
        "hubspot-mcp-server {} ({}) listening on http://{addr} ({} tools, {}, credentials {}, started in {:.1} ms)",
        env!("CARGO_PKG_VERSION"),
        config.node_env,
        catalog::tools().len(),
        if config.is_mock() {
            "mock HubSpot"
        } else {
            "HubSpot API"
        },
        if app.auth.credential_required(false) {
            "required"
        } else if app.auth.mode == McpAuth::None {
            "never required (MCP_AUTH=none)"
        } else {
            "required through proxies only"
        },
        started.elapsed().as_secs_f64() * 1000.0
    );
    let mut stops = vec![addr];
    let mut loops = Vec::new();
    if let Some((listener, admin_addr)) = admin_listener {
        stops.push(admin_addr);
        loops.push(run_accept_loop(
            listener,
            Arc::new(app::AdminListener(app.clone())),
            limits.clone(),
            shutdown.clone(),
        ));
    }
    loops.push(run_accept_loop(listener, app, limits, shutdown.clone()));
    let stopper = shutdown.clone();
    signals.on_termination(move || {
        for addr in &stops {
            stopper.begin(*addr);
        }
    });
    for accept in loops {
        let _ = accept.join();
    }
    log::info!(
        "stopping: waiting up to {:?} for in-flight requests",
        config.shutdown_timeout
    );
    let drained = shutdown.drain(config.shutdown_timeout);
    if let Some(membership) = membership {
        membership.leave();
    }
    if drained {
        log::info!("stopped cleanly");
        Ok(ExitCode::SUCCESS)
    } else {
        log::warn!(
            "in-flight requests did not finish within GRACEFUL_SHUTDOWN_TIMEOUT; exiting anyway"
        );
        Ok(ExitCode::from(1))
    }
}

fn run_accept_loop<H: http::Handler>(
    listener: runtime::Listener,
    handler: Arc<H>,
    limits: Limits,
    shutdown: Arc<Shutdown>,
) -> may::coroutine::JoinHandle<()> {
    runtime::spawn(move || http::serve(listener, handler, limits, shutdown))
}

/// The mock HubSpot's HTTP limits (generous: it only serves this server and tests).
fn mock_limits() -> Limits {
    Limits {
        max_body: 16 << 20,
        idle_timeout: Duration::from_secs(60),
        request_timeout: Duration::from_secs(60),
        max_connections: 1 << 16,
        max_client_connections: 1 << 16,
        exempt_clients: Vec::new(),
        body_budget: http::BodyBudget::new(1 << 30),
    }
}

/// Starts the fixture-driven mock HubSpot in this process on a loopback port, serving
/// the paths of the server's HubSpot API version.
fn start_embedded_mock(
    dir: &std::path::Path,
    version: hubspot::ApiVersion,
) -> Result<SocketAddr, String> {
    let mock = Arc::new(mock::MockHubSpot::load(dir)?.with_api_version(version));
    let listener = bind("127.0.0.1", 0)?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    // The embedded mock never stops on its own: it lives as long as the process.
    run_accept_loop(listener, mock, mock_limits(), Arc::new(Shutdown::default()));
    Ok(addr)
}

/// `mock-hubspot --fixtures DIR [--port P] [--host H] [--latency-ms N] [--faults FILE]
/// [--api-version V]`.
fn mock_hubspot(flags: &[String], signals: signals::Signals) -> Result<ExitCode, String> {
    let mut fixtures: Option<PathBuf> = None;
    let mut faults = mock::faults::Faults::default();
    let mut version = hubspot::ApiVersion::default();
    let (mut host, mut port, mut latency_ms) = ("127.0.0.1".to_string(), 3001u16, 0u64);
    let mut args = flags.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("{flag} needs a value; see --help"))?;
        let bad = |what: &str| format!("{flag} {value} is not valid: expected {what}");
        match flag.as_str() {
            "--fixtures" => fixtures = Some(PathBuf::from(value)),
            "--host" => host = value.clone(),
            "--port" => port = value.parse().map_err(|_| bad("a port number 0-65535"))?,
            "--latency-ms" => latency_ms = value.parse().map_err(|_| bad("milliseconds"))?,
            "--api-version" => {
                version = hubspot::ApiVersion::parse(value)
                    .ok_or_else(|| bad(hubspot::ApiVersion::ALLOWED))?
            }
            "--faults" => {
                let text = std::fs::read_to_string(value)
                    .map_err(|e| format!("--faults {value} cannot be read: {e}"))?;
                faults = mock::faults::Faults::parse(&text)
                    .map_err(|e| format!("--faults {value}: {e}"))?;
            }
            other => {
                return Err(format!(
                    "unknown option '{other}' for mock-hubspot; see --help"
                ))
            }
        }
    }
    let fixtures = fixtures.ok_or("mock-hubspot needs --fixtures DIR (e.g. fixtures/hubspot)")?;
    logger::init(log::LevelFilter::Info);
    runtime::configure(2);
    let mock = mock::MockHubSpot::load(&fixtures)?
        .with_latency(Duration::from_millis(latency_ms))
        .with_faults(faults)
        .with_api_version(version);
    let listener = bind(&host, port)?;
    let addr = listener.local_addr().map_err(|err| err.to_string())?;
    log::info!(
        "mock HubSpot listening on http://{addr} (fixtures {}, HubSpot API version {version})",
        fixtures.display()
    );
    let shutdown = Arc::new(Shutdown::default());
    let accept = run_accept_loop(listener, Arc::new(mock), mock_limits(), shutdown.clone());
    let stopper = shutdown.clone();
    signals.on_termination(move || stopper.begin(addr));
    let _ = accept.join();
    shutdown.drain(Duration::from_secs(5));
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod usage {
    use super::USAGE;

    /// The flags a source file matches on (the match arms on a quoted double-dash name).
    fn flags_matched_in(source: &str) -> Vec<&str> {
        source
            .split("\"--")
            .skip(1)
            .filter_map(|rest| {
                let (name, after) = rest.split_once('"')?;
                let is_arm =
                    after.trim_start().starts_with("=>") || after.trim_start().starts_with('|');
                (is_arm && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
                    .then_some(name)
            })
            .collect()
    }

    #[test]
    fn usage_names_every_flag_the_commands_take() {
        let flags: Vec<&str> = flags_matched_in(include_str!("front/config.rs"))
            .into_iter()
            .chain(flags_matched_in(include_str!("main.rs")))
            .collect();
        for flag in [
            "port",
            "host",
            "mock",
            "log-level",
            "fixtures",
            "latency-ms",
            "faults",
            "api-version",
            "help",
            "version",
        ] {
            assert!(flags.contains(&flag), "the scan found --{flag}: {flags:?}");
        }
        for flag in flags {
            assert!(
                USAGE.contains(&format!("--{flag}")),
                "--{flag} is taken but USAGE does not name it"
            );
        }
    }
}

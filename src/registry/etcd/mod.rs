//! A small client for etcd's v3 HTTP/JSON gateway (`/v3/kv/range`, `/v3/kv/txn`,
//! `/v3/lease/grant`, `/v3/watch`, ...): plain blocking HTTP/1.1 through ureq, so neither a
//! gRPC stack nor an async runtime enters the binary. Works with etcd 3.4 and newer (the
//! `/v3/` prefix; 3.4 also answers `/v3beta/`).
//!
//! Every call tries the endpoint that answered last, then the others in turn, so one member
//! down costs one connection attempt. With `ETCD_USERNAME`/`ETCD_PASSWORD` the client
//! authenticates (`/v3/auth/authenticate`) and sends the token in `Authorization`,
//! authenticating again when etcd says the token is no longer valid. `https://` endpoints
//! speak TLS through the HubSpot client's own rustls-on-ring connector
//! ([`crate::hubspot::transport::tls_agent`]): trusting only `ETCD_CA_FILE`'s roots when it
//! is set (else the compiled-in ones), and presenting `ETCD_CERT_FILE`/`ETCD_KEY_FILE` when
//! etcd asks for a client certificate (`--client-cert-auth`).
//!
//! Blocking: call it from OS threads (the registry pool, the watch thread), never from a
//! coroutine worker.

use crate::runtime::base64;
pub mod gateway;

pub use gateway::int;
use gateway::Answer;

use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// The default key prefix (`ETCD_PREFIX`).
pub const DEFAULT_PREFIX: &str = "/hubspot-mcp/";
/// The default of `ETCD_MAX_STALENESS_MS`: long enough to ride out a leader election, a
/// rolling restart of the members or a short network cut without refusing anyone; short
/// enough that a token revoked elsewhere meanwhile is not served for long.
pub const DEFAULT_MAX_STALENESS: Duration = Duration::from_secs(300);
/// How long one unary call (range, txn, lease) may take before the next endpoint is tried.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long connecting to one endpoint may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one watch answer is read before it is opened again (from the last revision
/// seen, so nothing is lost): bounds how long a connection that died without a word (a
/// partition, no RST) goes unnoticed.
const WATCH_RENEW: Duration = Duration::from_secs(30);
/// The largest answer read (a range over the whole registry).
const MAX_ANSWER: u64 = 512 << 20;
/// gRPC codes etcd uses for "this member cannot serve now" (Unavailable, DeadlineExceeded):
/// the call is tried on the next endpoint.
const RETRY_CODES: [i64; 2] = [14, 4];
/// gRPC Unauthenticated: the auth token expired or was revoked.
const UNAUTHENTICATED: i64 = 16;

/// Where etcd is and how to talk to it (`ETCD_ENDPOINTS`, `ETCD_PREFIX`, `ETCD_USERNAME`,
/// `ETCD_PASSWORD`, `ETCD_CA_FILE`, `ETCD_CERT_FILE`, `ETCD_KEY_FILE`,
/// `ETCD_MAX_STALENESS_MS`).
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// Base URLs such as `http://127.0.0.1:2379`, without a trailing slash.
    pub endpoints: Vec<String>,
    /// Every key the registry writes starts with this.
    pub prefix: String,
    /// User and password for `/v3/auth/authenticate`.
    pub credentials: Option<(String, String)>,
    /// TLS to etcd (only with `https://` endpoints).
    /// `ETCD_CA_FILE`: the only roots trusted for etcd's certificate (unset: the compiled-in
    /// Mozilla roots).
    pub ca_file: Option<PathBuf>,
    /// `ETCD_CERT_FILE` and `ETCD_KEY_FILE`: the client certificate (chain) and its key,
    /// for a cluster started with `--client-cert-auth`.
    pub client_cert: Option<(PathBuf, PathBuf)>,
    /// `ETCD_MAX_STALENESS_MS`: how long, once etcd stopped answering, scoped servers are
    /// still served from memory before their tokens are refused (`None`: for ever).
    pub max_staleness: Option<Duration>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("endpoints", &self.endpoints)
            .field("prefix", &self.prefix)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("ca_file", &self.ca_file)
            .field("client_cert", &self.client_cert)
            .field("max_staleness", &self.max_staleness)
            .finish()
    }
}

impl Settings {
    /// Refuses what this client cannot do, with a message naming the setting.
    pub fn check(&self) -> Result<(), String> {
        if self.endpoints.is_empty() {
            return Err("REGISTRY=etcd needs ETCD_ENDPOINTS (such as http://127.0.0.1:2379,http://10.0.0.2:2379)".into());
        }
        for endpoint in &self.endpoints {
            if endpoint.contains('@') {
                // Never echoed: what precedes the @ is a user and password.
                return Err("ETCD_ENDPOINTS: an endpoint carries credentials (user:password@); set ETCD_USERNAME and ETCD_PASSWORD instead".into());
            }
            let host = endpoint
                .strip_prefix("http://")
                .or_else(|| endpoint.strip_prefix("https://"))
                .unwrap_or("");
            if host.is_empty() || host.contains('/') {
                return Err(format!(
                    "ETCD_ENDPOINTS: {endpoint} is not http://host:port or https://host:port"
                ));
            }
            if endpoint.starts_with("https://") != self.tls() {
                return Err(format!(
                    "ETCD_ENDPOINTS mixes http:// and https:// ({endpoint} differs from {}): every member must be reached the same way",
                    self.endpoints[0]
                ));
            }
        }
        if !self.tls() {
            let tls_file = match (&self.ca_file, &self.client_cert) {
                (Some(_), _) => Some("ETCD_CA_FILE"),
                (None, Some(_)) => Some("ETCD_CERT_FILE and ETCD_KEY_FILE"),
                (None, None) => None,
            };
            if let Some(name) = tls_file {
                return Err(format!(
                    "{name} set, but ETCD_ENDPOINTS are http://: use https:// endpoints for TLS to etcd, or unset {name}"
                ));
            }
        }
        if !self.prefix.starts_with('/') || !self.prefix.ends_with('/') {
            return Err(format!(
                "ETCD_PREFIX={} must start and end with / (default {DEFAULT_PREFIX})",
                self.prefix
            ));
        }
        Ok(())
    }

    /// Whether etcd is reached over TLS (the endpoints are `https://`).
    fn tls(&self) -> bool {
        self.endpoints
            .first()
            .is_some_and(|e| e.starts_with("https://"))
    }

    /// The TLS configuration for etcd: `ETCD_CA_FILE`'s roots (or the compiled-in ones) and
    /// the client certificate, read now so that a missing or malformed file stops start-up
    /// with its name (never its content).
    fn tls_config(&self) -> Result<Arc<ClientConfig>, String> {
        let roots = match &self.ca_file {
            None => RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
            Some(path) => {
                let mut roots = RootCertStore::empty();
                let (added, _) =
                    roots.add_parsable_certificates(certificates("ETCD_CA_FILE", path)?);
                if added == 0 {
                    return Err(format!(
                        "ETCD_CA_FILE {} holds no usable CA certificate",
                        path.display()
                    ));
                }
                roots
            }
        };
        let builder = ClientConfig::builder().with_root_certificates(roots);
        let config = match &self.client_cert {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = certificates("ETCD_CERT_FILE", cert)?;
                let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                    pem_error(
                        "ETCD_KEY_FILE",
                        key,
                        "a PEM private key (PKCS#8, PKCS#1 or SEC1)",
                        e,
                    )
                })?;
                builder.with_client_auth_cert(chain, key_der).map_err(|e| {
                    format!(
                        "ETCD_CERT_FILE {} and ETCD_KEY_FILE {} cannot be used together ({e}): the key must be the certificate's, RSA, ECDSA P-256/P-384 or Ed25519",
                        cert.display(),
                        key.display()
                    )
                })?
            }
        };
        Ok(Arc::new(config))
    }
}

/// Every certificate in the PEM file `path` (the setting `name`), at least one.
fn certificates(name: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let what = "a PEM file of certificates";
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| pem_error(name, path, what, e))?;
    if certs.is_empty() {
        return Err(pem_error(name, path, what, pem::Error::NoItemsFound));
    }
    Ok(certs)
}

/// A PEM file that could not be used, by setting and path: the I/O error, or what the file
/// should have been (never the parser's detail, which could quote the file).
fn pem_error(name: &str, path: &Path, what: &str, err: pem::Error) -> String {
    match err {
        pem::Error::Io(err) => format!("cannot read {name} {}: {err}", path.display()),
        _ => format!("{name} {} is not {what}", path.display()),
    }
}

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// No endpoint answered; the text lists what each said.
    Unreachable(String),
    /// etcd answered with an error (`code` is the gRPC code).
    Refused {
        /// The gRPC status code.
        code: i64,
        /// etcd's message.
        message: String,
    },
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Unreachable(detail) => write!(f, "etcd is unreachable ({detail})"),
            Error::Refused { code, message } => {
                write!(f, "etcd refused the request: {message} (code {code})")
            }
        }
    }
}

/// One endpoint's failure: down (try the next) or a real answer.
enum Attempt {
    Down(String),
    Refused(i64, String),
}

/// The gateway client; share it between threads.
pub struct Client {
    endpoints: Vec<String>,
    /// The endpoint that answered last: tried first.
    preferred: AtomicUsize,
    agent: ureq::Agent,
    /// For watches: a long-lived answer, renewed every [`WATCH_RENEW`].
    watch_agent: ureq::Agent,
    credentials: Option<(String, String)>,
    /// The current auth token, when credentials are set.
    token: Mutex<Option<String>>,
    /// Added to [`Error::Unreachable`]: over TLS without a client certificate, a cluster
    /// that requires one just drops the connection (a broken pipe says nothing).
    unreachable_hint: &'static str,
}

impl Client {
    /// A client for checked settings (no connection is made yet); fails when a TLS file
    /// cannot be used, naming it.
    pub fn new(settings: &Settings) -> Result<Client, String> {
        let tls = if settings.tls() {
            Ok(settings.tls_config()?)
        } else {
            Err("TLS to etcd needs https:// endpoints".to_string())
        };
        let agent = |timeout: Option<Duration>| -> ureq::Agent {
            let config = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .timeout_connect(Some(CONNECT_TIMEOUT))
                .timeout_global(timeout)
                // etcd is reached directly: HTTPS_PROXY and friends are for HubSpot, and a
                // proxy must never see ETCD_PASSWORD, tokens or sealed records.
                .proxy(None)
                .build();
            crate::hubspot::transport::tls_agent(config, tls.clone())
        };
        Ok(Client {
            endpoints: settings.endpoints.clone(),
            preferred: AtomicUsize::new(0),
            agent: agent(Some(CALL_TIMEOUT)),
            watch_agent: agent(Some(WATCH_RENEW)),
            credentials: settings.credentials.clone(),
            token: Mutex::new(None),
            unreachable_hint: if settings.tls() && settings.client_cert.is_none() {
                "; no client certificate is configured: if etcd runs with --client-cert-auth, set ETCD_CERT_FILE and ETCD_KEY_FILE"
            } else {
                ""
            },
        })
    }

    /// POSTs `body` to `path` (such as `/v3/kv/range`), failing over across the endpoints,
    /// and returns etcd's JSON answer.
    pub fn call(&self, path: &str, body: &Value) -> Result<Value, Error> {
        self.each_endpoint(|client, endpoint| {
            let response = client.post(&client.agent, endpoint, path, body)?;
            let status = response.status().as_u16();
            let text = response
                .into_body()
                .with_config()
                .limit(MAX_ANSWER)
                .read_to_string()
                .map_err(|e| Attempt::Down(e.to_string()))?;
            match gateway::read(&text) {
                Answer::NotJson => Err(Attempt::Down(format!("HTTP {status}, not JSON"))),
                Answer::Refused(code, message) => Err(Attempt::Refused(code, message)),
                Answer::Value(answer) if status == 200 => Ok(answer),
                Answer::Value(_) => Err(Attempt::Down(format!("HTTP {status}"))),
            }
        })
    }

    /// Opens a watch (`/v3/watch` with `create`, the body of a `create_request`) and returns
    /// its stream once etcd confirmed it.
    pub fn watch(&self, create: &Value) -> Result<Watch, Error> {
        let body = json!({ "create_request": create });
        self.each_endpoint(|client, endpoint| {
            let response = client.post(&client.watch_agent, endpoint, "/v3/watch", &body)?;
            let status = response.status().as_u16();
            let mut watch = Watch {
                lines: BufReader::new(response.into_body().into_reader()),
            };
            if status != 200 {
                return Err(Attempt::Down(format!("HTTP {status}")));
            }
            match watch.next() {
                Ok(first) if first.get("created").and_then(Value::as_bool) == Some(true) => {
                    Ok(watch)
                }
                Ok(other) => Err(Attempt::Down(format!("unexpected watch answer {other}"))),
                Err(Error::Refused { code, message }) => Err(Attempt::Refused(code, message)),
                Err(Error::Unreachable(detail)) => Err(Attempt::Down(detail)),
            }
        })
    }

    /// Runs `attempt` on the preferred endpoint, then the others; authenticates again once
    /// when etcd says the token is stale.
    fn each_endpoint<T>(
        &self,
        attempt: impl Fn(&Client, &str) -> Result<T, Attempt>,
    ) -> Result<T, Error> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for step in 0..self.endpoints.len() {
            let index = (start + step) % self.endpoints.len();
            let endpoint = &self.endpoints[index];
            let mut reauthenticated = false;
            loop {
                match attempt(self, endpoint) {
                    Ok(out) => {
                        self.preferred.store(index, Ordering::Relaxed);
                        return Ok(out);
                    }
                    Err(Attempt::Refused(code, _))
                        if code == UNAUTHENTICATED
                            && self.credentials.is_some()
                            && !reauthenticated =>
                    {
                        *self.token.lock().unwrap_or_else(PoisonError::into_inner) = None;
                        reauthenticated = true;
                    }
                    Err(Attempt::Refused(code, message)) if !RETRY_CODES.contains(&code) => {
                        return Err(Error::Refused { code, message })
                    }
                    Err(Attempt::Refused(_, message) | Attempt::Down(message)) => {
                        failures.push(format!("{endpoint}: {message}"));
                        break;
                    }
                }
            }
        }
        Err(Error::Unreachable(
            failures.join("; ") + self.unreachable_hint,
        ))
    }

    /// One POST to one endpoint, with the auth token when there are credentials.
    fn post(
        &self,
        agent: &ureq::Agent,
        endpoint: &str,
        path: &str,
        body: &Value,
    ) -> Result<ureq::http::Response<ureq::Body>, Attempt> {
        let mut request = agent
            .post(format!("{endpoint}{path}"))
            .header("Content-Type", "application/json")
            // Only a member with a leader answers (etcd cancels a watch when its member
            // loses the leader), so a member cut off from the others by a partition cannot
            // keep a replica's watch open in silence while the majority moves on.
            .header("Grpc-Metadata-hasleader", "true");
        if let Some(token) = self.auth_token(endpoint)? {
            request = request.header("Authorization", token);
        }
        request
            .send(body.to_string().as_bytes())
            .map_err(|e| Attempt::Down(e.to_string()))
    }

    /// The auth token (authenticating on `endpoint` first when there is none yet); `None`
    /// without credentials.
    fn auth_token(&self, endpoint: &str) -> Result<Option<String>, Attempt> {
        let Some((name, password)) = &self.credentials else {
            return Ok(None);
        };
        let mut token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
        if token.is_none() {
            let response = self
                .agent
                .post(format!("{endpoint}/v3/auth/authenticate"))
                .header("Content-Type", "application/json")
                .send(
                    json!({"name": name, "password": password})
                        .to_string()
                        .as_bytes(),
                )
                .map_err(|e| Attempt::Down(e.to_string()))?;
            let text = response
                .into_body()
                .read_to_string()
                .map_err(|e| Attempt::Down(e.to_string()))?;
            let answer = match gateway::read(&text) {
                Answer::Value(answer) => answer,
                Answer::Refused(code, message) => return Err(Attempt::Refused(code, message)),
                Answer::NotJson => return Err(Attempt::Down("authenticate: not JSON".into())),
            };
            *token = answer["token"].as_str().map(str::to_string);
        }
        Ok(token.clone())
    }
}

/// An open watch: one JSON object per line (`{"result": {...}}`) over a chunked answer.
pub struct Watch {
    lines: BufReader<ureq::BodyReader<'static>>,
}

impl Watch {
    /// The next `result` (with `events`, or `canceled` and `compact_revision`); blocks until
    /// etcd sends one. [`Error::Unreachable`] when the stream ended.
    pub fn next(&mut self) -> Result<Value, Error> {
        let mut line = String::new();
        loop {
            line.clear();
            match self.lines.read_line(&mut line) {
                Ok(0) => return Err(Error::Unreachable("the watch stream ended".into())),
                Ok(_) if line.trim().is_empty() => continue,
                Ok(_) => break,
                Err(e) => return Err(Error::Unreachable(format!("watch stream: {e}"))),
            }
        }
        match gateway::read(&line) {
            Answer::Value(mut message) => Ok(message["result"].take()),
            Answer::Refused(code, message) => Err(Error::Refused { code, message }),
            Answer::NotJson => Err(Error::Unreachable(
                "the watch stream sent something not JSON".into(),
            )),
        }
    }
}

/// `key` in the gateway's base64 form.
pub fn key(key: &str) -> String {
    base64::encode(key.as_bytes())
}

/// The end of the range of every key starting with `prefix` (the prefix with its last byte
/// incremented), base64.
pub fn prefix_end(prefix: &str) -> String {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    base64::encode(&end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(endpoints: &[&str]) -> Settings {
        Settings {
            endpoints: endpoints.iter().map(|s| s.to_string()).collect(),
            prefix: DEFAULT_PREFIX.into(),
            credentials: None,
            ca_file: None,
            client_cert: None,
            max_staleness: None,
        }
    }

    #[test]
    fn settings_refuse_mixed_schemes_and_malformed_endpoints_by_name() {
        assert_eq!(settings(&["http://127.0.0.1:2379"]).check(), Ok(()));
        assert_eq!(
            settings(&["https://a:2379", "https://b:2379"]).check(),
            Ok(())
        );
        let mixed = settings(&["http://a:2379", "https://b:2379"])
            .check()
            .unwrap_err();
        assert!(
            mixed.contains("https://b:2379") && mixed.contains("mixes"),
            "{mixed}"
        );
        assert!(settings(&["https://a:2379", "http://b:2379"])
            .check()
            .is_err());
        assert!(settings(&[])
            .check()
            .unwrap_err()
            .contains("ETCD_ENDPOINTS"));
        assert!(settings(&["127.0.0.1:2379"]).check().is_err());
        assert!(settings(&["https://"]).check().is_err());
        let mut with_ca = settings(&["http://a:2379"]);
        with_ca.ca_file = Some("/ca.pem".into());
        assert!(with_ca.check().unwrap_err().contains("ETCD_CA_FILE"));
        let mut with_cert = settings(&["http://a:2379"]);
        with_cert.client_cert = Some(("/c.pem".into(), "/k.pem".into()));
        assert!(with_cert.check().unwrap_err().contains("ETCD_CERT_FILE"));
        let mut prefix = settings(&["http://a:2379"]);
        prefix.prefix = "no-slash".into();
        assert!(prefix.check().unwrap_err().contains("ETCD_PREFIX"));
        for endpoint in [
            "http://root:hunter2@127.0.0.1:2379",
            "HTTP://root:hunter2@127.0.0.1:2379",
            "root:hunter2@127.0.0.1:2379",
        ] {
            let refused = settings(&[endpoint]).check().unwrap_err();
            assert!(
                refused.contains("ETCD_PASSWORD") && !refused.contains("hunter2"),
                "{refused}"
            );
        }
    }

    #[test]
    fn unreachable_endpoints_are_all_named() {
        // Port 9 on loopback (discard) is closed on test machines: connection refused.
        let client = Client::new(&settings(&["http://127.0.0.1:9", "http://127.0.0.1:1"])).unwrap();
        let err = client.call("/v3/kv/range", &json!({})).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Unreachable(_)), "{text}");
        assert!(
            text.contains("127.0.0.1:9") && text.contains("127.0.0.1:1"),
            "{text}"
        );
    }

    /// Unusable TLS files stop the client from being made, naming the setting and the path
    /// and never quoting the file (a key file may hold a secret).
    #[test]
    fn unusable_tls_files_are_named_without_their_content() {
        let dir = crate::registry::store::tests::TempDir::new("etcd-tls");
        std::fs::create_dir_all(&dir.0).unwrap();
        let secret = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw-not-base64!\n-----END PRIVATE KEY-----\n";
        let garbage = dir.0.join("garbage.pem");
        std::fs::write(&garbage, secret).unwrap();
        let missing = dir.0.join("missing.pem");
        let with = |ca: Option<&Path>, cert: Option<(&Path, &Path)>| {
            let mut s = settings(&["https://127.0.0.1:2379"]);
            s.ca_file = ca.map(Path::to_path_buf);
            s.client_cert = cert.map(|(c, k)| (c.to_path_buf(), k.to_path_buf()));
            Client::new(&s).err().expect("refused")
        };
        let err = with(Some(&missing), None);
        assert!(
            err.starts_with("cannot read ETCD_CA_FILE") && err.contains("missing.pem"),
            "{err}"
        );
        let err = with(Some(&garbage), None);
        assert!(
            err.starts_with("ETCD_CA_FILE") && err.contains("garbage.pem"),
            "{err}"
        );
        let err = with(None, Some((&garbage, &garbage)));
        assert!(err.starts_with("ETCD_CERT_FILE"), "{err}");
        let cert = dir.0.join("cert.pem");
        let self_signed = rcgen::generate_simple_self_signed(vec!["etcd".to_string()]).unwrap();
        std::fs::write(&cert, self_signed.cert.pem()).unwrap();
        let err = with(None, Some((&cert, &garbage)));
        assert!(
            err.starts_with("ETCD_KEY_FILE") && err.contains("garbage.pem"),
            "{err}"
        );
        let err = with(None, Some((&cert, &missing)));
        assert!(err.starts_with("cannot read ETCD_KEY_FILE"), "{err}");
        for err in [
            with(Some(&garbage), None),
            with(None, Some((&cert, &garbage))),
        ] {
            assert!(
                !err.contains("c2VjcmV0") && !err.contains("not-base64"),
                "{err}"
            );
        }
        // Without TLS files, the compiled-in roots: the client is made.
        assert!(Client::new(&settings(&["https://127.0.0.1:2379"])).is_ok());
    }

    #[test]
    fn prefix_helper() {
        assert_eq!(base64::decode(&prefix_end("/a/")).unwrap(), b"/a0");
    }
}

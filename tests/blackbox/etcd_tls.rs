//! TLS to etcd (`https://` in `ETCD_ENDPOINTS`): one real etcd member (Debian's
//! `etcd-server`, 3.4) serving clients over TLS on loopback and requiring a client
//! certificate (`--client-cert-auth`), with a throwaway CA, server and client certificates
//! made here (rcgen, as in tests/blackbox/tls.rs). A replica with the CA and the client certificate
//! mints a scoped server and serves it; without the certificate, or trusting another CA,
//! start-up stops naming etcd. Without an `etcd` binary these tests print SKIP and pass.

use crate::common::{free_port, ADMIN, SEAL_KEY};

use crate::common::{temp_dir, Server};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A throwaway CA: its PEM file, and the issuer to sign with.
fn ca(dir: &Path, name: &str) -> (PathBuf, CertifiedIssuer<'static, KeyPair>) {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
    let file = dir.join(format!("{name}.pem"));
    std::fs::write(&file, issuer.pem()).unwrap();
    (file, issuer)
}

/// A certificate for `names` signed by `issuer`, for `usages`: its PEM file and key file.
fn leaf(
    dir: &Path,
    name: &str,
    names: &[&str],
    usages: Vec<ExtendedKeyUsagePurpose>,
    issuer: &CertifiedIssuer<'static, KeyPair>,
) -> (PathBuf, PathBuf) {
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.extended_key_usages = usages;
    let cert = params.signed_by(&key, issuer).unwrap();
    let (cert_file, key_file) = (
        dir.join(format!("{name}.pem")),
        dir.join(format!("{name}.key")),
    );
    std::fs::write(&cert_file, cert.pem()).unwrap();
    std::fs::write(&key_file, key.serialize_pem()).unwrap();
    (cert_file, key_file)
}

/// One etcd member serving clients on `https://127.0.0.1:<port>` with client-certificate
/// authentication; killed (and its files removed) on drop.
struct TlsEtcd {
    dir: PathBuf,
    endpoint: String,
    ca_file: PathBuf,
    client: (PathBuf, PathBuf),
    child: Child,
}

impl TlsEtcd {
    /// Starts the member, or `None` (after printing SKIP) when etcd is not installed.
    fn start(test: &str) -> Option<TlsEtcd> {
        if Command::new("etcd").arg("--version").output().is_err() {
            println!("SKIP {test}: no etcd binary (make etcd installs Debian's etcd-server)");
            return None;
        }
        let dir = temp_dir("etcd-tls");
        let (ca_file, issuer) = ca(&dir, "test-ca");
        // etcd 3.4's gateway dials its own gRPC server with the server certificate, so
        // under --client-cert-auth that one must be good for client auth too.
        let (server_cert, server_key) = leaf(
            &dir,
            "etcd-server",
            &["127.0.0.1", "localhost"],
            vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
            &issuer,
        );
        let client = leaf(
            &dir,
            "hubspot-mcp",
            &[],
            vec![ExtendedKeyUsagePurpose::ClientAuth],
            &issuer,
        );
        let (port, peer) = (free_port(), free_port());
        let endpoint = format!("https://127.0.0.1:{port}");
        let log_file = dir.join("etcd.log");
        let child = Command::new("etcd")
            .args(["--name", "tls0"])
            .args(["--data-dir", &dir.join("data").display().to_string()])
            .args(["--listen-client-urls", &endpoint])
            .args(["--advertise-client-urls", &endpoint])
            .args(["--listen-peer-urls", &format!("http://127.0.0.1:{peer}")])
            .args([
                "--initial-advertise-peer-urls",
                &format!("http://127.0.0.1:{peer}"),
            ])
            .args([
                "--initial-cluster",
                &format!("tls0=http://127.0.0.1:{peer}"),
            ])
            .args(["--cert-file", &server_cert.display().to_string()])
            .args(["--key-file", &server_key.display().to_string()])
            .args(["--trusted-ca-file", &ca_file.display().to_string()])
            .arg("--client-cert-auth")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log_file).unwrap())
            .spawn()
            .expect("etcd starts");
        let etcd = TlsEtcd {
            dir,
            endpoint,
            ca_file,
            client,
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !std::fs::read_to_string(&log_file)
            .unwrap_or_default()
            .contains("ready to serve client requests")
        {
            assert!(Instant::now() < deadline, "etcd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(etcd)
    }

    /// A replica's environment: the embedded mock HubSpot, the admin API, the registry on
    /// this member, plus `extra`.
    fn env(&self, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
        let key_file = self.dir.join("seal.key");
        std::fs::write(&key_file, SEAL_KEY).unwrap();
        let mut env = vec![
            ("HUBSPOT_MOCK", crate::common::fixtures()),
            ("ADMIN_API_TOKEN", ADMIN.to_string()),
            ("REGISTRY", "etcd".to_string()),
            ("ETCD_ENDPOINTS", self.endpoint.clone()),
            ("REGISTRY_KEY_FILE", key_file.display().to_string()),
        ];
        env.extend_from_slice(extra);
        env
    }

    /// The CA and the client certificate's settings.
    fn trusted(&self) -> Vec<(&'static str, String)> {
        vec![
            ("ETCD_CA_FILE", self.ca_file.display().to_string()),
            ("ETCD_CERT_FILE", self.client.0.display().to_string()),
            ("ETCD_KEY_FILE", self.client.1.display().to_string()),
        ]
    }
}

impl Drop for TlsEtcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `serve` with `env` expecting it to stop at start-up: its exit code and log.
fn failed_start(env: &[(&'static str, String)]) -> (Option<i32>, String) {
    let data = temp_dir("data");
    let log = data.join("stderr.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_hubspot-mcp-server"))
        .arg("serve")
        .env_clear()
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", &data)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&data);
    (code, text)
}

#[test]
fn a_replica_with_the_ca_and_a_client_certificate_mints_and_serves_over_tls() {
    let Some(etcd) = TlsEtcd::start("etcd_tls") else {
        return;
    };
    let replica = Server::start(
        &["serve"],
        &etcd.env(&etcd.trusted()),
        "listening on http://",
    );
    let (status, accounts) = replica.admin(ADMIN, "GET", "/integrated-account", None);
    assert_eq!(status, 200, "{accounts}");
    let account = accounts["result"][0]["id"].as_str().unwrap().to_string();
    let (status, created) = replica.admin(
        ADMIN,
        "POST",
        &format!("/integrated-account/{account}/mcp"),
        Some(&json!({"name": "over tls", "config": {"methods": ["read"]}})),
    );
    assert_eq!(status, 201, "{created}");
    let token = created["token"].as_str().unwrap();
    let listed = replica.rpc(
        &format!("/mcp/{token}"),
        &json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(listed.status, 200, "{}", listed.text());
    assert!(listed.json()["result"]["tools"]
        .as_array()
        .is_some_and(|t| !t.is_empty()));
    let ready = replica.get("/ready").json();
    assert_eq!(ready["checks"]["registry"]["status"], "ok", "{ready}");
}

#[test]
fn without_the_client_certificate_or_with_another_ca_start_up_stops_naming_etcd() {
    let Some(etcd) = TlsEtcd::start("etcd_tls_refused") else {
        return;
    };
    // The right CA, no client certificate: etcd refuses the connection.
    let ca_only = vec![("ETCD_CA_FILE", etcd.ca_file.display().to_string())];
    let (code, log) = failed_start(&etcd.env(&ca_only));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("cannot read the registry from etcd")
            && log.contains(&etcd.endpoint)
            && log.contains("no client certificate is configured"),
        "{log}"
    );

    // The client certificate, but trusting another CA: our side refuses etcd's certificate.
    let dir = temp_dir("other-ca");
    let (other_ca, _) = ca(&dir, "other-ca");
    let mut other = etcd.trusted();
    other[0].1 = other_ca.display().to_string();
    let (code, log) = failed_start(&etcd.env(&other));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("cannot read the registry from etcd") && log.contains("TLS handshake failed"),
        "{log}"
    );

    // A certificate without its key, and a key file that holds no key: named, never quoted.
    let mut no_key = etcd.trusted();
    no_key.pop();
    let (code, log) = failed_start(&etcd.env(&no_key));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("ETCD_CERT_FILE is set without ETCD_KEY_FILE"),
        "{log}"
    );
    let mut not_a_key = etcd.trusted();
    not_a_key[2].1 = etcd.ca_file.display().to_string();
    let (code, log) = failed_start(&etcd.env(&not_a_key));
    assert_eq!(code, Some(2), "{log}");
    assert!(
        log.contains("ETCD_KEY_FILE") && log.contains(&not_a_key[2].1),
        "{log}"
    );
    assert!(
        !log.contains("BEGIN"),
        "a PEM file's content reached the log: {log}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

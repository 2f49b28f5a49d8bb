//! One HTTP/1.1 exchange with HubSpot (or the mock): a fresh connection per request,
//! plain TCP for `http://`, rustls for `https://`, bounded by one deadline.
//!
//! TLS trusts the Mozilla CA roots compiled into the binary (webpki-roots), so the static
//! binary reaches HubSpot from an empty `FROM scratch` image, plus every certificate in
//! `SSL_CERT_FILE` when that is set (a corporate proxy's CA, or a test CA). minreq's rustls
//! support cannot take extra roots, which is why this exchange is our own.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The largest response head accepted.
const MAX_HEAD: usize = 64 * 1024;
/// The largest response body accepted (HubSpot pages are far smaller).
const MAX_BODY: usize = 32 * 1024 * 1024;

/// A request to send.
pub struct Request<'a> {
    /// `GET` or `POST`.
    pub method: &'a str,
    /// The absolute `http://` or `https://` URL.
    pub url: &'a str,
    /// Extra header lines (Host, Content-Length and Connection are added).
    pub headers: &'a [(&'a str, &'a str)],
    /// The body, if any.
    pub body: Option<&'a [u8]>,
    /// The whole exchange, connect to last byte, must end within this.
    pub timeout: Duration,
}

/// A complete response.
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names lower-cased, in order.
    headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `request` and reads the whole response. A timeout is an `io::ErrorKind::TimedOut`
/// error; a TLS failure (say, an untrusted certificate) is an `InvalidData` error naming it.
pub fn send(request: &Request) -> io::Result<Response> {
    let deadline = Instant::now() + request.timeout;
    let target = Target::parse(request.url)?;
    let tcp = connect(&target.host, target.port, deadline)?;
    let mut conn = if target.tls {
        let name = ServerName::try_from(target.host.clone())
            .map_err(|err| invalid(format!("bad TLS server name {}: {err}", target.host)))?;
        let tls = ClientConnection::new(tls_config()?, name).map_err(invalid)?;
        Conn::Tls(Box::new(StreamOwned::new(tls, tcp)))
    } else {
        Conn::Plain(tcp)
    };
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        request.method, target.path, target.authority
    );
    for (name, value) in request.headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if let Some(body) = request.body {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(request.body.unwrap_or_default());
    conn.arm(deadline)?;
    conn.write_all(&out)?;
    conn.flush()?;
    read_response(&mut conn, deadline)
}

/// The parts of a URL a request needs.
struct Target {
    tls: bool,
    host: String,
    port: u16,
    /// `host[:port]` as written, for the Host header.
    authority: String,
    path: String,
}

impl Target {
    fn parse(url: &str) -> io::Result<Target> {
        let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (true, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (false, rest)
        } else {
            return Err(invalid(format!("not an http(s) URL: {url}")));
        };
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (host, port) = match authority.rsplit_once(':') {
            Some((host, port)) if !port.contains(']') => (
                host,
                port.parse()
                    .map_err(|_| invalid(format!("bad port in {authority}")))?,
            ),
            _ => (authority, if tls { 443 } else { 80 }),
        };
        Ok(Target {
            tls,
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_string(),
            port,
            authority: authority.to_string(),
            path: if path.is_empty() { "/" } else { path }.to_string(),
        })
    }
}

/// The TLS client configuration, built once: the built-in roots plus `SSL_CERT_FILE`'s.
fn tls_config() -> io::Result<Arc<ClientConfig>> {
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
        .map_err(invalid)
}

/// Resolves and connects to the first address that answers before the deadline.
fn connect(host: &str, port: u16, deadline: Instant) -> io::Result<TcpStream> {
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("{host} has no address"));
    for addr in (host, port).to_socket_addrs()? {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(tcp) => {
                tcp.set_nodelay(true)?;
                return Ok(tcp);
            }
            Err(err) => last = err,
        }
    }
    Err(last)
}

/// The time left, or a timeout error when there is none.
fn remaining(deadline: Instant) -> io::Result<Duration> {
    match deadline.checked_duration_since(Instant::now()) {
        Some(left) if !left.is_zero() => Ok(left),
        _ => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the HubSpot call timed out",
        )),
    }
}

fn invalid(err: impl ToString) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, err.to_string())
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// Bounds the next reads and writes by what is left of the deadline.
    fn arm(&self, deadline: Instant) -> io::Result<()> {
        let tcp = match self {
            Conn::Plain(tcp) => tcp,
            Conn::Tls(tls) => &tls.sock,
        };
        let left = remaining(deadline)?;
        tcp.set_read_timeout(Some(left))?;
        tcp.set_write_timeout(Some(left))
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.read(buf),
            Conn::Tls(tls) => tls.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(tcp) => tcp.write(buf),
            Conn::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(tcp) => tcp.flush(),
            Conn::Tls(tls) => tls.flush(),
        }
    }
}

/// How the body's end is known.
enum Framing {
    Length(usize),
    Chunked,
    UntilClose,
}

/// Reads the head, then the body as its framing says, each read bounded by the deadline.
fn read_response(conn: &mut Conn, deadline: Instant) -> io::Result<Response> {
    let mut buf = Vec::with_capacity(16 * 1024);
    let mut closed = false;
    let (status, headers, start) = loop {
        let mut slots = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut slots);
        match parsed.parse(&buf).map_err(invalid)? {
            httparse::Status::Complete(len) => {
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        (
                            h.name.to_ascii_lowercase(),
                            String::from_utf8_lossy(h.value).trim().to_string(),
                        )
                    })
                    .collect();
                break (parsed.code.unwrap_or_default(), headers, len);
            }
            httparse::Status::Partial if closed => {
                return Err(invalid("the connection closed before a full response"))
            }
            httparse::Status::Partial if buf.len() > MAX_HEAD => {
                return Err(invalid("the response head is too large"))
            }
            httparse::Status::Partial => closed = fill(conn, &mut buf, deadline)?,
        }
    };
    let find = |name: &str| headers.iter().find(|(n, _)| n == name).map(|(_, v)| v);
    let framing = if status == 204 || status == 304 || (100..200).contains(&status) {
        Framing::Length(0)
    } else if find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    {
        Framing::Chunked
    } else if let Some(len) = find("content-length") {
        Framing::Length(
            len.parse()
                .map_err(|_| invalid(format!("bad Content-Length {len}")))?,
        )
    } else {
        Framing::UntilClose
    };
    let body = loop {
        let rest = &buf[start..];
        let done = match framing {
            Framing::Length(len) if rest.len() >= len => Some(rest[..len].to_vec()),
            Framing::Chunked => dechunk(rest)?,
            Framing::UntilClose if closed => Some(rest.to_vec()),
            _ => None,
        };
        if let Some(body) = done {
            break body;
        }
        if closed {
            return Err(invalid("the connection closed before the whole body"));
        }
        if rest.len() > MAX_BODY {
            return Err(invalid("the response body is too large"));
        }
        closed = fill(conn, &mut buf, deadline)?;
    };
    Ok(Response {
        status,
        headers,
        body,
    })
}

/// Reads more into `buf`; true when the peer has closed. A TLS peer that closes without
/// close_notify counts as closed: framing, not the TLS layer, says whether data is missing.
fn fill(conn: &mut Conn, buf: &mut Vec<u8>, deadline: Instant) -> io::Result<bool> {
    conn.arm(deadline)?;
    let mut chunk = [0u8; 16 * 1024];
    match conn.read(&mut chunk) {
        Ok(0) => Ok(true),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(false)
        }
        Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => Ok(true),
        Err(err) if err.kind() == io::ErrorKind::WouldBlock => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the HubSpot call timed out",
        )),
        Err(err) => Err(err),
    }
}

/// The body of a complete chunked encoding, or `None` while more bytes are needed.
fn dechunk(mut data: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let mut body = Vec::new();
    loop {
        let Some(eol) = data.windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let line = std::str::from_utf8(&data[..eol]).map_err(invalid)?;
        let size_text = line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        data = &data[eol + 2..];
        if size == 0 {
            // No trailers: one CRLF; trailers: header lines ending with a blank line.
            let ended = data.starts_with(b"\r\n") || data.windows(4).any(|w| w == b"\r\n\r\n");
            return Ok(ended.then_some(body));
        }
        if data.len() < size + 2 {
            return Ok(None);
        }
        body.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_path() {
        let t = Target::parse("https://api.hubapi.com/crm/v3/objects/contacts?limit=1").unwrap();
        assert!(t.tls);
        assert_eq!((t.host.as_str(), t.port), ("api.hubapi.com", 443));
        assert_eq!(t.path, "/crm/v3/objects/contacts?limit=1");
        let t = Target::parse("http://[::1]:8080").unwrap();
        assert!(!t.tls);
        assert_eq!(
            (t.host.as_str(), t.port, t.path.as_str()),
            ("::1", 8080, "/")
        );
        assert_eq!(t.authority, "[::1]:8080");
        assert!(Target::parse("ftp://x").is_err());
        assert!(Target::parse("http://x:port/").is_err());
    }

    #[test]
    fn chunked_bodies_are_joined_once_complete() {
        let full = b"4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\n\r\n";
        assert_eq!(dechunk(full).unwrap().unwrap(), b"Wikipedia");
        assert_eq!(dechunk(&full[..full.len() - 2]).unwrap(), None);
        assert_eq!(dechunk(b"4\r\nWi").unwrap(), None);
        let trailers = b"1\r\na\r\n0\r\nX-T: 1\r\n\r\n";
        assert_eq!(dechunk(trailers).unwrap().unwrap(), b"a");
        assert!(dechunk(b"zz\r\n").is_err());
    }
}

//! Request framing (RFC 9112): where one request ends in the bytes a connection received.
//!
//! A pure state machine with no I/O and no `crate::` imports (the fuzz target in `fuzz/`
//! includes this file on its own). A [`Framer`] keeps its place between reads: the head is
//! parsed once, a chunked body is decoded as its bytes arrive (in place, so the decoded body
//! is a range of the buffer and nothing is copied or re-read from the start), and every
//! part of a request is bounded:
//! - the header block, the trailer section and all chunk extensions together: each at most
//!   [`MAX_HEADER_BYTES`] (431 past it);
//! - the body: at most `max_body` bytes decoded, and a chunked body at most `2 × max_body`
//!   bytes on the wire (413 past either).
//!
//! Refused with 400: a malformed request line (a space inside the target, two spaces before
//! the version) or version (`HTTP/1`, `http/1.1`), an
//! HTTP/1.1 request without exactly one valid `Host`, Content-Length with Transfer-Encoding,
//! two different Content-Lengths, a Transfer-Encoding that does not name `chunked` once as
//! its last coding (`chunked` twice would mean a body chunked twice: a smuggling shape), a
//! chunked body on HTTP/1.0, a chunk size that is not `1*HEXDIG` or does not fit, and a bare
//! LF in a chunk line or the trailers. Another coding before `chunked` (`gzip, chunked`)
//! gets 501. A well-formed version this server does not speak (`HTTP/2.0`, `HTTP/0.9`) gets
//! 505; a higher HTTP/1 minor version (`HTTP/1.2`) is read as HTTP/1.1, as RFC 9110 §2.5
//! asks.

// A parser of bytes from the network: no arithmetic that can overflow and no index that
// can panic, so hostile input gets an error, never a panic (Cargo.toml: [lints]).
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use std::ops::Range;

/// Most headers a request may carry (431 beyond).
pub const MAX_HEADERS: usize = 100;
/// Largest header block, trailer section and sum of chunk extensions, in bytes (431 beyond).
pub const MAX_HEADER_BYTES: usize = 8 * 1024;
/// The most bytes looked at for one chunk-size or trailer line: the limit and its CRLF.
const MAX_LINE_BYTES: usize = MAX_HEADER_BYTES + 2;

/// A request's head, as byte ranges of the request's own bytes (so it survives the buffer
/// being moved between reads).
#[derive(Debug, Clone, PartialEq)]
pub struct Head {
    /// The method token.
    pub method: Range<usize>,
    /// The request target (path and query).
    pub target: Range<usize>,
    /// True for HTTP/1.0.
    pub http10: bool,
    /// Header names and values in the order received.
    pub headers: Vec<(Range<usize>, Range<usize>)>,
    /// The length of the head, up to and with the blank line.
    pub len: usize,
}

/// What [`Framer::advance`] found.
#[derive(Debug, PartialEq)]
pub enum Frame {
    /// A whole request: its head, how many bytes it took and where its (decoded) body lies.
    Complete {
        head: Head,
        consumed: usize,
        body: Range<usize>,
    },
    /// More bytes are needed; `continue_100` when the client waits for `100 Continue`.
    /// `new_head` on the one call that completed the head while the body is still to come:
    /// the moment to answer from the head alone ([`Framer::head`]) without reading the body.
    Partial { continue_100: bool, new_head: bool },
    /// The request is unusable: answer with this status and close the connection.
    Reject(u16, &'static str),
}

/// Where the framer is in the current request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    /// Looking for the end of the head; bytes before `scanned` hold none.
    Head { scanned: usize },
    /// A Content-Length body of this many bytes.
    Length(usize),
    /// At the start of a chunk-size line.
    ChunkSize,
    /// Inside chunk data with this many bytes still to come.
    ChunkData(usize),
    /// At the CRLF after chunk data.
    ChunkEnd,
    /// In the trailer section, after the last chunk.
    Trailers,
}

/// Frames the requests of one connection, one after another.
#[derive(Debug)]
pub struct Framer {
    max_body: usize,
    stage: Stage,
    head: Option<Head>,
    continue_100: bool,
    /// Where the undecoded wire bytes of a chunked body begin.
    pos: usize,
    /// Decoded body bytes so far (they sit right after the head).
    decoded: usize,
    /// Chunk-extension and trailer bytes so far.
    extra: usize,
}

impl Framer {
    /// A framer for requests whose body may be at most `max_body` bytes.
    pub fn new(max_body: usize) -> Framer {
        Framer {
            max_body,
            stage: Stage::Head { scanned: 0 },
            head: None,
            continue_100: false,
            pos: 0,
            decoded: 0,
            extra: 0,
        }
    }

    /// The most bytes one request may occupy while it is incomplete: a caller never
    /// buffers more than this (plus one read) for a single request. Checked by the
    /// property test (the fuzz target checks the same bound).
    #[cfg(test)]
    pub fn max_request_bytes(&self) -> usize {
        MAX_LINE_BYTES
            .saturating_mul(2)
            .saturating_add(self.max_body.saturating_mul(2))
    }

    /// Looks at `buf`, the bytes of the current request received so far (from its first
    /// byte; it may hold following requests too), picking up where the last call stopped.
    /// Chunked data is moved down in `buf` as it is decoded. After `Complete` the framer
    /// starts afresh on the next request; after `Reject` it must not be used again.
    pub fn advance(&mut self, buf: &mut [u8]) -> Frame {
        let new_head = matches!(self.stage, Stage::Head { .. });
        if let Stage::Head { scanned } = self.stage {
            match self.parse_head(buf, scanned) {
                Ok(Some(())) => {}
                Ok(None) => {
                    return Frame::Partial {
                        continue_100: false,
                        new_head: false,
                    }
                }
                Err(reject) => return reject,
            }
        }
        let head_len = self.head.as_ref().map_or(0, |h| h.len);
        let done = match self.stage {
            Stage::Head { .. } => unreachable!("the head was parsed above"),
            Stage::Length(length) => {
                if buf.len().saturating_sub(head_len) < length {
                    return self.partial(new_head);
                }
                head_len.saturating_add(length)
            }
            _ => match self.dechunk(buf, head_len) {
                Ok(Some(end)) => end,
                Ok(None) => return self.partial(new_head),
                Err(reject) => return reject,
            },
        };
        let body = match self.stage {
            Stage::Length(length) => head_len..head_len.saturating_add(length),
            _ => head_len..head_len.saturating_add(self.decoded),
        };
        let head = self.head.take().expect("a parsed head");
        *self = Framer::new(self.max_body);
        Frame::Complete {
            head,
            consumed: done,
            body,
        }
    }

    fn partial(&self, new_head: bool) -> Frame {
        Frame::Partial {
            continue_100: self.continue_100,
            new_head,
        }
    }

    /// The bytes the request being read takes in all, head and body, when its head gave a
    /// Content-Length; `None` before its head and for a chunked body (its size is unknown).
    pub fn expected_len(&self) -> Option<usize> {
        match (self.stage, &self.head) {
            (Stage::Length(length), Some(head)) => Some(head.len.saturating_add(length)),
            _ => None,
        }
    }

    /// The head of the request whose body is being read (after `Partial { new_head: true }`).
    pub fn head(&self) -> Option<&Head> {
        self.head.as_ref()
    }

    /// Parses the head once its blank line has arrived: `Ok(None)` while it has not.
    fn parse_head(&mut self, buf: &mut [u8], scanned: usize) -> Result<Option<()>, Frame> {
        // Only the new bytes (and the three before them) are searched for the blank line,
        // so a head sent a byte at a time costs linear work.
        let new = buf.get(scanned.saturating_sub(3)..).unwrap_or_default();
        let end = new
            .windows(2)
            .position(|w| w == b"\n\n")
            .or_else(|| new.windows(3).position(|w| w == b"\n\r\n"));
        if end.is_none() {
            if buf.len() > MAX_HEADER_BYTES {
                return Err(too_large_head());
            }
            self.stage = Stage::Head { scanned: buf.len() };
            return Ok(None);
        }
        let mut headers = vec![httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(buf) {
            Ok(httparse::Status::Complete(len)) if len <= MAX_HEADER_BYTES => len,
            Ok(httparse::Status::Complete(_)) => return Err(too_large_head()),
            Ok(httparse::Status::Partial) if buf.len() > MAX_HEADER_BYTES => {
                return Err(too_large_head())
            }
            // A blank line before the request line: wait for the real end.
            Ok(httparse::Status::Partial) => {
                self.stage = Stage::Head { scanned: buf.len() };
                return Ok(None);
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(Frame::Reject(431, "the request has more than 100 headers"))
            }
            Err(httparse::Error::Version) => {
                let fault = version_fault(buf);
                if let VersionFault::HigherMinor(digit_at) = fault {
                    if let Some(digit) = buf.get_mut(digit_at) {
                        // RFC 9110 §2.5: read HTTP/1.x (x > 1) as HTTP/1.1.
                        *digit = b'1';
                        return self.parse_head(buf, scanned);
                    }
                }
                return Err(match fault {
                    VersionFault::Unsupported => {
                        Frame::Reject(505, "only HTTP/1.0 and HTTP/1.1 are supported")
                    }
                    VersionFault::HigherMinor(_) | VersionFault::Malformed => Frame::Reject(
                        400,
                        "the request line's HTTP version is malformed; send HTTP/1.1",
                    ),
                });
            }
            Err(_) => return Err(Frame::Reject(400, "the request is not valid HTTP/1.1")),
        };
        // httparse's slices all lie inside `buf`, so these never saturate.
        let base = buf.as_ptr() as usize;
        let range = |s: &[u8]| {
            let start = (s.as_ptr() as usize).saturating_sub(base);
            start..start.saturating_add(s.len())
        };
        let (Some(method), Some(target), Some(version)) = (req.method, req.path, req.version)
        else {
            return Err(Frame::Reject(400, "the request is not valid HTTP/1.1"));
        };
        let head = Head {
            method: range(method.as_bytes()),
            target: range(target.as_bytes()),
            http10: version == 0,
            headers: req
                .headers
                .iter()
                .map(|h| (range(h.name.as_bytes()), range(h.value)))
                .collect(),
            len,
        };
        let framing = framing_headers(req.headers, head.http10)?;
        self.continue_100 = framing.expect_continue;
        self.stage = match framing.body {
            BodyKind::Chunked => Stage::ChunkSize,
            BodyKind::Length(n) if n > self.max_body => return Err(too_large_body()),
            BodyKind::Length(n) => Stage::Length(n),
        };
        self.pos = len;
        self.decoded = 0;
        self.head = Some(head);
        Ok(Some(()))
    }

    /// Decodes chunked data from `self.pos` on, moving it down to follow the decoded body.
    /// `Ok(Some(end))` once the trailer section has ended at `end`.
    fn dechunk(&mut self, buf: &mut [u8], head_len: usize) -> Result<Option<usize>, Frame> {
        loop {
            if self.pos.saturating_sub(head_len) > self.max_body.saturating_mul(2) {
                return Err(too_large_body());
            }
            match self.stage {
                Stage::ChunkSize => {
                    let Some((line, next)) = self.line(buf, "chunk-size line")? else {
                        return Ok(None);
                    };
                    let (size, ext_len) = chunk_size(buf.get(line).unwrap_or_default())?;
                    self.extra = self.extra.saturating_add(ext_len);
                    if self.extra > MAX_HEADER_BYTES {
                        return Err(Frame::Reject(
                            431,
                            "the chunk extensions are larger than 8 KiB",
                        ));
                    }
                    if size > self.max_body.saturating_sub(self.decoded) {
                        return Err(too_large_body());
                    }
                    self.pos = next;
                    self.stage = if size == 0 {
                        self.extra = 0;
                        Stage::Trailers
                    } else {
                        Stage::ChunkData(size)
                    };
                }
                Stage::ChunkData(left) => {
                    let n = left.min(buf.len().saturating_sub(self.pos));
                    if n == 0 {
                        return Ok(None);
                    }
                    let to = head_len.saturating_add(self.decoded);
                    let end = self.pos.saturating_add(n);
                    buf.copy_within(self.pos..end, to);
                    self.decoded = self.decoded.saturating_add(n);
                    self.pos = end;
                    self.stage = if n == left {
                        Stage::ChunkEnd
                    } else {
                        Stage::ChunkData(left.saturating_sub(n))
                    };
                }
                Stage::ChunkEnd => {
                    match buf.get(self.pos..).and_then(|rest| rest.get(..2)) {
                        None => return Ok(None),
                        Some(b"\r\n") => {}
                        Some(_) => {
                            return Err(Frame::Reject(400, "chunk data must be followed by CRLF"))
                        }
                    }
                    self.pos = self.pos.saturating_add(2);
                    self.stage = Stage::ChunkSize;
                }
                Stage::Trailers => {
                    let Some((line, next)) = self.line(buf, "trailer line")? else {
                        return Ok(None);
                    };
                    self.extra = self.extra.saturating_add(next.saturating_sub(self.pos));
                    if self.extra > MAX_HEADER_BYTES {
                        return Err(Frame::Reject(
                            431,
                            "the trailer section is larger than 8 KiB",
                        ));
                    }
                    self.pos = next;
                    if line.is_empty() {
                        return Ok(Some(next));
                    }
                    if buf
                        .get(line)
                        .unwrap_or_default()
                        .iter()
                        .any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f)
                    {
                        return Err(Frame::Reject(400, "a trailer line holds a control byte"));
                    }
                }
                Stage::Head { .. } | Stage::Length(_) => unreachable!("not a chunked stage"),
            }
        }
    }

    /// The CRLF-ended line at `self.pos`: its range without the CRLF and where the next
    /// begins. `Ok(None)` while it is incomplete; 431 when it is longer than the header
    /// limit, 400 for a bare CR or LF.
    fn line(&self, buf: &[u8], what: &'static str) -> Result<Option<(Range<usize>, usize)>, Frame> {
        let rest = buf.get(self.pos..).unwrap_or_default();
        let rest = rest.get(..MAX_LINE_BYTES).unwrap_or(rest);
        let Some(i) = rest.iter().position(|&b| b == b'\n' || b == b'\r') else {
            return if rest.len() > MAX_HEADER_BYTES {
                Err(Frame::Reject(
                    431,
                    match what {
                        "trailer line" => "a trailer line is longer than 8 KiB",
                        _ => "a chunk-size line is longer than 8 KiB",
                    },
                ))
            } else {
                Ok(None)
            };
        };
        // From the first CR or LF on.
        match rest.get(i..).unwrap_or_default() {
            [b'\n', ..] => Err(Frame::Reject(
                400,
                match what {
                    "trailer line" => "a trailer line ends in a bare LF; end lines with CRLF",
                    _ => "a chunk-size line ends in a bare LF; end lines with CRLF",
                },
            )),
            [b'\r'] => Ok(None),
            [b'\r', b'\n', ..] => {
                let end = self.pos.saturating_add(i);
                Ok(Some((self.pos..end, end.saturating_add(2))))
            }
            _ => Err(Frame::Reject(400, "a bare CR in the chunked body")),
        }
    }
}

fn too_large_head() -> Frame {
    Frame::Reject(431, "the request headers are larger than 8 KiB")
}

fn too_large_body() -> Frame {
    Frame::Reject(413, "the request body is larger than MAX_REQUEST_SIZE")
}

/// A chunk-size line (`1*HEXDIG [BWS ";" chunk-ext]`): the size, and the extension's length.
fn chunk_size(line: &[u8]) -> Result<(usize, usize), Frame> {
    let bad = || {
        Frame::Reject(
            400,
            "a chunk size must be hexadecimal digits that fit in 64 bits",
        )
    };
    let digits = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    if digits == 0 {
        return Err(bad());
    }
    let (hex, rest) = line.split_at_checked(digits).unwrap_or((line, &[]));
    let mut size: usize = 0;
    for &b in hex {
        let digit = (b as char).to_digit(16).unwrap_or(0) as usize;
        size = size
            .checked_mul(16)
            .and_then(|s| s.checked_add(digit))
            .ok_or_else(bad)?;
    }
    let ext = rest.trim_ascii_start();
    if !ext.is_empty()
        && (ext.first() != Some(&b';') || ext.iter().any(|&b| b < 0x20 && b != b'\t'))
    {
        return Err(bad());
    }
    Ok((size, rest.len()))
}

enum BodyKind {
    Length(usize),
    Chunked,
}

struct Framing {
    body: BodyKind,
    expect_continue: bool,
}

/// Reads the headers that frame the body, and checks `Host`.
fn framing_headers(headers: &[httparse::Header], http10: bool) -> Result<Framing, Frame> {
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    // A Transfer-Encoding header, and a coding in it other than chunked.
    let (mut te, mut other_coding) = (false, false);
    let mut expect_continue = false;
    let mut hosts: usize = 0;
    for header in headers {
        let name = header.name;
        if name.eq_ignore_ascii_case("content-length") {
            let parsed = std::str::from_utf8(header.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<usize>().ok());
            match (parsed, content_length) {
                (None, _) => return Err(Frame::Reject(400, "Content-Length is not a number")),
                (Some(n), Some(prev)) if n != prev => {
                    return Err(Frame::Reject(400, "conflicting Content-Length headers"))
                }
                (Some(n), _) => content_length = Some(n),
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            if http10 {
                return Err(Frame::Reject(
                    400,
                    "HTTP/1.0 has no Transfer-Encoding; send Content-Length or use HTTP/1.1",
                ));
            }
            // The codings of every Transfer-Encoding line, in order (RFC 9112 §6.1).
            te = true;
            for coding in header.value.split(|&b| b == b',').map(<[u8]>::trim_ascii) {
                if coding.is_empty() {
                    continue;
                }
                // Anything after chunked: chunked twice (the body chunked twice, a smuggling
                // shape) or chunked not last (its length cannot be known, RFC 9112 §6.3).
                if chunked {
                    return Err(Frame::Reject(
                        400,
                        "Transfer-Encoding must name chunked once, as its last coding",
                    ));
                }
                if coding.eq_ignore_ascii_case(b"chunked") {
                    chunked = true;
                } else {
                    other_coding = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = header.value.eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("host") {
            hosts = hosts.saturating_add(1);
            if !valid_host(header.value) {
                return Err(Frame::Reject(
                    400,
                    "the Host header is not a valid host[:port]",
                ));
            }
        }
    }
    if hosts > 1 || (hosts == 0 && !http10) {
        return Err(Frame::Reject(
            400,
            "an HTTP/1.1 request needs exactly one Host header",
        ));
    }
    if te && !chunked {
        return Err(Frame::Reject(
            400,
            "Transfer-Encoding must name chunked once, as its last coding",
        ));
    }
    if chunked && content_length.is_some() {
        return Err(Frame::Reject(
            400,
            "a request may not carry both Content-Length and Transfer-Encoding",
        ));
    }
    if other_coding {
        return Err(Frame::Reject(
            501,
            "only the chunked Transfer-Encoding is supported; send Content-Length instead",
        ));
    }
    Ok(Framing {
        body: match content_length {
            _ if chunked => BodyKind::Chunked,
            Some(n) => BodyKind::Length(n),
            None => BodyKind::Length(0),
        },
        expect_continue,
    })
}

/// `uri-host [":" port]` (RFC 9110 §7.2), or empty: unreserved, `%`, sub-delims, and
/// the brackets and colons of an IP literal. No `@`, `/`, `?`, `#`, spaces or controls.
fn valid_host(value: &[u8]) -> bool {
    value
        .trim_ascii()
        .iter()
        .all(|&b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=:[]".contains(&b))
}

enum VersionFault {
    /// `HTTP/1.x` with x > 1, the digit at this offset.
    HigherMinor(usize),
    /// A well-formed `HTTP/d.d` this server does not speak.
    Unsupported,
    /// Anything else in the version's place.
    Malformed,
}

/// Why httparse refused the version of the request line at the start of `buf`.
fn version_fault(buf: &[u8]) -> VersionFault {
    // httparse allows blank lines before the request line.
    let skip = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let line = buf.get(skip..).unwrap_or_default();
    let line = line
        .split(|&b| b == b'\r' || b == b'\n')
        .next()
        .unwrap_or_default();
    // `method SP target SP version`, each part non-empty: a space inside the target or a
    // second one before the version is a malformed line, whatever its last word says.
    let mut parts = line.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return VersionFault::Malformed;
    };
    if method.is_empty() || target.is_empty() {
        return VersionFault::Malformed;
    }
    match version {
        // Only a minor version above 1: with 0 or 1 httparse refused something else.
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', minor] if (b'2'..=b'9').contains(minor) => {
            let version_at = skip
                .saturating_add(method.len())
                .saturating_add(target.len())
                .saturating_add(2);
            VersionFault::HigherMinor(version_at.saturating_add(7))
        }
        [b'H', b'T', b'T', b'P', b'/', major, b'.', minor]
            if major.is_ascii_digit() && minor.is_ascii_digit() =>
        {
            VersionFault::Unsupported
        }
        _ => VersionFault::Malformed,
    }
}

/// The property tests run on proptest ([`crate::testing::property_tests`]): a failure is shrunk to a
/// minimal case, and its seed is kept in `proptest-regressions/http/framing.txt` and replayed first.
#[cfg(test)]
#[allow(
    clippy::arithmetic_side_effects,
    clippy::indexing_slicing,
    reason = "in a test a panic is a failure, which is what it should be"
)]
mod tests {
    use super::*;
    use crate::testing::property_tests::for_all;
    use proptest::collection::vec;
    use proptest::option;
    use proptest::prelude::*;
    use proptest::sample::{select, Index};

    /// Frames `bytes` in one go, with a body limit of 1 KiB.
    fn frame(bytes: &[u8]) -> (Frame, Vec<u8>) {
        frame_with(bytes, 1024)
    }

    fn frame_with(bytes: &[u8], max_body: usize) -> (Frame, Vec<u8>) {
        let mut buf = bytes.to_vec();
        let frame = Framer::new(max_body).advance(&mut buf);
        (frame, buf)
    }

    fn body(bytes: &[u8]) -> Vec<u8> {
        match frame(bytes) {
            (Frame::Complete { body, .. }, buf) => buf[body].to_vec(),
            (other, _) => panic!("not complete: {other:?}"),
        }
    }

    fn status(bytes: &[u8]) -> u16 {
        match frame(bytes).0 {
            Frame::Reject(status, _) => status,
            _ => 0,
        }
    }

    const CHUNKED: &str = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";

    #[test]
    fn frames_content_length_and_chunked_bodies() {
        assert_eq!(
            body(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcXX"),
            b"abc"
        );
        let chunked = format!("{CHUNKED}3\r\nabc\r\n2 ;x=y\r\nde\r\n0\r\nX-T: 1\r\n\r\nGET");
        assert_eq!(body(chunked.as_bytes()), b"abcde");
        match frame(chunked.as_bytes()).0 {
            Frame::Complete { consumed, .. } => assert_eq!(consumed, chunked.len() - 3),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            frame(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\nExpect: 100-continue\r\n\r\nab").0,
            Frame::Partial {
                continue_100: true,
                ..
            }
        ));
        // HTTP/1.0 needs no Host.
        assert_eq!(body(b"GET / HTTP/1.0\r\n\r\n"), b"");
    }

    #[test]
    fn rejects_bad_framing_with_the_right_status() {
        let cases: &[(&str, u16)] = &[
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n", 413),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
            // RFC 9112 §6.3: chunked must be the last coding, and only once (twice is a
            // body chunked twice, which a proxy in front may read differently).
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n", 400),
            ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
            ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
            ("GET / HTTP/1\r\nHost: x\r\n\r\n", 400),
            ("GET / http/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/1.1x\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
            ("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400),
            ("GET /a b HTTP/1.2\r\nHost: x\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n", 400),
            ("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400),
        ];
        for (request, want) in cases {
            assert_eq!(status(request.as_bytes()), *want, "{request:?}");
        }
        let chunked: &[(&str, u16)] = &[
            ("zz\r\n", 400),
            ("+5\r\nhello\r\n", 400),
            ("5\nhello\r\n", 400),
            ("5\r\nhelloXX", 400),
            ("800\r\n", 413),
            ("1\r\na\r\nfffffffffffffffe\r\n", 413),
            ("1\r\na\r\n1fffffffffffffffff\r\n", 400),
            ("0\r\nX: y\n\r\n", 400),
        ];
        for (body, want) in chunked {
            let request = format!("{CHUNKED}{body}");
            assert_eq!(status(request.as_bytes()), *want, "{body:?}");
        }
        let many: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes()),
            431
        );
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(9000)
        );
        assert_eq!(status(big.as_bytes()), 431);
        // Trailers and chunk extensions have the header limit even under a large body limit.
        let endless = format!("{CHUNKED}0\r\n{}", "X-T: v\r\n".repeat(1100));
        let ext = format!(
            "{CHUNKED}{}",
            "1;aaaaaaaaaaaaaaaaaaaaaaaa\r\nx\r\n".repeat(400)
        );
        for request in [endless, ext] {
            assert!(matches!(
                frame_with(request.as_bytes(), 1 << 20).0,
                Frame::Reject(431, _)
            ));
        }
    }

    #[test]
    fn the_head_is_offered_once_while_its_body_is_still_to_come() {
        let mut framer = Framer::new(1024);
        let mut buf = b"POST /mcp HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab".to_vec();
        let partial = |continue_100, new_head| Frame::Partial {
            continue_100,
            new_head,
        };
        assert_eq!(framer.advance(&mut buf), partial(false, true));
        assert_eq!(&buf[framer.head().unwrap().target.clone()], b"/mcp");
        buf.extend_from_slice(b"cd");
        assert_eq!(framer.advance(&mut buf), partial(false, false));
        buf.extend_from_slice(b"efghij");
        assert!(matches!(framer.advance(&mut buf), Frame::Complete { .. }));
        // A head still arriving is not offered; a request that is whole at once neither.
        let mut buf = CHUNKED.as_bytes().to_vec();
        let mut framer = Framer::new(1024);
        let mut head_part = buf[..20].to_vec();
        assert_eq!(framer.advance(&mut head_part), partial(false, false));
        assert_eq!(framer.advance(&mut buf), partial(false, true));
        let mut whole =
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nExpect: 100-continue\r\n\r\n"
                .to_vec();
        let mut framer = Framer::new(1024);
        assert_eq!(framer.advance(&mut whole), partial(true, true));
        whole.push(b'a');
        assert!(matches!(framer.advance(&mut whole), Frame::Complete { .. }));
    }

    #[test]
    fn a_higher_http1_minor_version_is_read_as_http11() {
        match frame(b"GET /a HTTP/1.2\r\nHost: x\r\n\r\n") {
            (Frame::Complete { head, .. }, buf) => {
                assert!(!head.http10);
                assert_eq!(&buf[head.target], b"/a");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_chunked_wire_is_bounded_as_well_as_the_decoded_body() {
        // 1-byte chunks: 6 wire bytes per decoded byte, past 2 × 1024 before 1024 decoded.
        let request = format!("{CHUNKED}{}", "1\r\nx\r\n".repeat(400));
        assert_eq!(status(request.as_bytes()), 413);
    }

    /// A valid request's random parts, before they are written out.
    #[derive(Debug, Clone)]
    struct Request {
        method: &'static str,
        target: &'static str,
        version: &'static str,
        host: u8,
        headers: Vec<usize>,
        body: Vec<u8>,
        /// Chunked framing (HTTP/1.1 only): how the body is cut, and the trailer count.
        chunked: Option<(Vec<Chunk>, usize)>,
    }

    /// One chunk of a chunked body: its share of what is left, extension and size spelling.
    type Chunk = (Index, &'static str, u8);

    fn request() -> impl Strategy<Value = Request> {
        let chunk = (
            any::<Index>(),
            select(vec!["", ";a=b", " ;q", "\t;x=\"y\""]),
            0..3u8,
        );
        (
            select(vec!["GET", "POST", "HEAD", "DELETE", "PATCH"]),
            select(vec![
                "/",
                "/mcp",
                "/health?x=1",
                "/integrated-account/a%20b",
            ]),
            select(vec!["HTTP/1.1", "HTTP/1.1", "HTTP/1.0"]),
            0..9u8,
            vec(0..40usize, 0..6),
            vec(any::<u8>(), 0..300),
            option::of((vec(chunk, 0..8), 0..3usize)),
        )
            .prop_map(
                |(method, target, version, host, headers, body, chunked)| Request {
                    method,
                    target,
                    version,
                    host,
                    headers,
                    body,
                    chunked: chunked.filter(|_| version == "HTTP/1.1"),
                },
            )
    }

    impl Request {
        /// The request's bytes followed by the start of the next request.
        fn bytes(&self) -> Vec<u8> {
            let Request {
                method,
                target,
                version,
                host,
                ..
            } = self;
            let mut out = format!("{method} {target} {version}\r\nHost: h{host}:8\r\n");
            for (i, len) in self.headers.iter().enumerate() {
                out.push_str(&format!("X-{i}: {}\r\n", "v".repeat(*len)));
            }
            let mut bytes = Vec::new();
            if let Some((chunks, trailers)) = &self.chunked {
                out.push_str("Transfer-Encoding: chunked\r\n\r\n");
                bytes.extend_from_slice(out.as_bytes());
                let mut left = &self.body[..];
                // The chunks drawn, then the rest of the body as one.
                let mut chunks = chunks.iter().copied();
                while !left.is_empty() {
                    let (n, ext, spelling) = match chunks.next() {
                        Some((share, ext, spelling)) => {
                            (1 + share.index(left.len()), ext, spelling)
                        }
                        None => (left.len(), "", 2),
                    };
                    let size = match spelling {
                        0 => format!("{n:X}"),
                        1 => format!("000{n:x}"),
                        _ => format!("{n:x}"),
                    };
                    bytes.extend_from_slice(format!("{size}{ext}\r\n").as_bytes());
                    bytes.extend_from_slice(&left[..n]);
                    bytes.extend_from_slice(b"\r\n");
                    left = &left[n..];
                }
                bytes.extend_from_slice(b"0\r\n");
                for _ in 0..*trailers {
                    bytes.extend_from_slice(b"X-Trailer: t\r\n");
                }
                bytes.extend_from_slice(b"\r\n");
            } else {
                out.push_str(&format!("Content-Length: {}\r\n\r\n", self.body.len()));
                bytes.extend_from_slice(out.as_bytes());
                bytes.extend_from_slice(&self.body);
            }
            bytes.extend_from_slice(b"GET /next HTTP/1.1\r\n");
            bytes
        }
    }

    /// The sizes of the pieces a request arrives in, used in turn and over again.
    fn pieces() -> impl Strategy<Value = Vec<usize>> {
        vec(1..=64usize, 1..8)
    }

    /// Feeds `input` to a framer in `pieces` until it completes or refuses, checking that it
    /// never holds more than its bound while incomplete. Returns the outcome and the buffer
    /// as the framer left it.
    fn feed(input: &[u8], pieces: &[usize], max_body: usize) -> (Frame, Vec<u8>) {
        let mut framer = Framer::new(max_body);
        let mut buf = Vec::new();
        let mut at = 0;
        for n in pieces.iter().cycle() {
            let end = (at + n).min(input.len());
            buf.extend_from_slice(&input[at..end]);
            at = end;
            match framer.advance(&mut buf) {
                Frame::Partial { .. } if at < input.len() => {
                    assert!(
                        buf.len() <= framer.max_request_bytes(),
                        "{} bytes held",
                        buf.len()
                    );
                }
                outcome => return (outcome, buf),
            }
        }
        unreachable!("pieces are never empty")
    }

    #[test]
    fn any_split_of_a_valid_request_frames_the_same() {
        for_all(file!(), 3000, (request(), pieces()), |(request, pieces)| {
            let input = request.bytes();
            let (whole, whole_buf) = frame_with(&input, 1024);
            let (split, split_buf) = feed(&input, &pieces, 1024);
            let (
                Frame::Complete {
                    head,
                    consumed,
                    body: range,
                },
                Frame::Complete {
                    head: head2,
                    consumed: consumed2,
                    body: range2,
                },
            ) = (whole, split)
            else {
                panic!("did not complete: {:?}", String::from_utf8_lossy(&input));
            };
            assert_eq!(&whole_buf[range.clone()], &request.body[..]);
            assert_eq!(&split_buf[range2], &request.body[..]);
            assert_eq!(consumed, consumed2);
            assert_eq!(&input[consumed..], b"GET /next HTTP/1.1\r\n");
            assert_eq!(head, head2);
            Ok(())
        });
    }

    /// One change to a request's bytes, at a place drawn as a share of its length.
    #[derive(Debug, Clone)]
    enum Mutation {
        Set(u8),
        Insert(&'static [u8]),
        Delete(usize),
        /// Repeats the (up to) 16 bytes from the place this many times.
        Repeat(usize),
    }

    fn mutation() -> impl Strategy<Value = (Index, Mutation)> {
        let tokens: Vec<&'static [u8]> = vec![
            b"\r\n",
            b"\n",
            b"\r",
            b"fffffffffffffffe",
            b"+",
            b";",
            b":",
            b" ",
            b"0\r\n\r\n",
            b"Host: a\r\n",
            b"Transfer-Encoding: chunked\r\n",
            b"Content-Length: 9\r\n",
            b"HTTP/1",
            b"\x00",
            b"\xff",
        ];
        let change = prop_oneof![
            any::<u8>().prop_map(Mutation::Set),
            select(tokens).prop_map(Mutation::Insert),
            (0..16usize).prop_map(Mutation::Delete),
            (0..800usize).prop_map(Mutation::Repeat),
        ];
        (any::<Index>(), change)
    }

    #[test]
    fn no_mutated_request_panics_or_holds_more_than_its_bound() {
        let cases = (
            request(),
            vec(mutation(), 1..5),
            pieces(),
            select(vec![0, 100, 1024]),
        );
        for_all(
            file!(),
            5000,
            cases,
            |(request, mutations, pieces, max_body)| {
                let mut input = request.bytes();
                for (place, change) in mutations {
                    if input.is_empty() {
                        break;
                    }
                    let at = place.index(input.len());
                    match change {
                        Mutation::Set(byte) => input[at] = byte,
                        Mutation::Insert(token) => {
                            drop(input.splice(at..at, token.iter().copied()))
                        }
                        Mutation::Delete(n) => drop(input.drain(at..at + n.min(input.len() - at))),
                        Mutation::Repeat(times) => {
                            let repeat = input[at..].iter().take(16).copied().collect::<Vec<_>>();
                            for _ in 0..times {
                                input.splice(at..at, repeat.iter().copied());
                            }
                        }
                    }
                }
                if let (
                    Frame::Complete {
                        head,
                        consumed,
                        body,
                    },
                    buf,
                ) = feed(&input, &pieces, max_body)
                {
                    assert!(
                        head.len <= body.start && body.end <= consumed && consumed <= buf.len()
                    );
                    assert!(body.len() <= max_body);
                }
                Ok(())
            },
        );
    }
}

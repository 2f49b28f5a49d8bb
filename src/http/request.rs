//! A parsed HTTP request, borrowing from the connection's read buffer.

// A parser of bytes from the network: no arithmetic that can overflow and no index that
// can panic, so hostile input gets an error, never a panic (Cargo.toml: [lints]).
#![deny(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

/// One HTTP request as a handler sees it. Header names compare case-insensitively.
pub struct Request<'a> {
    /// The client's address (the proxy's, behind a proxy; an IPv4-mapped IPv6 address as
    /// the IPv4 address it is): what failed credential attempts are counted under.
    pub peer: std::net::IpAddr,
    /// The method, as sent (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The path without the query string, as sent (not percent-decoded).
    pub path: &'a str,
    /// The query string without the `?`, empty when there is none.
    pub query: &'a str,
    /// The request headers in the order received.
    pub headers: &'a [httparse::Header<'a>],
    /// The whole body (de-chunked when it came chunked).
    pub body: &'a [u8],
}

impl<'a> Request<'a> {
    /// The value of the first header called `name` (any case), if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .and_then(|h| std::str::from_utf8(h.value).ok())
            .map(str::trim)
    }

    /// The value of query parameter `name`, percent-decoded (`+` is a space).
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(key) == name).then(|| percent_decode(value))
        })
    }

    /// The token of an `Authorization: Bearer <token>` header, if there is one.
    pub fn bearer_token(&self) -> Option<&'a str> {
        let value = self.header("authorization")?;
        let (scheme, token) = value.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    }
}

/// Decodes `%XX` escapes and `+` in a URL component; invalid escapes are kept as they are.
pub fn percent_decode(s: &str) -> String {
    let mut rest = s.as_bytes();
    let mut out = Vec::with_capacity(rest.len());
    while let [first, tail @ ..] = rest {
        rest = tail;
        if let (b'%', [high, low, after @ ..]) = (first, tail) {
            if let (Some(high), Some(low)) = (hex(*high), hex(*low)) {
                out.push(high << 4 | low);
                rest = after;
                continue;
            }
        }
        out.push(if *first == b'+' { b' ' } else { *first });
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decode_decodes_valid_escapes_and_keeps_the_rest() {
        for (raw, decoded) in [
            ("a%41+b", "aA b"),
            ("%C3%A9", "é"),
            ("%%41", "%A"),
            ("%zz%4", "%zz%4"),
            ("%", "%"),
            ("%4", "%4"),
            ("100%", "100%"),
            ("%ff", "\u{fffd}"),
            ("", ""),
        ] {
            assert_eq!(percent_decode(raw), decoded, "{raw}");
        }
    }
}

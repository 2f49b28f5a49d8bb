//! Standard base64 (RFC 4648, with padding): etcd's JSON gateway carries every key and
//! value this way, and redaction looks for a key's base64 forms in upstream text. The
//! `base64` crate does it (already in the build through ureq; 2.4 KB more in the static
//! binary than the forty lines it replaced); this module names the one engine the server
//! uses and keeps `crate::runtime::base64`, which the etcd fuzz target compiles at its root.

use ::base64::engine::general_purpose::STANDARD;
use ::base64::Engine as _;

/// `bytes` as padded base64.
pub fn encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of padded base64 text; `None` for anything else.
pub fn decode(text: &str) -> Option<Vec<u8>> {
    STANDARD.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_matches_rfc4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, coded) in vectors {
            assert_eq!(encode(plain.as_bytes()), coded);
            assert_eq!(decode(coded).as_deref(), Some(plain.as_bytes()));
        }
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(decode(&encode(&all)), Some(all));
        for bad in ["Zg=", "Z===", "Zg==Zg==", "Zm9*", "Zm9v\n"] {
            assert_eq!(decode(bad), None, "{bad}");
        }
    }
}

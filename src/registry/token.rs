//! Secrets and identifiers: MCP tokens (128 random bits as 32 lowercase hex characters),
//! their SHA-256 hashes (the only form the registry file holds), a constant-time comparison
//! for the admin token, and UUID v4 ids.

use ring::digest::{digest, SHA256};
use ring::rand::{SecureRandom, SystemRandom};

/// The system random generator failed (no entropy source): nothing can be minted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RandomError;

impl std::fmt::Display for RandomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the system random number generator failed")
    }
}

impl std::error::Error for RandomError {}

/// The length of an MCP token: 32 lowercase hex characters.
pub const TOKEN_LEN: usize = 32;

fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| RandomError)?;
    Ok(bytes)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// A new MCP token: 16 random bytes from the system CSPRNG as 32 lowercase hex characters.
/// Shown to the admin once; only its [`hash_token`] is kept.
pub fn new_token() -> Result<String, RandomError> {
    Ok(hex(&random_bytes::<16>()?))
}

/// True when `s` has the shape of an MCP token (32 lowercase hex characters), which is how
/// `/mcp/<token>` is told apart from the first `/mcp/<method path>` routes.
pub fn is_token_format(s: &str) -> bool {
    s.len() == TOKEN_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The SHA-256 of `token` as 64 lowercase hex characters: what the registry stores and looks
/// tokens up by.
pub fn hash_token(token: &str) -> String {
    hex(digest(&SHA256, token.as_bytes()).as_ref())
}

/// Compares two byte strings in time that depends only on their lengths, never on where they
/// first differ. For the admin token: `constant_time_eq(presented.as_bytes(),
/// expected.as_bytes())`. Different lengths compare unequal (after the same amount of work
/// over the longer input), so only the length can leak, not the content.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let len = a.len().max(b.len());
    // Any difference in length or content sets a bit; no early exit.
    let mut diff = (a.len() ^ b.len()) as u64;
    for i in 0..len {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        diff |= u64::from(x ^ y);
    }
    std::hint::black_box(diff) == 0
}

fn format_uuid_v4(mut bytes: [u8; 16]) -> String {
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex(&bytes);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A new random UUID v4 (`1ba1f401-7183-47c5-9e39-e8e257e3c795`), for account and server ids.
pub fn new_uuid_v4() -> Result<String, RandomError> {
    Ok(format_uuid_v4(random_bytes::<16>()?))
}

/// A UUID-v4-formatted id derived from SHA-256 of `label`: the same label gives the same id
/// on every run, which is how the start-up account keeps its id across restarts.
pub fn stable_uuid(label: &str) -> String {
    let d = digest(&SHA256, label.as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&d.as_ref()[..16]);
    format_uuid_v4(bytes)
}

#[cfg(test)]
/// True when `s` is a lowercase UUID in the 8-4-4-4-12 layout.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => matches!(b, b'0'..=b'9' | b'a'..=b'f'),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_32_lowercase_hex_and_distinct() {
        let a = new_token().expect("token");
        let b = new_token().expect("token");
        assert_eq!(a.len(), 32);
        assert!(is_token_format(&a) && is_token_format(&b));
        assert_ne!(a, b);
        assert!(!is_token_format("4F1C5E0B6C2D4F8A9B3C5D7E9F0A1B2C"));
        assert!(!is_token_format("initialize"));
        assert!(is_token_format("4f1c5e0b6c2d4f8a9b3c5d7e9f0a1b2c"));
    }

    #[test]
    fn hash_is_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = new_token().expect("token");
        assert_eq!(hash_token(&t).len(), 64);
        assert_ne!(hash_token(&t), t);
    }

    #[test]
    fn constant_time_eq_compares_content_and_length() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret-tokeN"));
        assert!(!constant_time_eq(b"Secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"secret-token", b"secret"));
        assert!(!constant_time_eq(b"", b"x"));
        // Equal bytes then zero padding must not make a shorter input equal.
        assert!(!constant_time_eq(b"ab", b"ab\0"));
    }

    #[test]
    fn uuids_are_v4_shaped_and_stable_ones_are_stable() {
        let id = new_uuid_v4().expect("uuid");
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "4");
        assert!(matches!(&id[19..20], "8" | "9" | "a" | "b"), "{id}");
        assert_ne!(id, new_uuid_v4().expect("uuid"));
        let s = stable_uuid("label");
        assert!(is_uuid(&s));
        assert_eq!(s, stable_uuid("label"));
        assert_ne!(s, stable_uuid("other label"));
        assert!(!is_uuid("1BA1F401-7183-47C5-9E39-E8E257E3C795"));
    }
}

//! Seals HubSpot keys kept in the registry file with AES-256-GCM under the data
//! directory's key (`registry.key`), so the file alone never holds a key in clear.
//!
//! The nonce is derived from the plaintext (HMAC-SHA-256 under a sub-key), which keeps a
//! save of unchanged state byte-identical (the registry only writes when the file form
//! changes); the cost is that two equal keys seal to equal text, which reveals nothing else.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;

/// Seals and opens secrets under one key.
pub struct Sealer {
    aead: LessSafeKey,
    nonce_key: hmac::Key,
}

/// The text prefix of sealed values, naming the scheme.
const PREFIX: &str = "aes256gcm:";

impl Sealer {
    /// A sealer for a 32-byte key.
    pub fn new(key: &[u8]) -> Option<Sealer> {
        let enc = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"seal");
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"nonce");
        Some(Sealer {
            aead: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, enc.as_ref()).ok()?),
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
        })
    }

    /// `aes256gcm:<hex nonce || ciphertext || tag>`.
    pub fn seal(&self, secret: &str) -> String {
        let tag = hmac::sign(&self.nonce_key, secret.as_bytes());
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&tag.as_ref()[..NONCE_LEN]);
        let mut data = secret.as_bytes().to_vec();
        // Sealing into a Vec only fails on absurd lengths, which a checked token never has.
        let _ = self.aead.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::empty(),
            &mut data,
        );
        let mut out = String::from(PREFIX);
        for b in nonce.iter().chain(&data) {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// The secret inside a sealed value; `None` when it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let hex = sealed.strip_prefix(PREFIX)?;
        if hex.len() % 2 != 0 || hex.len() < 2 * (NONCE_LEN + 16) {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        let bytes = bytes?;
        let (nonce, rest) = bytes.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = rest.to_vec();
        let plain = self
            .aead
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        String::from_utf8(plain.to_vec()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_deterministically_and_opens_only_under_the_same_key() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let sealed = sealer.seal("pat-na1-secret");
        assert!(sealed.starts_with(PREFIX) && !sealed.contains("secret"));
        assert_eq!(sealer.seal("pat-na1-secret"), sealed);
        assert_ne!(sealer.seal("pat-na1-other"), sealed);
        assert_eq!(sealer.open(&sealed).as_deref(), Some("pat-na1-secret"));
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&sealed), None);
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push('0');
        assert_eq!(
            sealer
                .open(&tampered)
                .filter(|s| s == "pat-na1-secret")
                .is_some(),
            sealed.ends_with('0')
        );
        assert_eq!(sealer.open("plain-text"), None);
    }
}

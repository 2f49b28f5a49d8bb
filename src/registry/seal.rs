//! Seals HubSpot keys kept in the registry file with AES-256-GCM under the data
//! directory's key (`registry.key`), so the file alone never holds a key in clear; and signs
//! every account and server record at rest (HMAC-SHA-256 under a sub-key of the same key,
//! in the record's `mac` field), so that a record written into the snapshot, the journal or
//! etcd by someone without the key cannot mint a token or widen a filter: it is refused.
//!
//! The nonce is derived from the plaintext (HMAC-SHA-256 under a sub-key), which keeps a
//! save of unchanged state byte-identical (the registry only writes when the file form
//! changes); the cost is that two equal keys seal to equal text, which reveals nothing else.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::hmac;
use serde_json::Value;

/// Seals and opens secrets under one key, and signs and checks records at rest.
pub struct Sealer {
    aead: LessSafeKey,
    nonce_key: hmac::Key,
    mac_key: hmac::Key,
}

/// What a record at rest is: bound into its MAC, so that one kind cannot pass for another.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An integrated account.
    Account,
    /// A scoped MCP server.
    Server,
}

/// Why a record's MAC does not hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unsigned {
    /// The record has no MAC (not an object, or written before records were signed).
    Missing,
    /// The MAC is not this key's for this record: written by someone without the key,
    /// changed since, or signed under another key.
    Wrong,
}

/// The field of a stored record holding its MAC.
const MAC_FIELD: &str = "mac";
/// The text prefix of MACs, naming the scheme.
const MAC_PREFIX: &str = "hmac-sha256:";

/// The text prefix of sealed values, naming the scheme.
const PREFIX: &str = "aes256gcm:";

impl Sealer {
    /// A sealer for a 32-byte key.
    pub fn new(key: &[u8]) -> Option<Sealer> {
        let enc = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"seal");
        let mac = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"nonce");
        let records = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), b"records");
        Some(Sealer {
            aead: LessSafeKey::new(UnboundKey::new(&AES_256_GCM, enc.as_ref()).ok()?),
            nonce_key: hmac::Key::new(hmac::HMAC_SHA256, mac.as_ref()),
            mac_key: hmac::Key::new(hmac::HMAC_SHA256, records.as_ref()),
        })
    }

    /// What a record's MAC covers: its kind and its compact JSON without the MAC (the field
    /// order is kept when read back, so the same bytes come out again).
    fn mac_input(kind: Kind, record: &serde_json::Map<String, Value>) -> Vec<u8> {
        let mut input = match kind {
            Kind::Account => b"account\n".to_vec(),
            Kind::Server => b"server\n".to_vec(),
        };
        // A map of JSON values always encodes.
        input.extend(serde_json::to_vec(record).unwrap_or_default());
        input
    }

    /// Adds the `mac` field to a record about to be stored (anything but an object is left
    /// as it is, and is refused when read back).
    pub fn sign(&self, kind: Kind, record: &mut Value) {
        if let Value::Object(fields) = record {
            fields.shift_remove(MAC_FIELD);
            let tag = hmac::sign(&self.mac_key, &Self::mac_input(kind, fields));
            fields.insert(
                MAC_FIELD.into(),
                Value::String(hex(tag.as_ref(), MAC_PREFIX)),
            );
        }
    }

    /// Checks and removes the `mac` field of a stored record.
    pub fn check(&self, kind: Kind, record: &mut Value) -> Result<(), Unsigned> {
        let Value::Object(fields) = record else {
            return Err(Unsigned::Missing);
        };
        let mac = match fields.shift_remove(MAC_FIELD) {
            Some(Value::String(mac)) => mac,
            None => return Err(Unsigned::Missing),
            Some(_) => return Err(Unsigned::Wrong),
        };
        let tag = mac
            .strip_prefix(MAC_PREFIX)
            .and_then(unhex)
            .ok_or(Unsigned::Wrong)?;
        hmac::verify(&self.mac_key, &Self::mac_input(kind, fields), &tag)
            .map_err(|_| Unsigned::Wrong)
    }

    /// Signs every record of a registry's file form or of a journal change: the objects in
    /// its `accounts` and `servers` arrays.
    pub fn sign_all(&self, value: &mut Value) {
        for (field, kind) in [("accounts", Kind::Account), ("servers", Kind::Server)] {
            if let Some(Value::Array(records)) = value.get_mut(field) {
                records.iter_mut().for_each(|r| self.sign(kind, r));
            }
        }
    }

    /// Checks (and removes) the MAC of every record that [`Sealer::sign_all`] signs. A record
    /// without one is accepted only with `accept_unsigned` (the one-time migration of a
    /// registry written before records were signed); returns how many were so accepted. The
    /// error names the first refused record by its id (never its content).
    pub fn check_all(&self, value: &mut Value, accept_unsigned: bool) -> Result<usize, String> {
        let mut unsigned = 0;
        for (field, kind) in [("accounts", Kind::Account), ("servers", Kind::Server)] {
            let Some(Value::Array(records)) = value.get_mut(field) else {
                continue;
            };
            for record in records {
                match self.check(kind, record) {
                    Ok(()) => {}
                    Err(Unsigned::Missing) if accept_unsigned => unsigned += 1,
                    Err(why) => return Err(refusal(kind, record, why)),
                }
            }
        }
        Ok(unsigned)
    }
}

/// Why a record is refused, naming it by kind and id.
pub fn refusal(kind: Kind, record: &Value, why: Unsigned) -> String {
    let what = match kind {
        Kind::Account => "integrated account",
        Kind::Server => "MCP server",
    };
    let id = record["id"].as_str().unwrap_or("without an id");
    match why {
        Unsigned::Missing => format!(
            "{what} {id} carries no MAC under the registry key (a record written before records were signed, or by someone without the key): if this registry predates signed records, start once with REGISTRY_ACCEPT_UNSIGNED=true to sign it"
        ),
        Unsigned::Wrong => format!(
            "{what} {id} has a MAC that does not match under the registry key: it was written or changed by someone without the key (or under another key); restore the registry from a backup"
        ),
    }
}

/// `prefix` and `bytes` as lowercase hex.
fn hex(bytes: &[u8], prefix: &str) -> String {
    let mut out = String::from(prefix);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// Hex digits as bytes; `None` for anything else.
fn unhex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

impl Sealer {
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
        hex(&[&nonce[..], &data].concat(), PREFIX)
    }

    /// The secret inside a sealed value; `None` when it was not sealed under this key.
    pub fn open(&self, sealed: &str) -> Option<String> {
        let bytes = unhex(sealed.strip_prefix(PREFIX)?)?;
        if bytes.len() < NONCE_LEN + 16 {
            return None;
        }
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

    #[test]
    fn a_record_passes_only_with_its_own_mac_under_the_same_key_and_kind() {
        let sealer = Sealer::new(&[7u8; 32]).unwrap();
        let record = serde_json::json!({"id": "s1", "config": {"tags": ["contacts"]}, "n": 1.5});
        let mut signed = record.clone();
        sealer.sign(Kind::Server, &mut signed);
        assert!(signed["mac"].as_str().unwrap().starts_with(MAC_PREFIX));
        // Read back from its stored text, as a store would.
        let mut read: Value = serde_json::from_str(&signed.to_string()).unwrap();
        assert_eq!(sealer.check(Kind::Server, &mut read), Ok(()));
        assert_eq!(read, record, "the MAC is removed once checked");

        let mut widened = signed.clone();
        widened["config"] = serde_json::json!({});
        assert_eq!(
            sealer.check(Kind::Server, &mut widened),
            Err(Unsigned::Wrong)
        );
        let mut as_account = signed.clone();
        assert_eq!(
            sealer.check(Kind::Account, &mut as_account),
            Err(Unsigned::Wrong)
        );
        let other = Sealer::new(&[8u8; 32]).unwrap();
        assert_eq!(
            other.check(Kind::Server, &mut signed.clone()),
            Err(Unsigned::Wrong)
        );
        assert_eq!(
            sealer.check(Kind::Server, &mut record.clone()),
            Err(Unsigned::Missing)
        );
        let mut garbled = signed.clone();
        garbled["mac"] = Value::from("hmac-sha256:zz");
        assert_eq!(
            sealer.check(Kind::Server, &mut garbled),
            Err(Unsigned::Wrong)
        );

        let mut file = serde_json::json!({"accounts": [{"id": "a1"}], "servers": [record]});
        let mut unsigned = file.clone();
        sealer.sign_all(&mut file);
        assert_eq!(sealer.check_all(&mut file.clone(), false), Ok(0));
        let err = sealer.check_all(&mut unsigned.clone(), false).unwrap_err();
        assert!(
            err.contains("integrated account a1") && err.contains("REGISTRY_ACCEPT_UNSIGNED"),
            "{err}"
        );
        assert_eq!(sealer.check_all(&mut unsigned, true), Ok(2));
        file["servers"][0]["mac"] = signed["mac"].clone();
        file["servers"][0]["name"] = Value::from("forged");
        let err = sealer.check_all(&mut file, true).unwrap_err();
        assert!(
            err.contains("MCP server s1") && err.contains("does not match"),
            "{err}"
        );
    }
}

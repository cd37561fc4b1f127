//! Ed25519 identity keys. An organisation *is* its key: peers pin the public
//! key, written `ed25519:<base64 of the 32 bytes>`, and the same key signs log
//! entries and the node's self-signed TLS certificate.

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey, pkcs8::EncodePrivateKey};
use std::{fmt, str::FromStr};

const PREFIX: &str = "ed25519:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key {0:?} must be written ed25519:<base64 of 32 bytes>")]
    Format(String),
    #[error("key {0:?} is not a valid Ed25519 public key")]
    InvalidPoint(String),
    #[error("secret key must be 32 bytes, got {0}")]
    SecretLength(usize),
    #[error("cannot encode the key as PKCS#8")]
    Pkcs8,
}

/// An organisation's public key, pinned by its peers.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey(VerifyingKey);

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Format(STANDARD.encode(bytes)))?;
        VerifyingKey::from_bytes(&arr)
            .map(Self)
            .map_err(|_| KeyError::InvalidPoint(STANDARD.encode(bytes)))
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        self.0.as_bytes()
    }

    /// Strict verification (rejects small-order and non-canonical forms).
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = Signature::from_slice(signature) else {
            return false;
        };
        self.0.verify_strict(message, &sig).is_ok()
    }

    pub fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(self.0.as_bytes()))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

impl FromStr for PublicKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let b64 = s
            .trim()
            .strip_prefix(PREFIX)
            .ok_or_else(|| KeyError::Format(s.to_owned()))?;
        let bytes = STANDARD
            .decode(b64)
            .map_err(|_| KeyError::Format(s.to_owned()))?;
        if bytes.len() != 32 {
            return Err(KeyError::Format(s.to_owned()));
        }
        Self::from_bytes(&bytes).map_err(|_| KeyError::InvalidPoint(s.to_owned()))
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for PublicKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An organisation's secret signing key.
#[derive(Clone)]
pub struct IdentityKey(SigningKey);

impl IdentityKey {
    pub fn generate() -> Self {
        Self(SigningKey::generate(&mut rand::rngs::OsRng))
    }

    /// From the 32-byte secret seed.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::SecretLength(bytes.len()))?;
        Ok(Self(SigningKey::from_bytes(&seed)))
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }

    /// PKCS#8 DER, the form TLS libraries (rcgen, rustls) take.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        self.0
            .to_pkcs8_der()
            .map(|doc| doc.as_bytes().to_vec())
            .map_err(|_| KeyError::Pkcs8)
    }
}

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdentityKey({})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_key_round_trips_through_text() {
        let key = IdentityKey::generate().public();
        let text = key.to_string();
        assert!(text.starts_with("ed25519:"));
        assert_eq!(text.parse::<PublicKey>().unwrap(), key);
    }

    #[test]
    fn malformed_key_text_is_rejected() {
        for text in ["", "ed25519:", "rsa:AAAA", "ed25519:!!!", "ed25519:AAAA"] {
            assert!(text.parse::<PublicKey>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn signatures_verify_only_for_their_message_and_key() {
        let key = IdentityKey::generate();
        let sig = key.sign(b"hello");
        assert!(key.public().verify(b"hello", &sig));
        assert!(!key.public().verify(b"hellO", &sig));
        assert!(!IdentityKey::generate().public().verify(b"hello", &sig));
        assert!(!key.public().verify(b"hello", &sig[..63]));
    }

    #[test]
    fn secret_round_trips() {
        let key = IdentityKey::generate();
        let again = IdentityKey::from_secret_bytes(&key.secret_bytes()).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(IdentityKey::from_secret_bytes(&[0; 31]).is_err());
    }
}

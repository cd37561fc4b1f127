//! Ed25519 identity keys. An organisation *is* its key: peers pin the public
//! key, written `ed25519:<base64 of the 32 bytes>`, and the same key signs log
//! entries and the node's self-signed TLS certificate.

use base64::{Engine, engine::general_purpose::STANDARD};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey, pkcs8::EncodePrivateKey};
use std::{fmt, str::FromStr};

const PREFIX: &str = "ed25519:";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("key {0:?} must be written ed25519:<base64 of 32 bytes>")]
    Format(String),
    #[error("key {0:?} is not a valid Ed25519 public key")]
    InvalidPoint(String),
    #[error("key {0:?} is a small-order Ed25519 point: anyone could sign as it")]
    WeakKey(String),
    #[error("secret key must be 32 bytes, got {0}")]
    SecretLength(usize),
    #[error("cannot encode the key as PKCS#8")]
    Pkcs8,
}

/// An organisation's public key, pinned by its peers.
///
/// Signatures are checked under the ZIP 215 rules (cofactored, as
/// implemented by `ed25519-zebra`), because under them a batch of signatures
/// is accepted exactly when each one is. Ingest verifies in batches; with
/// `verify_strict` a batch check and a one-by-one check can disagree on a
/// signature crafted with a small-order component, so two nodes that cut
/// batches differently could disagree about a log. Small-order ("weak") keys
/// are refused when a key is read: any signature would verify under one.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PublicKey {
    key: ed25519_zebra::VerificationKey,
    bytes: [u8; 32],
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::Format(STANDARD.encode(bytes)))?;
        let invalid = || KeyError::InvalidPoint(STANDARD.encode(bytes));
        if VerifyingKey::from_bytes(&arr)
            .map_err(|_| invalid())?
            .is_weak()
        {
            return Err(KeyError::WeakKey(STANDARD.encode(bytes)));
        }
        let key = ed25519_zebra::VerificationKey::try_from(arr).map_err(|_| invalid())?;
        Ok(Self { key, bytes: arr })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verifies one signature.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        let Ok(sig) = ed25519_zebra::Signature::from_slice(signature) else {
            return false;
        };
        self.key.verify(&sig, message).is_ok()
    }

    /// Verifies many signatures by this key at once, about three times as
    /// fast as one by one. `true` exactly when every one would pass
    /// [`PublicKey::verify`]; on `false`, check them singly to find which.
    pub fn verify_batch<'a>(&self, signed: impl IntoIterator<Item = (&'a [u8], &'a [u8])>) -> bool {
        let key = ed25519_zebra::VerificationKeyBytes::from(self.bytes);
        let mut batch = ed25519_zebra::batch::Verifier::new();
        for (message, signature) in signed {
            let Ok(sig) = ed25519_zebra::Signature::from_slice(signature) else {
                return false;
            };
            batch.queue((key, sig, message));
        }
        batch.verify(rand::thread_rng()).is_ok()
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", STANDARD.encode(self.as_bytes()))
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
        Self::from_bytes(&bytes).map_err(|e| match e {
            KeyError::WeakKey(_) => KeyError::WeakKey(s.to_owned()),
            _ => KeyError::InvalidPoint(s.to_owned()),
        })
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

/// An organisation's secret signing key, with its public key worked out once.
#[derive(Clone)]
pub struct IdentityKey {
    secret: SigningKey,
    public: PublicKey,
}

impl IdentityKey {
    pub fn generate() -> Self {
        Self::from_seed(&SigningKey::generate(&mut rand::rngs::OsRng).to_bytes())
    }

    /// From the 32-byte secret seed.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = bytes
            .try_into()
            .map_err(|_| KeyError::SecretLength(bytes.len()))?;
        Ok(Self::from_seed(&seed))
    }

    fn from_seed(seed: &[u8; 32]) -> Self {
        let secret = SigningKey::from_bytes(seed);
        // The same key through ed25519-zebra, whose derivation cannot fail.
        let key = ed25519_zebra::VerificationKey::from(&ed25519_zebra::SigningKey::from(*seed));
        let public = PublicKey {
            key,
            bytes: secret.verifying_key().to_bytes(),
        };
        Self { secret, public }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.secret.to_bytes()
    }

    pub fn public(&self) -> PublicKey {
        self.public
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.secret.sign(message).to_bytes()
    }

    /// PKCS#8 DER, the form TLS libraries (rcgen, rustls) take.
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        self.secret
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
    fn small_order_keys_are_refused() {
        // The identity point (y = 1): every signature "verifies" under it.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let text = format!("ed25519:{}", STANDARD.encode(identity));
        assert!(matches!(
            text.parse::<PublicKey>(),
            Err(KeyError::WeakKey(t)) if t == text
        ));
    }

    #[test]
    fn a_batch_passes_exactly_when_every_signature_does() {
        let key = IdentityKey::generate();
        let messages: Vec<Vec<u8>> = (0..40u8).map(|i| vec![i; 100]).collect();
        let mut signatures: Vec<[u8; 64]> = messages.iter().map(|m| key.sign(m)).collect();
        let batch = |sigs: &[[u8; 64]]| {
            key.public().verify_batch(
                messages
                    .iter()
                    .zip(sigs)
                    .map(|(m, s)| (m.as_slice(), s.as_slice())),
            )
        };
        assert!(batch(&signatures));
        signatures[17][5] ^= 0x10;
        assert!(!batch(&signatures));
        assert!(!key.public().verify(&messages[17], &signatures[17]));
        assert!(key.public().verify(&messages[16], &signatures[16]));
    }

    #[test]
    fn secret_round_trips() {
        let key = IdentityKey::generate();
        let again = IdentityKey::from_secret_bytes(&key.secret_bytes()).unwrap();
        assert_eq!(again.public(), key.public());
        assert!(IdentityKey::from_secret_bytes(&[0; 31]).is_err());
    }
}

//! Key rotation: an organisation moves to a new Ed25519 key without its peers
//! touching their configuration.
//!
//! The rotation entry is signed by the old key, as every entry of the log is,
//! so peers know the organisation itself asks for the change. The document
//! also carries the new key's signature over the origin and the old key: proof
//! that whoever rotated holds the new secret, so a typo or someone else's
//! public key can never become the organisation's key. Kept in its own module
//! because it is cryptography, not document shape.

use crate::{IdentityKey, OrgId, PublicKey, proto, rules::DocumentError};

/// Domain separation for the proof: it can never be replayed as an entry
/// signature or anything else.
pub const KEY_ROTATION_CONTEXT: &[u8] = b"comity/v1/key-rotation\0";

/// The bytes the new key signs: context || origin || old key (32 bytes).
pub fn proof_message(origin: &OrgId, old_key: &PublicKey) -> Vec<u8> {
    let origin = origin.as_str().as_bytes();
    let mut message = Vec::with_capacity(KEY_ROTATION_CONTEXT.len() + origin.len() + 32);
    message.extend_from_slice(KEY_ROTATION_CONTEXT);
    message.extend_from_slice(origin);
    message.extend_from_slice(old_key.as_bytes());
    message
}

/// The rotation document moving `origin` from `old_key` to `new_key`. Publish
/// it signed by the old key; sign everything after it with the new one.
pub fn new(origin: &OrgId, old_key: &PublicKey, new_key: &IdentityKey) -> proto::KeyRotation {
    proto::KeyRotation {
        new_key: new_key.public().as_bytes().to_vec(),
        new_key_signature: new_key.sign(&proof_message(origin, old_key)).to_vec(),
    }
}

/// The shape of a rotation: a valid public key and a 64-byte signature.
pub fn validate_shape(rotation: &proto::KeyRotation) -> Result<PublicKey, DocumentError> {
    let key = PublicKey::from_bytes(&rotation.new_key)
        .map_err(|e| DocumentError::InvalidNewKey(e.to_string()))?;
    if rotation.new_key_signature.len() != 64 {
        return Err(DocumentError::KeyProofLength(
            rotation.new_key_signature.len(),
        ));
    }
    Ok(key)
}

/// Checks a rotation published by `origin` while `old_key` was its key: the
/// new key differs and its proof signature verifies. Returns the new key,
/// which signs the origin's entries from the next seq on.
pub fn verify(
    origin: &OrgId,
    old_key: &PublicKey,
    rotation: &proto::KeyRotation,
) -> Result<PublicKey, DocumentError> {
    let new_key = validate_shape(rotation)?;
    if &new_key == old_key {
        return Err(DocumentError::KeyUnchanged);
    }
    if !new_key.verify(&proof_message(origin, old_key), &rotation.new_key_signature) {
        return Err(DocumentError::InvalidKeyProof);
    }
    Ok(new_key)
}

//! Reaching a partner that rotated its key while this node could not see it.
//! This node pins the old key, and the partner's TLS certificate shows the
//! new one, so a strict connection fails. The link then connects
//! provisionally (any key, `comity_tls::client_config_provisional`), asks
//! in `Hello` for the partner's key rotations, and trusts nothing else on
//! that connection: the rotations must verify as a chain from the pinned
//! key (each signed by the key before it, each proving the new key) to the
//! key the certificate showed. Only then does the link connect again,
//! strictly, to that key. The pin itself moves, durably, when ingest takes
//! the rotation entries in their place in the log (`follow_rotation`):
//! the entries before them are still signed by the old key.

use crate::{blocking::blocking, error::NodeError, node::Node};
use comity_core::{EntryKind, OrgId, PublicKey, SignedEntry, key_rotation, proto, verify};

/// Entries read per store call while gathering this node's rotations.
const SCAN_BATCH: usize = 1024;

/// Why a partner's rotations do not prove its new key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    #[error("a rotation {peer} sent does not decode: {0}", peer = .1)]
    Undecodable(String, OrgId),
    #[error("{peer} sent a rotation of {origin}'s log")]
    WrongOrigin { peer: OrgId, origin: OrgId },
    #[error("no rotation {peer} sent is signed by the key pinned for it ({pinned})")]
    NotFromPinned { peer: OrgId, pinned: Box<PublicKey> },
    #[error("{peer}'s rotation at seq {seq} does not verify: {reason}")]
    Invalid {
        peer: OrgId,
        seq: u64,
        reason: String,
    },
    #[error(
        "{peer}'s rotations from the pinned key lead to {proven}, but its certificate shows {presented}"
    )]
    OtherKey {
        peer: OrgId,
        proven: Box<PublicKey>,
        presented: Box<PublicKey>,
    },
}

/// Every KeyRotation entry of this node's own log, in seq order.
pub(crate) async fn own_rotations(
    node: &std::sync::Arc<Node>,
) -> Result<Vec<proto::Entry>, NodeError> {
    let node = node.clone();
    blocking(move || {
        let mut rotations = Vec::new();
        let mut after = 0;
        loop {
            let batch = node.store().entries_after(node.org(), after, SCAN_BATCH)?;
            let Some(last) = batch.last().map(SignedEntry::seq) else {
                return Ok(rotations);
            };
            rotations.extend(
                batch
                    .into_iter()
                    .filter(|e| e.kind() == EntryKind::KeyRotation)
                    .map(SignedEntry::into_wire),
            );
            after = last;
        }
    })
    .await
}

/// The key `rotations` prove for `peer`, starting from `pinned`: the
/// rotations after the one `pinned` signs first, each signed by the key
/// before it and proving the next. It must be `presented`, the key the
/// peer's certificate showed.
pub fn proven_key(
    peer: &OrgId,
    pinned: PublicKey,
    presented: PublicKey,
    rotations: &[proto::Entry],
) -> Result<PublicKey, RotationError> {
    let mut entries = Vec::with_capacity(rotations.len());
    for wire in rotations {
        let entry = SignedEntry::decode(wire.clone())
            .map_err(|e| RotationError::Undecodable(e.to_string(), peer.clone()))?;
        if entry.origin() != peer {
            return Err(RotationError::WrongOrigin {
                peer: peer.clone(),
                origin: entry.origin().clone(),
            });
        }
        entries.push(entry);
    }
    entries.sort_by_key(SignedEntry::seq);
    let start = entries
        .iter()
        .position(|e| verify::verify_signature(e, &pinned).is_ok())
        .ok_or_else(|| RotationError::NotFromPinned {
            peer: peer.clone(),
            pinned: Box::new(pinned),
        })?;
    let mut key = pinned;
    for entry in &entries[start..] {
        let invalid = |reason: String| RotationError::Invalid {
            peer: peer.clone(),
            seq: entry.seq(),
            reason,
        };
        verify::verify_signature(entry, &key).map_err(|e| invalid(e.to_string()))?;
        // The signature covers the header: the payload must be the one it names.
        if entry.is_redacted() || entry.kind() != EntryKind::KeyRotation {
            return Err(invalid("not a whole, public key rotation".to_string()));
        }
        verify::verify_payload(entry).map_err(|e| invalid(e.to_string()))?;
        let rotation = verify::key_rotation_of(entry)
            .ok_or_else(|| invalid("not a key rotation".to_string()))?;
        key = key_rotation::verify(peer, &key, &rotation).map_err(|e| invalid(e.to_string()))?;
    }
    if key != presented {
        return Err(RotationError::OtherKey {
            peer: peer.clone(),
            proven: Box::new(key),
            presented: Box::new(presented),
        });
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_core::{IdentityKey, entry::UnsignedEntry};
    use prost::Message;

    fn org() -> OrgId {
        OrgId::new("icann").unwrap()
    }

    /// A rotation from `old` (which signs it) to `new`, at `seq`.
    fn rotation(old: &IdentityKey, new: &IdentityKey, seq: u64) -> proto::Entry {
        let body =
            proto::document::Body::KeyRotation(key_rotation::new(&org(), &old.public(), new));
        let payload = proto::Document { body: Some(body) }.encode_to_vec();
        let head = comity_core::Head {
            seq: seq - 1,
            hash: comity_core::Hash::of(b"prev"),
        };
        UnsignedEntry::new(
            org(),
            EntryKind::KeyRotation,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(old, Some(head))
        .into_wire()
    }

    #[test]
    fn a_chain_from_the_pinned_key_proves_the_last_key() {
        let (k0, k1, k2) = (
            IdentityKey::generate(),
            IdentityKey::generate(),
            IdentityKey::generate(),
        );
        let chain = vec![rotation(&k1, &k2, 9), rotation(&k0, &k1, 4)];
        assert_eq!(
            proven_key(&org(), k0.public(), k2.public(), &chain),
            Ok(k2.public())
        );
        // Pinned at k1 (it saw the first rotation): the rest of the chain.
        assert_eq!(
            proven_key(&org(), k1.public(), k2.public(), &chain),
            Ok(k2.public())
        );
    }

    #[test]
    fn an_impostor_cannot_prove_its_key() {
        let (k0, k1, impostor) = (
            IdentityKey::generate(),
            IdentityKey::generate(),
            IdentityKey::generate(),
        );
        // No rotations at all, or one the impostor signed itself.
        assert!(matches!(
            proven_key(&org(), k0.public(), impostor.public(), &[]),
            Err(RotationError::NotFromPinned { .. })
        ));
        let forged = vec![rotation(&impostor, &impostor_next(&impostor), 2)];
        assert!(matches!(
            proven_key(&org(), k0.public(), impostor.public(), &forged),
            Err(RotationError::NotFromPinned { .. })
        ));
        // A genuine chain shown by a server with another key.
        let genuine = vec![rotation(&k0, &k1, 2)];
        assert!(matches!(
            proven_key(&org(), k0.public(), impostor.public(), &genuine),
            Err(RotationError::OtherKey { .. })
        ));
        // A genuine header with its payload swapped for another new key.
        let mut swapped = rotation(&k0, &k1, 2);
        swapped.payload = rotation(&k0, &impostor, 2).payload;
        assert!(matches!(
            proven_key(&org(), k0.public(), impostor.public(), &[swapped]),
            Err(RotationError::Invalid { .. })
        ));
        // A chain broken in the middle: the second link not signed by k1.
        let broken = vec![
            rotation(&k0, &k1, 2),
            rotation(&impostor, &impostor_next(&impostor), 3),
        ];
        assert!(matches!(
            proven_key(&org(), k0.public(), impostor.public(), &broken),
            Err(RotationError::Invalid { .. })
        ));
    }

    fn impostor_next(_: &IdentityKey) -> IdentityKey {
        IdentityKey::generate()
    }
}

//! Ingest verification: is this entry authentic, and is it the next one in its
//! origin's log? Each failure has its own error, checked in a fixed order:
//! decodes; origin known; signature; seq; prev; payload hash; payload.
//!
//! A key rotation is checked here too, against the key that signed it: from
//! the next seq on, the origin's entries are verified with the new key.

use crate::{
    EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry,
    document::{self, DocumentError},
    entry::{Audience, DecodeError},
    key_rotation, proto,
    proto::document::Body,
};
use prost::Message;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("undecodable entry: {0}")]
    Undecodable(#[from] DecodeError),
    #[error("unknown origin {0}: no pinned key for it")]
    UnknownOrigin(OrgId),
    #[error("bad signature on {origin} seq {seq}")]
    BadSignature { origin: OrgId, seq: u64 },
    #[error("{origin} seq {got} is not next: expected seq {expected}")]
    SeqNotNext {
        origin: OrgId,
        expected: u64,
        got: u64,
    },
    #[error("{origin} seq {seq}: prev hash does not match the held head")]
    PrevMismatch { origin: OrgId, seq: u64 },
    #[error("{origin} seq {seq}: payload does not match its hash")]
    PayloadHashMismatch { origin: OrgId, seq: u64 },
    #[error("{origin} seq {seq}: invalid payload: {reason}")]
    InvalidPayload {
        origin: OrgId,
        seq: u64,
        reason: DocumentError,
    },
}

/// What to do with a verified entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ingest {
    /// The next entry: append it.
    Append,
    /// Already held, byte for byte: nothing to do.
    Duplicate,
    /// Validly signed, but a different header at a seq already held: the
    /// origin forked its log. Keep both as evidence and freeze the origin.
    Equivocation { held: Hash },
}

/// Checks only the origin's signature over the header bytes.
pub fn verify_signature(entry: &SignedEntry, key: &PublicKey) -> Result<(), VerifyError> {
    let message = SignedEntry::signed_message(entry.header_bytes());
    if key.verify(&message, entry.signature()) {
        Ok(())
    } else {
        Err(VerifyError::BadSignature {
            origin: entry.origin().clone(),
            seq: entry.seq(),
        })
    }
}

/// Checks that the payload matches its hash and is a valid document for the
/// entry's kind. A redacted stub carries no payload and passes.
pub fn verify_payload(entry: &SignedEntry) -> Result<(), VerifyError> {
    verify_payload_body(entry).map(drop)
}

/// [`verify_payload`], keeping the document it decoded (`None` for a
/// redacted stub), so a caller that needs it does not decode it again.
pub fn verify_payload_body(entry: &SignedEntry) -> Result<Option<Body>, VerifyError> {
    let (origin, seq) = (entry.origin().clone(), entry.seq());
    // Checked from the header, so that a stub cannot hide a rotation either.
    if entry.kind() == EntryKind::KeyRotation && entry.audience() != &Audience::Public {
        return Err(VerifyError::InvalidPayload {
            origin,
            seq,
            reason: DocumentError::RestrictedKeyRotation,
        });
    }
    if entry.is_redacted() {
        return Ok(None);
    }
    if Hash::of(entry.payload()) != entry.payload_hash()
        || entry.payload().len() as u64 != entry.payload_size()
    {
        return Err(VerifyError::PayloadHashMismatch { origin, seq });
    }
    document::decode_for(entry)
        .map(Some)
        .map_err(|reason| VerifyError::InvalidPayload {
            origin,
            seq,
            reason,
        })
}

/// Full ingest verification of `entry` against the log as held here.
///
/// `key` is the origin's pinned key (`None` when the origin is unknown), `head`
/// the held head, and `held_at` looks up the id of the held entry at a seq.
pub fn verify_for_ingest(
    entry: &SignedEntry,
    key: Option<&PublicKey>,
    head: Option<Head>,
    held_at: impl FnOnce(u64) -> Option<Hash>,
) -> Result<Ingest, VerifyError> {
    let key = key.ok_or_else(|| VerifyError::UnknownOrigin(entry.origin().clone()))?;
    verify_signature(entry, key)?;
    verify_signed_for_ingest(entry, key, head, held_at, || verify_payload(entry))
}

/// The checks of [`verify_for_ingest`] that follow the signature, for an
/// entry whose signature `key` has already verified (by
/// [`verify_signatures`]): seq, prev, payload, and a rotation's proof.
/// `payload` is [`verify_payload`] of the entry, or its outcome worked out
/// ahead of time; it is consulted only when the entry is next in the log.
pub fn verify_signed_for_ingest(
    entry: &SignedEntry,
    key: &PublicKey,
    head: Option<Head>,
    held_at: impl FnOnce(u64) -> Option<Hash>,
    payload: impl FnOnce() -> Result<(), VerifyError>,
) -> Result<Ingest, VerifyError> {
    place(entry, Some(key), head, held_at, payload)
}

/// The checks of [`verify_signed_for_ingest`] for an entry that a node's
/// operator vouched for by its id (having confirmed out of band that the
/// origin published it), so that its signature is not checked: seq, prev,
/// payload. A rotation among such entries is checked for shape only, since
/// its proof names the key that signed it, which may not be the key the
/// chain expects there. What the id pins (the header, and through it the
/// payload and the chain) is checked as for any entry.
pub fn verify_vouched_for_ingest(
    entry: &SignedEntry,
    head: Option<Head>,
    held_at: impl FnOnce(u64) -> Option<Hash>,
    payload: impl FnOnce() -> Result<(), VerifyError>,
) -> Result<Ingest, VerifyError> {
    place(entry, None, head, held_at, payload)
}

/// Places `entry` against the held log; `key` checks a rotation's proof
/// (`None`: its shape only).
fn place(
    entry: &SignedEntry,
    key: Option<&PublicKey>,
    head: Option<Head>,
    held_at: impl FnOnce(u64) -> Option<Hash>,
    payload: impl FnOnce() -> Result<(), VerifyError>,
) -> Result<Ingest, VerifyError> {
    let held_seq = head.map_or(0, |h| h.seq);
    if entry.seq() <= held_seq {
        return Ok(match held_at(entry.seq()) {
            Some(id) if id == entry.id() => Ingest::Duplicate,
            Some(id) => Ingest::Equivocation { held: id },
            // Held head but not the entry below it cannot happen in a
            // consistent store; treat as not next rather than guess.
            None => {
                return Err(VerifyError::SeqNotNext {
                    origin: entry.origin().clone(),
                    expected: held_seq + 1,
                    got: entry.seq(),
                });
            }
        });
    }
    if entry.seq() != held_seq + 1 {
        return Err(VerifyError::SeqNotNext {
            origin: entry.origin().clone(),
            expected: held_seq + 1,
            got: entry.seq(),
        });
    }
    if entry.prev() != head.map(|h| h.hash) {
        return Err(VerifyError::PrevMismatch {
            origin: entry.origin().clone(),
            seq: entry.seq(),
        });
    }
    payload()?;
    if let Some(rotation) = key_rotation_of(entry) {
        let checked = match key {
            Some(key) => key_rotation::verify(entry.origin(), key, &rotation),
            None => key_rotation::validate_shape(&rotation),
        };
        checked.map_err(|reason| VerifyError::InvalidPayload {
            origin: entry.origin().clone(),
            seq: entry.seq(),
            reason,
        })?;
    }
    Ok(Ingest::Append)
}

/// Checks the signatures of consecutive entries of one origin in batches,
/// starting with `key` and following the key rotations among them: a batch
/// ends at each rotation, and the next is checked with the rotated key.
///
/// Returns how many entries from the start are validly signed, the key that
/// signs after the last of those, and the error of the first that is not.
/// A rotation's proof is not checked here but by
/// [`verify_signed_for_ingest`], in order, which stops at a bad one.
pub fn verify_signatures(
    entries: &[SignedEntry],
    key: &PublicKey,
) -> (usize, PublicKey, Option<VerifyError>) {
    let mut key = *key;
    let mut start = 0;
    while start < entries.len() {
        let end = entries[start..]
            .iter()
            .position(|e| e.kind() == EntryKind::KeyRotation)
            .map_or(entries.len(), |i| start + i + 1);
        let run = &entries[start..end];
        let messages: Vec<Vec<u8>> = run
            .iter()
            .map(|e| SignedEntry::signed_message(e.header_bytes()))
            .collect();
        let signed = messages.iter().zip(run);
        if !key.verify_batch(signed.map(|(m, e)| (m.as_slice(), e.signature()))) {
            // Find the first bad one. Under ZIP 215 a failed batch always
            // has one; should none fail alone, the batch is accepted, as
            // each of its signatures is.
            for (i, entry) in run.iter().enumerate() {
                if let Err(e) = verify_signature(entry, &key) {
                    return (start + i, key, Some(e));
                }
            }
        }
        if let Some(rotated) = run.last().and_then(rotated_key) {
            key = rotated;
        }
        start = end;
    }
    (entries.len(), key, None)
}

/// The key rotation an entry carries, if it is one (and its payload is held).
pub fn key_rotation_of(entry: &SignedEntry) -> Option<proto::KeyRotation> {
    if entry.kind() != EntryKind::KeyRotation {
        return None;
    }
    match proto::Document::decode(entry.payload()).ok()?.body? {
        proto::document::Body::KeyRotation(rotation) => Some(rotation),
        _ => None,
    }
}

/// The key that signs the origin's entries after `entry`: the new key if
/// `entry` is a key rotation, else `None`. Call it only on verified entries.
pub fn rotated_key(entry: &SignedEntry) -> Option<PublicKey> {
    key_rotation_of(entry).and_then(|r| key_rotation::validate_shape(&r).ok())
}

/// Verifies a whole chain from seq 1, as after reopening a store. `key` is the
/// key that signed seq 1; key rotations in the chain are followed.
pub fn verify_chain<'a>(
    entries: impl IntoIterator<Item = &'a SignedEntry>,
    key: &PublicKey,
) -> Result<Option<Head>, VerifyError> {
    let mut head = None;
    let mut key = *key;
    for entry in entries {
        match verify_for_ingest(entry, Some(&key), head, |_| None)? {
            Ingest::Append => {
                head = Some(entry.head());
                if let Some(new_key) = rotated_key(entry) {
                    key = new_key;
                }
            }
            Ingest::Duplicate | Ingest::Equivocation { .. } => {
                return Err(VerifyError::SeqNotNext {
                    origin: entry.origin().clone(),
                    expected: head.map_or(1, |h| h.seq + 1),
                    got: entry.seq(),
                });
            }
        }
    }
    Ok(head)
}

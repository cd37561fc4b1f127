//! The rules every backend applies on append, kept in one place so that the
//! backends cannot drift apart: when an entry may be appended, and which index
//! rows it produces. Both are pure; each backend gathers the inputs inside its
//! own transaction (or lock) and writes the outcome there.

use crate::{Appended, StoreError};
use comity_core::{
    EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry, document, key_rotation,
    proto::{self, document::Body},
};

/// The state of an origin's log that an append is decided against.
#[derive(Debug, Clone, Copy)]
pub struct LogState {
    /// The origin is frozen after equivocating.
    pub frozen: bool,
    /// This very entry (same id) is already held at its seq.
    pub already_held: bool,
    /// The held head, `None` for an origin not held yet.
    pub head: Option<Head>,
}

/// Decides whether `entry` is new, already held, or refused.
///
/// A frozen origin is refused first, whatever the entry: nothing more is
/// accepted from it. Then a held copy is a no-op, and anything else must be
/// exactly the next entry: `seq == head + 1` and `prev == head hash`. A
/// different entry at a held seq is [`StoreError::NotNext`] here; telling
/// equivocation apart is the caller's business (it has the key to check the
/// signature).
pub fn decide(entry: &SignedEntry, state: LogState) -> Result<Appended, StoreError> {
    if state.frozen {
        return Err(StoreError::Frozen {
            origin: entry.origin().clone(),
        });
    }
    if state.already_held {
        return Ok(Appended::AlreadyHeld);
    }
    let held = state.head.map_or(0, |h| h.seq);
    if entry.seq() != held + 1 || entry.prev() != state.head.map(|h| h.hash) {
        return Err(StoreError::NotNext {
            origin: entry.origin().clone(),
            seq: entry.seq(),
            held,
        });
    }
    Ok(Appended::New)
}

/// A document an entry points at, by its stable id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub origin: OrgId,
    pub uuid: String,
}

impl Target {
    /// A reference as a key part; `None` for one that cannot be keyed (the
    /// document rules refuse such references before anything is appended).
    fn from_proto(r: Option<&proto::DocumentRef>) -> Option<Self> {
        let r = r?;
        if !key_safe(&r.uuid) {
            return None;
        }
        let origin = OrgId::new(r.origin.clone()).ok()?;
        Some(Self {
            origin,
            uuid: r.uuid.clone(),
        })
    }
}

/// Whether a uuid can be a key part: backends separate key parts with a
/// zero byte (org ids never hold one), so a uuid must not hold one either.
/// Queries with such a uuid find nothing.
pub fn key_safe(uuid: &str) -> bool {
    !uuid.is_empty() && !uuid.contains('\0')
}

/// The one-byte tag of an entry kind in index keys (its protobuf number).
pub fn kind_tag(kind: EntryKind) -> u8 {
    match kind {
        EntryKind::Profile => 1,
        EntryKind::Consultation => 2,
        EntryKind::Response => 3,
        EntryKind::Liaison => 4,
        EntryKind::Receipt => 5,
        EntryKind::KeyRotation => 6,
    }
}

/// The index rows an entry produces. Every backend writes exactly these, in
/// the append's own transaction, and [`crate::Store::rebuild_indexes`]
/// re-derives them from the logs with this same function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexRows {
    /// The entry carries the origin's profile.
    pub profile: bool,
    /// The document (consultation, liaison statement or response) this entry
    /// is a revision of: its kind and stable uuid.
    pub document: Option<(EntryKind, String)>,
    /// A response: the consultation it answers (held or not).
    pub responds_to: Option<Target>,
    /// A liaison statement: the statement it replies to (`in_reply_to`).
    pub replies_to: Option<Target>,
    /// A receipt: the liaison statement it acknowledges.
    pub receipt_for: Option<Target>,
    /// A liaison statement: the organisations addressed in `to` and `cc`,
    /// sorted, each once.
    pub recipients: Vec<OrgId>,
    /// A key rotation: the key that signs the origin's entries after it.
    pub new_key: Option<PublicKey>,
    /// The blobs the document names as attachments (a consultation's report
    /// included), sorted, each once: who may have a blob follows from the
    /// entries that name it.
    pub attachments: Vec<Hash>,
}

/// Indexes only what can be read: a redacted stub says nothing about its
/// document, so it must not displace the last revision that could be read.
pub fn index_rows(entry: &SignedEntry) -> IndexRows {
    if entry.is_redacted() {
        return IndexRows::default();
    }
    let body = match document::decode_for(entry) {
        Ok(body) => body,
        Err(e) => {
            // The caller verifies payloads before appending; an unreadable one
            // here is a bug upstream, not a reason to lose the entry.
            tracing::warn!(origin = %entry.origin(), seq = entry.seq(), error = %e,
                "appending an entry whose payload does not decode; not indexed");
            return IndexRows::default();
        }
    };
    let document = |uuid: &str| key_safe(uuid).then(|| (entry.kind(), uuid.to_owned()));
    let mut attachments: Vec<Hash> = document::attachments_of(&body)
        .iter()
        .filter_map(|a| Hash::from_slice(&a.hash))
        .collect();
    attachments.sort();
    attachments.dedup();
    let rows = match body {
        Body::Profile(_) => IndexRows {
            profile: true,
            ..IndexRows::default()
        },
        Body::Consultation(c) => IndexRows {
            document: document(&c.uuid),
            ..IndexRows::default()
        },
        Body::Response(r) => IndexRows {
            document: document(&r.uuid),
            responds_to: Target::from_proto(r.consultation.as_ref()),
            ..IndexRows::default()
        },
        Body::Liaison(l) => {
            let mut recipients: Vec<OrgId> =
                l.to.iter()
                    .chain(&l.cc)
                    .filter_map(|a| OrgId::new(a.org.clone()).ok())
                    .collect();
            recipients.sort();
            recipients.dedup();
            IndexRows {
                document: document(&l.uuid),
                replies_to: Target::from_proto(l.in_reply_to.as_ref()),
                recipients,
                ..IndexRows::default()
            }
        }
        Body::Receipt(r) => IndexRows {
            receipt_for: Target::from_proto(r.liaison.as_ref()),
            ..IndexRows::default()
        },
        Body::KeyRotation(k) => IndexRows {
            new_key: key_rotation::validate_shape(&k).ok(),
            ..IndexRows::default()
        },
    };
    IndexRows {
        attachments,
        ..rows
    }
}

/// Whether an index row written by revision `row_seq` of a document still
/// stands: rows of replies and recipients are derived from one revision, and
/// a later revision that no longer says the same leaves its row behind. A row
/// counts only while it came from the latest readable revision.
pub fn is_current(row_seq: u64, latest: Option<u64>) -> bool {
    latest == Some(row_seq)
}

/// The bytes of `blob` from `offset`, at most `max_len` of them (empty at
/// or past the end).
pub fn blob_range(blob: &[u8], offset: u64, max_len: usize) -> &[u8] {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(blob.len());
    let end = start.saturating_add(max_len).min(blob.len());
    &blob[start..end]
}

/// Checks that downloaded bytes are the blob they were fetched as.
pub fn check_blob(expected: &comity_core::Hash, bytes: &[u8]) -> Result<(), StoreError> {
    let got = comity_core::Hash::of(bytes);
    if &got == expected {
        Ok(())
    } else {
        Err(StoreError::BlobHashMismatch {
            expected: *expected,
            got,
        })
    }
}

/// Refuses to sign the next entry of `origin`'s own log with `signer` when
/// the log last rotated to another key (`current`: the seq and key of its
/// latest rotation, if any): such an entry would be one no partner can
/// verify. The case is a replica that missed another replica's rotation.
pub fn check_signing_key(
    origin: &OrgId,
    signer: &PublicKey,
    current: Option<(u64, PublicKey)>,
) -> Result<(), StoreError> {
    match current {
        Some((seq, key)) if key != *signer => Err(StoreError::NotSigningKey {
            origin: origin.clone(),
            seq,
            key: Box::new(key),
        }),
        _ => Ok(()),
    }
}

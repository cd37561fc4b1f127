//! The rules every backend applies on append, kept in one place so that the
//! backends cannot drift apart: when an entry may be appended, and which index
//! rows it produces. Both are pure; each backend gathers the inputs inside its
//! own transaction (or lock) and writes the outcome there.

use crate::{Appended, StoreError};
use comity_core::{Head, SignedEntry, document, proto::document::Body};

/// The state of an origin's log that an append is decided against.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogState {
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
pub(crate) fn decide(entry: &SignedEntry, state: LogState) -> Result<Appended, StoreError> {
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

/// The index rows an entry produces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct IndexRows {
    /// The uuid of the consultation this entry revises.
    pub consultation: Option<String>,
    /// The entry carries the origin's profile.
    pub profile: bool,
}

/// Indexes only what can be read: a redacted stub says nothing about its
/// document, so it must not displace the last revision that could be read.
pub(crate) fn index_rows(entry: &SignedEntry) -> IndexRows {
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
    // `if let` rather than an exhaustive match: new document kinds index nothing
    // until they are given an index of their own.
    IndexRows {
        profile: matches!(body, Body::Profile(_)),
        consultation: if let Body::Consultation(c) = body {
            Some(c.uuid)
        } else {
            None
        },
    }
}

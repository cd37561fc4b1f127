//! # comity-store
//!
//! Everything a node keeps: every log it holds (its own and those it follows),
//! their heads, the indexes derived from them, equivocation evidence and the
//! pinned peers. One object-safe [`Store`] trait, so that a second backend
//! (PostgreSQL, for replicated nodes) stays cheap; two backends today:
//!
//! - [`SledStore`]: the embedded default, one directory;
//! - [`MemStore`]: in memory, for tests and the demo.
//!
//! Both run the same test suite ([`testsuite`]).
//!
//! Appending an entry writes the entry, its head and its index rows in one
//! transaction, so a crash leaves the whole entry or none of it. Appends are
//! durable only after [`Store::flush`]; callers flush before they acknowledge
//! anything or advance a cursor (a cursor *is* the durable head).

mod mem;
mod records;
mod rules;
mod sled_store;
pub mod testsuite;

pub use mem::MemStore;
pub use records::{Equivocation, PeerRecord};
pub use sled_store::{SledOptions, SledStore};

use comity_core::{Hash, Head, OrgId, SignedEntry};

/// The schema version this build writes. Opening a store with a newer one fails.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the store was written by a newer Comity (schema {found}, this build reads up to {SCHEMA_VERSION})"
    )]
    SchemaTooNew { found: u32 },
    #[error("{origin} seq {seq} does not follow the held head (seq {held})")]
    NotNext { origin: OrgId, seq: u64, held: u64 },
    #[error("{origin} is frozen after equivocating; nothing more is accepted from it")]
    Frozen { origin: OrgId },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// What an append did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Appended {
    /// The entry is new and now held.
    New,
    /// The same entry (same id) was already held: nothing changed.
    AlreadyHeld,
}

/// The latest revision of a document, as indexed at append time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentRef {
    pub origin: OrgId,
    pub uuid: String,
    /// Seq of the entry carrying the latest revision.
    pub seq: u64,
}

pub trait Store: Send + Sync + 'static {
    /// Appends one entry that the caller has verified as next in its log.
    ///
    /// Writes entry, head and index rows in one transaction, re-checking
    /// inside it that `entry.seq() == head + 1` and `entry.prev() == head hash`
    /// ([`StoreError::NotNext`] otherwise). An entry already held at its seq
    /// with the same id is [`Appended::AlreadyHeld`]. A frozen origin is refused.
    fn append(&self, entry: &SignedEntry) -> Result<Appended, StoreError>;

    /// Appends several entries in order, as by repeated [`Store::append`],
    /// stopping at the first error; returns how many were new. The batch may
    /// mix origins and hold consecutive entries of one origin.
    ///
    /// Backends may use one transaction for the batch (group commit); both
    /// backends here do, so on error nothing of the batch is written. This
    /// default, for a backend that cannot, keeps the entries before the error.
    fn append_batch(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        let mut new = 0;
        for entry in entries {
            if self.append(entry)? == Appended::New {
                new += 1;
            }
        }
        Ok(new)
    }

    /// Makes every append so far durable.
    fn flush(&self) -> Result<(), StoreError>;

    fn head(&self, origin: &OrgId) -> Result<Option<Head>, StoreError>;
    /// Every origin held, in id order.
    fn heads(&self) -> Result<Vec<(OrgId, Head)>, StoreError>;

    fn entry(&self, origin: &OrgId, seq: u64) -> Result<Option<SignedEntry>, StoreError>;
    /// Up to `limit` entries of `origin` with seq > `after_seq`, in seq order.
    fn entries_after(
        &self,
        origin: &OrgId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, StoreError>;
    fn entry_by_id(&self, id: &Hash) -> Result<Option<SignedEntry>, StoreError>;

    /// The latest revision of every consultation held, in (origin, uuid)
    /// order. Only revisions this node can read are indexed: a redacted stub
    /// leaves the last readable revision in place.
    fn consultations(&self) -> Result<Vec<DocumentRef>, StoreError>;
    /// The seq of the latest (readable) profile entry of `origin`.
    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError>;

    /// Records equivocation evidence and freezes the origin, in one
    /// transaction. Idempotent: the first evidence for an (origin, seq) is
    /// kept, later ones for that seq are dropped.
    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError>;
    /// All evidence held, in (origin, seq) order.
    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError>;
    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError>;

    /// Adds or replaces a pinned peer.
    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError>;
    /// Returns whether a peer was removed.
    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError>;
    /// Every pinned peer, in org id order.
    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError>;
}

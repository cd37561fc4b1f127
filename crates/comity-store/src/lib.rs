//! # comity-store
//!
//! Everything a node keeps: every log it holds (its own and those it follows),
//! their heads, the indexes derived from them (documents and their revisions,
//! responses, liaison threads, receipts, recipients, current keys),
//! equivocation evidence, the pinned peers, attachment blobs (and partial
//! downloads of them), and local workflow state that never leaves the node
//! (liaison drafts). One object-safe [`Store`] trait, made of four parts a
//! backend implements ([`LogStore`], [`IndexStore`], [`BlobStore`],
//! [`LocalStore`]), so that a second backend (PostgreSQL, for replicated
//! nodes) stays cheap; three backends today:
//!
//! - [`SledStore`]: the embedded default, one directory;
//! - [`MemStore`]: in memory, for tests and the demo;
//! - `PgStore`, in the crate `comity-store-pg`: PostgreSQL, for several
//!   replicas of one node on one database.
//!
//! All run the same test suite (`testsuite`, behind the feature of that
//! name so that it is never compiled into a release build).
//!
//! Appending an entry writes the entry, its head and its index rows in one
//! transaction, so a crash leaves the whole entry or none of it. The index
//! rows are derived in one place (`rules::index_rows`) for every backend, and
//! [`Store::rebuild_indexes`] derives them again from the logs. Appends are
//! durable only after [`Store::flush`]; callers flush before they acknowledge
//! anything or advance a cursor (a cursor *is* the durable head).

pub mod copy;
mod mem;
mod records;
/// The rules every backend applies (public for backends in other crates,
/// such as `comity-store-pg`).
pub mod rules;
mod sled_store;
#[cfg(any(test, feature = "testsuite"))]
pub mod testsuite;

pub use mem::MemStore;

/// The store's traits, for code that calls them on a concrete backend
/// (`SledStore`, `MemStore`): `use comity_store::prelude::*;`.
pub mod prelude {
    pub use crate::{BlobStore, IndexStore, LocalStore, LogStore, Store};
}
pub use records::{Equivocation, LiaisonDraft, PeerRecord};
pub use sled_store::{SledOptions, SledStore};

use comity_core::merkle::{CompactRange, MerkleHash, leaf_hash};
use comity_core::{EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry};

/// The schema version this build writes. Opening a store with a newer one
/// fails; one with an older one is migrated at open (sled: schema 2 no
/// longer keeps entry ids; schema 3 keeps entries zstd-compressed).
pub const SCHEMA_VERSION: u32 = 3;

/// The version of the derived indexes this build writes. A store whose
/// indexes were written by any other version (or by a build that did not
/// record one) has them rebuilt from the logs when it is opened: bump this
/// whenever an index is added or its derivation changes.
pub const INDEX_VERSION: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage backend: {0}")]
    Backend(String),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the store was written by a newer Comity (schema {found}, this build reads up to {supported})"
    )]
    SchemaTooNew { found: u32, supported: u32 },
    #[error("{origin} seq {seq} does not follow the held head (seq {held})")]
    NotNext { origin: OrgId, seq: u64, held: u64 },
    #[error("{origin} is frozen after equivocating; nothing more is accepted from it")]
    Frozen { origin: OrgId },
    #[error(
        "{origin}'s log rotated to the key {key} at seq {seq}, and this node signs with another: another replica rotated the key; copy its identity.key here and restart this replica"
    )]
    NotSigningKey {
        origin: OrgId,
        seq: u64,
        /// Boxed: a key is large, and every store call returns this error.
        key: Box<PublicKey>,
    },
    #[error(
        "the partial download holds {expected} bytes: the next chunk must start at offset {expected}, not {got}"
    )]
    BlobOffset { expected: u64, got: u64 },
    #[error(
        "downloaded content hashes to {got}, not the expected {expected}: the partial download was discarded"
    )]
    BlobHashMismatch { expected: Hash, got: Hash },
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        Self::Backend(e.to_string())
    }
}

/// Makes the next entry of a log from the head held (`None`: the log is
/// empty): what [`LogStore::append_next`] signs under its lock.
pub type SignNext = Box<dyn FnOnce(Option<Head>) -> SignedEntry + Send>;

/// Told of each head another writer of a shared store committed
/// ([`LogStore::watch_appends`]): the origin and its new head seq.
pub type AppendWatcher = std::sync::Arc<dyn Fn(&OrgId, u64) + Send + Sync>;

/// A local record: its key within its space, and its value.
pub type Record = (Vec<u8>, Vec<u8>);

/// A local record with its space: space, key, value.
pub type SpacedRecord = (String, Vec<u8>, Vec<u8>);

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

/// One entry of one log: where to find it with [`Store::entry`].
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntryPos {
    pub origin: OrgId,
    pub seq: u64,
}

/// The logs: entries appended in order, their heads, and the safety state
/// of each origin (equivocation evidence, frozen origins). Appends are
/// checked against the held head inside the backend's transaction.
pub trait LogStore: Send + Sync + 'static {
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

    /// Signs and appends the next entry of a log this node writes (its
    /// own): `sign` is given the head held and returns the entry to append
    /// on top of it, which is returned once stored.
    ///
    /// A backend that several writers share (PostgreSQL, under replicas of
    /// one node) holds a lock on the origin's head from before `sign` runs
    /// until the entry is committed, so no two writers ever sign entries at
    /// one seq; a commit whose outcome is unknown is resolved by re-reading
    /// before anything else is signed. This default, for backends with one
    /// writer (one process holds sled's directory lock), reads the head and
    /// appends: the caller serialises its own appends.
    ///
    /// `signer` is the key `sign` signs with. A backend with several
    /// writers signs nothing, under its lock, unless that is the key the log
    /// last rotated to ([`rules::check_signing_key`]): a replica that missed
    /// another's key rotation would otherwise append an entry no partner can
    /// verify, and stop the log for good. With one writer the caller checks
    /// before it asks (the node does, under its own-log lock), so this
    /// default does not.
    fn append_next(
        &self,
        origin: &OrgId,
        _signer: &PublicKey,
        sign: SignNext,
    ) -> Result<SignedEntry, StoreError> {
        let entry = sign(self.head(origin)?);
        if entry.origin() != origin {
            return Err(StoreError::Backend(format!(
                "asked to append the next entry of {origin}, given one of {}",
                entry.origin()
            )));
        }
        self.append(&entry)?;
        Ok(entry)
    }

    /// Asks to be told of appends made by other writers of this store
    /// (replicas of this node sharing one database), so that live tails
    /// wake for entries this process did not append: `watcher` is called
    /// with an origin and its new head seq, soon after the commit, and may
    /// be called again with a seq already told. Backends with one writer
    /// never call it (this default).
    fn watch_appends(&self, watcher: AppendWatcher) -> Result<(), StoreError> {
        let _ = watcher;
        Ok(())
    }

    /// Fills in the payload of a restricted entry held as a redacted stub,
    /// when `entry` is the same entry (same id) with its payload, and indexes
    /// it as if it had arrived whole. Returns whether anything changed. The
    /// caller has verified `entry`'s payload against its header.
    fn fill_payload(&self, entry: &SignedEntry) -> Result<bool, StoreError>;

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

    /// Records equivocation evidence and freezes the origin, in one
    /// transaction. Idempotent: the first evidence for an (origin, seq) is
    /// kept, later ones for that seq are dropped.
    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError>;

    /// All evidence held, in (origin, seq) order.
    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError>;

    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError>;

    /// `origin`'s RFC 6962 tree as a compact range (`comity_core::merkle`):
    /// leaf *i* is the header bytes of seq *i* + 1, so its size is the held
    /// head seq. Written in the append's own transaction (so it always
    /// matches the head), derived from the logs by
    /// [`IndexStore::rebuild_indexes`]. `None` for an origin not held.
    fn tree(&self, origin: &OrgId) -> Result<Option<CompactRange>, StoreError>;

    /// The leaf hashes of `origin`'s first `size` entries (fewer when fewer
    /// are held), read from the entries: what consistency proofs and roots
    /// at past sizes are computed from. O(size): callers bound `size`.
    fn leaf_hashes(&self, origin: &OrgId, size: u64) -> Result<Vec<MerkleHash>, StoreError> {
        const CHUNK: usize = 4096;
        let mut leaves = Vec::new();
        while (leaves.len() as u64) < size {
            let after = leaves.len() as u64;
            let want = usize::try_from(size - after).unwrap_or(CHUNK).min(CHUNK);
            let chunk = self.entries_after(origin, after, want)?;
            if chunk.is_empty() {
                break;
            }
            leaves.extend(chunk.iter().map(|e| leaf_hash(e.header_bytes())));
        }
        Ok(leaves)
    }
}

/// The indexes derived from the logs.
///
/// Written in the append's own transaction, from the decoded document of
/// every entry this node can read; a redacted stub indexes nothing and
/// leaves the last readable revision in place. References are indexed
/// whether or not the document they point at is held: a response to a
/// consultation not held yet is "pending", and found from its
/// consultation's id all the same. Uuids are compared as written.
pub trait IndexStore: Send + Sync + 'static {
    /// The latest revision of every consultation held, in (origin, uuid) order.
    fn consultations(&self) -> Result<Vec<DocumentRef>, StoreError> {
        self.documents(EntryKind::Consultation)
    }

    /// The latest revision of every document of `kind` held (consultations,
    /// liaison statements, responses), in (origin, uuid) order. Other kinds
    /// have no documents: empty.
    fn documents(&self, kind: EntryKind) -> Result<Vec<DocumentRef>, StoreError>;

    /// The seq of the latest revision of one document.
    fn document(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<u64>, StoreError>;

    /// The seqs of every revision of one document, ascending.
    fn document_revisions(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Vec<u64>, StoreError>;

    /// Every response entry (each revision) whose `consultation` points at
    /// this consultation, held or not, in (responder, seq) order.
    fn responses_to(
        &self,
        consultation_origin: &OrgId,
        consultation_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError>;

    /// The liaison statements whose latest revision has `in_reply_to`
    /// pointing at this statement (held or not), latest revision of each, in
    /// (origin, uuid) order.
    fn liaison_replies(&self, origin: &OrgId, uuid: &str) -> Result<Vec<DocumentRef>, StoreError>;

    /// Every receipt entry whose `liaison` points at this statement (held or
    /// not), in the order this node received them.
    fn receipts_for(
        &self,
        liaison_origin: &OrgId,
        liaison_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError>;

    /// The liaison statements whose latest revision addresses `org` in `to`
    /// or `cc`, latest revision of each, in (origin, uuid) order.
    fn liaisons_addressed_to(&self, org: &OrgId) -> Result<Vec<DocumentRef>, StoreError>;

    /// The seq of the latest (readable) profile entry of `origin`.
    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError>;

    /// Every entry held whole that names the blob `hash` as an attachment
    /// (any revision of any document), in (origin, seq) order. Whoever may
    /// read one of them may have the blob; a redacted stub names nothing.
    fn entries_naming_blob(&self, hash: &Hash) -> Result<Vec<EntryPos>, StoreError>;

    /// After `origin` rotated its key: the seq of its latest key rotation and
    /// the key that signs its entries after it. `None` if it never rotated.
    fn current_key(&self, origin: &OrgId) -> Result<Option<(u64, PublicKey)>, StoreError>;

    /// Drops every derived index and derives them again from the logs held,
    /// in the order the entries arrived, so that the answers are exactly
    /// those of incremental indexing. Appends wait while it runs.
    fn rebuild_indexes(&self) -> Result<(), StoreError>;
}

/// Attachments, addressed by the BLAKE3 hash of their content, and partial
/// downloads of them.
pub trait BlobStore: Send + Sync + 'static {
    /// Stores `bytes` (idempotent) and returns their hash.
    fn put_blob(&self, bytes: &[u8]) -> Result<Hash, StoreError>;

    fn blob(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError>;

    fn blob_size(&self, hash: &Hash) -> Result<Option<u64>, StoreError>;

    /// Up to `max_len` bytes of a held blob from `offset` (empty at or past
    /// its end); `None` when the blob is not held.
    fn read_blob(
        &self,
        hash: &Hash,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError>;

    /// Appends `chunk` to the partial download of `hash`, which must hold
    /// exactly `offset` bytes so far ([`StoreError::BlobOffset`] otherwise).
    /// Returns the bytes held after it. Partial downloads survive restarts,
    /// so a download resumes from [`Store::partial_blob_len`].
    fn append_partial_blob(
        &self,
        hash: &Hash,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StoreError>;

    /// The hash of every blob held, in hash order: what a move to another
    /// backend (`comity store migrate`) copies.
    fn blob_hashes(&self) -> Result<Vec<Hash>, StoreError>;

    /// The bytes held of a partial download (0 when none).
    fn partial_blob_len(&self, hash: &Hash) -> Result<u64, StoreError>;

    /// Drops the partial download of `hash`, if any: its bytes cannot be
    /// trusted (a peer sent more than the blob's size, or contradicted
    /// itself), so the next download starts from the first byte.
    fn discard_partial_blob(&self, hash: &Hash) -> Result<(), StoreError>;

    /// Completes a partial download: its bytes must hash to `hash`, and then
    /// move to the blobs in one step. On [`StoreError::BlobHashMismatch`] the
    /// partial download is discarded. A blob already held completes at once
    /// (any partial download of it is discarded).
    fn finish_blob(&self, hash: &Hash) -> Result<(), StoreError>;
}

/// State that never leaves the node: liaison drafts and approvals, the
/// records of the layers above, and the pinned peers.
pub trait LocalStore: Send + Sync + 'static {
    /// Adds or replaces a draft (by id).
    fn put_draft(&self, draft: &LiaisonDraft) -> Result<(), StoreError>;

    fn draft(&self, id: &str) -> Result<Option<LiaisonDraft>, StoreError>;

    /// Every draft, in id order.
    fn drafts(&self) -> Result<Vec<LiaisonDraft>, StoreError>;

    /// Returns whether a draft was removed.
    fn remove_draft(&self, id: &str) -> Result<bool, StoreError>;

    /// Local records of the layers above (web accounts, the notification
    /// queue): opaque values under keys in named spaces, kept beside the logs
    /// and never replicated. Each layer versions its own values.
    fn put_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    fn record(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError>;

    /// Every record of `space` whose key starts with `prefix`, in key order.
    fn records(&self, space: &str, prefix: &[u8]) -> Result<Vec<Record>, StoreError>;

    /// Returns whether a record was removed.
    fn remove_record(&self, space: &str, key: &[u8]) -> Result<bool, StoreError>;

    /// Every record of every space, as (space, key, value), in (space, key)
    /// order: what a move to another backend (`comity store migrate`) copies.
    fn all_records(&self) -> Result<Vec<SpacedRecord>, StoreError>;

    /// Adds or replaces a pinned peer.
    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError>;

    /// Returns whether a peer was removed.
    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError>;

    /// Every pinned peer, in org id order.
    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError>;
}

/// Everything a node keeps, as one object-safe trait: a backend implements
/// the four parts, and `dyn Store` reaches all of them.
pub trait Store: LogStore + IndexStore + BlobStore + LocalStore {}

impl<T: LogStore + IndexStore + BlobStore + LocalStore> Store for T {}

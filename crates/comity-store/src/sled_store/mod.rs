//! The embedded default [`Store`]: one sled directory.
//!
//! Why this layout:
//!
//! - Every key that holds a number holds it big-endian, so that sled's byte
//!   order is numeric order and `entries_after` is one range scan.
//! - Keys that start with an origin put a `0x00` after it. Org ids never
//!   contain one, so `itu` and `itu-t` can never be confused in a scan; uuids
//!   in keys are followed by `0x00` too (a uuid holding one is never indexed).
//! - Stored values that may change shape start with a one-byte record
//!   version, so a later build can migrate them row by row; the `meta` tree
//!   holds the schema version of the whole store.
//! - An append writes entry, head, arrival and index rows in one
//!   transaction over those trees and re-checks its preconditions there, so a
//!   crash leaves the whole entry or none of it, and two writers cannot both
//!   extend one head. A batch is one transaction too (group commit): all of
//!   it or none of it.
//! - The derived trees (marked *derived*) can be dropped and rebuilt from the
//!   logs at any time: [`Store::rebuild_indexes`] walks `arrivals`, so the
//!   rebuilt indexes are exactly those written incrementally. `meta` records
//!   the [`INDEX_VERSION`] they were written with; opening a store whose
//!   indexes have another version (or none), or whose arrivals do not count
//!   every entry (a store from before arrivals were kept), rebuilds them.
//!
//! | tree            | key                                 | value                                 |
//! |-----------------|-------------------------------------|---------------------------------------|
//! | `meta`          | `schema_version`, `index_version`   | u32                                   |
//! | `meta`          | `arrivals`                          | u64: entries counted in `arrivals`    |
//! | `entries`       | origin `0` seq                      | version, encoded `comity.v1.Entry` (2: length, zstd frame of it) |
//! | `heads`         | origin                              | version, seq, 32-byte header hash     |
//! | `arrivals`      | arrival number (from 1)             | origin `0` seq                        |
//! | `documents`     | kind origin `0` uuid                | seq of the latest readable revision, then the seq of every revision (*derived*) |
//! | `profiles`      | origin                              | seq of the latest readable profile (*derived*) |
//! | `responses`     | c-origin `0` c-uuid `0` origin `0` seq | empty (*derived*)                  |
//! | `replies`       | l-origin `0` l-uuid `0` origin `0` uuid | seq of the replying revision (*derived*) |
//! | `receipts`      | l-origin `0` l-uuid `0` arrival     | origin `0` seq (*derived*)            |
//! | `recipients`    | org `0` origin `0` uuid             | seq of the addressing revision (*derived*) |
//! | `keys`          | origin                              | version, seq, 32-byte new key (*derived*) |
//! | `merkle`        | origin                              | the origin's compact range: size, hashes (*derived*) |
//! | `attachments`   | BLAKE3 hash, origin `0` seq         | empty: that entry names the blob (*derived*) |
//! | `equivocations` | origin `0` seq                      | version, JSON [`Equivocation`]        |
//! | `frozen`        | origin                              | empty                                 |
//! | `peers`         | org                                 | version, JSON [`PeerRecord`]          |
//! | `blobs`         | BLAKE3 hash                         | the content                           |
//! | `partial_blobs` | hash offset                         | the chunk received at that offset     |
//! | `drafts`        | draft id                            | version, JSON [`LiaisonDraft`]        |
//!
//! `kind` is one byte ([`rules::kind_tag`]). Rows of `replies` and
//! `recipients` count only while they came from the document's latest
//! revision ([`rules::is_current`]): a revision that drops a recipient leaves
//! a stale row that queries skip. Builds before [`INDEX_VERSION`] 1 kept a
//! `consultations` tree; a rebuild drops it.
//!
//! sled makes writes durable only when it flushes (every `flush_every_ms`, or
//! on [`Store::flush`]); see STACK-NOTES "sled gotchas".

mod encoding;
mod transactions;

use crate::rules;
use crate::{
    Appended, BlobStore, DocumentRef, EntryPos, Equivocation, INDEX_VERSION, IndexStore,
    LiaisonDraft, LocalStore, LogStore, PeerRecord, SCHEMA_VERSION, StoreError,
};
use comity_core::merkle::{CompactRange, leaf_hash};
use comity_core::{EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry};
use encoding::*;
use sled::{Transactional, Tree};
use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use transactions::{AppendTx, IndexTx, IndexWrites, Prepared, from_tx};

/// Entries re-indexed per transaction by a rebuild.
const REBUILD_CHUNK: usize = 512;

/// How to open a [`SledStore`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SledOptions {
    /// sled's page cache. Its own default (1 GiB) is far too large for the
    /// small machines Comity runs on.
    pub cache_capacity_bytes: u64,
    /// Background flush period; `None` flushes only on [`Store::flush`].
    pub flush_every_ms: Option<u64>,
    /// Keep each origin's Merkle tree (the default). Off only for a
    /// benchmark's baseline: [`Store::tree`] is then `None`, and a store
    /// opened with it on again derives its trees anew.
    pub merkle: bool,
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 16 * 1024 * 1024,
            flush_every_ms: Some(500),
            merkle: true,
        }
    }
}

/// A [`Store`] in one sled directory. Only one may be open per path per process
/// (sled locks the directory).
#[derive(Debug, Clone)]
pub struct SledStore {
    db: sled::Db,
    trees: Trees,
    /// Appends share it; a rebuild of the indexes holds it alone.
    gate: Arc<RwLock<()>>,
    /// Serialises writes to partial downloads and their completion.
    blob_lock: Arc<Mutex<()>>,
    /// Whether appends keep the Merkle trees ([`SledOptions::merkle`]).
    merkle: bool,
}

#[derive(Debug, Clone)]
struct Trees {
    meta: Tree,
    entries: Tree,
    heads: Tree,
    arrivals: Tree,
    documents: Tree,
    profiles: Tree,
    responses: Tree,
    replies: Tree,
    receipts: Tree,
    recipients: Tree,
    keys: Tree,
    attachments: Tree,
    merkle: Tree,
    equivocations: Tree,
    frozen: Tree,
    peers: Tree,
    blobs: Tree,
    partial_blobs: Tree,
    drafts: Tree,
    records: Tree,
}

/// The tree older builds kept consultations in; dropped by a rebuild.
const LEGACY_CONSULTATIONS: &str = "consultations";
/// The tree stores before schema 2 kept entry ids in; dropped by [`migrate`].
const LEGACY_IDS: &str = "ids";
/// The tree stores before schema 2 kept each revision of a document in,
/// one row each (now a list in its `documents` row); dropped by a rebuild.
const LEGACY_REVISIONS: &str = "revisions";

impl Trees {
    fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            meta: db.open_tree("meta")?,
            entries: db.open_tree("entries")?,
            heads: db.open_tree("heads")?,
            arrivals: db.open_tree("arrivals")?,
            documents: db.open_tree("documents")?,
            profiles: db.open_tree("profiles")?,
            responses: db.open_tree("responses")?,
            replies: db.open_tree("replies")?,
            receipts: db.open_tree("receipts")?,
            recipients: db.open_tree("recipients")?,
            keys: db.open_tree("keys")?,
            attachments: db.open_tree("attachments")?,
            merkle: db.open_tree("merkle")?,
            equivocations: db.open_tree("equivocations")?,
            frozen: db.open_tree("frozen")?,
            peers: db.open_tree("peers")?,
            blobs: db.open_tree("blobs")?,
            partial_blobs: db.open_tree("partial_blobs")?,
            drafts: db.open_tree("drafts")?,
            records: db.open_tree("records")?,
        })
    }

    /// Every tree derived from the entries, which a rebuild drops.
    fn derived(&self) -> [&Tree; 8] {
        [
            &self.documents,
            &self.profiles,
            &self.responses,
            &self.replies,
            &self.receipts,
            &self.recipients,
            &self.keys,
            &self.attachments,
        ]
    }
}

impl SledStore {
    /// Opens (or creates) the store in the directory `path`.
    pub fn open(path: &Path, opts: SledOptions) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_capacity_bytes)
            .flush_every_ms(opts.flush_every_ms);
        Self::from_db_with(open_waiting_for_lock(&config)?, opts.merkle)
    }

    /// A store in a temporary directory, removed when the store is dropped.
    pub fn temporary() -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .temporary(true)
            .cache_capacity(SledOptions::default().cache_capacity_bytes);
        Self::from_db(config.open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        Self::from_db_with(db, true)
    }

    fn from_db_with(db: sled::Db, merkle: bool) -> Result<Self, StoreError> {
        check_schema(&db)?;
        let trees = Trees::open(&db)?;
        let store = Self {
            db,
            trees,
            gate: Arc::default(),
            blob_lock: Arc::default(),
            merkle,
        };
        if !merkle {
            // Appends from now on leave the trees behind: say so durably,
            // so that a later open with trees derives them again.
            store.trees.meta.insert(MERKLE_OFF_KEY, &[1u8])?;
            store.trees.meta.flush()?;
        } else if store.trees.meta.get(MERKLE_OFF_KEY)?.is_some() {
            tracing::info!("the store was used without Merkle trees; deriving them again");
            store.rebuild_trees()?;
            store.trees.meta.remove(MERKLE_OFF_KEY)?;
            store.trees.meta.flush()?;
        }
        if let Some(reason) = store.stale_indexes()? {
            tracing::info!(reason, "store indexes are out of date; rebuilding them");
            store.rebuild_indexes()?;
        }
        Ok(store)
    }

    /// The space the store takes on disk, in bytes, for monitoring.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
    }

    /// Why the indexes must be rebuilt at open, if they must.
    fn stale_indexes(&self) -> Result<Option<&'static str>, StoreError> {
        let version = match self.trees.meta.get(INDEX_KEY)? {
            Some(bytes) => Some(u32::from_be_bytes(fixed(&bytes, "index version")?)),
            None => None,
        };
        if version.is_none() {
            return Ok(Some("no index version recorded"));
        }
        if version != Some(INDEX_VERSION) {
            // Older: this build adds or changes an index. Newer: that build's
            // indexes were not kept up by us, nor will ours be by it.
            return Ok(Some("indexes written by another version"));
        }
        // Logs run from seq 1 without gaps, so the heads count the entries.
        let mut entries = 0u64;
        for (_, head) in self.heads()? {
            entries = entries.saturating_add(head.seq);
        }
        if entries != self.arrival_count()? {
            return Ok(Some("entries appended without an arrival record"));
        }
        Ok(None)
    }

    fn arrival_count(&self) -> Result<u64, StoreError> {
        self.trees
            .meta
            .get(ARRIVALS_KEY)?
            .map_or(Ok(0), |bytes| parse_u64(&bytes, "arrival count"))
    }
}

/// Stamps a new store with [`SCHEMA_VERSION`] (durably), refuses one
/// written by a newer build, and migrates one written by an older build
/// ([`migrate`]).
fn check_schema(db: &sled::Db) -> Result<(), StoreError> {
    let meta = db.open_tree("meta")?;
    match meta.get(SCHEMA_KEY)? {
        Some(bytes) => {
            let found = u32::from_be_bytes(fixed(&bytes, "schema version")?);
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew {
                    found,
                    supported: SCHEMA_VERSION,
                });
            }
            if found < SCHEMA_VERSION {
                migrate(db, &meta, found)?;
            }
            Ok(())
        }
        None => {
            meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
            meta.flush()?;
            Ok(())
        }
    }
}

/// Brings a store of schema `from` to [`SCHEMA_VERSION`], at open, before
/// anything else reads it. Each step may run again after a crash.
///
/// - 1 → 2: fewer rows written at random places per entry (their keys are
///   hashes or uuids), which cost a follower most of its memory and disk
///   per entry held (BENCHMARKS.md, "The store's floor"). The `ids` tree
///   (entry id → position) is dropped: nothing read it but an unused
///   lookup. A document's revisions move from one `revisions` row each into
///   its `documents` row: the index version is cleared, so the indexes are
///   rebuilt right after, and the rebuild drops `revisions`.
/// - 2 → 3: entries are kept zstd-compressed when that saves a sixteenth of
///   them or more ([`RECORD_ZSTD`]): about half of a text's bytes on
///   disk (BENCHMARKS.md, "Entries compressed"). Rows written before stay
///   as they are and are still read, so nothing is rewritten; the version
///   is raised so that a build before refuses the store at open rather
///   than meet a row it cannot read.
fn migrate(db: &sled::Db, meta: &Tree, from: u32) -> Result<(), StoreError> {
    if from < 2 {
        if db.drop_tree(LEGACY_IDS)? {
            tracing::info!("dropped the ids tree that stores before schema 2 kept");
        }
        meta.remove(INDEX_KEY)?;
    }
    meta.insert(SCHEMA_KEY, &SCHEMA_VERSION.to_be_bytes())?;
    db.flush()?;
    tracing::info!(from, to = SCHEMA_VERSION, "store schema migrated");
    Ok(())
}

impl SledStore {
    /// The trees an append writes, in the order [`AppendTx::new`] expects.
    fn append_trees(&self) -> Vec<&Tree> {
        let t = &self.trees;
        let mut trees = vec![
            &t.entries,
            &t.heads,
            &t.frozen,
            &t.meta,
            &t.arrivals,
            &t.merkle,
        ];
        trees.extend(t.derived());
        trees
    }

    /// One transaction for the whole batch: returns how many entries were new.
    fn append_all(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        let prepared: Vec<Prepared<'_>> = entries.iter().map(Prepared::new).collect();
        let _gate = self.gate.read().map_err(|_| poisoned())?;
        self.append_trees()[..]
            .transaction(|views| {
                let tx = AppendTx::new(views, self.merkle)?;
                let mut new = 0;
                for p in &prepared {
                    if tx.append(p)? == Appended::New {
                        new += 1;
                    }
                }
                Ok(new)
            })
            .map_err(from_tx)
    }

    fn entry_at(&self, key: &[u8]) -> Result<Option<SignedEntry>, StoreError> {
        self.trees
            .entries
            .get(key)?
            .map(|bytes| decode_entry(&bytes))
            .transpose()
    }

    /// Gives an arrival number to every entry without one (entries appended
    /// by a build that kept no arrivals), after those that have one, in
    /// (origin, seq) order: the true order across origins is not known.
    fn backfill_arrivals(&self) -> Result<(), StoreError> {
        let t = &self.trees;
        let mut recorded = BTreeSet::new();
        for row in t.arrivals.iter().values() {
            recorded.insert(row?);
        }
        let mut last = match t.arrivals.last()? {
            Some((key, _)) => parse_u64(&key, "arrival")?,
            None => 0,
        };
        let mut batch = sled::Batch::default();
        let mut added = 0u64;
        for key in t.entries.iter().keys() {
            let key = key?;
            if !recorded.contains(&key) {
                last += 1;
                added += 1;
                batch.insert(&last.to_be_bytes(), key);
            }
        }
        t.arrivals.apply_batch(batch)?;
        t.meta.insert(ARRIVALS_KEY, &last.to_be_bytes())?;
        if added > 0 {
            tracing::info!(
                entries = added,
                "recorded the arrival of entries kept by an older build, in (origin, seq) order"
            );
        }
        Ok(())
    }

    /// Derives every origin's Merkle tree again from its entries (in
    /// `entries` key order: origin, then seq).
    fn rebuild_trees(&self) -> Result<(), StoreError> {
        let t = &self.trees;
        t.merkle.clear()?;
        let mut current: Option<(OrgId, CompactRange)> = None;
        let mut batch = sled::Batch::default();
        for row in t.entries.iter().values() {
            let entry = decode_entry(&row?)?;
            match &mut current {
                Some((origin, range)) if origin == entry.origin() => {
                    range.append(leaf_hash(entry.header_bytes()));
                }
                _ => {
                    if let Some((origin, range)) = current.take() {
                        batch.insert(origin.as_str().as_bytes(), range.to_bytes());
                    }
                    let mut range = CompactRange::new();
                    range.append(leaf_hash(entry.header_bytes()));
                    current = Some((entry.origin().clone(), range));
                }
            }
        }
        if let Some((origin, range)) = current {
            batch.insert(origin.as_str().as_bytes(), range.to_bytes());
        }
        t.merkle.apply_batch(batch)?;
        Ok(())
    }

    /// Writes the index rows of `chunk` (arrival, entry) in one transaction.
    fn index_chunk(&self, chunk: &[(u64, SignedEntry)]) -> Result<(), StoreError> {
        let writes: Vec<(u64, IndexWrites)> = chunk
            .iter()
            .map(|(arrival, entry)| (*arrival, IndexWrites::of(entry)))
            .collect();
        self.trees.derived()[..]
            .transaction(|views| {
                let tx = IndexTx::new(views)?;
                for (arrival, w) in &writes {
                    tx.write(w, *arrival)?;
                }
                Ok(())
            })
            .map_err(from_tx)
    }

    /// The liaison statements among `rows` (`origin 0 uuid` after `prefix`
    /// → seq of the revision that wrote the row) whose row is current.
    fn current_liaisons(&self, tree: &Tree, prefix: &[u8]) -> Result<Vec<DocumentRef>, StoreError> {
        let mut out = Vec::new();
        for row in tree.scan_prefix(prefix) {
            let (key, value) = row?;
            let doc = parse_doc(&key[prefix.len()..], parse_u64(&value, "row seq")?)?;
            let latest = self.document(EntryKind::Liaison, &doc.origin, &doc.uuid)?;
            if rules::is_current(doc.seq, latest) {
                out.push(doc);
            }
        }
        Ok(out)
    }

    fn lock_blobs(&self) -> Result<MutexGuard<'_, ()>, StoreError> {
        self.blob_lock.lock().map_err(|_| poisoned())
    }

    /// The chunk keys of a partial download, and its bytes so far.
    fn partial(&self, hash: &Hash) -> Result<(Vec<sled::IVec>, Vec<u8>), StoreError> {
        let mut keys = Vec::new();
        let mut bytes = Vec::new();
        for row in self.trees.partial_blobs.scan_prefix(hash.as_bytes()) {
            let (key, chunk) = row?;
            keys.push(key);
            bytes.extend_from_slice(&chunk);
        }
        Ok((keys, bytes))
    }

    fn discard_partial(&self, keys: &[sled::IVec]) -> Result<(), StoreError> {
        let mut batch = sled::Batch::default();
        for key in keys {
            batch.remove(key.clone());
        }
        self.trees.partial_blobs.apply_batch(batch)?;
        Ok(())
    }
}

impl LogStore for SledStore {
    fn append(&self, entry: &SignedEntry) -> Result<Appended, StoreError> {
        Ok(match self.append_all(std::slice::from_ref(entry))? {
            0 => Appended::AlreadyHeld,
            _ => Appended::New,
        })
    }

    fn append_batch(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        if entries.is_empty() {
            return Ok(0);
        }
        self.append_all(entries)
    }

    fn fill_payload(&self, entry: &SignedEntry) -> Result<bool, StoreError> {
        if entry.is_redacted() {
            return Ok(false);
        }
        let key = entry_key(entry.origin(), entry.seq());
        let fillable = self
            .entry_at(&key)?
            .is_some_and(|held| held.id() == entry.id() && held.is_redacted());
        if !fillable {
            return Ok(false);
        }
        let _gate = self.gate.read().map_err(|_| poisoned())?;
        // The entry's own arrival keeps receipts in the order they came.
        let mut arrival = None;
        for row in self.trees.arrivals.iter() {
            let (number, held) = row?;
            if held.as_ref() == key.as_slice() {
                arrival = Some(parse_u64(&number, "arrival")?);
                break;
            }
        }
        let arrival = arrival.ok_or_else(|| corrupt("arrival", "no arrival for a held entry"))?;
        // Index first, then the payload: a crash in between leaves a stub
        // that the next copy fills again (indexing is idempotent).
        self.index_chunk(&[(arrival, entry.clone())])?;
        self.trees.entries.insert(key, encode_entry(entry))?;
        Ok(true)
    }

    fn tree(&self, origin: &OrgId) -> Result<Option<CompactRange>, StoreError> {
        if !self.merkle {
            return Ok(None);
        }
        self.trees
            .merkle
            .get(origin.as_str())?
            .map(|bytes| CompactRange::from_bytes(&bytes).map_err(|e| corrupt("merkle", e)))
            .transpose()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }

    fn head(&self, origin: &OrgId) -> Result<Option<Head>, StoreError> {
        self.trees
            .heads
            .get(origin.as_str())?
            .map(|bytes| decode_head(&bytes))
            .transpose()
    }

    fn heads(&self) -> Result<Vec<(OrgId, Head)>, StoreError> {
        self.trees
            .heads
            .iter()
            .map(|row| {
                let (key, value) = row?;
                Ok((parse_origin(&key)?, decode_head(&value)?))
            })
            .collect()
    }

    fn entry(&self, origin: &OrgId, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        self.entry_at(&entry_key(origin, seq))
    }

    fn entries_after(
        &self,
        origin: &OrgId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        let range = (
            Bound::Excluded(entry_key(origin, after_seq)),
            Bound::Included(entry_key(origin, u64::MAX)),
        );
        self.trees
            .entries
            .range(range)
            .take(limit)
            .map(|row| decode_entry(&row?.1))
            .collect()
    }

    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError> {
        let key = entry_key(&evidence.origin, evidence.seq);
        let value = encode_json(evidence)?;
        let origin = evidence.origin.as_str();
        let t = &self.trees;
        (&t.equivocations, &t.frozen)
            .transaction(|(equivocations, frozen)| {
                // The first evidence for a seq is kept; it is as good as any.
                if equivocations.get(&key[..])?.is_none() {
                    equivocations.insert(&key[..], &value[..])?;
                }
                frozen.insert(origin, &[][..])?;
                Ok(())
            })
            .map_err(from_tx)
    }

    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError> {
        self.trees
            .equivocations
            .iter()
            .map(|row| decode_json(&row?.1, "equivocation"))
            .collect()
    }

    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError> {
        Ok(self.trees.frozen.contains_key(origin.as_str())?)
    }
}

impl IndexStore for SledStore {
    fn documents(&self, kind: EntryKind) -> Result<Vec<DocumentRef>, StoreError> {
        self.trees
            .documents
            .scan_prefix([rules::kind_tag(kind)])
            .map(|row| {
                let (key, value) = row?;
                parse_doc(&key[1..], decode_document(&value)?.latest)
            })
            .collect()
    }

    fn document(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<u64>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(None);
        }
        self.trees
            .documents
            .get(doc_key(kind, origin, uuid))?
            .map(|bytes| Ok(decode_document(&bytes)?.latest))
            .transpose()
    }

    fn document_revisions(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Vec<u64>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(Vec::new());
        }
        match self.trees.documents.get(doc_key(kind, origin, uuid))? {
            Some(bytes) => Ok(decode_document(&bytes)?.revisions),
            None => Ok(Vec::new()),
        }
    }

    fn responses_to(
        &self,
        consultation_origin: &OrgId,
        consultation_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        if !rules::key_safe(consultation_uuid) {
            return Ok(Vec::new());
        }
        let prefix = ref_prefix(consultation_origin, consultation_uuid);
        self.trees
            .responses
            .scan_prefix(&prefix)
            .keys()
            .map(|key| parse_pos(&key?[prefix.len()..]))
            .collect()
    }

    fn liaison_replies(&self, origin: &OrgId, uuid: &str) -> Result<Vec<DocumentRef>, StoreError> {
        if !rules::key_safe(uuid) {
            return Ok(Vec::new());
        }
        self.current_liaisons(&self.trees.replies, &ref_prefix(origin, uuid))
    }

    fn receipts_for(
        &self,
        liaison_origin: &OrgId,
        liaison_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        if !rules::key_safe(liaison_uuid) {
            return Ok(Vec::new());
        }
        self.trees
            .receipts
            .scan_prefix(ref_prefix(liaison_origin, liaison_uuid))
            .values()
            .map(|value| parse_pos(&value?))
            .collect()
    }

    fn liaisons_addressed_to(&self, org: &OrgId) -> Result<Vec<DocumentRef>, StoreError> {
        self.current_liaisons(&self.trees.recipients, &origin_key(org, &[]))
    }

    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        self.trees
            .profiles
            .get(origin.as_str())?
            .map(|bytes| parse_u64(&bytes, "profile seq"))
            .transpose()
    }

    fn current_key(&self, origin: &OrgId) -> Result<Option<(u64, PublicKey)>, StoreError> {
        self.trees
            .keys
            .get(origin.as_str())?
            .map(|bytes| decode_key(&bytes))
            .transpose()
    }

    fn entries_naming_blob(&self, hash: &Hash) -> Result<Vec<EntryPos>, StoreError> {
        self.trees
            .attachments
            .scan_prefix(hash.as_bytes())
            .keys()
            .map(|key| parse_pos(&key?[32..]))
            .collect()
    }

    fn rebuild_indexes(&self) -> Result<(), StoreError> {
        let _gate = self.gate.write().map_err(|_| poisoned())?;
        let t = &self.trees;
        // Unstamped first, durably: a crash part-way rebuilds again at open.
        t.meta.remove(INDEX_KEY)?;
        t.meta.flush()?;
        for tree in t.derived() {
            tree.clear()?;
        }
        self.db.drop_tree(LEGACY_CONSULTATIONS)?;
        self.db.drop_tree(LEGACY_REVISIONS)?;
        self.backfill_arrivals()?;
        let mut indexed = 0usize;
        let mut chunk = Vec::with_capacity(REBUILD_CHUNK);
        for row in t.arrivals.iter() {
            let (arrival, key) = row?;
            let entry = self
                .entry_at(&key)?
                .ok_or_else(|| corrupt("arrival", "names an entry not held"))?;
            chunk.push((parse_u64(&arrival, "arrival")?, entry));
            if chunk.len() == REBUILD_CHUNK {
                self.index_chunk(&chunk)?;
                indexed += chunk.len();
                chunk.clear();
            }
        }
        self.index_chunk(&chunk)?;
        indexed += chunk.len();
        self.rebuild_trees()?;
        t.meta.insert(INDEX_KEY, &INDEX_VERSION.to_be_bytes())?;
        self.db.flush()?;
        tracing::info!(
            entries = indexed,
            index_version = INDEX_VERSION,
            "rebuilt the store indexes from the logs"
        );
        Ok(())
    }
}

impl BlobStore for SledStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        if !self.trees.blobs.contains_key(hash.as_bytes())? {
            self.trees.blobs.insert(hash.as_bytes(), bytes)?;
        }
        Ok(hash)
    }

    fn blob(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.trees.blobs.get(hash.as_bytes())?.map(|b| b.to_vec()))
    }

    fn blob_size(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self
            .trees
            .blobs
            .get(hash.as_bytes())?
            .map(|b| b.len() as u64))
    }

    fn read_blob(
        &self,
        hash: &Hash,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .trees
            .blobs
            .get(hash.as_bytes())?
            .map(|b| rules::blob_range(&b, offset, max_len).to_vec()))
    }

    fn append_partial_blob(
        &self,
        hash: &Hash,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StoreError> {
        let _lock = self.lock_blobs()?;
        let held = self.partial_blob_len(hash)?;
        if offset != held {
            return Err(StoreError::BlobOffset {
                expected: held,
                got: offset,
            });
        }
        if !chunk.is_empty() {
            self.trees
                .partial_blobs
                .insert(partial_key(hash, offset), chunk)?;
        }
        Ok(held + chunk.len() as u64)
    }

    fn blob_hashes(&self) -> Result<Vec<Hash>, StoreError> {
        self.trees
            .blobs
            .iter()
            .keys()
            .map(|key| Hash::from_slice(&key?).ok_or_else(|| corrupt("blob", "key is not a hash")))
            .collect()
    }

    fn partial_blob_len(&self, hash: &Hash) -> Result<u64, StoreError> {
        match self
            .trees
            .partial_blobs
            .scan_prefix(hash.as_bytes())
            .next_back()
        {
            Some(row) => {
                let (key, chunk) = row?;
                let offset = parse_u64(&key[32..], "partial blob offset")?;
                Ok(offset + chunk.len() as u64)
            }
            None => Ok(0),
        }
    }

    fn discard_partial_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        let _lock = self.lock_blobs()?;
        let keys = self
            .trees
            .partial_blobs
            .scan_prefix(hash.as_bytes())
            .keys()
            .collect::<Result<Vec<_>, _>>()?;
        self.discard_partial(&keys)
    }

    fn finish_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        let _lock = self.lock_blobs()?;
        let (keys, bytes) = self.partial(hash)?;
        if self.trees.blobs.contains_key(hash.as_bytes())? {
            return self.discard_partial(&keys);
        }
        if let Err(e) = rules::check_blob(hash, &bytes) {
            self.discard_partial(&keys)?;
            return Err(e);
        }
        let t = &self.trees;
        (&t.blobs, &t.partial_blobs)
            .transaction(|(blobs, partials)| {
                blobs.insert(hash.as_bytes(), &bytes[..])?;
                for key in &keys {
                    partials.remove(key)?;
                }
                Ok(())
            })
            .map_err(from_tx)
    }
}

impl LocalStore for SledStore {
    fn put_draft(&self, draft: &LiaisonDraft) -> Result<(), StoreError> {
        self.trees
            .drafts
            .insert(draft.id.as_bytes(), encode_json(draft)?)?;
        Ok(())
    }

    fn draft(&self, id: &str) -> Result<Option<LiaisonDraft>, StoreError> {
        self.trees
            .drafts
            .get(id.as_bytes())?
            .map(|bytes| decode_json(&bytes, "draft"))
            .transpose()
    }

    fn drafts(&self) -> Result<Vec<LiaisonDraft>, StoreError> {
        self.trees
            .drafts
            .iter()
            .values()
            .map(|value| decode_json(&value?, "draft"))
            .collect()
    }

    fn remove_draft(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.trees.drafts.remove(id.as_bytes())?.is_some())
    }

    fn put_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.trees.records.insert(record_key(space, key), value)?;
        Ok(())
    }

    fn record(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .trees
            .records
            .get(record_key(space, key))?
            .map(|v| v.to_vec()))
    }

    fn records(&self, space: &str, prefix: &[u8]) -> Result<Vec<crate::Record>, StoreError> {
        let start = record_key(space, &[]).len();
        self.trees
            .records
            .scan_prefix(record_key(space, prefix))
            .map(|kv| {
                let (k, v) = kv?;
                Ok((k[start..].to_vec(), v.to_vec()))
            })
            .collect()
    }

    fn remove_record(&self, space: &str, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.trees.records.remove(record_key(space, key))?.is_some())
    }

    fn all_records(&self) -> Result<Vec<crate::SpacedRecord>, StoreError> {
        self.trees
            .records
            .iter()
            .map(|row| {
                let (key, value) = row?;
                let at = key
                    .iter()
                    .position(|b| *b == 0)
                    .ok_or_else(|| corrupt("record", "no space separator"))?;
                let space = parse_text(&key[..at], "record space")?;
                Ok((space, key[at + 1..].to_vec(), value.to_vec()))
            })
            .collect()
    }

    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        self.trees
            .peers
            .insert(peer.org.as_str(), encode_json(peer)?)?;
        Ok(())
    }

    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError> {
        Ok(self.trees.peers.remove(org.as_str())?.is_some())
    }

    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.trees
            .peers
            .iter()
            .map(|row| decode_json(&row?.1, "peer"))
            .collect()
    }
}

/// How long to wait for a directory lock that a closing handle still holds.
const LOCK_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Opens the database, waiting a little while its lock is held: sled's
/// threads may keep a just-dropped handle (of this process) alive for a
/// moment. A lock another running process holds is still an error after
/// [`LOCK_WAIT`].
fn open_waiting_for_lock(config: &sled::Config) -> Result<sled::Db, StoreError> {
    let start = std::time::Instant::now();
    loop {
        match config.open() {
            Err(sled::Error::Io(e))
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock") =>
            {
                if start.elapsed() >= LOCK_WAIT {
                    return Err(StoreError::Backend(format!("IO error: {e}")));
                }
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            other => return Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests;

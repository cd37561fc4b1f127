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
//! - An append writes entry, head, id, arrival and index rows in one
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
//! | `entries`       | origin `0` seq                      | version, encoded `comity.v1.Entry`    |
//! | `heads`         | origin                              | version, seq, 32-byte header hash     |
//! | `ids`           | entry id                            | origin `0` seq                        |
//! | `arrivals`      | arrival number (from 1)             | origin `0` seq                        |
//! | `documents`     | kind origin `0` uuid                | seq of the latest readable revision (*derived*) |
//! | `revisions`     | kind origin `0` uuid `0` seq        | empty (*derived*)                     |
//! | `profiles`      | origin                              | seq of the latest readable profile (*derived*) |
//! | `responses`     | c-origin `0` c-uuid `0` origin `0` seq | empty (*derived*)                  |
//! | `replies`       | l-origin `0` l-uuid `0` origin `0` uuid | seq of the replying revision (*derived*) |
//! | `receipts`      | l-origin `0` l-uuid `0` arrival     | origin `0` seq (*derived*)            |
//! | `recipients`    | org `0` origin `0` uuid             | seq of the addressing revision (*derived*) |
//! | `keys`          | origin                              | version, seq, 32-byte new key (*derived*) |
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

use crate::rules::{self, LogState, Target};
use crate::{
    Appended, DocumentRef, EntryPos, Equivocation, INDEX_VERSION, LiaisonDraft, PeerRecord,
    SCHEMA_VERSION, Store, StoreError,
};
use comity_core::{EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry};
use prost::Message;
use serde::{Serialize, de::DeserializeOwned};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::{Transactional, Tree};
use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// The version byte in front of every versioned record this build writes.
const RECORD_V1: u8 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
const INDEX_KEY: &[u8] = b"index_version";
const ARRIVALS_KEY: &[u8] = b"arrivals";
const SEP: u8 = 0;
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
}

impl Default for SledOptions {
    fn default() -> Self {
        Self {
            cache_capacity_bytes: 16 * 1024 * 1024,
            flush_every_ms: Some(500),
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
}

#[derive(Debug, Clone)]
struct Trees {
    meta: Tree,
    entries: Tree,
    heads: Tree,
    ids: Tree,
    arrivals: Tree,
    documents: Tree,
    revisions: Tree,
    profiles: Tree,
    responses: Tree,
    replies: Tree,
    receipts: Tree,
    recipients: Tree,
    keys: Tree,
    attachments: Tree,
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

impl Trees {
    fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            meta: db.open_tree("meta")?,
            entries: db.open_tree("entries")?,
            heads: db.open_tree("heads")?,
            ids: db.open_tree("ids")?,
            arrivals: db.open_tree("arrivals")?,
            documents: db.open_tree("documents")?,
            revisions: db.open_tree("revisions")?,
            profiles: db.open_tree("profiles")?,
            responses: db.open_tree("responses")?,
            replies: db.open_tree("replies")?,
            receipts: db.open_tree("receipts")?,
            recipients: db.open_tree("recipients")?,
            keys: db.open_tree("keys")?,
            attachments: db.open_tree("attachments")?,
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
    fn derived(&self) -> [&Tree; 9] {
        [
            &self.documents,
            &self.revisions,
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
        Self::from_db(open_waiting_for_lock(&config)?)
    }

    /// A store in a temporary directory, removed when the store is dropped.
    pub fn temporary() -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .temporary(true)
            .cache_capacity(SledOptions::default().cache_capacity_bytes);
        Self::from_db(config.open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        check_schema(&db.open_tree("meta")?)?;
        let trees = Trees::open(&db)?;
        let store = Self {
            db,
            trees,
            gate: Arc::default(),
            blob_lock: Arc::default(),
        };
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

/// Stamps a new store with [`SCHEMA_VERSION`] (durably), and refuses one
/// written by a newer build. Older versions would be migrated here; version 1
/// is the first.
fn check_schema(meta: &Tree) -> Result<(), StoreError> {
    match meta.get(SCHEMA_KEY)? {
        Some(bytes) => {
            let found = u32::from_be_bytes(fixed(&bytes, "schema version")?);
            if found > SCHEMA_VERSION {
                return Err(StoreError::SchemaTooNew { found });
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

// ---------------------------------------------------------------- encoding

fn origin_key(origin: &OrgId, rest: &[u8]) -> Vec<u8> {
    let mut key = Vec::with_capacity(origin.as_str().len() + 1 + rest.len());
    key.extend_from_slice(origin.as_str().as_bytes());
    key.push(SEP);
    key.extend_from_slice(rest);
    key
}

fn entry_key(origin: &OrgId, seq: u64) -> Vec<u8> {
    origin_key(origin, &seq.to_be_bytes())
}

fn corrupt(what: &str, detail: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {detail}"))
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StoreError> {
    bytes
        .try_into()
        .map_err(|_| corrupt(what, format!("{} bytes, expected {N}", bytes.len())))
}

fn parse_origin(bytes: &[u8]) -> Result<OrgId, StoreError> {
    let text = std::str::from_utf8(bytes).map_err(|e| corrupt("origin key", e))?;
    OrgId::new(text).map_err(|e| corrupt("origin key", e))
}

/// Splits `origin 0 rest`.
fn split_origin_key(key: &[u8]) -> Result<(OrgId, &[u8]), StoreError> {
    let at = key
        .iter()
        .position(|b| *b == SEP)
        .ok_or_else(|| corrupt("key", "no origin separator"))?;
    Ok((parse_origin(&key[..at])?, &key[at + 1..]))
}

fn parse_u64(bytes: &[u8], what: &str) -> Result<u64, StoreError> {
    Ok(u64::from_be_bytes(fixed(bytes, what)?))
}

/// Strips and checks the record version byte.
fn unversion<'a>(bytes: &'a [u8], what: &str) -> Result<&'a [u8], StoreError> {
    match bytes.split_first() {
        Some((&RECORD_V1, rest)) => Ok(rest),
        Some((v, _)) => Err(corrupt(what, format!("unknown record version {v}"))),
        None => Err(corrupt(what, "empty record")),
    }
}

fn versioned(body: &[u8]) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + body.len());
    value.push(RECORD_V1);
    value.extend_from_slice(body);
    value
}

fn encode_entry(entry: &SignedEntry) -> Vec<u8> {
    versioned(&entry.wire().encode_to_vec())
}

fn decode_entry(bytes: &[u8]) -> Result<SignedEntry, StoreError> {
    SignedEntry::decode_bytes(unversion(bytes, "entry")?).map_err(|e| corrupt("entry", e))
}

fn encode_head(head: Head) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 8 + 32);
    value.push(RECORD_V1);
    value.extend_from_slice(&head.seq.to_be_bytes());
    value.extend_from_slice(head.hash.as_bytes());
    value
}

fn decode_head(bytes: &[u8]) -> Result<Head, StoreError> {
    let body: [u8; 40] = fixed(unversion(bytes, "head")?, "head")?;
    let (seq, hash) = body.split_at(8);
    Ok(Head {
        seq: parse_u64(seq, "head seq")?,
        hash: Hash(fixed(hash, "head hash")?),
    })
}

fn encode_json<T: Serialize>(record: &T) -> Result<Vec<u8>, StoreError> {
    let body = serde_json::to_vec(record).map_err(|e| StoreError::Backend(e.to_string()))?;
    Ok(versioned(&body))
}

fn decode_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, StoreError> {
    serde_json::from_slice(unversion(bytes, what)?).map_err(|e| corrupt(what, e))
}

fn parse_text(bytes: &[u8], what: &str) -> Result<String, StoreError> {
    String::from_utf8(bytes.to_vec()).map_err(|e| corrupt(what, e))
}

/// `origin 0 uuid 0`: the prefix of every row about one document.
fn ref_prefix(origin: &OrgId, uuid: &str) -> Vec<u8> {
    let mut key = origin_key(origin, uuid.as_bytes());
    key.push(SEP);
    key
}

/// `kind origin 0 uuid`: a document's key in `documents`.
fn doc_key(kind: EntryKind, origin: &OrgId, uuid: &str) -> Vec<u8> {
    let mut key = vec![rules::kind_tag(kind)];
    key.extend_from_slice(&origin_key(origin, uuid.as_bytes()));
    key
}

/// `kind origin 0 uuid 0`: the prefix of a document's rows in `revisions`.
fn revisions_prefix(kind: EntryKind, origin: &OrgId, uuid: &str) -> Vec<u8> {
    let mut key = vec![rules::kind_tag(kind)];
    key.extend_from_slice(&ref_prefix(origin, uuid));
    key
}

/// Parses `origin 0 uuid` into a document reference at `seq`.
fn parse_doc(bytes: &[u8], seq: u64) -> Result<DocumentRef, StoreError> {
    let (origin, uuid) = split_origin_key(bytes)?;
    Ok(DocumentRef {
        origin,
        uuid: parse_text(uuid, "uuid")?,
        seq,
    })
}

/// Parses `origin 0 seq`.
fn parse_pos(bytes: &[u8]) -> Result<EntryPos, StoreError> {
    let (origin, seq) = split_origin_key(bytes)?;
    Ok(EntryPos {
        origin,
        seq: parse_u64(seq, "entry seq")?,
    })
}

fn encode_key(seq: u64, key: &PublicKey) -> Vec<u8> {
    let mut value = Vec::with_capacity(1 + 8 + 32);
    value.push(RECORD_V1);
    value.extend_from_slice(&seq.to_be_bytes());
    value.extend_from_slice(key.as_bytes());
    value
}

fn decode_key(bytes: &[u8]) -> Result<(u64, PublicKey), StoreError> {
    let body: [u8; 40] = fixed(unversion(bytes, "key")?, "key")?;
    let (seq, key) = body.split_at(8);
    let key = PublicKey::from_bytes(key).map_err(|e| corrupt("key", e))?;
    Ok((parse_u64(seq, "key seq")?, key))
}

fn partial_key(hash: &Hash, offset: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(40);
    key.extend_from_slice(hash.as_bytes());
    key.extend_from_slice(&offset.to_be_bytes());
    key
}

fn poisoned() -> StoreError {
    StoreError::Backend("sled store lock poisoned by a panic".into())
}

// ------------------------------------------------------------ transactions

/// The derived trees, in the order of [`Trees::derived`].
#[derive(Debug, Clone, Copy)]
enum Ix {
    Documents = 0,
    Revisions = 1,
    Profiles = 2,
    Responses = 3,
    Replies = 4,
    Receipts = 5,
    Recipients = 6,
    Keys = 7,
    Attachments = 8,
}

/// The index rows of one entry as keys and values ([`rules::index_rows`]
/// laid out in trees). A receipt's key ends with its arrival number, known
/// only inside the append's transaction.
#[derive(Debug, Default)]
struct IndexWrites {
    rows: Vec<(Ix, Vec<u8>, Vec<u8>)>,
    /// The receipt row: key prefix (the arrival number follows) and value.
    receipt: Option<(Vec<u8>, Vec<u8>)>,
}

impl IndexWrites {
    fn of(entry: &SignedEntry) -> Self {
        let origin = entry.origin();
        let seq = entry.seq();
        let seq_bytes = seq.to_be_bytes().to_vec();
        let pos = entry_key(origin, seq);
        let rows = rules::index_rows(entry);
        let mut w = Self::default();
        if rows.profile {
            w.rows.push((
                Ix::Profiles,
                origin.as_str().as_bytes().to_vec(),
                seq_bytes.clone(),
            ));
        }
        if let Some((kind, uuid)) = &rows.document {
            w.rows.push((
                Ix::Documents,
                doc_key(*kind, origin, uuid),
                seq_bytes.clone(),
            ));
            let mut revision = revisions_prefix(*kind, origin, uuid);
            revision.extend_from_slice(&seq_bytes);
            w.rows.push((Ix::Revisions, revision, Vec::new()));
            let this = origin_key(origin, uuid.as_bytes());
            if let Some(Target {
                origin: parent,
                uuid: parent_uuid,
            }) = &rows.replies_to
            {
                let mut key = ref_prefix(parent, parent_uuid);
                key.extend_from_slice(&this);
                w.rows.push((Ix::Replies, key, seq_bytes.clone()));
            }
            for org in &rows.recipients {
                let mut key = origin_key(org, &[]);
                key.extend_from_slice(&this);
                w.rows.push((Ix::Recipients, key, seq_bytes.clone()));
            }
        }
        if let Some(Target { origin: c, uuid }) = &rows.responds_to {
            let mut key = ref_prefix(c, uuid);
            key.extend_from_slice(&pos);
            w.rows.push((Ix::Responses, key, Vec::new()));
        }
        if let Some(Target { origin: l, uuid }) = &rows.receipt_for {
            w.receipt = Some((ref_prefix(l, uuid), pos.clone()));
        }
        if let Some(key) = &rows.new_key {
            w.rows.push((
                Ix::Keys,
                origin.as_str().as_bytes().to_vec(),
                encode_key(seq, key),
            ));
        }
        for hash in &rows.attachments {
            let mut key = hash.as_bytes().to_vec();
            key.extend_from_slice(&pos);
            w.rows.push((Ix::Attachments, key, Vec::new()));
        }
        w
    }
}

/// The derived trees inside one transaction.
struct IndexTx<'t> {
    trees: [&'t TransactionalTree; 9],
}

impl<'t> IndexTx<'t> {
    fn new(views: &'t [TransactionalTree]) -> TxResult<Self> {
        match views {
            [a, b, c, d, e, f, g, h, i] => Ok(Self {
                trees: [a, b, c, d, e, f, g, h, i],
            }),
            _ => abort(StoreError::Backend(format!(
                "index transaction over {} trees, expected 9",
                views.len()
            ))),
        }
    }

    fn write(&self, w: &IndexWrites, arrival: u64) -> TxResult<()> {
        for (ix, key, value) in &w.rows {
            self.trees[*ix as usize].insert(&key[..], &value[..])?;
        }
        if let Some((prefix, value)) = &w.receipt {
            let mut key = prefix.clone();
            key.extend_from_slice(&arrival.to_be_bytes());
            self.trees[Ix::Receipts as usize].insert(key, &value[..])?;
        }
        Ok(())
    }
}

/// Everything written for one entry, computed before the transaction starts:
/// sled may run the transaction closure more than once.
struct Prepared<'a> {
    entry: &'a SignedEntry,
    key: Vec<u8>,
    value: Vec<u8>,
    index: IndexWrites,
}

impl<'a> Prepared<'a> {
    fn new(entry: &'a SignedEntry) -> Self {
        Self {
            entry,
            key: entry_key(entry.origin(), entry.seq()),
            value: encode_entry(entry),
            index: IndexWrites::of(entry),
        }
    }
}

/// The trees an append touches, inside one transaction.
struct AppendTx<'t> {
    entries: &'t TransactionalTree,
    heads: &'t TransactionalTree,
    ids: &'t TransactionalTree,
    frozen: &'t TransactionalTree,
    meta: &'t TransactionalTree,
    arrivals: &'t TransactionalTree,
    index: IndexTx<'t>,
}

type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

fn from_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl<'t> AppendTx<'t> {
    /// `views` are the transaction's trees in the order of [`SledStore::append_trees`].
    fn new(views: &'t [TransactionalTree]) -> TxResult<Self> {
        match views {
            [entries, heads, ids, frozen, meta, arrivals, derived @ ..] => Ok(Self {
                entries,
                heads,
                ids,
                frozen,
                meta,
                arrivals,
                index: IndexTx::new(derived)?,
            }),
            _ => abort(StoreError::Backend(format!(
                "append transaction over {} trees",
                views.len()
            ))),
        }
    }

    /// Reads the log state as this transaction sees it, its own writes
    /// included: that is how a batch tracks its running heads.
    fn log_state(&self, p: &Prepared<'_>) -> TxResult<LogState> {
        let origin = p.entry.origin().as_str();
        let head = match self.heads.get(origin)? {
            Some(bytes) => Some(decode_head(&bytes).or_else(abort)?),
            None => None,
        };
        // An id names one (origin, seq): past the head nothing can be held
        // at it, so the common case (the next entry) skips the lookup.
        let past_head = p.entry.seq() > head.map_or(0, |h| h.seq);
        let already_held =
            !past_head && self.ids.get(p.entry.id().as_bytes())?.as_deref() == Some(&p.key[..]);
        Ok(LogState {
            frozen: self.frozen.get(origin)?.is_some(),
            already_held,
            head,
        })
    }

    fn append(&self, p: &Prepared<'_>) -> TxResult<Appended> {
        let outcome = rules::decide(p.entry, self.log_state(p)?).or_else(abort)?;
        if outcome == Appended::New {
            self.write(p)?;
        }
        Ok(outcome)
    }

    fn write(&self, p: &Prepared<'_>) -> TxResult<()> {
        let origin = p.entry.origin().as_str();
        self.entries.insert(&p.key[..], &p.value[..])?;
        self.heads.insert(origin, encode_head(p.entry.head()))?;
        self.ids.insert(p.entry.id().as_bytes(), &p.key[..])?;
        let arrival = match self.meta.get(ARRIVALS_KEY)? {
            Some(bytes) => parse_u64(&bytes, "arrival count").or_else(abort)?,
            None => 0,
        } + 1;
        self.meta.insert(ARRIVALS_KEY, &arrival.to_be_bytes())?;
        self.arrivals.insert(&arrival.to_be_bytes(), &p.key[..])?;
        self.index.write(&p.index, arrival)
    }
}

impl SledStore {
    /// The trees an append writes, in the order [`AppendTx::new`] expects.
    fn append_trees(&self) -> Vec<&Tree> {
        let t = &self.trees;
        let mut trees = vec![
            &t.entries,
            &t.heads,
            &t.ids,
            &t.frozen,
            &t.meta,
            &t.arrivals,
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
                let tx = AppendTx::new(views)?;
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

impl Store for SledStore {
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

    fn entry_by_id(&self, id: &Hash) -> Result<Option<SignedEntry>, StoreError> {
        match self.trees.ids.get(id.as_bytes())? {
            Some(key) => self.entry_at(&key),
            None => Ok(None),
        }
    }

    fn documents(&self, kind: EntryKind) -> Result<Vec<DocumentRef>, StoreError> {
        self.trees
            .documents
            .scan_prefix([rules::kind_tag(kind)])
            .map(|row| {
                let (key, value) = row?;
                parse_doc(&key[1..], parse_u64(&value, "document seq")?)
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
            .map(|bytes| parse_u64(&bytes, "document seq"))
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
        let prefix = revisions_prefix(kind, origin, uuid);
        self.trees
            .revisions
            .scan_prefix(&prefix)
            .keys()
            .map(|key| parse_u64(&key?[prefix.len()..], "revision seq"))
            .collect()
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
        t.meta.insert(INDEX_KEY, &INDEX_VERSION.to_be_bytes())?;
        self.db.flush()?;
        tracing::info!(
            entries = indexed,
            index_version = INDEX_VERSION,
            "rebuilt the store indexes from the logs"
        );
        Ok(())
    }

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

/// A record's key: its space, NUL, then its own key.
fn record_key(space: &str, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(space.len() + 1 + key.len());
    k.extend_from_slice(space.as_bytes());
    k.push(0);
    k.extend_from_slice(key);
    k
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;
    use crate::testsuite::{self, Author, org};
    use comity_core::verify::verify_chain;
    use std::fs;

    fn no_background_flush() -> SledOptions {
        SledOptions {
            flush_every_ms: None,
            ..SledOptions::default()
        }
    }

    /// Every log held chains from seq 1 to its head under its author's key,
    /// with nothing beyond the head and every entry found by id.
    fn assert_consistent(store: &SledStore, authors: &[&Author]) -> Vec<u64> {
        authors
            .iter()
            .map(|author| {
                let origin = author.origin();
                let entries = store.entries_after(origin, 0, usize::MAX).unwrap();
                let head = verify_chain(&entries, &author.key().public()).unwrap();
                assert_eq!(head, store.head(origin).unwrap(), "{origin}");
                for e in &entries {
                    assert_eq!(store.entry_by_id(&e.id()).unwrap().as_ref(), Some(e));
                }
                head.map_or(0, |h| h.seq)
            })
            .collect()
    }

    fn copy_dir(from: &Path, to: &Path) {
        fs::create_dir_all(to).unwrap();
        for item in fs::read_dir(from).unwrap() {
            let item = item.unwrap();
            let target = to.join(item.file_name());
            if item.file_type().unwrap().is_dir() {
                copy_dir(&item.path(), &target);
            } else {
                fs::copy(item.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn passes_the_shared_suite() {
        testsuite::run_all(&|| Box::new(SledStore::temporary().unwrap()));
    }

    #[test]
    fn defaults_suit_a_small_machine() {
        let opts = SledOptions::default();
        assert_eq!(opts.cache_capacity_bytes, 16 * 1024 * 1024);
        assert_eq!(opts.flush_every_ms, Some(500));
    }

    #[test]
    fn data_survives_flush_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut itu = Author::new("itu");
        let mut ietf = Author::new("ietf");
        let entries = [itu.profile(), itu.consultation(&testsuite::fresh_uuid(), 1)];
        let other = ietf.chain(2);
        let fork = ietf.fork().chain(1);
        let peer = PeerRecord {
            org: org("itu"),
            key: itu.key().public(),
            endpoint: Some("https://comity.itu.int:7400".into()),
            added_at: 1_900_000_000,
            key_since: 3,
        };
        let evidence = Equivocation {
            origin: org("ietf"),
            seq: 1,
            held_header: other[0].header_bytes().to_vec(),
            held_signature: other[0].signature().to_vec(),
            conflicting_header: fork[0].header_bytes().to_vec(),
            conflicting_signature: fork[0].signature().to_vec(),
            reported_by: org("itu"),
            detected_at: 1_900_000_000,
        };
        {
            let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
            assert_eq!(store.append_batch(&entries).unwrap(), 2);
            assert_eq!(store.append_batch(&other).unwrap(), 2);
            store.put_peer(&peer).unwrap();
            store.record_equivocation(&evidence).unwrap();
            store.flush().unwrap();
        }
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        assert_eq!(assert_consistent(&store, &[&itu, &ietf]), vec![2, 2]);
        assert_eq!(store.latest_profile(&org("itu")).unwrap(), Some(1));
        assert_eq!(store.consultations().unwrap().len(), 3);
        assert_eq!(store.peers().unwrap(), vec![peer]);
        assert_eq!(store.equivocations().unwrap(), vec![evidence]);
        assert!(store.is_frozen(&org("ietf")).unwrap());
        assert!(store.size_on_disk().unwrap() > 0);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(SledStore::open(dir.path(), no_background_flush()).unwrap());
        // sled's I/O threads, shared by every store of the process, may hold
        // the dropped store's lock a moment longer: `tamper` waits for it.
        tamper(dir.path(), |_, meta| {
            assert_eq!(
                meta.get(SCHEMA_KEY).unwrap().as_deref(),
                Some(&SCHEMA_VERSION.to_be_bytes()[..]),
                "a new store is stamped with this build's schema"
            );
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
        });
        match SledStore::open(dir.path(), no_background_flush()) {
            Err(StoreError::SchemaTooNew { found }) => assert_eq!(found, SCHEMA_VERSION + 1),
            Err(other) => panic!("expected SchemaTooNew, got {other}"),
            Ok(_) => panic!("a store of a newer schema was opened"),
        }
    }

    /// Opens the directory with sled alone, as another build would, and
    /// hands its trees to `change`.
    fn tamper(dir: &Path, change: impl FnOnce(&sled::Db, &Tree)) {
        let config = sled::Config::new().path(dir).flush_every_ms(None);
        let db = open_waiting_for_lock(&config).unwrap();
        let meta = db.open_tree("meta").unwrap();
        change(&db, &meta);
        db.flush().unwrap();
    }

    fn index_version(dir: &Path) -> Option<Vec<u8>> {
        let mut found = None;
        tamper(dir, |_, meta| {
            found = meta.get(INDEX_KEY).unwrap().map(|v| v.to_vec())
        });
        found
    }

    #[test]
    fn indexes_are_rebuilt_at_open_when_their_version_is_not_ours() {
        let dir = tempfile::tempdir().unwrap();
        let (fixture, before) = {
            let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
            let fixture = testsuite::populate_every_kind(&store);
            let before = testsuite::snapshot(&store, &fixture);
            store.flush().unwrap();
            (fixture, before)
        };
        let stamped = Some(INDEX_VERSION.to_be_bytes().to_vec());
        assert_eq!(index_version(dir.path()), stamped);

        // As a build before index versions left it: no version, indexes
        // missing, and its consultations tree.
        tamper(dir.path(), |db, meta| {
            meta.remove(INDEX_KEY).unwrap();
            for tree in ["documents", "receipts", "recipients", "keys", "attachments"] {
                db.open_tree(tree).unwrap().clear().unwrap();
            }
            let legacy = db.open_tree(LEGACY_CONSULTATIONS).unwrap();
            legacy.insert(b"itu\0stale", &7u64.to_be_bytes()).unwrap();
        });
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        assert_eq!(testsuite::snapshot(&store, &fixture), before);
        assert!(
            !store
                .db
                .tree_names()
                .iter()
                .any(|n| &n[..] == LEGACY_CONSULTATIONS.as_bytes()),
            "the legacy consultations tree is dropped"
        );
        drop(store);
        assert_eq!(index_version(dir.path()), stamped);

        // Written by an older version that lacked an index.
        tamper(dir.path(), |db, meta| {
            meta.insert(INDEX_KEY, &(INDEX_VERSION - 1).to_be_bytes())
                .unwrap();
            db.open_tree("replies").unwrap().clear().unwrap();
        });
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        assert_eq!(testsuite::snapshot(&store, &fixture), before);
        drop(store);
        assert_eq!(index_version(dir.path()), stamped);

        // A store from before arrivals were recorded: they are recorded, in
        // (origin, seq) order, and every index is back.
        tamper(dir.path(), |db, meta| {
            meta.remove(ARRIVALS_KEY).unwrap();
            db.open_tree("arrivals").unwrap().clear().unwrap();
            db.open_tree("documents").unwrap().clear().unwrap();
        });
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        let total: u64 = store.heads().unwrap().iter().map(|(_, h)| h.seq).sum();
        assert_eq!(store.arrival_count().unwrap(), total);
        assert_eq!(store.trees.arrivals.len() as u64, total);
        let after = testsuite::snapshot(&store, &fixture);
        // Receipts across origins now come in (origin, seq) order: the true
        // arrival order was never recorded. Everything else is as before.
        let without_receipts = |lines: &[String]| -> Vec<String> {
            lines
                .iter()
                .filter(|l| !l.contains(" receipts "))
                .cloned()
                .collect()
        };
        assert_eq!(without_receipts(&after), without_receipts(&before));
        assert_eq!(after.len(), before.len());
        // And appends carry on numbering arrivals after the backfill.
        let mut ripe = Author::new("ripencc");
        store.append(&ripe.profile()).unwrap();
        assert_eq!(store.arrival_count().unwrap(), total + 1);
        assert_eq!(store.latest_profile(&org("ripencc")).unwrap(), Some(1));
    }

    #[test]
    fn reopens_consistently_after_unflushed_appends() {
        let dir = tempfile::tempdir().unwrap();
        let mut itu = Author::new("itu");
        let mut ietf = Author::new("ietf");
        {
            let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
            store.append_batch(&itu.chain(3)).unwrap();
            store.flush().unwrap();
            for e in itu.chain(4) {
                store.append(&e).unwrap();
            }
            store.append_batch(&ietf.chain(3)).unwrap();
        }
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        let held = assert_consistent(&store, &[&itu, &ietf]);
        assert!(held[0] >= 3, "flushed entries were lost: {held:?}");
    }

    /// A copy of the directory taken while the store is open, without a
    /// flush, is what a crash at that instant leaves on disk.
    #[test]
    fn a_crash_image_opens_consistently() {
        let dir = tempfile::tempdir().unwrap();
        let image = tempfile::tempdir().unwrap();
        let mut itu = Author::new("itu");
        let mut ietf = Author::new("ietf");
        let store = SledStore::open(dir.path(), no_background_flush()).unwrap();
        store.append_batch(&itu.chain(3)).unwrap();
        store.flush().unwrap();
        for e in itu.chain(20) {
            store.append(&e).unwrap();
        }
        store.append_batch(&ietf.chain(20)).unwrap();
        copy_dir(dir.path(), image.path());
        drop(store);

        let crashed = SledStore::open(image.path(), no_background_flush()).unwrap();
        let held = assert_consistent(&crashed, &[&itu, &ietf]);
        eprintln!("crash image holds {held:?}");
        assert!(held[0] >= 3, "flushed entries were lost: {held:?}");
    }
}

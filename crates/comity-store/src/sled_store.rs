//! The embedded default [`Store`]: one sled directory.
//!
//! Why this layout:
//!
//! - Every key that holds a number holds it big-endian, so that sled's byte
//!   order is numeric order and `entries_after` is one range scan.
//! - Keys that start with an origin put a `0x00` after it. Org ids never
//!   contain one, so `itu` and `itu-t` can never be confused in a scan.
//! - Stored values that may change shape start with a one-byte record
//!   version, so a later build can migrate them row by row; the `meta` tree
//!   holds the schema version of the whole store.
//! - An append writes entry, head, id and index rows in one transaction over
//!   those trees and re-checks its preconditions there, so a crash leaves the
//!   whole entry or none of it, and two writers cannot both extend one head.
//!   A batch is one transaction too (group commit): all of it or none of it.
//!
//! | tree            | key                    | value                                 |
//! |-----------------|------------------------|---------------------------------------|
//! | `meta`          | `schema_version`       | u32                                   |
//! | `entries`       | origin `0` seq         | version, encoded `comity.v1.Entry`    |
//! | `heads`         | origin                 | version, seq, 32-byte header hash     |
//! | `ids`           | entry id               | origin `0` seq                        |
//! | `consultations` | origin `0` uuid        | seq of the latest readable revision   |
//! | `profiles`      | origin                 | seq of the latest readable profile    |
//! | `equivocations` | origin `0` seq         | version, JSON [`Equivocation`]        |
//! | `frozen`        | origin                 | empty                                 |
//! | `peers`         | org                    | version, JSON [`PeerRecord`]          |
//!
//! sled makes writes durable only when it flushes (every `flush_every_ms`, or
//! on [`Store::flush`]); see STACK-NOTES "sled gotchas".

use crate::rules::{self, LogState};
use crate::{Appended, DocumentRef, Equivocation, PeerRecord, SCHEMA_VERSION, Store, StoreError};
use comity_core::{Hash, Head, OrgId, SignedEntry};
use prost::Message;
use serde::{Serialize, de::DeserializeOwned};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};
use sled::{Transactional, Tree};
use std::ops::Bound;
use std::path::Path;

/// The version byte in front of every versioned record this build writes.
const RECORD_V1: u8 = 1;
const SCHEMA_KEY: &[u8] = b"schema_version";
const SEP: u8 = 0;

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
}

#[derive(Debug, Clone)]
struct Trees {
    entries: Tree,
    heads: Tree,
    ids: Tree,
    consultations: Tree,
    profiles: Tree,
    equivocations: Tree,
    frozen: Tree,
    peers: Tree,
}

impl Trees {
    fn open(db: &sled::Db) -> Result<Self, StoreError> {
        Ok(Self {
            entries: db.open_tree("entries")?,
            heads: db.open_tree("heads")?,
            ids: db.open_tree("ids")?,
            consultations: db.open_tree("consultations")?,
            profiles: db.open_tree("profiles")?,
            equivocations: db.open_tree("equivocations")?,
            frozen: db.open_tree("frozen")?,
            peers: db.open_tree("peers")?,
        })
    }
}

impl SledStore {
    /// Opens (or creates) the store in the directory `path`.
    pub fn open(path: &Path, opts: SledOptions) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(path)
            .cache_capacity(opts.cache_capacity_bytes)
            .flush_every_ms(opts.flush_every_ms);
        Self::from_db(config.open()?)
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
        Ok(Self { db, trees })
    }

    /// The space the store takes on disk, in bytes, for monitoring.
    pub fn size_on_disk(&self) -> Result<u64, StoreError> {
        Ok(self.db.size_on_disk()?)
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

// ------------------------------------------------------------ transactions

/// Everything written for one entry, computed before the transaction starts:
/// sled may run the transaction closure more than once.
struct Prepared<'a> {
    entry: &'a SignedEntry,
    key: Vec<u8>,
    value: Vec<u8>,
    consultation: Option<Vec<u8>>,
    profile: bool,
}

impl<'a> Prepared<'a> {
    fn new(entry: &'a SignedEntry) -> Self {
        let index = rules::index_rows(entry);
        Self {
            entry,
            key: entry_key(entry.origin(), entry.seq()),
            value: encode_entry(entry),
            consultation: index
                .consultation
                .map(|uuid| origin_key(entry.origin(), uuid.as_bytes())),
            profile: index.profile,
        }
    }
}

/// The trees an append touches, inside one transaction.
struct AppendTx<'t> {
    entries: &'t TransactionalTree,
    heads: &'t TransactionalTree,
    ids: &'t TransactionalTree,
    consultations: &'t TransactionalTree,
    profiles: &'t TransactionalTree,
    frozen: &'t TransactionalTree,
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

impl AppendTx<'_> {
    /// Reads the log state as this transaction sees it, its own writes
    /// included: that is how a batch tracks its running heads.
    fn log_state(&self, p: &Prepared<'_>) -> TxResult<LogState> {
        let origin = p.entry.origin().as_str();
        let head = match self.heads.get(origin)? {
            Some(bytes) => Some(decode_head(&bytes).or_else(abort)?),
            None => None,
        };
        Ok(LogState {
            frozen: self.frozen.get(origin)?.is_some(),
            already_held: self.ids.get(p.entry.id().as_bytes())?.as_deref() == Some(&p.key[..]),
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
        let seq = p.entry.seq().to_be_bytes();
        self.entries.insert(&p.key[..], &p.value[..])?;
        self.heads.insert(origin, encode_head(p.entry.head()))?;
        self.ids.insert(p.entry.id().as_bytes(), &p.key[..])?;
        if let Some(key) = &p.consultation {
            self.consultations.insert(&key[..], &seq)?;
        }
        if p.profile {
            self.profiles.insert(origin, &seq)?;
        }
        Ok(())
    }
}

impl SledStore {
    /// One transaction for the whole batch: returns how many entries were new.
    fn append_all(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        let prepared: Vec<Prepared<'_>> = entries.iter().map(Prepared::new).collect();
        let t = &self.trees;
        (
            &t.entries,
            &t.heads,
            &t.ids,
            &t.consultations,
            &t.profiles,
            &t.frozen,
        )
            .transaction(|(entries, heads, ids, consultations, profiles, frozen)| {
                let tx = AppendTx {
                    entries,
                    heads,
                    ids,
                    consultations,
                    profiles,
                    frozen,
                };
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

    fn consultations(&self) -> Result<Vec<DocumentRef>, StoreError> {
        self.trees
            .consultations
            .iter()
            .map(|row| {
                let (key, value) = row?;
                let (origin, uuid) = split_origin_key(&key)?;
                let uuid = String::from_utf8(uuid.to_vec()).map_err(|e| corrupt("uuid", e))?;
                let seq = parse_u64(&value, "consultation seq")?;
                Ok(DocumentRef { origin, uuid, seq })
            })
            .collect()
    }

    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        self.trees
            .profiles
            .get(origin.as_str())?
            .map(|bytes| parse_u64(&bytes, "profile seq"))
            .transpose()
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
        // Without the background flusher, dropping the store releases its lock at once.
        drop(SledStore::open(dir.path(), no_background_flush()).unwrap());
        {
            let db = sled::open(dir.path()).unwrap();
            let meta = db.open_tree("meta").unwrap();
            assert_eq!(
                meta.get(SCHEMA_KEY).unwrap().as_deref(),
                Some(&SCHEMA_VERSION.to_be_bytes()[..]),
                "a new store is stamped with this build's schema"
            );
            meta.insert(SCHEMA_KEY, &(SCHEMA_VERSION + 1).to_be_bytes())
                .unwrap();
            db.flush().unwrap();
        }
        match SledStore::open(dir.path(), no_background_flush()) {
            Err(StoreError::SchemaTooNew { found }) => assert_eq!(found, SCHEMA_VERSION + 1),
            Err(other) => panic!("expected SchemaTooNew, got {other}"),
            Ok(_) => panic!("a store of a newer schema was opened"),
        }
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

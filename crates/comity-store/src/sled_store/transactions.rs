//! What one append writes, inside one sled transaction: the entry, its
//! head and arrival, and its index rows, with the preconditions checked
//! again inside the transaction. Computed before the transaction starts,
//! since sled may run the closure more than once.

use super::encoding::{
    ARRIVALS_KEY, DocumentRow, decode_document, decode_entry, decode_head, doc_key,
    encode_document, encode_entry, encode_head, encode_key, entry_key, origin_key, parse_u64,
    ref_prefix,
};
use crate::rules::{self, LogState, Target};
use crate::{Appended, StoreError};
use comity_core::SignedEntry;
use comity_core::merkle::{CompactRange, MerkleHash, leaf_hash};
use sled::transaction::{
    ConflictableTransactionError, ConflictableTransactionResult, TransactionError,
    TransactionalTree,
};

/// The derived trees, in the order of [`Trees::derived`].
#[derive(Debug, Clone, Copy)]
pub(super) enum Ix {
    Documents = 0,
    Profiles = 1,
    Responses = 2,
    Replies = 3,
    Receipts = 4,
    Recipients = 5,
    Keys = 6,
    Attachments = 7,
}

/// The index rows of one entry as keys and values ([`rules::index_rows`]
/// laid out in trees). A receipt's key ends with its arrival number, known
/// only inside the append's transaction; a document's row is read and
/// rewritten there ([`DocumentRow`]).
#[derive(Debug, Default)]
pub(super) struct IndexWrites {
    rows: Vec<(Ix, Vec<u8>, Vec<u8>)>,
    /// The document this entry revises: its key in `documents`, and the seq.
    document: Option<(Vec<u8>, u64)>,
    /// The receipt row: key prefix (the arrival number follows) and value.
    receipt: Option<(Vec<u8>, Vec<u8>)>,
}

impl IndexWrites {
    pub(super) fn of(entry: &SignedEntry) -> Self {
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
            w.document = Some((doc_key(*kind, origin, uuid), seq));
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
pub(super) struct IndexTx<'t> {
    trees: [&'t TransactionalTree; 8],
}

impl<'t> IndexTx<'t> {
    pub(super) fn new(views: &'t [TransactionalTree]) -> TxResult<Self> {
        match views {
            [a, b, c, d, e, f, g, h] => Ok(Self {
                trees: [a, b, c, d, e, f, g, h],
            }),
            _ => abort(StoreError::Backend(format!(
                "index transaction over {} trees, expected 8",
                views.len()
            ))),
        }
    }

    pub(super) fn write(&self, w: &IndexWrites, arrival: u64) -> TxResult<()> {
        for (ix, key, value) in &w.rows {
            self.trees[*ix as usize].insert(&key[..], &value[..])?;
        }
        if let Some((key, seq)) = &w.document {
            let documents = self.trees[Ix::Documents as usize];
            let mut row = match documents.get(&key[..])? {
                Some(bytes) => decode_document(&bytes).or_else(abort)?,
                None => DocumentRow::default(),
            };
            row.revise(*seq);
            documents.insert(&key[..], encode_document(&row))?;
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
pub(super) struct Prepared<'a> {
    entry: &'a SignedEntry,
    key: Vec<u8>,
    value: Vec<u8>,
    index: IndexWrites,
    leaf: MerkleHash,
}

impl<'a> Prepared<'a> {
    pub(super) fn new(entry: &'a SignedEntry) -> Self {
        Self {
            entry,
            key: entry_key(entry.origin(), entry.seq()),
            value: encode_entry(entry),
            index: IndexWrites::of(entry),
            leaf: leaf_hash(entry.header_bytes()),
        }
    }
}

/// The trees an append touches, inside one transaction.
pub(super) struct AppendTx<'t> {
    entries: &'t TransactionalTree,
    heads: &'t TransactionalTree,
    frozen: &'t TransactionalTree,
    meta: &'t TransactionalTree,
    arrivals: &'t TransactionalTree,
    merkle: &'t TransactionalTree,
    /// Whether to keep the Merkle tree (`SledOptions::merkle`).
    keep_tree: bool,
    index: IndexTx<'t>,
}

pub(super) type TxResult<T> = ConflictableTransactionResult<T, StoreError>;

pub(super) fn abort<T>(e: StoreError) -> TxResult<T> {
    Err(ConflictableTransactionError::Abort(e))
}

pub(super) fn from_tx(e: TransactionError<StoreError>) -> StoreError {
    match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => e.into(),
    }
}

impl<'t> AppendTx<'t> {
    /// `views` are the transaction's trees in the order of [`SledStore::append_trees`].
    pub(super) fn new(views: &'t [TransactionalTree], keep_tree: bool) -> TxResult<Self> {
        match views {
            [entries, heads, frozen, meta, arrivals, merkle, derived @ ..] => Ok(Self {
                entries,
                heads,
                frozen,
                meta,
                arrivals,
                merkle,
                keep_tree,
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
        // Past the head nothing is held, so the common case (the next
        // entry) skips the lookup; at or below it, the entry held at that
        // seq is this one when its id (the hash of its header) is. A copy
        // served again by another peer is the same bytes, which needs no
        // decoding; a stub held for a whole entry (or the reverse) differs
        // in its payload only, and is told by its id.
        let past_head = p.entry.seq() > head.map_or(0, |h| h.seq);
        let already_held = !past_head
            && match self.entries.get(&p.key[..])? {
                Some(bytes) if bytes[..] == p.value[..] => true,
                Some(bytes) => decode_entry(&bytes).or_else(abort)?.id() == p.entry.id(),
                None => false,
            };
        Ok(LogState {
            frozen: self.frozen.get(origin)?.is_some(),
            already_held,
            head,
        })
    }

    pub(super) fn append(&self, p: &Prepared<'_>) -> TxResult<Appended> {
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
        let arrival = match self.meta.get(ARRIVALS_KEY)? {
            Some(bytes) => parse_u64(&bytes, "arrival count").or_else(abort)?,
            None => 0,
        } + 1;
        self.meta.insert(ARRIVALS_KEY, &arrival.to_be_bytes())?;
        self.arrivals.insert(&arrival.to_be_bytes(), &p.key[..])?;
        if !self.keep_tree {
            return self.index.write(&p.index, arrival);
        }
        // The tree moves with the head, in this transaction: they always agree.
        let mut range = match self.merkle.get(origin)? {
            Some(bytes) => CompactRange::from_bytes(&bytes)
                .map_err(|e| StoreError::Corrupt(format!("merkle: {e}")))
                .or_else(abort)?,
            None => CompactRange::new(),
        };
        range.append(p.leaf);
        self.merkle.insert(origin, range.to_bytes())?;
        self.index.write(&p.index, arrival)
    }
}

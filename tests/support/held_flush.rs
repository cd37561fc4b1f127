//! A store whose flush a test can hold back: it delegates everything to a
//! real store, but `flush()` waits while its [`FlushGate`] is held, and the
//! gate records, per origin, the head that the last completed flush made
//! durable. Durability happens at the flush, and in a real node the window
//! between an append and its flush is too short for a kill to land in;
//! holding the flush opens that window as wide as a test needs, so that
//! what a node does with entries that are appended but not durable (cosign
//! them, serve them, acknowledge them) can be seen, and asserted against
//! what a crash at that moment would have kept.

use comity_core::{
    EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry,
    merkle::{CompactRange, MerkleHash},
};
use comity_store::{
    Appended, DocumentRef, EntryPos, Equivocation, LiaisonDraft, PeerRecord, Record, Store,
    StoreError,
    prelude::{BlobStore, IndexStore, LocalStore, LogStore},
};
use std::{
    collections::HashMap,
    sync::{Arc, Condvar, Mutex},
};

/// Holds or lets through the flushes of a [`HeldFlushStore`].
#[derive(Default)]
pub struct FlushGate {
    state: Mutex<GateState>,
    opened: Condvar,
}

#[derive(Default)]
struct GateState {
    held: bool,
    /// Flushes waiting at the gate now.
    waiting: usize,
    /// Per origin, the head seq the last completed flush made durable.
    durable: HashMap<OrgId, u64>,
}

impl FlushGate {
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// From now on, flushes wait until [`release`](Self::release) or until
    /// the guard returned is dropped (so that a failing test lets them
    /// through, and its runtime, which waits for blocking tasks, can stop).
    pub fn hold(self: &Arc<Self>) -> HeldGate {
        self.state.lock().unwrap().held = true;
        HeldGate(self.clone())
    }

    /// Lets the waiting flushes (and all later ones) through.
    pub fn release(&self) {
        self.state.lock().unwrap().held = false;
        self.opened.notify_all();
    }

    /// How many flushes wait at the gate now.
    pub fn waiting(&self) -> usize {
        self.state.lock().unwrap().waiting
    }

    /// `origin`'s head as of the last completed flush: what a crash now
    /// would keep of it (0 for none).
    pub fn durable(&self, origin: &OrgId) -> u64 {
        self.state
            .lock()
            .unwrap()
            .durable
            .get(origin)
            .copied()
            .unwrap_or(0)
    }
}

/// Releases its gate when dropped.
pub struct HeldGate(Arc<FlushGate>);

impl Drop for HeldGate {
    fn drop(&mut self) {
        self.0.release();
    }
}

/// A real store behind a [`FlushGate`].
pub struct HeldFlushStore {
    inner: Arc<dyn Store>,
    gate: Arc<FlushGate>,
}

impl HeldFlushStore {
    /// `inner`, whose flushes go through `gate`. What `inner` holds when it
    /// is wrapped was opened from disk: durable.
    pub fn wrap(inner: Arc<dyn Store>, gate: Arc<FlushGate>) -> Arc<dyn Store> {
        let heads = inner.heads().unwrap();
        gate.state
            .lock()
            .unwrap()
            .durable
            .extend(heads.into_iter().map(|(origin, head)| (origin, head.seq)));
        Arc::new(Self { inner, gate })
    }
}

impl LogStore for HeldFlushStore {
    fn append(&self, entry: &SignedEntry) -> Result<Appended, StoreError> {
        self.inner.append(entry)
    }
    fn append_batch(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        self.inner.append_batch(entries)
    }
    fn fill_payload(&self, entry: &SignedEntry) -> Result<bool, StoreError> {
        self.inner.fill_payload(entry)
    }
    fn flush(&self) -> Result<(), StoreError> {
        {
            let mut state = self.gate.state.lock().unwrap();
            state.waiting += 1;
            while state.held {
                state = self.gate.opened.wait(state).unwrap();
            }
            state.waiting -= 1;
        }
        // What was appended before the flush starts is durable once it
        // returns (later appends may be too, but are not counted).
        let heads = self.inner.heads()?;
        self.inner.flush()?;
        let mut state = self.gate.state.lock().unwrap();
        for (origin, head) in heads {
            let durable = state.durable.entry(origin).or_default();
            *durable = (*durable).max(head.seq);
        }
        Ok(())
    }
    fn head(&self, origin: &OrgId) -> Result<Option<Head>, StoreError> {
        self.inner.head(origin)
    }
    fn heads(&self) -> Result<Vec<(OrgId, Head)>, StoreError> {
        self.inner.heads()
    }
    fn entry(&self, origin: &OrgId, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        self.inner.entry(origin, seq)
    }
    fn entries_after(
        &self,
        origin: &OrgId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        self.inner.entries_after(origin, after_seq, limit)
    }
    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError> {
        self.inner.record_equivocation(evidence)
    }
    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError> {
        self.inner.equivocations()
    }
    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError> {
        self.inner.is_frozen(origin)
    }
    fn tree(&self, origin: &OrgId) -> Result<Option<CompactRange>, StoreError> {
        self.inner.tree(origin)
    }
    fn leaf_hashes(&self, origin: &OrgId, size: u64) -> Result<Vec<MerkleHash>, StoreError> {
        self.inner.leaf_hashes(origin, size)
    }
}

impl IndexStore for HeldFlushStore {
    fn consultations(&self) -> Result<Vec<DocumentRef>, StoreError> {
        self.inner.consultations()
    }
    fn documents(&self, kind: EntryKind) -> Result<Vec<DocumentRef>, StoreError> {
        self.inner.documents(kind)
    }
    fn document(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<u64>, StoreError> {
        self.inner.document(kind, origin, uuid)
    }
    fn document_revisions(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Vec<u64>, StoreError> {
        self.inner.document_revisions(kind, origin, uuid)
    }
    fn responses_to(
        &self,
        consultation_origin: &OrgId,
        consultation_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        self.inner
            .responses_to(consultation_origin, consultation_uuid)
    }
    fn liaison_replies(&self, origin: &OrgId, uuid: &str) -> Result<Vec<DocumentRef>, StoreError> {
        self.inner.liaison_replies(origin, uuid)
    }
    fn receipts_for(
        &self,
        liaison_origin: &OrgId,
        liaison_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        self.inner.receipts_for(liaison_origin, liaison_uuid)
    }
    fn liaisons_addressed_to(&self, org: &OrgId) -> Result<Vec<DocumentRef>, StoreError> {
        self.inner.liaisons_addressed_to(org)
    }
    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        self.inner.latest_profile(origin)
    }
    fn entries_naming_blob(&self, hash: &Hash) -> Result<Vec<EntryPos>, StoreError> {
        self.inner.entries_naming_blob(hash)
    }
    fn current_key(&self, origin: &OrgId) -> Result<Option<(u64, PublicKey)>, StoreError> {
        self.inner.current_key(origin)
    }
    fn rebuild_indexes(&self) -> Result<(), StoreError> {
        self.inner.rebuild_indexes()
    }
}

impl BlobStore for HeldFlushStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        self.inner.put_blob(bytes)
    }
    fn blob(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.blob(hash)
    }
    fn blob_size(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        self.inner.blob_size(hash)
    }
    fn read_blob(
        &self,
        hash: &Hash,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.read_blob(hash, offset, max_len)
    }
    fn append_partial_blob(
        &self,
        hash: &Hash,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StoreError> {
        self.inner.append_partial_blob(hash, offset, chunk)
    }
    fn blob_hashes(&self) -> Result<Vec<Hash>, StoreError> {
        self.inner.blob_hashes()
    }
    fn partial_blob_len(&self, hash: &Hash) -> Result<u64, StoreError> {
        self.inner.partial_blob_len(hash)
    }
    fn discard_partial_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        self.inner.discard_partial_blob(hash)
    }
    fn finish_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        self.inner.finish_blob(hash)
    }
}

impl LocalStore for HeldFlushStore {
    fn put_draft(&self, draft: &LiaisonDraft) -> Result<(), StoreError> {
        self.inner.put_draft(draft)
    }
    fn draft(&self, id: &str) -> Result<Option<LiaisonDraft>, StoreError> {
        self.inner.draft(id)
    }
    fn drafts(&self) -> Result<Vec<LiaisonDraft>, StoreError> {
        self.inner.drafts()
    }
    fn remove_draft(&self, id: &str) -> Result<bool, StoreError> {
        self.inner.remove_draft(id)
    }
    fn put_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.inner.put_record(space, key, value)
    }
    fn record(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.record(space, key)
    }
    fn records(&self, space: &str, prefix: &[u8]) -> Result<Vec<Record>, StoreError> {
        self.inner.records(space, prefix)
    }
    fn remove_record(&self, space: &str, key: &[u8]) -> Result<bool, StoreError> {
        self.inner.remove_record(space, key)
    }
    fn all_records(&self) -> Result<Vec<comity_store::SpacedRecord>, StoreError> {
        self.inner.all_records()
    }
    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        self.inner.put_peer(peer)
    }
    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError> {
        self.inner.remove_peer(org)
    }
    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        self.inner.peers()
    }
}

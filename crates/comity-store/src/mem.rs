//! An in-memory [`Store`], for tests and the demo: nothing survives the
//! process, so [`Store::flush`] has nothing to do.
//!
//! It follows the sled backend rule for rule (both call [`crate::rules`]),
//! including group commit: a batch is checked in full against a staging
//! overlay before any of it is written, so a failing batch leaves no trace.
//! One `RwLock` over the whole state plays the part of sled's transaction.

use crate::rules::{self, IndexRows, LogState, Target};
use crate::{
    Appended, BlobStore, DocumentRef, EntryPos, Equivocation, IndexStore, LiaisonDraft, LocalStore,
    LogStore, PeerRecord, StoreError,
};
use comity_core::merkle::{CompactRange, leaf_hash};
use comity_core::{EntryKind, Hash, Head, OrgId, PublicKey, SignedEntry};
use std::collections::{BTreeMap, BTreeSet};
use std::ops::Bound;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

/// A [`Store`] held in memory only.
#[derive(Debug, Default)]
pub struct MemStore {
    state: RwLock<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: BTreeMap<(OrgId, u64), SignedEntry>,
    heads: BTreeMap<OrgId, Head>,
    ids: BTreeMap<Hash, (OrgId, u64)>,
    /// Every entry, in the order it was appended: what indexes are rebuilt from.
    arrivals: Vec<(OrgId, u64)>,
    index: Indexes,
    /// Each origin's Merkle tree (derived; see `LogStore::tree`).
    trees: BTreeMap<OrgId, CompactRange>,
    equivocations: BTreeMap<(OrgId, u64), Equivocation>,
    frozen: BTreeSet<OrgId>,
    peers: BTreeMap<OrgId, PeerRecord>,
    blobs: BTreeMap<Hash, Vec<u8>>,
    partial_blobs: BTreeMap<Hash, Vec<u8>>,
    drafts: BTreeMap<String, LiaisonDraft>,
    records: BTreeMap<(String, Vec<u8>), Vec<u8>>,
}

/// A document's key: kind tag, origin, uuid.
type DocKey = (u8, OrgId, String);

/// Everything derived from the entries, mirroring the sled trees of the same
/// names; dropped and re-derived by `rebuild_indexes`.
#[derive(Debug, Default)]
struct Indexes {
    documents: BTreeMap<DocKey, u64>,
    revisions: BTreeMap<DocKey, Vec<u64>>,
    profiles: BTreeMap<OrgId, u64>,
    responses: BTreeMap<Target, BTreeSet<EntryPos>>,
    /// Replied-to statement → (replying statement → seq of the revision that replied).
    replies: BTreeMap<Target, BTreeMap<Target, u64>>,
    /// In arrival order.
    receipts: BTreeMap<Target, Vec<EntryPos>>,
    /// Addressee → (statement → seq of the revision that addressed it).
    recipients: BTreeMap<OrgId, BTreeMap<Target, u64>>,
    keys: BTreeMap<OrgId, (u64, PublicKey)>,
    /// Blob → the entries naming it.
    attachments: BTreeMap<Hash, BTreeSet<EntryPos>>,
}

impl Indexes {
    /// Writes the index rows of one entry, as [`rules::index_rows`] derives them.
    fn add(&mut self, entry: &SignedEntry) {
        let origin = entry.origin().clone();
        let seq = entry.seq();
        let pos = EntryPos {
            origin: origin.clone(),
            seq,
        };
        let IndexRows {
            profile,
            document,
            responds_to,
            replies_to,
            receipt_for,
            recipients,
            new_key,
            attachments,
        } = rules::index_rows(entry);
        for hash in attachments {
            self.attachments
                .entry(hash)
                .or_default()
                .insert(pos.clone());
        }
        if profile {
            self.profiles.insert(origin.clone(), seq);
        }
        if let Some((kind, uuid)) = document {
            let key = (rules::kind_tag(kind), origin.clone(), uuid.clone());
            self.documents.insert(key.clone(), seq);
            self.revisions.entry(key).or_default().push(seq);
            let this = Target {
                origin: origin.clone(),
                uuid,
            };
            if let Some(parent) = replies_to {
                self.replies
                    .entry(parent)
                    .or_default()
                    .insert(this.clone(), seq);
            }
            for org in recipients {
                self.recipients
                    .entry(org)
                    .or_default()
                    .insert(this.clone(), seq);
            }
        }
        if let Some(consultation) = responds_to {
            self.responses
                .entry(consultation)
                .or_default()
                .insert(pos.clone());
        }
        if let Some(liaison) = receipt_for {
            self.receipts.entry(liaison).or_default().push(pos);
        }
        if let Some(key) = new_key {
            self.keys.insert(origin, (seq, key));
        }
    }

    fn latest(&self, kind: EntryKind, origin: &OrgId, uuid: &str) -> Option<u64> {
        self.documents
            .get(&(rules::kind_tag(kind), origin.clone(), uuid.to_owned()))
            .copied()
    }

    /// The liaison statements among `rows` whose row came from their latest revision.
    fn current_liaisons(&self, rows: Option<&BTreeMap<Target, u64>>) -> Vec<DocumentRef> {
        rows.into_iter()
            .flatten()
            .filter(|(t, seq)| {
                rules::is_current(**seq, self.latest(EntryKind::Liaison, &t.origin, &t.uuid))
            })
            .map(|(t, seq)| DocumentRef {
                origin: t.origin.clone(),
                uuid: t.uuid.clone(),
                seq: *seq,
            })
            .collect()
    }
}

fn target(origin: &OrgId, uuid: &str) -> Target {
    Target {
        origin: origin.clone(),
        uuid: uuid.to_owned(),
    }
}

/// Entries of a batch accepted so far, not yet written: later entries of the
/// batch are decided against the state as if these were already held.
#[derive(Default)]
struct Staged<'a> {
    entries: Vec<&'a SignedEntry>,
    ids: BTreeSet<Hash>,
    heads: BTreeMap<OrgId, Head>,
}

impl State {
    fn log_state(&self, staged: &Staged<'_>, entry: &SignedEntry) -> LogState {
        let origin = entry.origin();
        let position = (origin.clone(), entry.seq());
        LogState {
            frozen: self.frozen.contains(origin),
            already_held: staged.ids.contains(&entry.id())
                || self.ids.get(&entry.id()) == Some(&position),
            head: staged
                .heads
                .get(origin)
                .or_else(|| self.heads.get(origin))
                .copied(),
        }
    }

    /// Writes one decided-new entry with its head and index rows.
    fn write(&mut self, entry: &SignedEntry) {
        let origin = entry.origin().clone();
        let seq = entry.seq();
        self.index.add(entry);
        self.trees
            .entry(origin.clone())
            .or_default()
            .append(leaf_hash(entry.header_bytes()));
        self.arrivals.push((origin.clone(), seq));
        self.ids.insert(entry.id(), (origin.clone(), seq));
        self.heads.insert(origin.clone(), entry.head());
        self.entries.insert((origin, seq), entry.clone());
    }
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<RwLockReadGuard<'_, State>, StoreError> {
        self.state.read().map_err(|_| poisoned())
    }

    fn write(&self) -> Result<RwLockWriteGuard<'_, State>, StoreError> {
        self.state.write().map_err(|_| poisoned())
    }
}

fn poisoned() -> StoreError {
    StoreError::Backend("in-memory store lock poisoned by a panic".into())
}

impl LogStore for MemStore {
    fn append(&self, entry: &SignedEntry) -> Result<Appended, StoreError> {
        Ok(match self.append_batch(std::slice::from_ref(entry))? {
            0 => Appended::AlreadyHeld,
            _ => Appended::New,
        })
    }

    fn append_batch(&self, entries: &[SignedEntry]) -> Result<usize, StoreError> {
        let mut state = self.write()?;
        let mut staged = Staged::default();
        for entry in entries {
            if rules::decide(entry, state.log_state(&staged, entry))? == Appended::New {
                staged.entries.push(entry);
                staged.ids.insert(entry.id());
                staged.heads.insert(entry.origin().clone(), entry.head());
            }
        }
        for entry in &staged.entries {
            state.write(entry);
        }
        Ok(staged.entries.len())
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn head(&self, origin: &OrgId) -> Result<Option<Head>, StoreError> {
        Ok(self.read()?.heads.get(origin).copied())
    }

    fn heads(&self) -> Result<Vec<(OrgId, Head)>, StoreError> {
        let state = self.read()?;
        Ok(state.heads.iter().map(|(o, h)| (o.clone(), *h)).collect())
    }

    fn entry(&self, origin: &OrgId, seq: u64) -> Result<Option<SignedEntry>, StoreError> {
        Ok(self.read()?.entries.get(&(origin.clone(), seq)).cloned())
    }

    fn entries_after(
        &self,
        origin: &OrgId,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<SignedEntry>, StoreError> {
        let state = self.read()?;
        let range = (
            Bound::Excluded((origin.clone(), after_seq)),
            Bound::Included((origin.clone(), u64::MAX)),
        );
        Ok(state
            .entries
            .range(range)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    fn fill_payload(&self, entry: &SignedEntry) -> Result<bool, StoreError> {
        if entry.is_redacted() {
            return Ok(false);
        }
        let mut state = self.write()?;
        let key = (entry.origin().clone(), entry.seq());
        let fillable = state
            .entries
            .get(&key)
            .is_some_and(|held| held.id() == entry.id() && held.is_redacted());
        if !fillable {
            return Ok(false);
        }
        state.index.add(entry);
        state.entries.insert(key, entry.clone());
        Ok(true)
    }

    fn tree(&self, origin: &OrgId) -> Result<Option<CompactRange>, StoreError> {
        Ok(self.read()?.trees.get(origin).cloned())
    }

    fn record_equivocation(&self, evidence: &Equivocation) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let key = (evidence.origin.clone(), evidence.seq);
        state
            .equivocations
            .entry(key)
            .or_insert_with(|| evidence.clone());
        state.frozen.insert(evidence.origin.clone());
        Ok(())
    }

    fn equivocations(&self) -> Result<Vec<Equivocation>, StoreError> {
        Ok(self.read()?.equivocations.values().cloned().collect())
    }

    fn is_frozen(&self, origin: &OrgId) -> Result<bool, StoreError> {
        Ok(self.read()?.frozen.contains(origin))
    }
}

impl IndexStore for MemStore {
    fn documents(&self, kind: EntryKind) -> Result<Vec<DocumentRef>, StoreError> {
        let state = self.read()?;
        let tag = rules::kind_tag(kind);
        Ok(state
            .index
            .documents
            .iter()
            .filter(|((t, _, _), _)| *t == tag)
            .map(|((_, origin, uuid), seq)| DocumentRef {
                origin: origin.clone(),
                uuid: uuid.clone(),
                seq: *seq,
            })
            .collect())
    }

    fn document(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Option<u64>, StoreError> {
        Ok(self.read()?.index.latest(kind, origin, uuid))
    }

    fn document_revisions(
        &self,
        kind: EntryKind,
        origin: &OrgId,
        uuid: &str,
    ) -> Result<Vec<u64>, StoreError> {
        let key = (rules::kind_tag(kind), origin.clone(), uuid.to_owned());
        Ok(self
            .read()?
            .index
            .revisions
            .get(&key)
            .cloned()
            .unwrap_or_default())
    }

    fn responses_to(
        &self,
        consultation_origin: &OrgId,
        consultation_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        let state = self.read()?;
        let key = target(consultation_origin, consultation_uuid);
        Ok(state
            .index
            .responses
            .get(&key)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn liaison_replies(&self, origin: &OrgId, uuid: &str) -> Result<Vec<DocumentRef>, StoreError> {
        let state = self.read()?;
        let rows = state.index.replies.get(&target(origin, uuid));
        Ok(state.index.current_liaisons(rows))
    }

    fn receipts_for(
        &self,
        liaison_origin: &OrgId,
        liaison_uuid: &str,
    ) -> Result<Vec<EntryPos>, StoreError> {
        let state = self.read()?;
        let key = target(liaison_origin, liaison_uuid);
        Ok(state.index.receipts.get(&key).cloned().unwrap_or_default())
    }

    fn liaisons_addressed_to(&self, org: &OrgId) -> Result<Vec<DocumentRef>, StoreError> {
        let state = self.read()?;
        Ok(state
            .index
            .current_liaisons(state.index.recipients.get(org)))
    }

    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        Ok(self.read()?.index.profiles.get(origin).copied())
    }

    fn current_key(&self, origin: &OrgId) -> Result<Option<(u64, PublicKey)>, StoreError> {
        Ok(self.read()?.index.keys.get(origin).copied())
    }

    fn entries_naming_blob(&self, hash: &Hash) -> Result<Vec<EntryPos>, StoreError> {
        Ok(self
            .read()?
            .index
            .attachments
            .get(hash)
            .map(|set| set.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn rebuild_indexes(&self) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let mut index = Indexes::default();
        for position in &state.arrivals {
            let entry = state.entries.get(position).ok_or_else(|| {
                StoreError::Corrupt(format!(
                    "arrival {} seq {} not held",
                    position.0, position.1
                ))
            })?;
            index.add(entry);
        }
        state.index = index;
        let mut trees: BTreeMap<OrgId, CompactRange> = BTreeMap::new();
        for ((origin, _), entry) in &state.entries {
            trees
                .entry(origin.clone())
                .or_default()
                .append(leaf_hash(entry.header_bytes()));
        }
        state.trees = trees;
        tracing::info!(
            entries = state.arrivals.len(),
            "rebuilt the store indexes from the logs"
        );
        Ok(())
    }
}

impl BlobStore for MemStore {
    fn put_blob(&self, bytes: &[u8]) -> Result<Hash, StoreError> {
        let hash = Hash::of(bytes);
        self.write()?
            .blobs
            .entry(hash)
            .or_insert_with(|| bytes.to_vec());
        Ok(hash)
    }

    fn blob(&self, hash: &Hash) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.read()?.blobs.get(hash).cloned())
    }

    fn blob_size(&self, hash: &Hash) -> Result<Option<u64>, StoreError> {
        Ok(self.read()?.blobs.get(hash).map(|b| b.len() as u64))
    }

    fn read_blob(
        &self,
        hash: &Hash,
        offset: u64,
        max_len: usize,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .read()?
            .blobs
            .get(hash)
            .map(|b| rules::blob_range(b, offset, max_len).to_vec()))
    }

    fn append_partial_blob(
        &self,
        hash: &Hash,
        offset: u64,
        chunk: &[u8],
    ) -> Result<u64, StoreError> {
        let mut state = self.write()?;
        let partial = state.partial_blobs.entry(*hash).or_default();
        let held = partial.len() as u64;
        if offset != held {
            return Err(StoreError::BlobOffset {
                expected: held,
                got: offset,
            });
        }
        partial.extend_from_slice(chunk);
        Ok(partial.len() as u64)
    }

    fn blob_hashes(&self) -> Result<Vec<Hash>, StoreError> {
        Ok(self.read()?.blobs.keys().copied().collect())
    }

    fn partial_blob_len(&self, hash: &Hash) -> Result<u64, StoreError> {
        Ok(self
            .read()?
            .partial_blobs
            .get(hash)
            .map_or(0, |p| p.len() as u64))
    }

    fn discard_partial_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        self.write()?.partial_blobs.remove(hash);
        Ok(())
    }

    fn finish_blob(&self, hash: &Hash) -> Result<(), StoreError> {
        let mut state = self.write()?;
        let partial = state.partial_blobs.remove(hash).unwrap_or_default();
        if state.blobs.contains_key(hash) {
            return Ok(());
        }
        rules::check_blob(hash, &partial)?;
        state.blobs.insert(*hash, partial);
        Ok(())
    }
}

impl LocalStore for MemStore {
    fn put_draft(&self, draft: &LiaisonDraft) -> Result<(), StoreError> {
        self.write()?.drafts.insert(draft.id.clone(), draft.clone());
        Ok(())
    }

    fn draft(&self, id: &str) -> Result<Option<LiaisonDraft>, StoreError> {
        Ok(self.read()?.drafts.get(id).cloned())
    }

    fn drafts(&self) -> Result<Vec<LiaisonDraft>, StoreError> {
        Ok(self.read()?.drafts.values().cloned().collect())
    }

    fn remove_draft(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.write()?.drafts.remove(id).is_some())
    }

    fn put_record(&self, space: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        self.write()?
            .records
            .insert((space.to_string(), key.to_vec()), value.to_vec());
        Ok(())
    }

    fn record(&self, space: &str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self
            .read()?
            .records
            .get(&(space.to_string(), key.to_vec()))
            .cloned())
    }

    fn records(&self, space: &str, prefix: &[u8]) -> Result<Vec<crate::Record>, StoreError> {
        Ok(self
            .read()?
            .records
            .range((space.to_string(), prefix.to_vec())..)
            .take_while(|((s, k), _)| s == space && k.starts_with(prefix))
            .map(|((_, k), v)| (k.clone(), v.clone()))
            .collect())
    }

    fn remove_record(&self, space: &str, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self
            .write()?
            .records
            .remove(&(space.to_string(), key.to_vec()))
            .is_some())
    }

    fn all_records(&self) -> Result<Vec<crate::SpacedRecord>, StoreError> {
        Ok(self
            .read()?
            .records
            .iter()
            .map(|((space, key), value)| (space.clone(), key.clone(), value.clone()))
            .collect())
    }

    fn put_peer(&self, peer: &PeerRecord) -> Result<(), StoreError> {
        self.write()?.peers.insert(peer.org.clone(), peer.clone());
        Ok(())
    }

    fn remove_peer(&self, org: &OrgId) -> Result<bool, StoreError> {
        Ok(self.write()?.peers.remove(org).is_some())
    }

    fn peers(&self) -> Result<Vec<PeerRecord>, StoreError> {
        Ok(self.read()?.peers.values().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::MemStore;

    #[test]
    fn passes_the_shared_suite() {
        crate::testsuite::run_all(&|| Box::new(MemStore::new()));
    }
}

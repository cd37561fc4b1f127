//! An in-memory [`Store`], for tests and the demo: nothing survives the
//! process, so [`Store::flush`] has nothing to do.
//!
//! It follows the sled backend rule for rule (both call [`crate::rules`]),
//! including group commit: a batch is checked in full against a staging
//! overlay before any of it is written, so a failing batch leaves no trace.
//! One `RwLock` over the whole state plays the part of sled's transaction.

use crate::rules::{self, IndexRows, LogState};
use crate::{Appended, DocumentRef, Equivocation, PeerRecord, Store, StoreError};
use comity_core::{Hash, Head, OrgId, SignedEntry};
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
    consultations: BTreeMap<(OrgId, String), u64>,
    profiles: BTreeMap<OrgId, u64>,
    equivocations: BTreeMap<(OrgId, u64), Equivocation>,
    frozen: BTreeSet<OrgId>,
    peers: BTreeMap<OrgId, PeerRecord>,
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
        let IndexRows {
            consultation,
            profile,
        } = rules::index_rows(entry);
        if let Some(uuid) = consultation {
            self.consultations.insert((origin.clone(), uuid), seq);
        }
        if profile {
            self.profiles.insert(origin.clone(), seq);
        }
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

impl Store for MemStore {
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

    fn entry_by_id(&self, id: &Hash) -> Result<Option<SignedEntry>, StoreError> {
        let state = self.read()?;
        Ok(state
            .ids
            .get(id)
            .and_then(|position| state.entries.get(position))
            .cloned())
    }

    fn consultations(&self) -> Result<Vec<DocumentRef>, StoreError> {
        let state = self.read()?;
        Ok(state
            .consultations
            .iter()
            .map(|((origin, uuid), seq)| DocumentRef {
                origin: origin.clone(),
                uuid: uuid.clone(),
                seq: *seq,
            })
            .collect())
    }

    fn latest_profile(&self, origin: &OrgId) -> Result<Option<u64>, StoreError> {
        Ok(self.read()?.profiles.get(origin).copied())
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

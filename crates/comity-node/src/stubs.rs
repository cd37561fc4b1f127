//! Restricted entries this node may read but holds only as redacted stubs:
//! it got them from a relay outside their audience before it could reach
//! the origin or another audience member. The whole entry has the same id,
//! so a subscription that resumes after the head never serves it again;
//! the follow task asks again from the first such stub when it subscribes
//! to a source that may read it (`replication::follow`), and ingest fills
//! the stub in (`Store::fill_payload`).
//!
//! Kept in memory: filled from the log once per follow task's start, and
//! from each ingest after that.

use comity_core::{OrgId, SignedEntry, entry::Audience};
use comity_store::Store;
use std::{
    collections::{BTreeMap, HashMap},
    sync::Mutex,
};

/// Entries read per store call while looking for stubs at start.
const SCAN_BATCH: usize = 1024;

/// Per origin, the stubs this node may read: seq → who may read it whole
/// (the origin and the audience).
#[derive(Debug, Default)]
pub struct Stubs {
    held: Mutex<HashMap<OrgId, BTreeMap<u64, Vec<OrgId>>>>,
}

/// Who may read `entry` whole, when it is a stub that `own` may read.
pub(crate) fn fillable(entry: &SignedEntry, own: &OrgId) -> Option<Vec<OrgId>> {
    if !entry.is_redacted() || !entry.readable_by(own) {
        return None;
    }
    match entry.audience() {
        Audience::Restricted(orgs) => {
            let mut readers = orgs.clone();
            readers.push(entry.origin().clone());
            Some(readers)
        }
        Audience::Public => None,
    }
}

impl Stubs {
    fn with<T>(&self, f: impl FnOnce(&mut HashMap<OrgId, BTreeMap<u64, Vec<OrgId>>>) -> T) -> T {
        f(&mut self.held.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Remembers stub `seq` of `origin`, readable whole by `readers`.
    pub(crate) fn note(&self, origin: &OrgId, seq: u64, readers: Vec<OrgId>) {
        self.with(|held| held.entry(origin.clone()).or_default().insert(seq, readers));
    }

    /// Stub `seq` of `origin` was filled in.
    pub(crate) fn filled(&self, origin: &OrgId, seq: u64) {
        self.with(|held| {
            if let Some(stubs) = held.get_mut(origin) {
                stubs.remove(&seq);
                if stubs.is_empty() {
                    held.remove(origin);
                }
            }
        });
    }

    /// The first stub of `origin` that `source` may serve whole.
    pub(crate) fn first_for(&self, origin: &OrgId, source: &OrgId) -> Option<u64> {
        self.with(|held| {
            held.get(origin)?
                .iter()
                .find(|(_, readers)| readers.contains(source))
                .map(|(seq, _)| *seq)
        })
    }

    /// Reads `origin`'s log held in `store` for stubs `own` may read.
    pub(crate) fn scan(&self, store: &dyn Store, origin: &OrgId, own: &OrgId) {
        let mut after = 0;
        loop {
            let Ok(batch) = store.entries_after(origin, after, SCAN_BATCH) else {
                return;
            };
            let Some(last) = batch.last().map(SignedEntry::seq) else {
                return;
            };
            for entry in &batch {
                if let Some(readers) = fillable(entry, own) {
                    self.note(origin, entry.seq(), readers);
                }
            }
            after = last;
        }
    }
}

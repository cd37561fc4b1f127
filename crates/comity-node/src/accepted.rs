//! Entries the operator accepted by id, whatever their signature
//! (`comity peer accept`): the way out of a log that an entry signed with
//! the wrong key blocks for ever. Kept in the store's records, so they hold
//! across restarts.

use crate::error::NodeError;
use comity_core::{Hash, OrgId};
use comity_store::Store;
use std::{collections::HashMap, sync::RwLock};

/// Entries of one origin that the operator accepted by id, whatever their
/// signature: (seq, id).
pub type Vouched = Vec<(u64, Hash)>;

/// Store records (space) of the entries the operator accepted by id:
/// key origin `0x00` seq (8 bytes, big-endian), value version 1 then the id.
const ACCEPTED: &str = "accepted-entries";

fn accepted_key(origin: &OrgId, seq: u64) -> Vec<u8> {
    let mut key = origin.as_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Every accepted entry in the store, per origin.
fn load_accepted(store: &dyn Store) -> Result<HashMap<OrgId, Vouched>, NodeError> {
    let mut accepted: HashMap<OrgId, Vouched> = HashMap::new();
    for (key, value) in store.records(ACCEPTED, b"")? {
        let parsed = key.split(|b| *b == 0).next().and_then(|origin| {
            let origin = OrgId::new(std::str::from_utf8(origin).ok()?).ok()?;
            let seq = u64::from_be_bytes(key.get(origin.as_str().len() + 1..)?.try_into().ok()?);
            let id = match value.split_first() {
                Some((1, id)) => Hash::from_slice(id)?,
                _ => return None,
            };
            Some((origin, seq, id))
        });
        match parsed {
            Some((origin, seq, id)) => accepted.entry(origin).or_default().push((seq, id)),
            None => tracing::warn!("an accepted-entry record does not read; ignored"),
        }
    }
    Ok(accepted)
}

/// Every entry accepted by id, per origin, as held in memory.
#[derive(Debug, Default)]
pub(crate) struct Accepted(RwLock<HashMap<OrgId, Vouched>>);

impl Accepted {
    /// The entries accepted so far, from the store.
    pub(crate) fn load(store: &dyn Store) -> Result<Self, NodeError> {
        Ok(Self(RwLock::new(load_accepted(store)?)))
    }

    /// The entries of `origin` accepted by id.
    pub(crate) fn of(&self, origin: &OrgId) -> Vouched {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .cloned()
            .unwrap_or_default()
    }

    /// Accepts entry `seq` of `origin` with `id`: kept in the store, and
    /// flushed, before it counts.
    pub(crate) fn accept(
        &self,
        store: &dyn Store,
        origin: &OrgId,
        seq: u64,
        id: Hash,
    ) -> Result<(), NodeError> {
        let mut value = vec![1u8];
        value.extend_from_slice(&id.0);
        store.put_record(ACCEPTED, &accepted_key(origin, seq), &value)?;
        store.flush()?;
        let mut accepted = self.0.write().unwrap_or_else(|e| e.into_inner());
        let entries = accepted.entry(origin.clone()).or_default();
        entries.retain(|(s, _)| *s != seq);
        entries.push((seq, id));
        Ok(())
    }
}

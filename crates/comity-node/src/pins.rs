//! Pinned keys: who may connect over mutual TLS, and whose logs this node
//! can verify. The federation server asks them on every handshake, so a
//! peer pinned at run time counts at once; a re-pin that a crash
//! interrupted is finished at start ([`finish_re_pin`]).

use crate::error::NodeError;
use comity_core::{OrgId, PublicKey};
use comity_store::{PeerRecord, Store};
use std::{
    collections::HashMap,
    sync::{Mutex, MutexGuard, RwLock},
};

/// Pinned keys: who may connect, and whose logs we can verify.
#[derive(Debug, Default)]
pub struct Pins {
    by_key: RwLock<HashMap<[u8; 32], OrgId>>,
    by_org: RwLock<HashMap<OrgId, PublicKey>>,
    /// Held by each change of a pin, from reading the stored record to
    /// setting the key in memory: an operator's re-pin and a followed
    /// rotation of the same peer then apply one after the other, and the
    /// key in memory is always the key stored.
    changing: Mutex<()>,
}

impl Pins {
    /// Serialises a pin's change: read the record, store it, flush, then
    /// [`Pins::set`] or [`Pins::remove`], all under this guard.
    pub(crate) fn change(&self) -> MutexGuard<'_, ()> {
        self.changing.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn set(&self, org: &OrgId, key: PublicKey) {
        let mut by_org = self.by_org.write().unwrap_or_else(|e| e.into_inner());
        let mut by_key = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = by_org.insert(org.clone(), key) {
            by_key.remove(old.as_bytes());
        }
        by_key.insert(*key.as_bytes(), org.clone());
    }

    pub(crate) fn remove(&self, org: &OrgId) {
        let mut by_org = self.by_org.write().unwrap_or_else(|e| e.into_inner());
        let mut by_key = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = by_org.remove(org) {
            by_key.remove(old.as_bytes());
        }
    }

    pub fn key_of(&self, org: &OrgId) -> Option<PublicKey> {
        self.by_org
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(org)
            .copied()
    }
}

impl comity_tls::PinnedKeys for Pins {
    fn org_for(&self, key: &PublicKey) -> Option<OrgId> {
        self.by_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_bytes())
            .cloned()
    }
}

/// Finishes a re-pin that a crash interrupted: the store holds a key
/// rotation of `record`'s organisation above the seq its pin applies from
/// (the rotation was stored, the new pin was not). Rebuilt from the store's
/// `keys` index, so that the pin, for entries and TLS, is the key the log
/// names. A rotation at or below `key_since` is older than the pin (the
/// operator re-pinned after it) and changes nothing.
pub(crate) fn finish_re_pin(
    store: &dyn Store,
    mut record: PeerRecord,
) -> Result<PeerRecord, NodeError> {
    if let Some((seq, key)) = store.current_key(&record.org)?
        && seq > record.key_since
        && key != record.key
    {
        tracing::info!(
            peer = %record.org, old = %record.key, new = %key, seq,
            "re-pinning a peer to the key its log rotated to"
        );
        record.key = key;
        record.key_since = seq;
        store.put_peer(&record)?;
        store.flush()?;
    }
    Ok(record)
}

//! What is on disk: per origin, the highest seq flushed, which is all that
//! is ever served.

use comity_core::OrgId;
use std::{collections::HashMap, sync::RwLock};
use tokio::sync::watch;

/// Per origin, the highest seq flushed to disk, as a watch that the
/// subscriptions serving that origin wait on. Only entries up to it are
/// served: an entry a crash could still take away must never reach a peer,
/// or the node would sign a different entry at that seq after a restart and
/// look like an equivocator.
///
/// One watch per origin, so that an append wakes only the subscriptions of
/// its own log (a mesh node serves every peer its own log and others').
///
/// It is updated on the blocking thread that flushed, right after the flush,
/// so a caller that gives up waiting (a client that disconnects mid-publish)
/// cannot leave a stored entry unserved.
#[derive(Debug)]
pub(crate) struct Durability {
    heads: RwLock<HashMap<OrgId, watch::Sender<u64>>>,
    /// Bumped after every flush, whatever the origin (notifications, demo).
    appended: watch::Sender<u64>,
}

impl Durability {
    /// Changes after every flush, of any origin.
    pub(crate) fn appended(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    pub(crate) fn new(heads: impl IntoIterator<Item = (OrgId, u64)>) -> Self {
        let heads = heads
            .into_iter()
            .map(|(origin, seq)| (origin, watch::Sender::new(seq)))
            .collect();
        Self {
            heads: RwLock::new(heads),
            appended: watch::Sender::new(0),
        }
    }

    pub(crate) fn head(&self, origin: &OrgId) -> u64 {
        self.heads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .map_or(0, |head| *head.borrow())
    }

    pub(crate) fn subscribe(&self, origin: &OrgId) -> watch::Receiver<u64> {
        if let Some(head) = self
            .heads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
        {
            return head.subscribe();
        }
        let mut heads = self.heads.write().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(origin.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Records that `origin` is on disk up to `seq`, and wakes its subscriptions.
    pub(crate) fn flushed(&self, origin: &OrgId, seq: u64) {
        let raise = |held: &mut u64| {
            let higher = seq > *held;
            *held = (*held).max(seq);
            higher
        };
        let known = {
            let heads = self.heads.read().unwrap_or_else(|e| e.into_inner());
            heads.get(origin).map(|head| head.send_if_modified(raise))
        };
        if known.is_none() {
            let mut heads = self.heads.write().unwrap_or_else(|e| e.into_inner());
            heads
                .entry(origin.clone())
                .or_insert_with(|| watch::Sender::new(0))
                .send_if_modified(raise);
        }
        self.appended.send_modify(|n| *n += 1);
    }
}

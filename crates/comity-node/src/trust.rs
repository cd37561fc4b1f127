//! The node's in-memory state for witnessed checkpoints and for recovery at
//! start (issue 13). It lives apart from the code that uses it
//! (`crate::checkpoints`, `crate::recovery`, which add their methods to
//! `Node`), so that `node` holds it without importing a module that
//! imports `node` back (`.ci/module-cycles`).

use comity_core::{IdentityKey, OrgId, checkpoint::SignedCheckpoint, merkle::MerkleHash};
use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::Mutex,
    time::Instant,
};
use tokio::sync::watch;

/// The node's checkpoint state in memory: a lock over the read-modify-write
/// of the records, and a version that moves whenever a kept checkpoint
/// changes (what gossip waits on).
#[derive(Debug)]
pub(crate) struct CheckpointState {
    pub(crate) lock: Mutex<()>,
    pub(crate) version: watch::Sender<u64>,
    /// The largest size of the own log seen in a checkpoint signed with the
    /// own key that is beyond the own durable head (a restored node learns
    /// here that its log went further).
    pub(crate) own_seen: Mutex<u64>,
    /// Per origin, the roots of the tree at recent sizes: each size a flush
    /// left the log at here, and each past root recomputed. Partners show
    /// checkpoints of sizes this log has passed, each partner its own, and
    /// recomputing a past root reads every entry up to it.
    pub(crate) roots: Mutex<HashMap<OrgId, RecentRoots>>,
    /// Digests of the (key, signature line, note text) already verified:
    /// heartbeats and gossip show the same notes again and again, and each
    /// signature is checked once (cleared when it grows past a bound).
    pub(crate) verified: Mutex<HashSet<[u8; 32]>>,
    /// Per origin, two origin-signed checkpoints of different sizes that
    /// this node cannot compare with its entries: they wait for a
    /// consistency proof from a partner (`crate::checkpoints`).
    pub(crate) unproven: Mutex<HashMap<OrgId, Unproven>>,
    /// Digests of checkpoint pairs already proven consistent (bounded as
    /// `verified`): a lagging partner shows the older one again.
    pub(crate) proven: Mutex<HashSet<[u8; 32]>>,
    /// The own tree (size, root) and the key in effect at that size, read
    /// together under the own-log lock while it was beyond the durable
    /// head: signed once a flush covers it, so that a steady stream of
    /// publishes still gets checkpoints (of what was durable), one round
    /// behind.
    pub(crate) own_snapshot: Mutex<Option<(u64, MerkleHash, IdentityKey)>>,
    /// Per (origin, cosigner), the (size, timestamp) of the latest
    /// cosignature kept (as the `cosigned` records hold it): a note that
    /// brings nothing newer by a cosigner costs no store read or check.
    pub(crate) cosigned_latest: Mutex<HashMap<(OrgId, OrgId), (u64, u64)>>,
    /// Per followed origin, its durable head when `cosign_pending` last
    /// found nothing to cosign for it. Nothing can be until that head
    /// moves: a checkpoint kept since then was cosigned when it came if
    /// its entries were held (`absorb`), and else is beyond that head.
    pub(crate) settled: Mutex<HashMap<OrgId, u64>>,
}

/// The roots of one origin's tree at its most recent sizes, at most
/// [`RecentRoots::KEPT`] of them (the oldest go first).
#[derive(Debug, Default)]
pub(crate) struct RecentRoots(VecDeque<(u64, MerkleHash)>);

impl RecentRoots {
    /// Enough for the sizes partners show between two gossip rounds of a
    /// busy log; 40 bytes each.
    pub(crate) const KEPT: usize = 64;

    pub(crate) fn root_at(&self, size: u64) -> Option<MerkleHash> {
        self.0
            .iter()
            .find(|(s, _)| *s == size)
            .map(|(_, root)| *root)
    }

    pub(crate) fn keep(&mut self, size: u64, root: MerkleHash) {
        if self.root_at(size).is_some() {
            return;
        }
        if self.0.len() == Self::KEPT {
            self.0.pop_front();
        }
        self.0.push_back((size, root));
    }
}

/// Two checkpoints of one origin waiting for a consistency proof.
#[derive(Debug, Clone)]
pub(crate) struct Unproven {
    /// The smaller one, and the larger one.
    pub(crate) old: SignedCheckpoint,
    pub(crate) new: SignedCheckpoint,
    /// When a partner was last asked, and how many have been.
    pub(crate) asked: Option<Instant>,
    pub(crate) attempts: u32,
}

impl Default for CheckpointState {
    fn default() -> Self {
        Self {
            lock: Mutex::new(()),
            version: watch::Sender::new(0),
            own_seen: Mutex::new(0),
            roots: Mutex::default(),
            verified: Mutex::default(),
            unproven: Mutex::default(),
            proven: Mutex::default(),
            own_snapshot: Mutex::default(),
            cosigned_latest: Mutex::default(),
            settled: Mutex::default(),
        }
    }
}

/// Where recovery stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Appends are allowed: recovery confirmed by a partner, skipped, or
    /// not needed.
    Done,
    /// Asking partners; appends are refused until `until`.
    Recovering { since: Instant, until: Instant },
    /// Nobody who follows this node answered in time: it publishes, warned.
    Unconfirmed { waited_secs: u64 },
}

#[derive(Debug)]
pub(crate) struct RecoveryState(Mutex<Recovery>);

impl Default for RecoveryState {
    fn default() -> Self {
        Self(Mutex::new(Recovery::Done))
    }
}

impl RecoveryState {
    pub(crate) fn get(&self) -> Recovery {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    pub(crate) fn set(&self, value: Recovery) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_roots_keep_the_latest_sizes_and_forget_the_oldest() {
        let root = |n: u8| [n; 32];
        let mut roots = RecentRoots::default();
        for size in 1..=RecentRoots::KEPT as u64 {
            roots.keep(size, root(size as u8));
        }
        assert_eq!(roots.root_at(1), Some(root(1)));
        // A size kept already keeps its first root.
        roots.keep(1, root(0));
        assert_eq!(roots.root_at(1), Some(root(1)));
        roots.keep(1000, root(7));
        assert_eq!(roots.root_at(1), None, "the oldest went");
        assert_eq!(roots.root_at(2), Some(root(2)));
        assert_eq!(roots.root_at(1000), Some(root(7)));
    }
}

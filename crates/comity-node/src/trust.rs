//! The node's in-memory state for witnessed checkpoints and for recovery at
//! start (issue 13). It lives apart from the code that uses it
//! (`crate::checkpoints`, `crate::recovery`, which add their methods to
//! `Node`), so that `node` holds it without importing a module that
//! imports `node` back (`.ci/module-cycles`).

use comity_core::{IdentityKey, OrgId, checkpoint::SignedCheckpoint, merkle::MerkleHash};
use std::{
    collections::{HashMap, HashSet},
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
    /// Per origin, the last past (size, root) found to match the entries
    /// held: a lagging partner repeats its checkpoint in every heartbeat,
    /// and recomputing a past root reads the entries.
    pub(crate) matched: Mutex<HashMap<OrgId, (u64, MerkleHash)>>,
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
            matched: Mutex::default(),
            verified: Mutex::default(),
            unproven: Mutex::default(),
            proven: Mutex::default(),
            own_snapshot: Mutex::default(),
            cosigned_latest: Mutex::default(),
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

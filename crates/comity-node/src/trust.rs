//! The node's in-memory state for witnessed checkpoints and for recovery at
//! start (issue 13). It lives apart from the code that uses it
//! (`crate::checkpoints`, `crate::recovery`, which add their methods to
//! `Node`), so that `node` holds it without importing a module that
//! imports `node` back (`.ci/module-cycles`).

use comity_core::{OrgId, merkle::MerkleHash};
use std::{collections::HashMap, sync::Mutex, time::Instant};
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
}

impl Default for CheckpointState {
    fn default() -> Self {
        Self {
            lock: Mutex::new(()),
            version: watch::Sender::new(0),
            own_seen: Mutex::new(0),
            matched: Mutex::default(),
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

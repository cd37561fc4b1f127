//! The node's search part (issue 15): where the index lives, the index
//! while the node runs, and what the indexer is to look at besides new
//! entries. A leaf the node owns; what is done with it (feeding, searching)
//! lives in [`crate::search`], beside the node rather than under it, so that
//! the node and its search do not import each other.

use crate::error::NodeError;
use comity_core::OrgId;
use comity_search::{Committer, SearchIndex};
use std::{
    collections::BTreeSet,
    path::PathBuf,
    sync::{Mutex, MutexGuard},
};
use tokio::sync::Notify;

/// Filled stubs remembered for the indexer, at most; beyond, one is
/// dropped with a warning (`comity search --reindex` repairs it).
const MAX_FILLS: usize = 10_000;

/// The node's search: where the index lives, the index while the node runs,
/// and what the indexer is to look at besides new entries.
#[derive(Default)]
pub struct Search {
    /// `<data>/search`; `None`: in memory (nodes without a data directory).
    pub(crate) dir: Option<PathBuf>,
    /// Off (`[storage] search = false`): no index, searches refused.
    pub(crate) disabled: bool,
    pub(crate) open: Mutex<Option<Open>>,
    /// Held while feeding or clearing: one feeder at a time, so that a
    /// rebuild never interleaves with a pass.
    pub(crate) feeding: Mutex<()>,
    /// Stubs whose payload arrived after they were fed (as stubs).
    pub(crate) fills: Mutex<BTreeSet<(OrgId, u64)>>,
    pub(crate) wake: Notify,
}

pub(crate) struct Open {
    pub(crate) index: SearchIndex,
    pub(crate) committer: Committer,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("dir", &self.dir)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Search {
    pub(crate) fn new(dir: Option<PathBuf>, enabled: bool) -> Self {
        Self {
            dir,
            disabled: !enabled,
            ..Self::default()
        }
    }

    pub(crate) fn index(&self) -> Result<SearchIndex, NodeError> {
        if self.disabled {
            return Err(NodeError::FailedPrecondition(
                "search is off on this node ([storage] search = false in comity.toml)".into(),
            ));
        }
        lock(&self.open)
            .as_ref()
            .map(|o| o.index.clone())
            .ok_or_else(|| {
                NodeError::FailedPrecondition(
                    "the search index is not open: the node is not running".into(),
                )
            })
    }

    /// Notes that a stub of `origin` at `seq` now has its payload.
    pub(crate) fn filled(&self, origin: &OrgId, seq: u64) {
        if self.disabled {
            return;
        }
        let mut fills = lock(&self.fills);
        if fills.len() >= MAX_FILLS {
            tracing::warn!(%origin, seq, "search: too many filled stubs pending; this one is not indexed until `comity search --reindex`");
            return;
        }
        fills.insert((origin.clone(), seq));
        drop(fills);
        self.wake.notify_one();
    }
}

//! Attachment transfers in flight: the blobs wanted in the background, the
//! one transfer per blob that may run at a time (transfers of a blob share
//! its partial download), and the permits that bound how many run at once.

use comity_core::Hash;
use std::collections::HashSet;
use tokio::sync::{Notify, Semaphore};

/// The most blobs fetched at once in the background (and, apart from them,
/// for people waiting on one): on a small machine and a poor link, a few
/// transfers at a time finish sooner than many sharing the link, and a log
/// that names many attachments cannot open a stream and a store write for
/// each at the same moment.
pub const MAX_CONCURRENT_FETCHES: usize = 4;

/// The most blobs waiting to be fetched in the background. Past it, more
/// are not queued (a warning says so); each is still fetched when someone
/// asks for it (`comity attachment get`, the dashboard).
pub const MAX_WANTED: usize = 1024;

/// The blobs wanted in the background, the transfers running (one per blob
/// at a time, since they share its partial download), and the permits that
/// bound how many run at once.
#[derive(Debug)]
pub struct InFlight {
    pub(crate) wanted: std::sync::Mutex<HashSet<Hash>>,
    pub(crate) transferring: std::sync::Mutex<HashSet<Hash>>,
    pub(crate) released: Notify,
    pub(crate) background: Semaphore,
    pub(crate) asked: Semaphore,
}

impl Default for InFlight {
    fn default() -> Self {
        Self {
            wanted: std::sync::Mutex::default(),
            transferring: std::sync::Mutex::default(),
            released: Notify::new(),
            background: Semaphore::new(MAX_CONCURRENT_FETCHES),
            asked: Semaphore::new(MAX_CONCURRENT_FETCHES),
        }
    }
}

/// What [`InFlight::want`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    Now,
    Already,
    Full,
}

fn locked(set: &std::sync::Mutex<HashSet<Hash>>) -> std::sync::MutexGuard<'_, HashSet<Hash>> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

impl InFlight {
    /// Queues `hash` for the background, unless it is queued already or
    /// [`MAX_WANTED`] are.
    pub(crate) fn want(&self, hash: Hash) -> Queued {
        let mut wanted = locked(&self.wanted);
        if wanted.contains(&hash) {
            Queued::Already
        } else if wanted.len() >= MAX_WANTED {
            Queued::Full
        } else {
            wanted.insert(hash);
            Queued::Now
        }
    }

    pub(crate) fn unwant(&self, hash: &Hash) {
        locked(&self.wanted).remove(hash);
    }

    /// Claims the one transfer of `hash`; false while another runs.
    pub(crate) fn claim(&self, hash: Hash) -> bool {
        locked(&self.transferring).insert(hash)
    }

    pub(crate) fn release(&self, hash: &Hash) {
        locked(&self.transferring).remove(hash);
        self.released.notify_waiters();
    }
}

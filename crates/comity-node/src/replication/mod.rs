//! Replication, the client side of the federation protocol: per pinned peer
//! with an endpoint, one *link* task ([`link`]) that keeps a channel open
//! and polls heads; per followed origin, one *follow* task ([`follow`]) that
//! pulls its log from the best source and ingests it. The [`Replicator`]
//! owns these tasks and their shutdown: it starts a peer's tasks when the
//! peer is pinned, and the peer table cancels them when it is replaced or
//! removed.
//!
//! Sources are pulled, never pushed to: the publisher keeps no queue per
//! peer that could grow, stall or be dropped.

mod backoff;
mod follow;
mod gossip;
pub(crate) mod link;
mod offer;

pub use link::ConnectError;
pub use offer::OfferError;

use crate::{node::Node, peers::PeerTasks};
use comity_core::OrgId;
use std::{collections::HashMap, sync::Arc, time::Duration};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tracing::Instrument;

/// The replication tasks of one running node, and their shutdown.
#[derive(Debug)]
pub struct Replicator {
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl Replicator {
    /// Starts replicating for `node` until `stop` is cancelled: the tasks of
    /// every pinned peer now, and of every peer pinned later.
    pub fn start(node: Arc<Node>, stop: CancellationToken) -> Self {
        let tasks = TaskTracker::new();
        tasks.spawn(gossip::sign_and_cosign(node.clone(), stop.clone()));
        tasks.spawn(supervise(node, tasks.clone(), stop.clone()));
        Self { tasks, stop }
    }

    /// Runs `task` among the replication tasks: it is waited for on stop.
    pub fn spawn(&self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        self.tasks.spawn(task);
    }

    /// Stops every replication task and waits for them, at most `grace`;
    /// false when some did not stop in time.
    pub async fn stop(self, grace: Duration) -> bool {
        self.stop.cancel();
        self.tasks.close();
        tokio::time::timeout(grace, self.tasks.wait()).await.is_ok()
    }
}

/// Starts the tasks of each pinned peer, and of each peer pinned (or pinned
/// again) later, until `stop`.
async fn supervise(node: Arc<Node>, tasks: TaskTracker, stop: CancellationToken) {
    let mut members = node.peer_table().members();
    let mut started: HashMap<OrgId, u64> = HashMap::new();
    loop {
        // Marked before reading: a peer pinned after this read wakes us.
        members.mark_unchanged();
        let pinned = node.peer_table().tasks();
        started.retain(|org, _| pinned.iter().any(|p| &p.record.org == org));
        for peer in pinned {
            if started.get(&peer.record.org) == Some(&peer.generation) {
                continue;
            }
            started.insert(peer.record.org.clone(), peer.generation);
            start_peer(&node, &tasks, &stop, peer);
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = members.changed() => if changed.is_err() { return },
        }
    }
}

/// Starts the link task (when the peer has an endpoint) and the follow task
/// of one peer, until the peer is replaced or removed, or replication stops.
fn start_peer(node: &Arc<Node>, tasks: &TaskTracker, stop: &CancellationToken, peer: PeerTasks) {
    let PeerTasks {
        record,
        cancel,
        reconnect,
        ..
    } = peer;
    let org = record.org.clone();
    let (stop, cancel_on_stop) = (stop.clone(), cancel.clone());
    tasks.spawn(async move {
        tokio::select! {
            _ = stop.cancelled() => cancel_on_stop.cancel(),
            _ = cancel_on_stop.cancelled() => {}
        }
    });
    if let Some(endpoint) = record.endpoint {
        let span = tracing::info_span!("link", peer = %org);
        let endpoints = std::iter::once(endpoint)
            .chain(record.more_endpoints)
            .collect();
        tasks.spawn(
            link::link(
                node.clone(),
                org.clone(),
                endpoints,
                record.key,
                cancel.clone(),
                reconnect,
            )
            .instrument(span),
        );
    }
    let span = tracing::info_span!("follow", origin = %org);
    tasks.spawn(follow::follow(node.clone(), org, cancel, tasks.clone()).instrument(span));
}

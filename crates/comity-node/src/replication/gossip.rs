//! Checkpoint gossip (`crate::checkpoints`): per connected link, a task that
//! sends the peer this node's kept checkpoints (each origin's latest, with
//! the cosignatures held) whenever they change, at most once per heads-poll
//! period, and at least every [`REFRESH_POLLS`] periods; the peer answers
//! with its own. Per node, one task that signs the own log's checkpoint and
//! cosigns pending ones after every flush.
//!
//! Heads are polled only for out-of-reach origins, so checkpoints need a
//! push of their own: this is how cosignatures travel back to the origin and
//! between partners, and how a split view is caught by two partners who
//! each hold one side of it.

use crate::{node::Node, protocol};
use comity_core::{OrgId, proto};
use std::{sync::Arc, time::Duration};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// Unchanged checkpoints are sent again after this many poll periods (a
/// peer that lost them, or that has no link to this node, gets them back).
const REFRESH_POLLS: u32 = 8;

/// Gossips checkpoints with `org` over `channel` until `stop`.
pub(super) async fn gossip(node: Arc<Node>, org: OrgId, channel: Channel, stop: CancellationToken) {
    let poll = node.config().replication.heads_poll();
    let deadline = node.config().replication.call_deadline();
    let mut client = protocol::federation_client(channel, node.config().limits.max_message_bytes);
    let mut version = node.checkpoint_version();
    loop {
        version.borrow_and_update();
        let notes = match node.notes_to_share() {
            Ok(notes) => notes,
            Err(error) => {
                tracing::warn!(%error, "cannot read the checkpoints kept here");
                Vec::new()
            }
        };
        let request = proto::CheckpointsRequest { notes };
        match tokio::time::timeout(deadline, client.checkpoints(request)).await {
            Ok(Ok(answer)) => {
                if let Err(error) = node.absorb_notes(&org, answer.into_inner().notes).await {
                    tracing::warn!(%error, "checking a partner's checkpoints failed");
                }
            }
            Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                tracing::debug!("the peer does not gossip checkpoints");
                return;
            }
            Ok(Err(status)) => tracing::debug!(error = %status.message(), "checkpoint gossip"),
            Err(_) => tracing::debug!("checkpoint gossip: no answer in time"),
        }
        // At most one call per period, then wait for news (or the refresh).
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = version.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(poll.saturating_mul(REFRESH_POLLS)) => {}
        }
    }
}

/// Signs the own log's checkpoint and cosigns pending ones after every
/// flush, until `stop`.
pub(super) async fn sign_and_cosign(node: Arc<Node>, stop: CancellationToken) {
    let mut appended = node.appended();
    loop {
        appended.borrow_and_update();
        if let Err(error) = node.sign_own_checkpoint().await {
            tracing::warn!(%error, "cannot sign a checkpoint of the own log");
        }
        if let Err(error) = node.cosign_pending().await {
            tracing::warn!(%error, "cannot cosign checkpoints");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = appended.changed() => if changed.is_err() { return },
        }
        // Coalesce a burst of flushes into one round.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
    }
}

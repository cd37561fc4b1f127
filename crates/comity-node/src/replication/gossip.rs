//! Checkpoint gossip (`crate::checkpoints`): per connected link, a task that
//! sends the peer this node's kept checkpoints (each origin's latest, with
//! the cosignatures held) whenever they change, at most once per heads-poll
//! period, and at least every [`REFRESH_POLLS`] periods; the peer answers
//! with its own, then is asked the consistency proofs due
//! (`Node::prove_consistency`). Per node, one task that signs the own log's checkpoint and
//! cosigns pending ones after every flush.
//!
//! Heads are polled only for out-of-reach origins, so checkpoints need a
//! push of their own: this is how cosignatures travel back to the origin and
//! between partners, and how a split view is caught by two partners who
//! each hold one side of it.

use crate::{node::Node, protocol};
use comity_core::{Hash, OrgId, proto};
use std::{
    collections::HashSet,
    sync::Arc,
    time::{Duration, Instant},
};
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
    // The notes this peer holds, as far as this connection knows: sent to
    // it, or received from it. Only the others are sent, so a round costs
    // one note per origin that changed; all of them again every
    // REFRESH_POLLS periods (and first, on a new connection).
    let mut shared: HashSet<Hash> = HashSet::new();
    let mut last_full: Option<Instant> = None;
    // The peer answers with changes only while this task holds what it
    // answered before; a call that failed may have lost an answer.
    let mut in_step = false;
    loop {
        version.borrow_and_update();
        let all = match node.notes_to_share() {
            Ok(notes) => notes,
            Err(error) => {
                tracing::warn!(%error, "cannot read the checkpoints kept here");
                Vec::new()
            }
        };
        let full = last_full.is_none_or(|at| at.elapsed() >= poll.saturating_mul(REFRESH_POLLS));
        if full {
            shared.clear();
        }
        let notes: Vec<Vec<u8>> = all
            .into_iter()
            .filter(|note| !shared.contains(&Hash::of(note)))
            .collect();
        if full || !notes.is_empty() {
            let sent: Vec<Hash> = notes.iter().map(|n| Hash::of(n)).collect();
            let request = proto::CheckpointsRequest {
                notes,
                changes_only: in_step && !full,
            };
            in_step = false;
            match tokio::time::timeout(deadline, client.checkpoints(request)).await {
                Ok(Ok(answer)) => {
                    in_step = true;
                    if full {
                        last_full = Some(Instant::now());
                    }
                    shared.extend(sent);
                    // Only the notes not shared on this connection yet are
                    // new here (all of them after a refresh, which empties
                    // `shared`): a peer that predates `changes_only`
                    // answers with every note it keeps.
                    let answer: Vec<Vec<u8>> = answer
                        .into_inner()
                        .notes
                        .into_iter()
                        .filter(|n| shared.insert(Hash::of(n)))
                        .collect();
                    if let Err(error) = node.absorb_notes(&org, answer).await {
                        in_step = false;
                        tracing::warn!(%error, "checking a partner's checkpoints failed");
                    }
                }
                Ok(Err(status)) if status.code() == tonic::Code::Unimplemented => {
                    tracing::debug!("the peer does not gossip checkpoints");
                    return;
                }
                Ok(Err(status)) => {
                    tracing::debug!(error = %status.message(), "checkpoint gossip")
                }
                Err(_) => tracing::debug!("checkpoint gossip: no answer in time"),
            }
        }
        // Pairs of checkpoints this node cannot compare itself: this
        // partner (it gossips checkpoints) may prove them.
        node.prove_consistency(&org, &mut client).await;
        // At most one call per period, then wait for news (or the refresh;
        // the next period while a pair of checkpoints waits for a proof).
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        let refresh = if node.awaits_any_proof() {
            poll
        } else {
            poll.saturating_mul(REFRESH_POLLS)
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = version.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(refresh) => {}
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

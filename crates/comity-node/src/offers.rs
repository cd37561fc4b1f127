//! The accepting side of `Offer`: a partner nobody can dial (behind NAT,
//! or `[network] listen = "off"`) dialled this node and offers its own log
//! over that connection. The caller is known by its TLS key alone, as on
//! every RPC, and only its own log is taken: an offer is a subscription
//! turned around, so the partner is the live source of its log here and
//! this node serves it on to others as a relay, as any log it holds.
//!
//! This node answers first with the durable head it holds of the caller's
//! log; the caller streams what follows. Each batch goes through normal
//! ingest (checked, stored, flushed) and is acknowledged with the new
//! durable head, so the caller knows what arrived and a reconnection
//! resumes after it with no gap and nothing applied twice. A newer offer
//! from the same organisation replaces the older one
//! ([`crate::peers::PeerTable::offer_opened`]); while an offer lasts, the
//! origin's follow task stands by.

use crate::{blobs, error::NodeError, node::Node};
use comity_core::{OrgId, proto};
use futures::FutureExt;
use proto::{OfferDown, OfferUp, offer_up::Event};
use std::sync::Arc;
use tokio::{sync::mpsc, time::Instant};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{Status, Streaming};

/// Acknowledgements buffered before the accepting side waits for the caller.
pub(crate) const ACK_BUFFER: usize = 16;

/// What an offer needs besides its streams.
pub(crate) struct Session {
    pub node: Arc<Node>,
    /// The offering organisation (from its TLS key).
    pub org: OrgId,
    /// Ends this session when a newer one replaces it.
    pub replaced: CancellationToken,
    /// Ends it when the node stops.
    pub stop: CancellationToken,
    /// Where attachment fetches run.
    pub tasks: TaskTracker,
}

/// The durable head held of `org`'s log, with the entry after it when this
/// node refuses that one (shown in the offering node's status).
fn ack(node: &Node, org: &OrgId) -> OfferDown {
    let durable_head = node.durable_head(org);
    let refused = node
        .peer_table()
        .refusal_of(org)
        .filter(|r| r.seq == durable_head.saturating_add(1))
        .map(|r| proto::RefusedEntry {
            seq: r.seq,
            id: r.id.0.to_vec(),
            reason: r.reason,
        });
    OfferDown {
        durable_head,
        refused,
    }
}

/// Takes `org`'s log from `up` until the caller ends the offer, falls
/// silent for three heartbeat periods, is replaced, or serves an entry
/// this node refuses (named in the last answer).
pub(crate) async fn take(
    session: Session,
    mut up: Streaming<OfferUp>,
    down: mpsc::Sender<Result<OfferDown, Status>>,
) {
    let Session {
        node,
        org,
        replaced,
        stop,
        tasks,
    } = session;
    if down.send(Ok(ack(&node, &org))).await.is_err() {
        return;
    }
    let silence = node.config().replication.call_deadline();
    let batch_size = node.config().replication.batch_size.max(1);
    let mut last_heard = Instant::now();
    loop {
        let first = tokio::select! {
            _ = stop.cancelled() => return,
            _ = down.closed() => return,
            _ = replaced.cancelled() => {
                let _ = down
                    .send(Err(Status::aborted(format!(
                        "a newer offer from {org} replaced this one"
                    ))))
                    .await;
                return;
            }
            _ = tokio::time::sleep_until(last_heard + silence) => {
                let _ = down
                    .send(Err(Status::deadline_exceeded(format!(
                        "silent for {}s: no heartbeat",
                        silence.as_secs()
                    ))))
                    .await;
                return;
            }
            message = up.message() => match message {
                Ok(Some(message)) => message,
                Ok(None) => return,
                Err(status) => {
                    tracing::debug!(peer = %org, error = %status.message(), "offer ended");
                    return;
                }
            },
        };
        last_heard = Instant::now();
        // Whatever else has already arrived goes with it: one group commit.
        let mut batch = Vec::new();
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message.event {
                Some(Event::Entry(entry)) => batch.push(entry),
                Some(Event::Heartbeat(beat)) => {
                    node.peer_table()
                        .record_remote_head(&org, &org, beat.head_seq);
                }
                None => {
                    let _ = down
                        .send(Err(Status::invalid_argument("empty offer message")))
                        .await;
                    return;
                }
            }
            if batch.len() >= batch_size {
                break;
            }
            if let Some(Ok(Some(more))) = up.message().now_or_never() {
                next = Some(more);
            }
        }
        if batch.is_empty() {
            continue;
        }
        match node.ingest(&org, &org, batch).await {
            Ok(ingested) => {
                blobs::want(&node, &org, ingested.attachments, &tasks);
                if down.send(Ok(ack(&node, &org))).await.is_err() {
                    return;
                }
            }
            Err(error @ (NodeError::Store(_) | NodeError::Internal(_))) => {
                tracing::error!(peer = %org, %error, "cannot ingest an offered log");
                let _ = down.send(Err(Status::from(error))).await;
                return;
            }
            Err(error) => {
                tracing::warn!(peer = %org, %error, "refused an entry of an offered log");
                if down.send(Ok(ack(&node, &org))).await.is_ok() {
                    let _ = down.send(Err(Status::from(error))).await;
                }
                return;
            }
        }
    }
}

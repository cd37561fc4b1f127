//! The dialling side of `Offer`: a node pushes its own log to each partner
//! it dials, over the connection it opened, so that it is the live source
//! of its own log as if the partner could subscribe to it. That is what
//! lets a node nobody can dial take full part, whether it says so
//! (`[network] listen = "off"`) or simply runs behind NAT. Asked only of a
//! partner whose `Hello` lists the capability "offer".
//!
//! The partner answers first with what it holds of this node's log,
//! durably (and the first entry it holds only as a redacted stub, if any:
//! served again from there, it fills the stub in); this node then streams
//! the rest as `Subscribe` would serve it
//! (the same `serve_log`: backlog, live entries, heartbeats while idle) and
//! reads each acknowledgement (the partner's new durable head). The
//! heartbeats, every `replication.heartbeat_secs`, and the HTTP/2 PINGs
//! (every 60 s, `comity_tls::KEEPALIVE_INTERVAL`) keep the NAT mapping of
//! the connection open.
//!
//! Nobody can dial this node for the attachments its entries name, so the
//! partner asks for them over the offer (`want_blob`); they are served as
//! `GetBlob` would serve them, to a partner that may read them.

use crate::{blobs, federation::serve_log, node::Node, peers, protocol};
use comity_core::{OrgId, proto};
use proto::{OfferUp, SubscribeEvent, offer_up, subscribe_event::Event};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::{StreamExt, wrappers::ReceiverStream};
use tokio_util::sync::CancellationToken;
use tonic::{Status, transport::Channel};

/// Events of the own log buffered before `serve_log` waits for the stream.
const OFFER_BUFFER: usize = 128;

/// Chunks of an attachment buffered before its sender waits for the stream.
const BLOB_BUFFER: usize = 4;

/// Serves the attachment `want` names to `org` over the offer, as `GetBlob`
/// would: only to a partner that may read a document naming it. An empty
/// chunk of total size 0 says it is not served.
async fn serve_blob(
    node: Arc<Node>,
    org: OrgId,
    want: proto::GetBlobRequest,
    tx: mpsc::Sender<OfferUp>,
) {
    let send = |chunk: proto::BlobChunk| OfferUp {
        event: Some(offer_up::Event::Blob(chunk)),
    };
    let refused = proto::BlobChunk::default();
    let hash = comity_core::Hash::from_slice(&want.hash);
    let allowed = hash
        .is_some_and(|hash| blobs::readers(&node, &hash).is_ok_and(|readers| readers.allows(&org)));
    let (Some(hash), true) = (hash, allowed) else {
        let _ = tx.send(send(refused)).await;
        return;
    };
    let mut offset = want.offset;
    loop {
        let chunk = match blobs::chunk_at(&node, &hash, offset) {
            Ok(Some(chunk)) => chunk,
            Ok(None) | Err(_) => {
                let _ = tx.send(send(refused)).await;
                return;
            }
        };
        let next = chunk.offset + chunk.data.len() as u64;
        let done = chunk.data.is_empty() || next >= chunk.total_size;
        if tx.send(send(chunk)).await.is_err() || done {
            return;
        }
        offset = next;
    }
}

/// Why an offer ended.
#[derive(Debug, thiserror::Error)]
pub enum OfferError {
    #[error("offer: {}", .0.message())]
    Call(Status),
    #[error("offer: no answer in {0}s")]
    Unanswered(u64),
    #[error("offer ended by the peer")]
    Closed,
}

fn to_offer(event: Result<SubscribeEvent, Status>) -> Option<OfferUp> {
    let event = match event.ok()?.event? {
        Event::Entry(entry) => offer_up::Event::Entry(entry),
        Event::Heartbeat(beat) => offer_up::Event::Heartbeat(beat),
    };
    Some(OfferUp { event: Some(event) })
}

/// Offers this node's own log to `org` over `channel` until the offer
/// ends (an error) or `cancel` (Ok).
pub(super) async fn offer(
    node: &Arc<Node>,
    org: &OrgId,
    channel: Channel,
    cancel: &CancellationToken,
) -> Result<(), OfferError> {
    let own = node.org().clone();
    let (tx, rx) = mpsc::channel(OFFER_BUFFER);
    let (blob_tx, blob_rx) = mpsc::channel(BLOB_BUFFER);
    let up = ReceiverStream::new(rx)
        .map_while(to_offer)
        .merge(ReceiverStream::new(blob_rx));
    let mut client = protocol::federation_client(channel, node.config().limits.max_message_bytes);
    let deadline = node.config().replication.call_deadline();
    let unanswered = || OfferError::Unanswered(deadline.as_secs());
    let mut down = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        answer = tokio::time::timeout(deadline, client.offer(up)) => answer
            .map_err(|_| unanswered())?
            .map_err(OfferError::Call)?
            .into_inner(),
    };
    let first = tokio::select! {
        _ = cancel.cancelled() => return Ok(()),
        first = tokio::time::timeout(deadline, down.message()) => first
            .map_err(|_| unanswered())?
            .map_err(OfferError::Call)?
            .ok_or(OfferError::Closed)?,
    };
    let head = first.durable_head;
    // Stubs the partner may read whole are served again from the first.
    let after = match first.first_stub {
        0 => head,
        stub => head.min(stub - 1),
    };
    tracing::info!(peer = %org, head, from = after + 1, "offering our log");
    node.peer_table().record_remote_head(org, &own, head);
    node.peer_table().set_we_offer(org, true);
    let serve = serve_log(
        node.clone(),
        org.clone(),
        own.clone(),
        after,
        tx,
        cancel.clone(),
    );
    tokio::pin!(serve);
    let end = loop {
        tokio::select! {
            _ = &mut serve => break if cancel.is_cancelled() { Ok(()) } else { Err(OfferError::Closed) },
            message = down.message() => match message {
                Ok(Some(ack)) => {
                    node.peer_table().record_remote_head(org, &own, ack.durable_head);
                    if let Some(want) = ack.want_blob {
                        tokio::spawn(serve_blob(node.clone(), org.clone(), want, blob_tx.clone()));
                    }
                    let refusal = peers::reported_refusal(org, ack.durable_head, ack.refused);
                    let shown = refusal.clone();
                    if node.peer_table().note_refuses_ours(org, refusal)
                        && let Some(r) = shown
                    {
                        tracing::warn!(
                            peer = %org, seq = r.seq, id = %r.id, reason = %r.reason,
                            "a partner refuses an entry of our log"
                        );
                    }
                }
                Ok(None) => break Err(OfferError::Closed),
                Err(status) => break Err(OfferError::Call(status)),
            },
        }
    };
    node.peer_table().set_we_offer(org, false);
    end
}

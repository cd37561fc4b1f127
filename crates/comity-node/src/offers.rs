//! The accepting side of `Offer`: a partner dialled this node and offers
//! its own log over that connection (every link does, to a peer that takes
//! offers: the partner may be behind NAT, or `[network] listen = "off"`). The caller is known by its TLS key alone, as on
//! every RPC, and only its own log is taken: an offer is a subscription
//! turned around, so the partner is the live source of its log here and
//! this node serves it on to others as a relay, as any log it holds.
//!
//! This node answers first with the durable head it holds of the caller's
//! log (and the first entry it holds of it only as a redacted stub it may
//! read whole, [`crate::stubs`]); the caller streams what follows. Each batch goes through normal
//! ingest (checked, stored, flushed) and is acknowledged with the new
//! durable head, so the caller knows what arrived and a reconnection
//! resumes after it with no gap and nothing applied twice. A newer offer
//! from the same organisation replaces the older one
//! ([`crate::peers::PeerTable::offer_opened`]); while an offer lasts, the
//! origin's follow task stands by.
//!
//! Nobody can dial the offering node for the attachments its entries name
//! (`GetBlob`), so this node asks for them over the offer (`want_blob`),
//! one at a time, and checks each chunk as a fetch does
//! (`blobs::bad_chunk`; the store checks the hash when the blob is done).

use crate::{blobs, error::NodeError, node::Node};
use comity_core::{Hash, OrgId, proto};
use futures::FutureExt;
use proto::{OfferDown, OfferUp, offer_up::Event};
use std::{
    collections::{BTreeSet, VecDeque},
    sync::Arc,
};
use tokio::{sync::mpsc, time::Instant};
use tokio_util::sync::CancellationToken;
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
        want_blob: None,
        first_stub: 0,
    }
}

/// The first answer: the durable head, and the first entry of `org`'s log
/// held here only as a stub this node may read, which `org` (its origin)
/// may serve whole: the offer starts there and ingest fills it in. The log
/// is looked through for stubs first if the follow task has not yet.
async fn first_ack(node: &Arc<Node>, org: &OrgId) -> OfferDown {
    if !node.stubs().scanned(org) {
        let (node, origin) = (node.clone(), org.clone());
        let scan = crate::blocking::blocking(move || {
            node.stubs().scan(&**node.store(), &origin, node.org());
            Ok::<(), NodeError>(())
        });
        if let Err(error) = scan.await {
            tracing::warn!(%error, "cannot look for stubs to fill in");
        }
    }
    let mut answer = ack(node, org);
    if let Some(seq) = node
        .stubs()
        .first_for(org, org)
        .filter(|&seq| seq <= answer.durable_head)
    {
        tracing::info!(peer = %org, from = seq, "asking the offer again for entries held as stubs");
        answer.first_stub = seq;
    }
    answer
}

/// Attachments waiting to be asked for on one offer, at most this many.
const MAX_WANTED: usize = 1024;

/// One attachment being fetched over the offer.
struct Transfer {
    hash: Hash,
    /// The sizes the documents naming it give.
    sizes: BTreeSet<u64>,
    held: u64,
    total: Option<u64>,
}

/// The attachments the offered entries name that this node lacks, fetched
/// one at a time over the offer. Dropping it lets go of the transfer's
/// claim, however the offer ends.
struct Wanted {
    node: Arc<Node>,
    queue: VecDeque<Hash>,
    current: Option<Transfer>,
}

impl Drop for Wanted {
    fn drop(&mut self) {
        if let Some(transfer) = self.current.take() {
            self.node.transfers().release(&transfer.hash);
        }
    }
}

impl Wanted {
    fn new(node: Arc<Node>) -> Self {
        Self {
            node,
            queue: VecDeque::new(),
            current: None,
        }
    }

    fn add(&mut self, attachments: Vec<proto::AttachmentRef>) {
        for hash in attachments.iter().filter_map(|a| Hash::from_slice(&a.hash)) {
            if self.queue.len() < MAX_WANTED && !self.queue.contains(&hash) {
                self.queue.push_back(hash);
            }
        }
    }

    /// Starts the next transfer, when none runs: what to ask for.
    fn next(&mut self, node: &Node) -> Result<Option<proto::GetBlobRequest>, NodeError> {
        if self.current.is_some() {
            return Ok(None);
        }
        while let Some(hash) = self.queue.pop_front() {
            if node.store().blob_size(&hash)?.is_some() {
                continue;
            }
            let readers = blobs::readers(node, &hash)?;
            // Another transfer of it runs (from a peer that has it): leave it.
            if !readers.is_named() || !node.transfers().claim(hash) {
                continue;
            }
            let mut offset = node.store().partial_blob_len(&hash)?;
            if readers.sizes.iter().all(|size| offset > *size) {
                node.store().discard_partial_blob(&hash)?;
                offset = 0;
            }
            self.current = Some(Transfer {
                hash,
                sizes: readers.sizes,
                held: offset,
                total: None,
            });
            return Ok(Some(proto::GetBlobRequest {
                hash: hash.0.to_vec(),
                offset,
            }));
        }
        Ok(None)
    }

    /// Ends the current transfer.
    fn end(&mut self, node: &Node) {
        if let Some(transfer) = self.current.take() {
            node.transfers().release(&transfer.hash);
        }
    }

    /// Takes a chunk of the current transfer. An error ends the transfer
    /// (a bad chunk also discards the partial download), not the offer.
    fn chunk(
        &mut self,
        node: &Node,
        org: &OrgId,
        chunk: proto::BlobChunk,
    ) -> Result<(), NodeError> {
        let peer_error = |message: String| NodeError::Peer {
            peer: org.clone(),
            message,
        };
        let Some(transfer) = self.current.as_mut() else {
            return Err(peer_error(
                "sent an attachment that was not asked for".into(),
            ));
        };
        let hash = transfer.hash;
        // The empty chunk says "not served", unless the documents give the
        // attachment 0 bytes: then it is the whole attachment (its hash is
        // checked when it is stored).
        if chunk.data.is_empty() && chunk.total_size == 0 && !transfer.sizes.contains(&0) {
            self.end(node);
            return Err(peer_error(format!("does not serve attachment {hash}")));
        }
        let limit = node.config().limits.max_attachment_bytes;
        let bad = blobs::bad_chunk(
            &hash,
            &transfer.sizes,
            limit,
            transfer.total,
            transfer.held,
            &chunk,
        );
        if let Some(why) = bad {
            let discarded = node.store().discard_partial_blob(&hash);
            self.end(node);
            discarded?;
            return Err(peer_error(format!(
                "{why}; the partial download was discarded"
            )));
        }
        transfer.total = Some(chunk.total_size);
        let appended = node
            .store()
            .append_partial_blob(&hash, chunk.offset, &chunk.data);
        let held = match appended {
            Ok(held) => held,
            Err(e) => {
                self.end(node);
                return Err(e.into());
            }
        };
        transfer.held = held;
        if held == chunk.total_size {
            let finished = node
                .store()
                .finish_blob(&hash)
                .and_then(|()| node.store().flush());
            self.end(node);
            finished?;
            tracing::debug!(%hash, "attachment fetched over the offer");
        } else if chunk.data.is_empty() {
            self.end(node);
        }
        Ok(())
    }
}

/// The next attachment to ask `org` for, as an answer, if one is wanted and
/// none is being fetched.
fn next_wanted(node: &Node, org: &OrgId, wanted: &mut Wanted) -> Option<OfferDown> {
    match wanted.next(node) {
        Ok(Some(want)) => {
            let mut answer = ack(node, org);
            answer.want_blob = Some(want);
            Some(answer)
        }
        Ok(None) => None,
        Err(error) => {
            tracing::warn!(peer = %org, %error, "cannot ask for an attachment");
            None
        }
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
    } = session;
    if down.send(Ok(first_ack(&node, &org).await)).await.is_err() {
        return;
    }
    let silence = node.config().replication.call_deadline();
    let batch_size = node.config().replication.batch_size.max(1);
    let mut last_heard = Instant::now();
    let mut wanted = Wanted::new(node.clone());
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
                    if !beat.checkpoint.is_empty() {
                        // Checked beside the offer, as a pull does: a
                        // check may read entries.
                        let (node, from) = (node.clone(), org.clone());
                        tokio::spawn(async move {
                            if let Err(error) =
                                node.absorb_notes(&from, vec![beat.checkpoint]).await
                            {
                                tracing::warn!(%error, "checking a heartbeat's checkpoint failed");
                            }
                        });
                    }
                }
                Some(Event::Blob(chunk)) => {
                    if let Err(error) = wanted.chunk(&node, &org, chunk) {
                        tracing::info!(peer = %org, %error, "attachment not fetched over the offer");
                    }
                    if let Some(want) = next_wanted(&node, &org, &mut wanted)
                        && down.send(Ok(want)).await.is_err()
                    {
                        return;
                    }
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
                wanted.add(ingested.attachments);
                let mut answer = ack(&node, &org);
                answer.want_blob = next_wanted(&node, &org, &mut wanted).and_then(|w| w.want_blob);
                if down.send(Ok(answer)).await.is_err() {
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

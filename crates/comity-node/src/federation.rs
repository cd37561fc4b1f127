//! The federation service partners call: `Hello`, `Heads` and `Subscribe`.
//! Every caller is known by the key in its TLS certificate; a subscription
//! reads straight from the store, so a slow subscriber only slows itself.

use crate::{error::NodeError, node::Node, peers::CAPABILITIES};
use comity_core::{OrgId, proto};
use proto::{
    HeadsRequest, HeadsResponse, HelloRequest, HelloResponse, SubscribeEvent, SubscribeRequest,
    federation_server::Federation, subscribe_event::Event,
};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

/// Entries read from the store per round trip of a subscription.
const READ_BATCH: usize = 256;
/// Events buffered per subscription before it waits for the subscriber.
const STREAM_BUFFER: usize = 128;

pub struct FederationService {
    node: Arc<Node>,
}

impl FederationService {
    pub fn new(node: Arc<Node>) -> Self {
        Self { node }
    }

    /// The calling organisation, from the pinned key in its certificate.
    fn caller<T>(&self, request: &Request<T>) -> Result<OrgId, Status> {
        let key = comity_tls::caller_key(request)?;
        comity_tls::PinnedKeys::org_for(&*self.node.pins(), &key).ok_or_else(|| {
            Status::permission_denied(format!("key {key} is not pinned by this node"))
        })
    }
}

pub(crate) fn heads(node: &Node, only: &[String]) -> Result<Vec<proto::Head>, NodeError> {
    let held = if only.is_empty() {
        node.heads()?
    } else {
        // Asked about a few origins (a relay search): look up just those.
        let mut held = Vec::with_capacity(only.len());
        for origin in only.iter().filter_map(|o| OrgId::new(o.clone()).ok()) {
            if let Some(head) = node.store().head(&origin)? {
                held.push((origin, head));
            }
        }
        held
    };
    Ok(held
        .into_iter()
        .map(|(origin, head)| proto::Head {
            origin: origin.to_string(),
            seq: head.seq,
            hash: head.hash.0.to_vec(),
        })
        .collect())
}

#[tonic::async_trait]
impl Federation for FederationService {
    async fn hello(
        &self,
        request: Request<HelloRequest>,
    ) -> Result<Response<HelloResponse>, Status> {
        let caller = self.caller(&request)?;
        let hello = request.into_inner();
        let org = self.node.org();
        // What the caller says it follows is its claim, not evidence: it is
        // logged, never used for reciprocity (`PeerView::reciprocal`).
        let says_it_follows_us = hello.follows.iter().any(|o| o == org.as_str());
        self.node.peers.note_hello(&caller);
        tracing::debug!(%caller, says_it_follows_us, version = hello.protocol_version, "hello");
        let profile = match self
            .node
            .store()
            .latest_profile(org)
            .map_err(NodeError::from)?
        {
            Some(seq) => self
                .node
                .store()
                .entry(org, seq)
                .map_err(NodeError::from)?
                .map(|e| e.into_wire()),
            None => None,
        };
        Ok(Response::new(HelloResponse {
            protocol_version: comity_proto::PROTOCOL_VERSION,
            capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
            org: org.to_string(),
            follows: self
                .node
                .follows()
                .iter()
                .map(ToString::to_string)
                .collect(),
            follows_you: self.node.peers.contains(&caller),
            heads: heads(&self.node, &[])?,
            profile,
        }))
    }

    async fn heads(
        &self,
        request: Request<HeadsRequest>,
    ) -> Result<Response<HeadsResponse>, Status> {
        self.caller(&request)?;
        let heads = heads(&self.node, &request.into_inner().origins)?;
        Ok(Response::new(HeadsResponse { heads }))
    }

    type GetBlobStream = ReceiverStream<Result<proto::BlobChunk, Status>>;

    async fn get_blob(
        &self,
        request: Request<proto::GetBlobRequest>,
    ) -> Result<Response<Self::GetBlobStream>, Status> {
        self.caller(&request)?;
        let request = request.into_inner();
        let hash = comity_core::Hash::from_slice(&request.hash)
            .ok_or_else(|| Status::invalid_argument("a blob hash is 32 bytes"))?;
        let first =
            crate::blobs::chunk_at(&self.node, &hash, request.offset)?.ok_or_else(|| {
                Status::not_found(format!("{} holds no attachment {hash}", self.node.org()))
            })?;
        let (tx, rx) = mpsc::channel(4);
        let node = self.node.clone();
        node.tasks.clone().spawn(async move {
            let mut chunk = first;
            loop {
                let next = chunk.offset + chunk.data.len() as u64;
                let done = chunk.data.is_empty() || next >= chunk.total_size;
                if tx.send(Ok(chunk)).await.is_err() || done {
                    return;
                }
                chunk = match crate::blobs::chunk_at(&node, &hash, next) {
                    Ok(Some(chunk)) => chunk,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(e.into())).await;
                        return;
                    }
                };
            }
        });
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type SubscribeStream = ReceiverStream<Result<SubscribeEvent, Status>>;

    async fn subscribe(
        &self,
        request: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let caller = self.caller(&request)?;
        let SubscribeRequest {
            origin,
            after_seq,
            refused,
        } = request.into_inner();
        let origin = OrgId::new(origin).map_err(|e| Status::invalid_argument(e.to_string()))?;
        let node = &self.node;
        if &origin == node.org() {
            // What the caller refuses of our log, or that it refuses
            // nothing any more: shown in our status.
            let refusal = crate::peers::reported_refusal(&caller, after_seq, refused);
            let shown = refusal.clone();
            if node.peers.note_refuses_ours(&caller, refusal)
                && let Some(r) = shown
            {
                tracing::warn!(
                    peer = %caller, seq = r.seq, id = %r.id, reason = %r.reason,
                    "a partner refuses an entry of our log"
                );
            }
        }
        let held = node
            .store()
            .head(&origin)
            .map_err(NodeError::from)?
            .is_some();
        if !held && &origin != node.org() && !node.peers.contains(&origin) {
            return Err(Status::not_found(format!(
                "{} neither holds nor follows {origin}",
                node.org()
            )));
        }
        if node.config().replication.require_reciprocity
            && !node
                .peers
                .views()
                .iter()
                .any(|p| p.record.org == caller && p.reciprocal)
        {
            return Err(Status::permission_denied(format!(
                "{org} serves only peers that serve it in return, and {caller} has not \
                 answered {org}'s own connection yet: pin {org}'s key and make sure {org} \
                 has {caller}'s endpoint",
                org = node.org()
            )));
        }
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        let span = tracing::info_span!("serve", peer = %caller, %origin);
        node.tasks.spawn(tracing::Instrument::instrument(
            serve_log(node.clone(), caller, origin, after_seq, tx),
            span,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }
}

fn heartbeat(node: &Node, origin: &OrgId) -> Result<SubscribeEvent, NodeError> {
    let head_seq = node.durable_head(origin);
    Ok(SubscribeEvent {
        event: Some(Event::Heartbeat(proto::Heartbeat {
            head_seq,
            at: Some(std::time::SystemTime::now().into()),
        })),
    })
}

/// Streams `origin`'s log after `cursor` to `reader`: the backlog, then live
/// entries as they are appended, with heartbeats while idle.
async fn serve_log(
    node: Arc<Node>,
    reader: OrgId,
    origin: OrgId,
    mut cursor: u64,
    tx: mpsc::Sender<Result<SubscribeEvent, Status>>,
) {
    let mut durable = node.durable_changes(&origin);
    let mut beat = tokio::time::interval(node.config().replication.heartbeat());
    loop {
        if !node.peers.contains(&reader) {
            let _ = tx
                .send(Err(Status::permission_denied(format!(
                    "{reader} is no longer a peer of {}",
                    node.org()
                ))))
                .await;
            return;
        }
        // Only what is on disk here: see `Node::durable_head`. Marked seen
        // before reading, so a flush after this read wakes us.
        let durable_seq = *durable.borrow_and_update();
        let ready = usize::try_from(durable_seq.saturating_sub(cursor)).unwrap_or(usize::MAX);
        let read = match ready {
            0 => Ok(Vec::new()),
            ready => node
                .store()
                .entries_after(&origin, cursor, ready.min(READ_BATCH)),
        };
        let batch = match read {
            Ok(batch) => batch
                .into_iter()
                .filter(|e| e.seq() <= durable_seq)
                .collect::<Vec<_>>(),
            Err(e) => {
                let _ = tx.send(Err(NodeError::from(e).into())).await;
                return;
            }
        };
        if let Some(last) = batch.last() {
            cursor = last.seq();
            for entry in batch {
                let event = SubscribeEvent {
                    event: Some(Event::Entry(entry.for_reader(&reader))),
                };
                if tx.send(Ok(event)).await.is_err() {
                    return;
                }
            }
            continue;
        }
        tokio::select! {
            _ = node.shutdown.cancelled() => return,
            _ = tx.closed() => return,
            changed = durable.changed() => if changed.is_err() { return },
            _ = beat.tick() => {
                let event = match heartbeat(&node, &origin) {
                    Ok(event) => Ok(event),
                    Err(e) => Err(e.into()),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
}

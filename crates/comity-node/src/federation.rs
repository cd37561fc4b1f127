//! The federation service partners call: `Hello`, `Heads`, `Subscribe`,
//! `GetBlob`, and the checkpoint gossip `Checkpoints` and `Consistency`
//! (`crate::checkpoints`). Every caller is known by the key in its TLS certificate; a
//! subscription reads straight from the store, so a slow subscriber only
//! slows itself. A blob goes only to a caller that may read a document
//! naming it (`blobs::readers`).
//!
//! What one peer can make this node hold is bounded: one live subscription
//! per origin (a newer one replaces the older, whose buffer is dropped at
//! once, read or not), at most `limits.max_subscriptions_per_peer` of them,
//! each holding at most [`STREAM_BUFFER`] events, and at most
//! [`MAX_BLOB_STREAMS_PER_PEER`] attachment downloads. Connections per peer,
//! streams per connection and handshakes are bounded by the server
//! (`crate::server`, `comity_tls::ServerLimits`).

use crate::{blobs, blocking::blocking, error::NodeError, node::Node, offers, peers, protocol};
use comity_core::{Hash, OrgId, proto};
use proto::{
    HeadsRequest, HeadsResponse, HelloRequest, HelloResponse, SubscribeEvent, SubscribeRequest,
    federation_server::Federation, subscribe_event::Event,
};
use std::{
    collections::{HashMap, HashSet},
    pin::Pin,
    sync::{Arc, Mutex, Weak},
    task::{Context, Poll},
};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::{Request, Response, Status};

/// Entries read from the store per round trip of a subscription, at most
/// (and never more than there is room for in its buffer).
const READ_BATCH: usize = 256;
/// Events buffered per subscription before it waits for the subscriber.
const STREAM_BUFFER: usize = 128;
/// Attachment downloads one peer may have in progress at once.
pub const MAX_BLOB_STREAMS_PER_PEER: usize = 16;

type Events = mpsc::Receiver<Result<SubscribeEvent, Status>>;

/// A subscription's events as the response streams them. The buffer can be
/// taken away from outside ([`Subscriptions`]): a replaced subscription
/// frees what it buffered at once, even if its subscriber never reads.
pub struct SubscriptionStream(Arc<Mutex<Option<Events>>>);

impl tokio_stream::Stream for SubscriptionStream {
    type Item = Result<SubscribeEvent, Status>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut events = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match events.as_mut() {
            Some(events) => events.poll_recv(cx),
            None => Poll::Ready(None),
        }
    }
}

/// The live subscriptions, by (peer, origin).
#[derive(Default)]
struct Subscriptions {
    live: Mutex<HashMap<(OrgId, OrgId), Live>>,
    next: std::sync::atomic::AtomicU64,
}

struct Live {
    id: u64,
    events: Weak<Mutex<Option<Events>>>,
}

impl Subscriptions {
    /// Registers a subscription of `peer` to `origin`, replacing (and
    /// emptying) the one it had; refused when the peer already holds `max`.
    fn open(
        &self,
        peer: &OrgId,
        origin: &OrgId,
        events: &Arc<Mutex<Option<Events>>>,
        max: usize,
    ) -> Result<u64, Status> {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let key = (peer.clone(), origin.clone());
        match live.remove(&key) {
            Some(old) => {
                if let Some(old) = old.events.upgrade() {
                    // Dropping the receiver frees its buffer and ends its task.
                    old.lock().unwrap_or_else(|e| e.into_inner()).take();
                }
            }
            None => {
                let held = live.keys().filter(|(p, _)| p == peer).count();
                if held >= max {
                    return Err(Status::resource_exhausted(format!(
                        "{peer} already holds {held} subscriptions, as many as one peer may \
                         ([limits] max_subscriptions_per_peer): end one first"
                    )));
                }
            }
        }
        live.insert(
            key,
            Live {
                id,
                events: Arc::downgrade(events),
            },
        );
        Ok(id)
    }

    /// Forgets subscription `id`, unless a newer one took its place.
    fn close(&self, peer: &OrgId, origin: &OrgId, id: u64) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        let key = (peer.clone(), origin.clone());
        if live.get(&key).is_some_and(|l| l.id == id) {
            live.remove(&key);
        }
    }
}

/// Attachment downloads in progress, per peer.
type BlobStreams = Arc<Mutex<HashMap<OrgId, usize>>>;

/// One download's place under [`MAX_BLOB_STREAMS_PER_PEER`], until dropped.
struct BlobStream {
    streams: BlobStreams,
    peer: OrgId,
}

impl BlobStream {
    fn start(streams: &BlobStreams, peer: &OrgId) -> Result<Self, Status> {
        let mut map = streams.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(peer.clone()).or_insert(0);
        if *open >= MAX_BLOB_STREAMS_PER_PEER {
            return Err(Status::resource_exhausted(format!(
                "{peer} already downloads {open} attachments here, as many as one peer may at once"
            )));
        }
        *open += 1;
        Ok(Self {
            streams: streams.clone(),
            peer: peer.clone(),
        })
    }
}

impl Drop for BlobStream {
    fn drop(&mut self) {
        let mut map = self.streams.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(&self.peer) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.peer);
            }
        }
    }
}

pub struct FederationService {
    node: Arc<Node>,
    subscriptions: Arc<Subscriptions>,
    blob_streams: BlobStreams,
    /// Per caller, the digests of the notes its last `Checkpoints` call was
    /// answered with or already held: a call for changes only gets the
    /// others. Every note kept goes in each answer otherwise, and in a mesh
    /// every link gossips once per poll period.
    gossiped: Mutex<HashMap<OrgId, HashSet<Hash>>>,
    /// Where the streams it answers with run, and what ends them.
    tasks: TaskTracker,
    stop: CancellationToken,
}

impl FederationService {
    /// The service of `node`; its streams run as tasks of `tasks` until
    /// `stop`.
    pub fn new(node: Arc<Node>, tasks: TaskTracker, stop: CancellationToken) -> Self {
        Self {
            node,
            subscriptions: Arc::default(),
            blob_streams: BlobStreams::default(),
            gossiped: Mutex::default(),
            tasks,
            stop,
        }
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
        if let Err(mismatch) = protocol::check_version(hello.protocol_version) {
            tracing::info!(%caller, %mismatch, "hello refused");
            return Err(Status::failed_precondition(format!(
                "{org} refuses {caller}'s Hello: {mismatch}"
            )));
        }
        // What the caller says it follows is its claim, not evidence: it is
        // logged, never used for reciprocity (`PeerView::reciprocal`).
        let says_it_follows_us = hello.follows.iter().any(|o| o == org.as_str());
        self.node.peer_table().note_hello(&caller);
        tracing::debug!(%caller, says_it_follows_us, version = hello.protocol_version, "hello");
        // Store reads (the latest profile, every head): off the async
        // workers, as for Heads and heartbeats.
        let node = self.node.clone();
        let (profile, heads) = blocking(move || {
            let own = node.org();
            let profile = match node.store().latest_profile(own)? {
                Some(seq) => node.store().entry(own, seq)?.map(|e| e.into_wire()),
                None => None,
            };
            Ok::<_, NodeError>((profile, heads(&node, &[])?))
        })
        .await?;
        Ok(Response::new(HelloResponse {
            protocol_version: protocol::PROTOCOL_VERSION,
            capabilities: protocol::capabilities(),
            org: org.to_string(),
            follows: self
                .node
                .follows()
                .iter()
                .map(ToString::to_string)
                .collect(),
            follows_you: self.node.peer_table().contains(&caller),
            heads,
            profile,
            rotations: if hello.want_rotations {
                crate::rotations::own_rotations(&self.node).await?
            } else {
                Vec::new()
            },
        }))
    }

    async fn heads(
        &self,
        request: Request<HeadsRequest>,
    ) -> Result<Response<HeadsResponse>, Status> {
        self.caller(&request)?;
        let node = self.node.clone();
        let origins = request.into_inner().origins;
        // Store reads (heads, kept checkpoints): off the async workers.
        let answer = blocking(move || {
            let heads = heads(&node, &origins)?;
            let mut checkpoints = Vec::new();
            for head in &heads {
                if let Ok(origin) = OrgId::new(head.origin.clone())
                    && let Some(checkpoint) = node.checkpoint_of(&origin)?
                {
                    checkpoints.push(checkpoint.to_text().into_bytes());
                }
            }
            Ok::<_, NodeError>(HeadsResponse { heads, checkpoints })
        })
        .await?;
        Ok(Response::new(answer))
    }

    async fn checkpoints(
        &self,
        request: Request<proto::CheckpointsRequest>,
    ) -> Result<Response<proto::CheckpointsResponse>, Status> {
        let caller = self.caller(&request)?;
        let proto::CheckpointsRequest {
            notes,
            changes_only,
        } = request.into_inner();
        // Two notes per origin kept here, at most (the latest checkpoint, and
        // the sender's own latest cosignature): more is not a partner's gossip.
        let most = 2 * (self.node.follows().len() + 1);
        if notes.len() > most {
            return Err(Status::invalid_argument(format!(
                "{} notes sent; at most {most}, two per origin this node keeps, are read",
                notes.len()
            )));
        }
        // Not sent back: the notes the caller just sent, byte for byte.
        let theirs: HashSet<Hash> = notes.iter().map(|n| Hash::of(n)).collect();
        self.node.absorb_notes(&caller, notes).await?;
        let node = self.node.clone();
        let ours = blocking(move || node.notes_to_share()).await?;
        let digests: Vec<Hash> = ours.iter().map(|n| Hash::of(n)).collect();
        let mut gossiped = self.gossiped.lock().unwrap_or_else(|e| e.into_inner());
        let held = gossiped.entry(caller).or_default();
        if !changes_only {
            held.clear();
        }
        let notes = ours
            .into_iter()
            .zip(&digests)
            .filter(|(_, d)| !theirs.contains(*d) && !held.contains(*d))
            .map(|(note, _)| note)
            .collect();
        // After this answer the caller holds every note kept here now.
        *held = digests.into_iter().collect();
        Ok(Response::new(proto::CheckpointsResponse { notes }))
    }

    async fn consistency(
        &self,
        request: Request<proto::ConsistencyRequest>,
    ) -> Result<Response<proto::ConsistencyResponse>, Status> {
        self.caller(&request)?;
        let request = request.into_inner();
        let origin = OrgId::new(request.origin.clone())
            .map_err(|e| Status::invalid_argument(format!("origin {:?}: {e}", request.origin)))?;
        let answer = self
            .node
            .consistency_answer(&origin, request.old_size, request.new_size)
            .await?;
        Ok(Response::new(answer))
    }

    type GetBlobStream = ReceiverStream<Result<proto::BlobChunk, Status>>;

    async fn get_blob(
        &self,
        request: Request<proto::GetBlobRequest>,
    ) -> Result<Response<Self::GetBlobStream>, Status> {
        let caller = self.caller(&request)?;
        let request = request.into_inner();
        let download = BlobStream::start(&self.blob_streams, &caller)?;
        let hash = comity_core::Hash::from_slice(&request.hash)
            .ok_or_else(|| Status::invalid_argument("a blob hash is 32 bytes"))?;
        // The same answer whether the blob is restricted or named by nothing
        // held here, so that asking tells an outsider nothing.
        if !blobs::readers(&self.node, &hash)?.allows(&caller) {
            return Err(Status::permission_denied(format!(
                "{} serves attachment {hash} only to organisations that may read a document naming it",
                self.node.org()
            )));
        }
        let first = blobs::chunk_at(&self.node, &hash, request.offset)?.ok_or_else(|| {
            Status::not_found(format!("{} holds no attachment {hash}", self.node.org()))
        })?;
        let (tx, rx) = mpsc::channel(4);
        let node = self.node.clone();
        self.tasks.spawn(async move {
            let _download = download;
            let mut chunk = first;
            loop {
                let next = chunk.offset + chunk.data.len() as u64;
                let done = chunk.data.is_empty() || next >= chunk.total_size;
                if tx.send(Ok(chunk)).await.is_err() || done {
                    return;
                }
                chunk = match blobs::chunk_at(&node, &hash, next) {
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

    type OfferStream = ReceiverStream<Result<proto::OfferDown, Status>>;

    async fn offer(
        &self,
        request: Request<tonic::Streaming<proto::OfferUp>>,
    ) -> Result<Response<Self::OfferStream>, Status> {
        let caller = self.caller(&request)?;
        let (session, replaced) =
            self.node
                .peer_table()
                .offer_opened(&caller)
                .ok_or_else(|| {
                    Status::permission_denied(format!(
                        "{caller} is no longer a peer of {}",
                        self.node.org()
                    ))
                })?;
        tracing::info!(peer = %caller, "offer opened: the peer dialled in and offers its log");
        let (tx, rx) = mpsc::channel(offers::ACK_BUFFER);
        let take = offers::take(
            offers::Session {
                node: self.node.clone(),
                org: caller.clone(),
                replaced,
                stop: self.stop.clone(),
            },
            request.into_inner(),
            tx,
        );
        let node = self.node.clone();
        let span = tracing::info_span!("offer", peer = %caller);
        self.tasks.spawn(tracing::Instrument::instrument(
            async move {
                take.await;
                node.peer_table().offer_closed(&caller, session);
            },
            span,
        ));
        Ok(Response::new(ReceiverStream::new(rx)))
    }

    type SubscribeStream = SubscriptionStream;

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
            let refusal = peers::reported_refusal(&caller, after_seq, refused);
            let shown = refusal.clone();
            if node.peer_table().note_refuses_ours(&caller, refusal)
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
        if !held && &origin != node.org() && !node.peer_table().contains(&origin) {
            return Err(Status::not_found(format!(
                "{} neither holds nor follows {origin}",
                node.org()
            )));
        }
        if node.config().replication.require_reciprocity
            && !node
                .peer_table()
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
        let events = Arc::new(Mutex::new(Some(rx)));
        let id = self.subscriptions.open(
            &caller,
            &origin,
            &events,
            node.config().limits.max_subscriptions_per_peer,
        )?;
        let span = tracing::info_span!("serve", peer = %caller, %origin);
        let subscriptions = self.subscriptions.clone();
        let serve = serve_log(
            node.clone(),
            caller.clone(),
            origin.clone(),
            after_seq,
            tx,
            self.stop.clone(),
        );
        self.tasks.spawn(tracing::Instrument::instrument(
            async move {
                serve.await;
                subscriptions.close(&caller, &origin, id);
            },
            span,
        ));
        Ok(Response::new(SubscriptionStream(events)))
    }
}

/// A heartbeat: the durable head, and the checkpoint kept (a store read,
/// run on the blocking pool).
async fn heartbeat(node: &Arc<Node>, origin: &OrgId) -> Result<SubscribeEvent, NodeError> {
    let head_seq = node.durable_head(origin);
    let (node, origin) = (node.clone(), origin.clone());
    let checkpoint = blocking(move || node.checkpoint_of(&origin)).await?;
    Ok(SubscribeEvent {
        event: Some(Event::Heartbeat(proto::Heartbeat {
            head_seq,
            at: Some(std::time::SystemTime::now().into()),
            checkpoint: checkpoint
                .map(|c| c.to_text().into_bytes())
                .unwrap_or_default(),
        })),
    })
}

/// Streams `origin`'s log after `cursor` to `reader`: the backlog, then live
/// entries as they are appended, with heartbeats while idle. Also what an
/// offering node pushes of its own log (`crate::replication`).
pub(crate) async fn serve_log(
    node: Arc<Node>,
    reader: OrgId,
    origin: OrgId,
    mut cursor: u64,
    tx: mpsc::Sender<Result<SubscribeEvent, Status>>,
    stop: CancellationToken,
) {
    let mut durable = node.durable_changes(&origin);
    let mut beat = tokio::time::interval(node.config().replication.heartbeat());
    loop {
        if !node.peer_table().contains(&reader) {
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
        // Read only as much as the buffer has room for: a subscriber that
        // does not read makes this wait, holding nothing more than its buffer.
        let room = match ready {
            0 => 0,
            _ => tokio::select! {
                _ = stop.cancelled() => return,
                permit = tx.reserve() => match permit {
                    Ok(permit) => {
                        drop(permit);
                        tx.capacity()
                    }
                    Err(_) => return,
                },
            },
        };
        let read = match ready.min(room) {
            0 => Ok(Vec::new()),
            n => node
                .store()
                .entries_after(&origin, cursor, n.min(READ_BATCH)),
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
            _ = stop.cancelled() => return,
            _ = tx.closed() => return,
            changed = durable.changed() => if changed.is_err() { return },
            _ = beat.tick() => {
                let event = match heartbeat(&node, &origin).await {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn org(id: &str) -> OrgId {
        OrgId::new(id).unwrap()
    }

    type Sender = mpsc::Sender<Result<SubscribeEvent, Status>>;

    fn events() -> (Sender, Arc<Mutex<Option<Events>>>) {
        let (tx, rx) = mpsc::channel(STREAM_BUFFER);
        (tx, Arc::new(Mutex::new(Some(rx))))
    }

    /// Issue 10, item 8: one live subscription per peer and origin, a newer
    /// one replacing the older (whose buffer goes at once), and a cap per peer.
    #[test]
    fn one_subscription_per_origin_and_a_cap_per_peer() {
        let subscriptions = Subscriptions::default();
        let (a, b) = (org("mallory"), org("ietf"));
        let (x, y, z) = (org("itu"), org("icann"), org("w3c"));

        let (first_tx, first) = events();
        first_tx.try_send(Err(Status::ok("buffered"))).unwrap();
        let first_id = subscriptions.open(&a, &x, &first, 2).unwrap();
        let (_, second) = events();
        let second_id = subscriptions.open(&a, &x, &second, 2).unwrap();
        // The older one is emptied, unread: its task sees its subscriber gone.
        assert!(first.lock().unwrap().is_none());
        assert!(first_tx.is_closed());
        assert!(second.lock().unwrap().is_some());

        let (_, third) = events();
        subscriptions.open(&a, &y, &third, 2).unwrap();
        let (_, fourth) = events();
        let refused = subscriptions.open(&a, &z, &fourth, 2).unwrap_err();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        assert!(refused.message().contains("max_subscriptions_per_peer"));
        // Another peer has its own count.
        let (_, theirs) = events();
        subscriptions.open(&b, &z, &theirs, 2).unwrap();

        // The replaced subscription's end does not forget its successor ...
        subscriptions.close(&a, &x, first_id);
        let (_, fifth) = events();
        assert!(subscriptions.open(&a, &z, &fifth, 2).is_err());
        // ... its own end does.
        subscriptions.close(&a, &x, second_id);
        subscriptions.open(&a, &z, &fifth, 2).unwrap();
    }

    #[test]
    fn attachment_downloads_are_capped_per_peer() {
        let streams = BlobStreams::default();
        let (a, b) = (org("mallory"), org("ietf"));
        let held: Vec<_> = (0..MAX_BLOB_STREAMS_PER_PEER)
            .map(|_| BlobStream::start(&streams, &a).unwrap())
            .collect();
        let refused = BlobStream::start(&streams, &a).err().unwrap();
        assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
        let _theirs = BlobStream::start(&streams, &b).unwrap();
        drop(held);
        BlobStream::start(&streams, &a).unwrap();
    }
}

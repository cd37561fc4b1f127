//! The peer manager: per pinned peer, one *link* task that keeps a mutual-TLS
//! channel open (reconnecting with capped exponential backoff and jitter,
//! reset on success) and polls the peer's heads; and per followed origin, one
//! *follow* task that pulls that origin's log from the best source — the
//! origin itself when reachable, otherwise whichever relay holds the most —
//! and switches when that source fails or falls behind.
//!
//! Sources are pulled, never pushed to: no publisher keeps a queue per peer.
//!
//! A source must deliver what it advertises: every call has a deadline,
//! and a source that advertises more of a log than this node holds must
//! move the held head within three heartbeat periods, or it is passed over
//! and believed no further (a relay could otherwise eclipse a log by
//! advertising a head it never sends). What peers say they hold is kept
//! only for the origins this node follows, and whether a peer serves this
//! node in return is judged from what this node saw, not from its claims.

use crate::{error::NodeError, node::Node};
use backon::{BackoffBuilder, ExponentialBuilder};
use comity_core::{Hash, OrgId, PublicKey, proto};
use comity_store::PeerRecord;
use futures::FutureExt;
use proto::{
    HeadsRequest, HelloRequest, SubscribeRequest, federation_client::FederationClient,
    subscribe_event::Event,
};
use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    sync::{Arc, Mutex},
    time::{Duration, SystemTime},
};
use tokio::{
    sync::{Notify, watch},
    time::Instant,
};
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;
use tracing::Instrument;

/// Capabilities this build announces in `Hello`.
pub const CAPABILITIES: &[&str] = &["subscribe", "heartbeat", "redaction"];

/// How long a source that served a bad entry is passed over.
const PENALTY: Duration = Duration::from_secs(60);
/// A link's `Heads` polls that bring nothing new back off up to this many
/// poll periods.
const MAX_POLL_BACKOFF: u32 = 8;

/// Entries one subscription may serve that this node already holds before the
/// source is judged to be looping. An honest source serves each entry after
/// the requested seq once; a few duplicates can come from a source switch.
const MAX_DUPLICATES: usize = 1024;

/// An entry refused, and why: kept while it blocks a log, so that the
/// operators on both sides see it in `comity status`, not only in a log line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub seq: u64,
    /// The entry's id (BLAKE3 of its header).
    pub id: Hash,
    /// In [`PeerView::refused`], the source that served the entry; in
    /// [`PeerView::refuses_ours`], the partner that refuses it.
    pub peer: OrgId,
    pub reason: String,
    pub at: SystemTime,
}

/// The most of a reason a partner reports that is kept and shown.
const MAX_REASON: usize = 512;

/// A reason a partner reported, as it may be shown to an operator: no
/// control characters (no terminal escapes), at most [`MAX_REASON`] bytes.
fn clean_reason(reason: &str) -> String {
    let mut clean = String::new();
    for c in reason.chars().filter(|c| !c.is_control()) {
        if clean.len() + c.len_utf8() > MAX_REASON {
            break;
        }
        clean.push(c);
    }
    clean
}

/// What the rest of the node may see of one peer.
#[derive(Debug, Clone)]
pub struct PeerView {
    pub record: PeerRecord,
    pub connected: bool,
    /// The peer serves this node in return: since this node started, it
    /// accepted this node's key in a mutual-TLS handshake and answered this
    /// node's `Hello` as the organisation pinned, and has not refused it
    /// since. Seen, not claimed: what a peer says it follows is not used.
    pub reciprocal: bool,
    pub last_error: Option<String>,
    pub last_contact: Option<SystemTime>,
    pub failures: u32,
    /// What the peer holds of the origins this node follows, and of this
    /// node's own log; any other origin a peer names is not kept.
    pub remote_heads: BTreeMap<OrgId, u64>,
    /// Origins the peer follows, from its `Hello`.
    pub follows: BTreeSet<OrgId>,
    pub serving: BTreeSet<OrgId>,
    /// The next entry of this peer's log, which this node refuses (until
    /// its head gets past it).
    pub refused: Option<Refusal>,
    /// The entry of this node's own log that this peer refuses, as it
    /// reported when it last subscribed to it.
    pub refuses_ours: Option<Refusal>,
}

struct PeerRuntime {
    view: PeerView,
    channel: Option<Channel>,
    cancel: CancellationToken,
    reconnect: Arc<Notify>,
    penalised_until: Option<Instant>,
    /// Per origin, the most of its log this peer is believed to hold: set
    /// when it advertised more than this node held and did not serve it
    /// (a broken promise), lifted when it serves something new.
    doubted: BTreeMap<OrgId, u64>,
}

impl PeerRuntime {
    fn new(record: PeerRecord) -> Self {
        Self {
            view: PeerView {
                record,
                connected: false,
                reciprocal: false,
                last_error: None,
                last_contact: None,
                failures: 0,
                remote_heads: BTreeMap::new(),
                follows: BTreeSet::new(),
                serving: BTreeSet::new(),
                refused: None,
                refuses_ours: None,
            },
            channel: None,
            cancel: CancellationToken::new(),
            reconnect: Arc::new(Notify::new()),
            penalised_until: None,
            doubted: BTreeMap::new(),
        }
    }

    /// What this peer holds of `origin`, as far as it is believed: what it
    /// advertised, but no more than it was found to serve.
    fn believed_head(&self, origin: &OrgId) -> Option<u64> {
        let advertised = *self.view.remote_heads.get(origin)?;
        Some(
            self.doubted
                .get(origin)
                .map_or(advertised, |&cap| advertised.min(cap)),
        )
    }

    fn usable(&self) -> Option<&Channel> {
        let penalised = self.penalised_until.is_some_and(|t| t > Instant::now());
        self.channel.as_ref().filter(|_| !penalised)
    }
}

/// A source chosen for an origin.
#[derive(Clone)]
pub(crate) struct Source {
    pub org: OrgId,
    pub channel: Channel,
}

/// Runtime state of every pinned peer.
///
/// Follow tasks re-judge their source when the table changes in a way that
/// matters to them, and only then: `links` moves when a peer is added,
/// removed, connected, failed or penalised; `advertised` moves, per origin,
/// when some peer advertises more of that origin's log. Contact times,
/// heartbeats that repeat a head, and the like move neither: in a mesh of N
/// nodes each node hears from N peers, and waking its N follow tasks on
/// every such message cost O(N²) per node (measured at N = 200).
pub struct PeerTable {
    /// This node's own organisation.
    own: OrgId,
    inner: Mutex<BTreeMap<OrgId, PeerRuntime>>,
    links: watch::Sender<u64>,
    advertised: Mutex<HashMap<OrgId, watch::Sender<u64>>>,
}

/// What a follow task of one origin waits on to look at its source again.
pub(crate) struct SourceChanges {
    links: watch::Receiver<u64>,
    advertised: watch::Receiver<u64>,
}

impl SourceChanges {
    /// Marks everything so far as seen: call it just before judging the
    /// sources, so that [`Self::changed`] resolves for any change after the
    /// judgement, and only for those.
    fn mark_seen(&mut self) {
        self.links.mark_unchanged();
        self.advertised.mark_unchanged();
    }

    /// Resolves at the next change of links or of what is advertised for
    /// the origin (never, once the table is gone).
    async fn changed(&mut self) {
        let ended = tokio::select! {
            changed = self.links.changed() => changed.is_err(),
            changed = self.advertised.changed() => changed.is_err(),
        };
        if ended {
            std::future::pending::<()>().await;
        }
    }
}

impl PeerTable {
    /// The table of the node of `own`.
    pub(crate) fn new(own: OrgId) -> Self {
        Self {
            own,
            inner: Mutex::default(),
            links: watch::Sender::new(0),
            advertised: Mutex::default(),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut BTreeMap<OrgId, PeerRuntime>) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f(&mut inner)
    }

    /// Changes one peer's state; wakes nobody (see [`PeerTable`]).
    fn with_peer(&self, org: &OrgId, f: impl FnOnce(&mut PeerRuntime)) {
        self.with(|peers| peers.get_mut(org).map(f));
    }

    /// Changes one peer's links-related state and wakes every follow task.
    fn relink(&self, org: &OrgId, f: impl FnOnce(&mut PeerRuntime)) {
        self.with_peer(org, f);
        self.links.send_modify(|n| *n += 1);
    }

    fn advertised_sender<T>(&self, origin: &OrgId, f: impl FnOnce(&watch::Sender<u64>) -> T) -> T {
        let mut advertised = self.advertised.lock().unwrap_or_else(|e| e.into_inner());
        f(advertised
            .entry(origin.clone())
            .or_insert_with(|| watch::Sender::new(0)))
    }

    /// Wakes the follow tasks of the origins some peer now advertises more
    /// of (only followed origins have one).
    fn advertise(&self, origins: Vec<OrgId>) {
        for origin in origins.into_iter().filter(|o| self.contains(o)) {
            self.advertised_sender(&origin, |sender| sender.send_modify(|n| *n += 1));
        }
    }

    pub(crate) fn source_changes(&self, origin: &OrgId) -> SourceChanges {
        SourceChanges {
            links: self.links.subscribe(),
            advertised: self.advertised_sender(origin, watch::Sender::subscribe),
        }
    }

    /// Adds or replaces a peer; a replaced peer's tasks are cancelled.
    pub(crate) fn insert(&self, record: PeerRecord) {
        self.with(|peers| {
            if let Some(old) = peers.insert(record.org.clone(), PeerRuntime::new(record)) {
                old.cancel.cancel();
            }
        });
        self.links.send_modify(|n| *n += 1);
    }

    pub(crate) fn remove(&self, org: &OrgId) {
        let old = self.with(|peers| {
            // No longer followed: what others hold of it is not kept either.
            for p in peers.values_mut() {
                p.view.remote_heads.remove(org);
            }
            peers.remove(org)
        });
        if let Some(old) = old {
            old.cancel.cancel();
        }
        self.advertised
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(org);
        self.links.send_modify(|n| *n += 1);
    }

    pub fn orgs(&self) -> Vec<OrgId> {
        self.with(|peers| peers.keys().cloned().collect())
    }

    pub fn contains(&self, org: &OrgId) -> bool {
        self.with(|peers| peers.contains_key(org))
    }

    pub fn views(&self) -> Vec<PeerView> {
        self.with(|peers| peers.values().map(|p| p.view.clone()).collect())
    }

    fn tasks_for(&self, org: &OrgId) -> Option<(PeerRecord, CancellationToken, Arc<Notify>)> {
        self.with(|peers| {
            peers
                .get(org)
                .map(|p| (p.view.record.clone(), p.cancel.clone(), p.reconnect.clone()))
        })
    }

    /// The peer rotated its key: the next connection expects the new one.
    pub(crate) fn update_key(&self, org: &OrgId, key: PublicKey) {
        self.relink(org, |p| p.view.record.key = key);
    }

    /// A peer called our `Hello`. What it says it follows is not recorded
    /// as reciprocity: that is judged from what this node sees (see
    /// [`PeerView::reciprocal`]).
    pub(crate) fn note_hello(&self, org: &OrgId) {
        self.with_peer(org, |p| p.view.last_contact = Some(SystemTime::now()));
    }

    /// The peer refused our `Hello`: it does not serve us (any more).
    fn note_refused_us(&self, org: &OrgId) {
        self.with_peer(org, |p| p.view.reciprocal = false);
    }

    /// The heads of `heads` worth keeping: those of the origins this node
    /// follows and of its own log. A peer's answers may name any origin;
    /// keeping them all would let it grow this table at will.
    fn known_heads(
        &self,
        peers: &BTreeMap<OrgId, PeerRuntime>,
        heads: &[proto::Head],
    ) -> BTreeMap<OrgId, u64> {
        heads_map(heads)
            .into_iter()
            .filter(|(origin, _)| origin == &self.own || peers.contains_key(origin))
            .collect()
    }

    /// `org` answered our `Hello`, over mutual TLS, as itself: it serves us.
    fn set_connected(&self, org: &OrgId, channel: Channel, hello: &proto::HelloResponse) {
        self.with(|peers| {
            let heads = self.known_heads(peers, &hello.heads);
            if let Some(p) = peers.get_mut(org) {
                p.channel = Some(channel);
                p.view.connected = true;
                p.view.reciprocal = true;
                p.view.last_error = None;
                p.view.failures = 0;
                p.view.last_contact = Some(SystemTime::now());
                p.view.remote_heads = heads;
                p.view.follows = hello
                    .follows
                    .iter()
                    .filter_map(|o| OrgId::new(o.clone()).ok())
                    .collect();
            }
        });
        self.links.send_modify(|n| *n += 1);
    }

    /// Merges what `org` answered to a `Heads` poll; true if it advertises
    /// more of some origin than before.
    fn record_heads(&self, org: &OrgId, heads: &[proto::Head]) -> bool {
        let mut more = Vec::new();
        self.with(|peers| {
            let heads = self.known_heads(peers, heads);
            if let Some(p) = peers.get_mut(org) {
                more = advanced(&p.view.remote_heads, &heads);
                p.view.remote_heads.extend(heads);
                p.view.last_contact = Some(SystemTime::now());
            }
        });
        let news = !more.is_empty();
        self.advertise(more);
        news
    }

    fn record_remote_head(&self, org: &OrgId, origin: &OrgId, seq: u64) {
        if !self.contains(origin) {
            return;
        }
        let mut more = false;
        self.with_peer(org, |p| {
            let held = p.view.remote_heads.insert(origin.clone(), seq);
            more = held.is_none_or(|held| held < seq);
            p.view.last_contact = Some(SystemTime::now());
        });
        if more {
            self.advertise(vec![origin.clone()]);
        }
    }

    /// The link to `org` failed: drop the channel and let the link task reconnect.
    fn mark_failed(&self, org: &OrgId, error: String) {
        self.relink(org, |p| {
            p.channel = None;
            p.view.connected = false;
            p.view.failures = p.view.failures.saturating_add(1);
            p.view.last_error = Some(error);
            p.reconnect.notify_one();
        });
    }

    /// `org` served something invalid: remember why and pass it over for a while.
    fn penalise(&self, org: &OrgId, error: String) {
        self.relink(org, |p| {
            p.view.last_error = Some(error);
            p.view.failures = p.view.failures.saturating_add(1);
            p.penalised_until = Some(Instant::now() + PENALTY);
        });
        // Its expiry is a change of links too: wake the follow tasks then,
        // rather than have each of them poll for it.
        let links = self.links.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                tokio::time::sleep(PENALTY).await;
                links.send_modify(|n| *n += 1);
            });
        }
    }

    /// `org` advertised more of `origin` than this node holds (`held`) and
    /// did not serve it: it loses its standing. It is passed over for a
    /// while, like a source that served something invalid, and from then on
    /// believed to hold no more than `held`, whatever it advertises, until
    /// it serves something new. So a relay cannot eclipse a log by
    /// advertising a head it never sends.
    fn broke_promise(&self, org: &OrgId, origin: &OrgId, held: u64, error: String) {
        self.with_peer(org, |p| {
            p.doubted.insert(origin.clone(), held);
        });
        self.penalise(org, error);
    }

    /// `org` served new entries of `origin`: what it advertises counts again.
    fn kept_promise(&self, org: &OrgId, origin: &OrgId) {
        self.with_peer(org, |p| {
            p.doubted.remove(origin);
        });
    }

    /// What `org` is believed to hold of `origin` (see [`Self::broke_promise`]).
    fn promised(&self, org: &OrgId, origin: &OrgId) -> u64 {
        self.with(|peers| {
            peers
                .get(org)
                .and_then(|p| p.believed_head(origin))
                .unwrap_or(0)
        })
    }

    /// This node refuses the next entry of `origin`'s log.
    pub(crate) fn note_refusal(&self, origin: &OrgId, refusal: Refusal) {
        self.with_peer(origin, |p| p.view.refused = Some(refusal));
    }

    /// This node now holds `origin` up to `head`: a refusal at or below it
    /// is over.
    pub(crate) fn passed(&self, origin: &OrgId, head: u64) {
        self.with_peer(origin, |p| {
            if p.view.refused.as_ref().is_some_and(|r| r.seq <= head) {
                p.view.refused = None;
            }
        });
    }

    /// The entry of `origin`'s log this node refuses, if any.
    pub(crate) fn refusal_of(&self, origin: &OrgId) -> Option<Refusal> {
        self.with(|peers| peers.get(origin).and_then(|p| p.view.refused.clone()))
    }

    /// The operator accepted entry `seq` of `origin` with `id`: it is no
    /// longer refused, and the source that served it is not passed over
    /// for it any more. Wakes the follow tasks.
    pub(crate) fn accepted(&self, origin: &OrgId, seq: u64, id: &Hash) {
        let served_by = self.with(|peers| {
            let p = peers.get_mut(origin)?;
            let refusal = p.view.refused.take_if(|r| r.seq == seq && &r.id == id)?;
            Some(refusal.peer)
        });
        if let Some(source) = served_by {
            self.with_peer(&source, |p| p.penalised_until = None);
        }
        self.links.send_modify(|n| *n += 1);
    }

    /// What `peer` reported, subscribing to our own log, about the entry
    /// after its cursor: refused (and why), or not. True if it reports a
    /// refusal it had not reported before.
    pub(crate) fn note_refuses_ours(&self, peer: &OrgId, refused: Option<Refusal>) -> bool {
        let mut news = false;
        self.with_peer(peer, |p| {
            let same = |a: &Refusal, b: &Refusal| a.seq == b.seq && a.id == b.id;
            news = match (&p.view.refuses_ours, &refused) {
                (Some(old), Some(new)) => !same(old, new),
                (None, Some(_)) => true,
                _ => false,
            };
            p.view.refuses_ours = refused;
        });
        news
    }

    fn set_serving(&self, org: &OrgId, origin: &OrgId, serving: bool) {
        self.with_peer(org, |p| {
            if serving {
                p.view.serving.insert(origin.clone());
            } else {
                p.view.serving.remove(origin);
            }
        });
    }

    /// The followed origins out of direct reach: for them, what other peers
    /// hold (their `Heads`) matters for choosing a relay.
    pub(crate) fn out_of_reach(&self) -> Vec<OrgId> {
        self.with(|peers| {
            peers
                .iter()
                .filter(|(_, p)| p.usable().is_none())
                .map(|(org, _)| org.clone())
                .collect()
        })
    }

    /// The best source for `origin`: the origin itself when connected,
    /// otherwise the connected peer that advertises the highest head for it,
    /// otherwise one that follows it (and will relay it live once it has it).
    fn best_source(&self, origin: &OrgId) -> Option<Source> {
        self.with(|peers| {
            if let Some(channel) = peers.get(origin).and_then(PeerRuntime::usable) {
                return Some(Source {
                    org: origin.clone(),
                    channel: channel.clone(),
                });
            }
            peers
                .iter()
                .filter_map(|(org, p)| {
                    let head = match p.believed_head(origin) {
                        Some(head) => head,
                        None if p.view.follows.contains(origin) => 0,
                        None => return None,
                    };
                    p.usable().map(|c| (head, org, c))
                })
                .max_by_key(|(head, _, _)| *head)
                .map(|(_, org, channel)| Source {
                    org: org.clone(),
                    channel: channel.clone(),
                })
        })
    }

    /// Whether a source other than `current` should serve `origin` instead:
    /// the origin itself came within reach, or another peer holds more of the
    /// log than both we and the current source do.
    fn should_switch(&self, origin: &OrgId, current: &OrgId, our_head: u64) -> bool {
        self.with(|peers| {
            if current != origin && peers.get(origin).and_then(PeerRuntime::usable).is_some() {
                return true;
            }
            let current_head = peers
                .get(current)
                .and_then(|p| p.believed_head(origin))
                .unwrap_or(0);
            peers.iter().any(|(org, p)| {
                org != current
                    && p.usable().is_some()
                    && p.believed_head(origin)
                        .is_some_and(|h| h > our_head.max(current_head))
            })
        })
    }
}

/// The origins whose head in `new` is above the one in `old`.
fn advanced(old: &BTreeMap<OrgId, u64>, new: &BTreeMap<OrgId, u64>) -> Vec<OrgId> {
    new.iter()
        .filter(|(origin, seq)| old.get(*origin).is_none_or(|held| held < *seq))
        .map(|(origin, _)| origin.clone())
        .collect()
}

fn heads_map(heads: &[proto::Head]) -> BTreeMap<OrgId, u64> {
    heads
        .iter()
        .filter_map(|h| Some((OrgId::new(h.origin.clone()).ok()?, h.seq)))
        .collect()
}

/// Checks an endpoint given by an operator: `https://host:port`.
pub fn validate_endpoint(endpoint: &str) -> Result<(), NodeError> {
    let rest = endpoint.strip_prefix("https://").ok_or_else(|| {
        NodeError::InvalidArgument(format!(
            "endpoint {endpoint:?} must look like https://host:port"
        ))
    })?;
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
            Ok(())
        }
        _ => Err(NodeError::InvalidArgument(format!(
            "endpoint {endpoint:?} must look like https://host:port"
        ))),
    }
}

fn backoff(node: &Node) -> impl Iterator<Item = Duration> + use<> {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(node.config().replication.backoff_max())
        .with_jitter()
        .without_max_times()
        .build()
}

/// Sleeps `delay` unless cancelled first; returns false when cancelled.
async fn pause(cancel: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = cancel.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Starts (or restarts) the tasks of one peer on a running node.
pub(crate) fn restart_peer(node: &Arc<Node>, org: &OrgId) {
    let started = node.started.load(std::sync::atomic::Ordering::Acquire);
    if !started || node.tasks.is_closed() || node.shutdown.is_cancelled() {
        return;
    }
    let Some((record, cancel, reconnect)) = node.peers.tasks_for(org) else {
        return;
    };
    let stop = node.shutdown.clone();
    let cancel_on_shutdown = cancel.clone();
    node.tasks.spawn(async move {
        stop.cancelled().await;
        cancel_on_shutdown.cancel();
    });
    if let Some(endpoint) = record.endpoint.clone() {
        let span = tracing::info_span!("link", peer = %org);
        node.tasks.spawn(
            link(
                node.clone(),
                org.clone(),
                endpoint,
                record.key,
                cancel.clone(),
                reconnect,
            )
            .instrument(span),
        );
    }
    let span = tracing::info_span!("follow", origin = %org);
    node.tasks
        .spawn(follow(node.clone(), org.clone(), cancel).instrument(span));
}

/// Starts the tasks of every pinned peer.
pub(crate) fn start_all(node: &Arc<Node>) {
    for org in node.peers.orgs() {
        restart_peer(node, &org);
    }
}

pub(crate) fn client(node: &Node, channel: Channel) -> FederationClient<Channel> {
    let limit = node.config().limits.max_message_bytes;
    FederationClient::new(channel)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit)
}

async fn connect(
    node: &Node,
    org: &OrgId,
    endpoint: &str,
    key: PublicKey,
) -> Result<(Channel, proto::HelloResponse), String> {
    let config = comity_tls::client_config(&node.tls_identity(), key).map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(node.config().limits.connect_timeout_secs.max(1));
    let channel = comity_tls::connect(endpoint, config, timeout)
        .await
        .map_err(|e| e.to_string())?;
    let hello = HelloRequest {
        protocol_version: comity_proto::PROTOCOL_VERSION,
        capabilities: CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        follows: node.follows().iter().map(ToString::to_string).collect(),
    };
    let response = tokio::time::timeout(timeout, client(node, channel.clone()).hello(hello))
        .await
        .map_err(|_| "no answer to Hello".to_string())?
        .map_err(|status| {
            if status.code() == tonic::Code::PermissionDenied {
                node.peers.note_refused_us(org);
            }
            format!("refused: {}", status.message())
        })?
        .into_inner();
    if response.org != org.as_str() {
        return Err(format!(
            "the key pinned for {org} answered as {:?}",
            response.org
        ));
    }
    Ok((channel, response))
}

/// Keeps a channel to one peer and polls its heads.
async fn link(
    node: Arc<Node>,
    org: OrgId,
    endpoint: String,
    key: PublicKey,
    cancel: CancellationToken,
    reconnect: Arc<Notify>,
) {
    let mut delays = backoff(&node);
    let poll = node.config().replication.heads_poll();
    while !cancel.is_cancelled() {
        // Read the pin on every attempt: the peer may have rotated its key.
        let key = node.pins().key_of(&org).unwrap_or(key);
        match connect(&node, &org, &endpoint, key).await {
            Ok((channel, hello)) => {
                tracing::info!(%endpoint, "connected");
                node.peers.set_connected(&org, channel.clone(), &hello);
                delays = backoff(&node);
                let mut client = client(&node, channel);
                // Polls only while some followed origin is out of direct
                // reach, asks only about those, and backs off while the
                // answers bring nothing new: in a mesh of N nodes every one
                // of the N links of every node polls.
                let mut every = poll;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = reconnect.notified() => break,
                        _ = tokio::time::sleep(every) => {}
                    }
                    let out_of_reach = node.peers.out_of_reach();
                    if out_of_reach.is_empty() {
                        // Every origin is reachable itself: what others hold
                        // of it does not matter (its heartbeats carry its head).
                        every = poll;
                        continue;
                    }
                    let request = HeadsRequest {
                        origins: out_of_reach.iter().map(ToString::to_string).collect(),
                    };
                    // A peer that never answers is a dead link, not a wait.
                    let answer = tokio::time::timeout(call_deadline(&node), client.heads(request))
                        .await
                        .unwrap_or_else(|_| {
                            Err(tonic::Status::deadline_exceeded(format!(
                                "no answer in {}s",
                                call_deadline(&node).as_secs()
                            )))
                        });
                    match answer {
                        Ok(heads) => {
                            let news = node.peers.record_heads(&org, &heads.into_inner().heads);
                            every = if news {
                                poll
                            } else {
                                every
                                    .saturating_mul(2)
                                    .min(poll.saturating_mul(MAX_POLL_BACKOFF))
                            };
                        }
                        Err(status) => {
                            node.peers
                                .mark_failed(&org, format!("heads: {}", status.message()));
                            break;
                        }
                    }
                }
            }
            Err(error) => {
                tracing::debug!(%endpoint, %error, "connect failed");
                node.peers.mark_failed(&org, error);
            }
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(1));
        if !pause(&cancel, delay).await {
            return;
        }
    }
}

enum PullEnd {
    Cancelled,
    Switch,
}

enum PullError {
    /// The source served something invalid: pass it over.
    BadEntry(String),
    /// The source advertised more than this node holds and served none of
    /// it in time, or did not answer the subscription: it loses its standing.
    NoProgress { held: u64, error: String },
    /// The stream broke: the link is suspect.
    Stream(String),
    /// Our side cannot go on (frozen origin, store failure).
    Local(String),
}

/// Follows one origin's log from the best available source.
async fn follow(node: Arc<Node>, origin: OrgId, cancel: CancellationToken) {
    let mut changes = node.peers.source_changes(&origin);
    let mut delays = backoff(&node);
    let poll = node.config().replication.heads_poll();
    while !cancel.is_cancelled() {
        if node.store().is_frozen(&origin).unwrap_or(false) {
            tracing::warn!("origin is frozen after equivocation; not following it");
            return;
        }
        // One receiver for the task's whole life, marked before each
        // judgement: a link that comes up while a pull from a relay is being
        // set up still wakes that pull (a receiver made inside it would have
        // taken that change as already seen, and nothing else re-judges).
        changes.mark_seen();
        let Some(source) = node.peers.best_source(&origin) else {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(poll) => {}
            }
            continue;
        };
        node.peers.set_serving(&source.org, &origin, true);
        let outcome = pull(&node, &origin, &source, &mut changes, &cancel).await;
        node.peers.set_serving(&source.org, &origin, false);
        match outcome {
            Ok(PullEnd::Cancelled) => return,
            Ok(PullEnd::Switch) => {
                tracing::info!(from = %source.org, "switching source");
                delays = backoff(&node);
            }
            Err(PullError::BadEntry(error)) => {
                tracing::warn!(source = %source.org, %error, "refused entries from source");
                if source.org == origin {
                    // Tell the origin at once, not only at the next
                    // subscription after the penalty.
                    report_refusal(&node, &origin, &source);
                }
                node.peers.penalise(&source.org, error);
            }
            Err(PullError::NoProgress { held, error }) => {
                tracing::warn!(source = %source.org, %error, "source does not deliver");
                node.peers.broke_promise(&source.org, &origin, held, error);
            }
            Err(PullError::Stream(error)) => {
                tracing::debug!(source = %source.org, %error, "subscription ended");
                node.peers.mark_failed(&source.org, error);
                if !pause(&cancel, delays.next().unwrap_or(Duration::from_secs(1))).await {
                    return;
                }
            }
            Err(PullError::Local(error)) => {
                tracing::error!(%error, "cannot ingest");
                if !pause(&cancel, delays.next().unwrap_or(Duration::from_secs(1))).await {
                    return;
                }
            }
        }
    }
}

/// What to tell a source subscribed to after `after_seq`: the entry after
/// it, if this node refuses that one.
fn refused_entry(node: &Node, origin: &OrgId, after_seq: u64) -> Option<proto::RefusedEntry> {
    node.peers
        .refusal_of(origin)
        .filter(|r| r.seq == after_seq.saturating_add(1))
        .map(|r| proto::RefusedEntry {
            seq: r.seq,
            id: r.id.0.to_vec(),
            reason: r.reason,
        })
}

/// Tells `origin`, which just served an entry this node refuses, which and
/// why: a subscription carrying the refusal, dropped once answered.
fn report_refusal(node: &Arc<Node>, origin: &OrgId, source: &Source) {
    let Ok(after_seq) = our_head(node, origin) else {
        return;
    };
    let Some(refused) = refused_entry(node, origin, after_seq) else {
        return;
    };
    let request = SubscribeRequest {
        origin: origin.to_string(),
        after_seq,
        refused: Some(refused),
    };
    let mut federation = client(node, source.channel.clone());
    let deadline = call_deadline(node);
    node.tasks.spawn(async move {
        let _ = tokio::time::timeout(deadline, federation.subscribe(request)).await;
    });
}

/// A refusal `peer` reported about the entry after `after_seq` of our own
/// log, as kept (see [`Refusal`]).
pub(crate) fn reported_refusal(
    peer: &OrgId,
    after_seq: u64,
    refused: Option<proto::RefusedEntry>,
) -> Option<Refusal> {
    let refused = refused.filter(|r| r.seq == after_seq.saturating_add(1))?;
    Some(Refusal {
        seq: refused.seq,
        id: Hash::from_slice(&refused.id)?,
        peer: peer.clone(),
        reason: clean_reason(&refused.reason),
        at: SystemTime::now(),
    })
}

/// How long a peer may take to answer a call or to bring what it promised:
/// three heartbeat periods, after which a silent stream is dead too.
pub(crate) fn call_deadline(node: &Node) -> Duration {
    node.config().replication.heartbeat().saturating_mul(3)
}

fn our_head(node: &Node, origin: &OrgId) -> Result<u64, PullError> {
    node.store()
        .head(origin)
        .map(|h| h.map_or(0, |h| h.seq))
        .map_err(|e| PullError::Local(e.to_string()))
}

/// One subscription to one source, until it ends, fails or should switch.
async fn pull(
    node: &Arc<Node>,
    origin: &OrgId,
    source: &Source,
    changes: &mut SourceChanges,
    cancel: &CancellationToken,
) -> Result<PullEnd, PullError> {
    let after_seq = our_head(node, origin)?;
    let request = SubscribeRequest {
        origin: origin.to_string(),
        after_seq,
        refused: refused_entry(node, origin, after_seq),
    };
    let silence = call_deadline(node);
    let mut federation = client(node, source.channel.clone());
    let subscribe = federation.subscribe(request);
    let mut stream = tokio::select! {
        _ = cancel.cancelled() => return Ok(PullEnd::Cancelled),
        answer = tokio::time::timeout(silence, subscribe) => match answer {
            Ok(answer) => answer
                .map_err(|s| PullError::Stream(format!("subscribe: {}", s.message())))?
                .into_inner(),
            Err(_) => {
                return Err(PullError::NoProgress {
                    held: after_seq,
                    error: format!(
                        "did not answer a subscription to {origin} in {}s",
                        silence.as_secs()
                    ),
                });
            }
        },
    };
    let batch_size = node.config().replication.batch_size.max(1);
    // Re-judge the source whenever the peer table changes (the origin itself
    // came within reach, a peer reported more, a penalty ran out); nothing
    // else can make another source better, so there is no timer.
    let mut last_heard = Instant::now();
    // The progress timer: while the source advertises more than this node
    // holds, the head must move within `silence`, or the source loses its
    // standing (heartbeats alone keep a stream alive, not a promise).
    let mut held = after_seq;
    let mut progress_by = Instant::now() + silence;
    // Pipelined: the batch before this one is stored (and flushed) by its
    // own task while this one is received and checked.
    let mut storing: Option<tokio::task::JoinHandle<Result<usize, PullError>>> = None;
    let mut duplicates = 0;
    let mut key = node.key_of(origin);
    let end = loop {
        let head = match our_head(node, origin) {
            Ok(head) => head,
            Err(e) => break Err(e),
        };
        if head > held {
            held = head;
            progress_by = Instant::now() + silence;
            node.peers.kept_promise(&source.org, origin);
        }
        let promised = node.peers.promised(&source.org, origin);
        if promised <= held {
            // Nothing is owed: the clock starts when something is.
            progress_by = Instant::now() + silence;
        }
        let event = tokio::select! {
            _ = cancel.cancelled() => break Ok(PullEnd::Cancelled),
            _ = tokio::time::sleep_until(progress_by), if promised > held => {
                break Err(PullError::NoProgress {
                    held,
                    error: format!(
                        "advertised {origin} up to seq {promised} but served nothing after \
                         seq {held} for {}s",
                        silence.as_secs()
                    ),
                });
            }
            _ = changes.changed() => {
                match our_head(node, origin) {
                    Ok(head) if node.peers.should_switch(origin, &source.org, head) => {
                        break Ok(PullEnd::Switch)
                    }
                    Ok(_) => continue,
                    Err(e) => break Err(e),
                }
            }
            // The batch in flight is stored: settle it now, so the head
            // (and the progress timer) moves without waiting for more.
            stored = async {
                match storing.as_mut() {
                    Some(task) => task.await,
                    None => std::future::pending().await,
                }
            }, if storing.is_some() => {
                storing = None;
                match stored.map_err(|e| PullError::Local(format!("ingest task failed: {e}"))) {
                    Ok(Ok(count)) => {
                        duplicates = count;
                        continue;
                    }
                    Ok(Err(e)) | Err(e) => break Err(e),
                }
            }
            _ = tokio::time::sleep_until(last_heard + silence) => {
                break Err(PullError::Stream(format!("silent for {}s: no heartbeat", silence.as_secs())));
            }
            message = stream.message() => match message {
                Err(status) => break Err(PullError::Stream(stream_error(&status))),
                Ok(None) => break Err(PullError::Stream("stream closed by peer".into())),
                Ok(Some(event)) => event,
            },
        };
        last_heard = Instant::now();
        let mut batch = Vec::new();
        let mut next = event.event;
        let mut stream_failed = None;
        loop {
            match next {
                Some(Event::Entry(entry)) => batch.push(entry),
                Some(Event::Heartbeat(beat)) => {
                    node.peers
                        .record_remote_head(&source.org, origin, beat.head_seq)
                }
                None => {
                    stream_failed = Some(PullError::BadEntry("empty event on subscription".into()));
                    break;
                }
            }
            if batch.len() >= batch_size {
                break;
            }
            // Take whatever else has already arrived, without waiting: one group commit.
            match stream.message().now_or_never() {
                Some(Ok(Some(more))) => next = more.event,
                Some(Err(status)) => {
                    stream_failed = Some(PullError::Stream(stream_error(&status)));
                    break;
                }
                _ => break,
            }
        }
        if !batch.is_empty() {
            let checked = match node.check(origin, key, batch).await {
                Ok(checked) => checked,
                Err(e) => break Err(PullError::Local(e.to_string())),
            };
            key = checked.next_key();
            let refused = checked.failure().is_some();
            if let Some(previous) = storing.take() {
                match finish(previous).await {
                    Ok(count) => duplicates = count,
                    Err(e) => break Err(e),
                }
            }
            storing = Some(tokio::spawn(store(
                node.clone(),
                source.org.clone(),
                checked,
                duplicates,
            )));
            if refused {
                // Store what came before the bad entry and name it now,
                // without waiting for the source to send more.
                if let Some(previous) = storing.take()
                    && let Err(e) = finish(previous).await
                {
                    break Err(e);
                }
            }
        } else if let Some(previous) = storing.take() {
            // Nothing new (a heartbeat): settle the batch in flight now.
            match finish(previous).await {
                Ok(count) => duplicates = count,
                Err(e) => break Err(e),
            }
        }
        if let Some(e) = stream_failed {
            break Err(e);
        }
    };
    // Whatever ends the pull, the batch in flight is stored first, so the
    // next pull starts after it.
    if let Some(previous) = storing.take() {
        finish(previous).await?;
    }
    end
}

async fn finish(
    task: tokio::task::JoinHandle<Result<usize, PullError>>,
) -> Result<usize, PullError> {
    task.await
        .map_err(|e| PullError::Local(format!("ingest task failed: {e}")))?
}

/// Stage 2 of ingest for one batch; returns the running count of duplicates
/// served on this subscription.
async fn store(
    node: Arc<Node>,
    source: OrgId,
    checked: crate::ingest::Checked,
    mut duplicates: usize,
) -> Result<usize, PullError> {
    let offered = checked.entries.len();
    match node.store_checked(&source, checked).await {
        Ok(ingested) => {
            duplicates += offered.saturating_sub(ingested.new + ingested.filled);
            crate::blobs::want(&node, &source, ingested.attachments);
            if duplicates > MAX_DUPLICATES {
                return Err(PullError::BadEntry(format!(
                    "served {duplicates} duplicate entries this node already holds: \
                     the stream repeats itself"
                )));
            }
            Ok(duplicates)
        }
        Err(e @ (NodeError::Store(_) | NodeError::Internal(_))) => {
            Err(PullError::Local(e.to_string()))
        }
        Err(e) => Err(PullError::BadEntry(e.to_string())),
    }
}

fn stream_error(status: &tonic::Status) -> String {
    match status.code() {
        tonic::Code::OutOfRange | tonic::Code::ResourceExhausted => {
            format!("oversized message refused: {}", status.message())
        }
        _ => format!("stream: {}", status.message()),
    }
}

/// Where to fetch a blob from: `preferred` first, then every other connected
/// peer that `may_have` it (see `blobs::readers`).
pub(crate) fn sources_for_blob(
    node: &Node,
    preferred: Option<&OrgId>,
    may_have: impl Fn(&OrgId) -> bool,
) -> Vec<Source> {
    node.peers.with(|peers| {
        let mut sources: Vec<Source> = peers
            .iter()
            .filter(|(org, _)| may_have(org))
            .filter_map(|(org, p)| {
                p.usable().map(|c| Source {
                    org: org.clone(),
                    channel: c.clone(),
                })
            })
            .collect();
        sources.sort_by_key(|s| Some(&s.org) != preferred);
        sources
    })
}

/// The peer table as the local API shows it, with lag against our heads.
pub fn lag(view: &PeerView, ours: &HashMap<OrgId, u64>) -> Vec<(OrgId, u64, u64)> {
    view.remote_heads
        .iter()
        .map(|(origin, remote)| {
            (
                origin.clone(),
                ours.get(origin).copied().unwrap_or(0),
                *remote,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use comity_core::IdentityKey;

    fn org(id: &str) -> OrgId {
        OrgId::new(id).unwrap()
    }

    fn table_with(orgs: &[&str]) -> PeerTable {
        let table = PeerTable::new(org("self"));
        for id in orgs {
            table.insert(PeerRecord {
                org: org(id),
                key: IdentityKey::generate().public(),
                endpoint: Some("https://127.0.0.1:1".into()),
                added_at: 0,
                key_since: 0,
            });
        }
        table
    }

    fn head(origin: &str, seq: u64) -> proto::Head {
        proto::Head {
            origin: origin.into(),
            seq,
            hash: vec![0; 32],
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_penalty_running_out_wakes_the_follow_tasks() {
        let table = table_with(&["ietf"]);
        let mut changes = table.source_changes(&org("itu"));
        table.penalise(&org("ietf"), "served a forged entry".into());
        // The penalty itself is a change of links...
        tokio::time::timeout(Duration::from_millis(1), changes.changed())
            .await
            .expect("woken by the penalty");
        // ...and so is its end, and nothing happens in between.
        let early = tokio::time::timeout(PENALTY - Duration::from_secs(1), changes.changed()).await;
        assert!(early.is_err(), "woken before the penalty ran out");
        tokio::time::timeout(Duration::from_secs(2), changes.changed())
            .await
            .expect("woken when the penalty ran out");
    }

    #[tokio::test]
    async fn only_origins_without_a_usable_channel_are_out_of_reach() {
        let table = table_with(&["ietf", "icann"]);
        assert_eq!(table.out_of_reach(), vec![org("icann"), org("ietf")]);
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        table.set_connected(&org("ietf"), channel, &proto::HelloResponse::default());
        assert_eq!(table.out_of_reach(), vec![org("icann")]);
        // A penalised peer is out of reach again until its penalty ends.
        table.penalise(&org("ietf"), "served a forged entry".into());
        assert_eq!(table.out_of_reach(), vec![org("icann"), org("ietf")]);
    }

    #[test]
    fn heads_answers_merge_and_say_whether_they_bring_news() {
        let table = table_with(&["ietf", "itu", "icann"]);
        let ietf = org("ietf");
        let heads_of = |table: &PeerTable| table.with(|p| p[&ietf].view.remote_heads.clone());
        assert!(table.record_heads(&ietf, &[head("itu", 5)]));
        // An answer about other origins keeps what was heard before.
        assert!(table.record_heads(&ietf, &[head("icann", 3)]));
        assert_eq!(
            heads_of(&table),
            BTreeMap::from([(org("icann"), 3), (org("itu"), 5)])
        );
        // The same again, or less, is no news: the poll may back off.
        assert!(!table.record_heads(&ietf, &[head("itu", 5)]));
        assert!(!table.record_heads(&ietf, &[head("itu", 4), head("icann", 3)]));
        assert!(table.record_heads(&ietf, &[head("itu", 6)]));
    }

    /// Issue 10, item 4: a relay that advertised more than it served is
    /// passed over, and after its penalty is believed no further than what
    /// it was found to serve, though it goes on advertising more; serving
    /// something new restores it.
    #[tokio::test(start_paused = true)]
    async fn a_source_that_broke_its_promise_is_believed_no_further() {
        let table = table_with(&["itu", "evil", "honest"]);
        let (itu, evil, honest) = (org("itu"), org("evil"), org("honest"));
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let hello = |seq| proto::HelloResponse {
            heads: vec![head("itu", seq)],
            ..Default::default()
        };
        table.set_connected(&evil, channel.clone(), &hello(u64::MAX));
        table.set_connected(&honest, channel, &hello(5));
        let best = |table: &PeerTable| table.best_source(&itu).map(|s| s.org);
        assert_eq!(
            best(&table),
            Some(evil.clone()),
            "the biggest claim wins at first"
        );

        table.broke_promise(&evil, &itu, 0, "served nothing".into());
        assert_eq!(best(&table), Some(honest.clone()));
        tokio::time::advance(PENALTY + Duration::from_secs(1)).await;
        table.record_heads(&evil, &[head("itu", u64::MAX)]);
        assert_eq!(best(&table), Some(honest.clone()), "after the penalty too");
        assert!(!table.should_switch(&itu, &honest, 5));
        assert_eq!(table.promised(&evil, &itu), 0);

        table.kept_promise(&evil, &itu);
        assert_eq!(best(&table), Some(evil.clone()));
    }

    /// Issue 10, item 13: a peer's answers may name any origin; only those
    /// this node follows are kept, so the table cannot be grown at will.
    #[tokio::test]
    async fn heads_of_origins_this_node_does_not_follow_are_not_kept() {
        let table = table_with(&["ietf", "icann"]);
        let ietf = org("ietf");
        let flood: Vec<proto::Head> = (0..10_000)
            .map(|i| head(&format!("noise-{i}"), 7))
            .chain([head("icann", 4)])
            .collect();
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let hello = proto::HelloResponse {
            heads: flood.clone(),
            ..Default::default()
        };
        table.set_connected(&ietf, channel, &hello);
        table.record_heads(&ietf, &flood);
        table.record_remote_head(&ietf, &org("noise-x"), 9);
        let held = table.with(|p| p[&ietf].view.remote_heads.clone());
        assert!(
            held == BTreeMap::from([(org("icann"), 4)]),
            "{} origins kept",
            held.len()
        );
        let advertised = table
            .advertised
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len();
        assert!(advertised <= 2, "{advertised} origins have a watch");
    }
}

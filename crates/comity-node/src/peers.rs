//! The peer table: what this node knows of each pinned peer. Whether it is
//! connected and serves this node in return, what it advertises of the
//! origins this node follows, which source is best for an origin, and the
//! refusals shown on both sides. Pure state: the tasks that fill it are in
//! [`crate::replication`].
//!
//! Sources are pulled, never pushed to: no publisher keeps a queue per peer.
//! A source that advertises more of a log than this node holds must deliver
//! it, or it is passed over and believed no further (a relay could otherwise
//! eclipse a log by advertising a head it never sends). What peers say they
//! hold is kept only for the origins this node follows, and whether a peer
//! serves this node in return is judged from what this node saw, not from
//! its claims.
//!
//! Follow tasks re-judge their source when the table changes in a way that
//! matters to them, and only then (see [`PeerTable`]).

use comity_core::{Hash, OrgId, PublicKey, proto};
use comity_store::PeerRecord;
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

/// How long a source that served a bad entry is passed over.
pub(crate) const PENALTY: Duration = Duration::from_secs(60);
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
    /// The peer dialled this node and offers its own log over that
    /// connection (`Offer`): it is the live source of its log here.
    pub offers_to_us: bool,
    /// This node dialled the peer and offers its own log to it (`Offer`).
    pub we_offer: bool,
}

impl PeerView {
    /// Who opened the connection(s) to this peer: "us" (our link is up),
    /// "them" (it dialled in and offers its log), "both", or "none".
    pub fn dialled(&self) -> &'static str {
        match (self.connected, self.offers_to_us) {
            (true, true) => "both",
            (true, false) => "us",
            (false, true) => "them",
            (false, false) => "none",
        }
    }

    /// Per origin this peer holds: (origin, our head, its head).
    pub fn lag(&self, ours: &HashMap<OrgId, u64>) -> Vec<(OrgId, u64, u64)> {
        self.remote_heads
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
}

struct PeerRuntime {
    view: PeerView,
    channel: Option<Channel>,
    /// Which connection `channel` is: a new one for every `set_connected`.
    connection: u64,
    /// Which pin this is: a peer added again (a new key or endpoint) is a
    /// new generation, whose tasks replace those of the one before.
    generation: u64,
    cancel: CancellationToken,
    reconnect: Arc<Notify>,
    penalised_until: Option<Instant>,
    /// Per origin, the most of its log this peer is believed to hold: set
    /// when it advertised more than this node held and did not serve it
    /// (a broken promise), lifted when it serves something new.
    doubted: BTreeMap<OrgId, u64>,
    /// The live offer of this peer's own log, if it dialled in and offers
    /// it: its session number and what ends it.
    offer: Option<(u64, CancellationToken)>,
}

impl PeerRuntime {
    pub(crate) fn new(record: PeerRecord, generation: u64) -> Self {
        Self {
            generation,
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
                offers_to_us: false,
                we_offer: false,
            },
            channel: None,
            connection: 0,
            cancel: CancellationToken::new(),
            reconnect: Arc::new(Notify::new()),
            penalised_until: None,
            doubted: BTreeMap::new(),
            offer: None,
        }
    }

    /// What this peer holds of `origin`, as far as it is believed: what it
    /// advertised, but no more than it was found to serve.
    pub(crate) fn believed_head(&self, origin: &OrgId) -> Option<u64> {
        let advertised = *self.view.remote_heads.get(origin)?;
        Some(
            self.doubted
                .get(origin)
                .map_or(advertised, |&cap| advertised.min(cap)),
        )
    }

    /// Ends this pin's tasks and its live offer, if any.
    fn end_tasks(&self) {
        self.cancel.cancel();
        if let Some((_, offer)) = &self.offer {
            offer.cancel();
        }
    }

    pub(crate) fn usable(&self) -> Option<&Channel> {
        let penalised = self.penalised_until.is_some_and(|t| t > Instant::now());
        self.channel.as_ref().filter(|_| !penalised)
    }
}

/// A source chosen for an origin, over one connection to it.
#[derive(Clone)]
pub(crate) struct Source {
    pub org: OrgId,
    pub channel: Channel,
    /// Which connection of `org` the channel is ([`PeerTable::set_connected`]).
    pub connection: u64,
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
    /// Moves when a peer is added, replaced or removed: what the replicator
    /// waits on to start and stop the peers' tasks.
    members: watch::Sender<u64>,
    generations: std::sync::atomic::AtomicU64,
}

/// What the tasks of one pinned peer need: its record, the token that
/// cancels them when the peer is replaced or removed, the signal that makes
/// its link reconnect, and its generation (see [`PeerTable::members`]).
#[derive(Debug, Clone)]
pub(crate) struct PeerTasks {
    pub record: PeerRecord,
    pub cancel: CancellationToken,
    pub reconnect: Arc<Notify>,
    pub generation: u64,
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
    pub(crate) fn mark_seen(&mut self) {
        self.links.mark_unchanged();
        self.advertised.mark_unchanged();
    }

    /// Resolves at the next change of links or of what is advertised for
    /// the origin (never, once the table is gone).
    pub(crate) async fn changed(&mut self) {
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
            members: watch::Sender::new(0),
            generations: std::sync::atomic::AtomicU64::new(1),
        }
    }

    /// Changes when a peer is added, replaced or removed.
    pub(crate) fn members(&self) -> watch::Receiver<u64> {
        self.members.subscribe()
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
        let generation = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.with(|peers| {
            let runtime = PeerRuntime::new(record.clone(), generation);
            if let Some(old) = peers.insert(record.org.clone(), runtime) {
                old.end_tasks();
            }
        });
        self.links.send_modify(|n| *n += 1);
        self.members.send_modify(|n| *n += 1);
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
            old.end_tasks();
        }
        self.advertised
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(org);
        self.links.send_modify(|n| *n += 1);
        self.members.send_modify(|n| *n += 1);
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

    /// What the tasks of every pinned peer need, in org id order.
    pub(crate) fn tasks(&self) -> Vec<PeerTasks> {
        self.with(|peers| {
            peers
                .values()
                .map(|p| PeerTasks {
                    record: p.view.record.clone(),
                    cancel: p.cancel.clone(),
                    reconnect: p.reconnect.clone(),
                    generation: p.generation,
                })
                .collect()
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
    pub(crate) fn note_refused_us(&self, org: &OrgId) {
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
    pub(crate) fn set_connected(
        &self,
        org: &OrgId,
        channel: Channel,
        hello: &proto::HelloResponse,
    ) {
        let connection = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.with(|peers| {
            let heads = self.known_heads(peers, &hello.heads);
            if let Some(p) = peers.get_mut(org) {
                p.channel = Some(channel);
                p.connection = connection;
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
    pub(crate) fn record_heads(&self, org: &OrgId, heads: &[proto::Head]) -> bool {
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

    pub(crate) fn record_remote_head(&self, org: &OrgId, origin: &OrgId, seq: u64) {
        if origin != &self.own && !self.contains(origin) {
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
    pub(crate) fn mark_failed(&self, org: &OrgId, error: String) {
        self.relink(org, |p| {
            p.channel = None;
            p.view.connected = false;
            p.view.failures = p.view.failures.saturating_add(1);
            p.view.last_error = Some(error);
            p.reconnect.notify_one();
        });
    }

    /// `org` served something invalid: remember why and pass it over for a while.
    pub(crate) fn penalise(&self, org: &OrgId, error: String) {
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
    pub(crate) fn broke_promise(&self, org: &OrgId, origin: &OrgId, held: u64, error: String) {
        self.with_peer(org, |p| {
            p.doubted.insert(origin.clone(), held);
        });
        self.penalise(org, error);
    }

    /// `org` served new entries of `origin`: what it advertises counts again.
    pub(crate) fn kept_promise(&self, org: &OrgId, origin: &OrgId) {
        self.with_peer(org, |p| {
            p.doubted.remove(origin);
        });
    }

    /// What `org` is believed to hold of `origin` (see [`Self::broke_promise`]).
    pub(crate) fn promised(&self, org: &OrgId, origin: &OrgId) -> u64 {
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

    pub(crate) fn set_serving(&self, org: &OrgId, origin: &OrgId, serving: bool) {
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
                .filter(|(_, p)| p.usable().is_none() && p.offer.is_none())
                .map(|(org, _)| org.clone())
                .collect()
        })
    }

    /// The best source for `origin`: the origin itself when connected,
    /// otherwise the connected peer that advertises the highest head for it,
    /// otherwise one that follows it (and will relay it live once it has it).
    /// None while the origin offers its log itself (it dialled in): it
    /// pushes every entry as it publishes, so no pull is needed.
    pub(crate) fn best_source(&self, origin: &OrgId) -> Option<Source> {
        self.with(|peers| {
            if peers.get(origin).is_some_and(|p| p.offer.is_some()) {
                return None;
            }
            if let Some(p) = peers.get(origin)
                && let Some(channel) = p.usable()
            {
                return Some(Source {
                    org: origin.clone(),
                    channel: channel.clone(),
                    connection: p.connection,
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
                    p.usable().map(|c| (head, org, c, p.connection))
                })
                .max_by_key(|(head, _, _, _)| *head)
                .map(|(_, org, channel, connection)| Source {
                    org: org.clone(),
                    channel: channel.clone(),
                    connection,
                })
        })
    }

    /// Whether a source other than `current` should serve `origin` instead:
    /// the origin itself came within reach, or another peer holds more of the
    /// log than both we and the current source do.
    /// A live offer from the origin ends any pull (see [`Self::best_source`]).
    /// A pull also ends when the link of its source no longer has the
    /// connection it rides on (the link failed, or dialled again): the next
    /// pull takes the link's current connection, and the old one closes
    /// once nothing holds it (a pull held on would keep it open beside the
    /// new one, one more descriptor per reconnection).
    pub(crate) fn should_switch(&self, origin: &OrgId, source: &Source, our_head: u64) -> bool {
        let current = &source.org;
        self.with(|peers| {
            let left = peers
                .get(current)
                .is_none_or(|p| p.channel.is_none() || p.connection != source.connection);
            if left {
                return true;
            }
            if peers.get(origin).is_some_and(|p| p.offer.is_some()) {
                return true;
            }
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

impl PeerTable {
    /// `org` dialled in and offers its own log: this session replaces (and
    /// ends) any older one of the same organisation, and the origin's
    /// follow task stands by while it lasts. None when `org` is not pinned.
    pub(crate) fn offer_opened(&self, org: &OrgId) -> Option<(u64, CancellationToken)> {
        let session = self
            .generations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let cancel = CancellationToken::new();
        let mut opened = false;
        self.relink(org, |p| {
            if let Some((_, older)) = p.offer.replace((session, cancel.clone())) {
                older.cancel();
            }
            p.view.offers_to_us = true;
            // It serves us, over mutual TLS, as the organisation pinned.
            p.view.reciprocal = true;
            p.view.last_contact = Some(SystemTime::now());
            opened = true;
        });
        opened.then_some((session, cancel))
    }

    /// The offer `session` of `org` ended, unless a newer one replaced it.
    pub(crate) fn offer_closed(&self, org: &OrgId, session: u64) {
        self.relink(org, |p| {
            if p.offer.as_ref().is_some_and(|(s, _)| *s == session) {
                p.offer = None;
                p.view.offers_to_us = false;
            }
        });
    }

    /// Whether this node offers its own log to `org` over a link it dialled.
    pub(crate) fn set_we_offer(&self, org: &OrgId, offering: bool) {
        self.with_peer(org, |p| p.view.we_offer = offering);
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

impl PeerTable {
    /// Where to fetch a blob from: `preferred` first, then every other connected
    /// peer that `may_have` it (see `blobs::readers`).
    pub(crate) fn sources_for_blob(
        &self,
        preferred: Option<&OrgId>,
        may_have: impl Fn(&OrgId) -> bool,
    ) -> Vec<Source> {
        self.with(|peers| {
            let mut sources: Vec<Source> = peers
                .iter()
                .filter(|(org, _)| may_have(org))
                .filter_map(|(org, p)| {
                    p.usable().map(|c| Source {
                        org: org.clone(),
                        channel: c.clone(),
                        connection: p.connection,
                    })
                })
                .collect();
            sources.sort_by_key(|s| Some(&s.org) != preferred);
            sources
        })
    }
}

/// A refusal `peer` reported about the entry after `after_seq` of our own
/// log, as kept (see [`Refusal`]).
pub fn reported_refusal(
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
                more_endpoints: Vec::new(),
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
        assert!(!table.should_switch(&itu, &table.best_source(&itu).unwrap(), 5));
        assert_eq!(table.promised(&evil, &itu), 0);

        table.kept_promise(&evil, &itu);
        assert_eq!(best(&table), Some(evil.clone()));
    }

    /// A pull rides on one connection of its source: when the source's
    /// link reconnects (a new connection) or fails, the pull ends and is
    /// set up again over the link's current connection, so that it does
    /// not hold the old connection open beside the new one.
    #[tokio::test]
    async fn a_pull_over_a_connection_the_link_replaced_switches_to_the_new_one() {
        let table = table_with(&["itu", "ietf"]);
        let (itu, ietf) = (org("itu"), org("ietf"));
        let channel =
            || tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let hello = proto::HelloResponse {
            heads: vec![head("itu", 5)],
            ..Default::default()
        };
        table.set_connected(&ietf, channel(), &hello);
        let relay = table.best_source(&itu).unwrap();
        assert_eq!(relay.org, ietf);
        assert!(!table.should_switch(&itu, &relay, 5), "nothing changed");
        table.record_heads(&ietf, &[head("itu", 5)]);
        assert!(
            !table.should_switch(&itu, &relay, 5),
            "still the same connection"
        );

        // The link dialled again: the pull moves to the new connection.
        table.set_connected(&ietf, channel(), &hello);
        assert!(
            table.should_switch(&itu, &relay, 5),
            "the old connection is left"
        );
        let again = table.best_source(&itu).unwrap();
        assert_eq!(again.org, ietf, "the same relay, over its new connection");
        assert!(!table.should_switch(&itu, &again, 5));

        // The link failed: no pull stays on the connection it dropped.
        table.mark_failed(&ietf, "heads: no answer".into());
        assert!(table.should_switch(&itu, &again, 5));
    }

    /// Issue 12: a newer offer from the same organisation ends the older
    /// one; the older one's end does not forget the newer; while an offer
    /// lasts the origin is its own source (no pull, not out of reach).
    #[tokio::test]
    async fn a_newer_offer_replaces_the_older_and_the_origin_stands_in_for_any_source() {
        let table = table_with(&["kenya-igf", "ietf"]);
        let (kenya, ietf) = (org("kenya-igf"), org("ietf"));
        let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:1").connect_lazy();
        let hello = proto::HelloResponse {
            heads: vec![head("kenya-igf", 9)],
            ..Default::default()
        };
        table.set_connected(&ietf, channel, &hello);
        let relay = table.best_source(&kenya).unwrap();
        assert_eq!(relay.org, ietf, "a relay, before any offer");

        let (first, first_ended) = table.offer_opened(&kenya).unwrap();
        assert!(table.best_source(&kenya).is_none(), "the origin pushes");
        assert!(
            table.should_switch(&kenya, &relay, 0),
            "a pull from a relay ends"
        );
        assert!(!table.out_of_reach().contains(&kenya));
        let (second, second_ended) = table.offer_opened(&kenya).unwrap();
        assert!(first_ended.is_cancelled(), "the older offer is ended");
        assert!(!second_ended.is_cancelled());
        table.offer_closed(&kenya, first);
        let view = |t: &PeerTable| {
            t.views()
                .into_iter()
                .find(|v| v.record.org == kenya)
                .unwrap()
        };
        assert!(view(&table).offers_to_us, "the newer one lives on");
        assert_eq!(view(&table).dialled(), "them");
        table.offer_closed(&kenya, second);
        assert!(!view(&table).offers_to_us);
        assert_eq!(table.best_source(&kenya).map(|s| s.org), Some(ietf));
        assert!(
            table.offer_opened(&org("stranger")).is_none(),
            "only a pinned peer"
        );
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

//! The node's state and the operations on it: publish to the own log, ingest
//! entries of followed logs, pin peers. Everything a server task needs is
//! reached through an `Arc<Node>`, never a global, so a test runs many nodes
//! in one process.

use crate::ingest::{self, Checked, Ingested, Vouched};
use crate::{clock::Clock, datadir::KeyFiles};
use crate::{config::Config, error::NodeError, peers::PeerTable};
use comity_core::{
    Hash, Head, IdentityKey, OrgId, PublicKey, SignedEntry, UnsignedEntry, VerifyError, document,
    entry::Audience, proto,
};
use comity_store::{PeerRecord, Store};
use prost::Message;
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::sync::{Mutex, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

/// Batches of up to this many entries are checked on the async worker: at
/// about 40 µs an entry, well under what a task may hold a worker for.
const INLINE_CHECK: usize = 4;

/// Store records (space) of the entries the operator accepted by id:
/// key origin `0x00` seq (8 bytes, big-endian), value version 1 then the id.
const ACCEPTED: &str = "accepted-entries";

fn accepted_key(origin: &OrgId, seq: u64) -> Vec<u8> {
    let mut key = origin.as_str().as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&seq.to_be_bytes());
    key
}

/// Every accepted entry in the store, per origin.
fn load_accepted(store: &dyn Store) -> Result<HashMap<OrgId, Vouched>, NodeError> {
    let mut accepted: HashMap<OrgId, Vouched> = HashMap::new();
    for (key, value) in store.records(ACCEPTED, b"")? {
        let parsed = key.split(|b| *b == 0).next().and_then(|origin| {
            let origin = OrgId::new(std::str::from_utf8(origin).ok()?).ok()?;
            let seq = u64::from_be_bytes(key.get(origin.as_str().len() + 1..)?.try_into().ok()?);
            let id = match value.split_first() {
                Some((1, id)) => Hash::from_slice(id)?,
                _ => return None,
            };
            Some((origin, seq, id))
        });
        match parsed {
            Some((origin, seq, id)) => accepted.entry(origin).or_default().push((seq, id)),
            None => tracing::warn!("an accepted-entry record does not read; ignored"),
        }
    }
    Ok(accepted)
}

/// Pinned keys: who may connect, and whose logs we can verify.
#[derive(Debug, Default)]
pub struct Pins {
    by_key: RwLock<HashMap<[u8; 32], OrgId>>,
    by_org: RwLock<HashMap<OrgId, PublicKey>>,
}

impl Pins {
    fn set(&self, org: &OrgId, key: PublicKey) {
        let mut by_org = self.by_org.write().unwrap_or_else(|e| e.into_inner());
        let mut by_key = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = by_org.insert(org.clone(), key) {
            by_key.remove(old.as_bytes());
        }
        by_key.insert(*key.as_bytes(), org.clone());
    }

    fn remove(&self, org: &OrgId) {
        let mut by_org = self.by_org.write().unwrap_or_else(|e| e.into_inner());
        let mut by_key = self.by_key.write().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = by_org.remove(org) {
            by_key.remove(old.as_bytes());
        }
    }

    pub fn key_of(&self, org: &OrgId) -> Option<PublicKey> {
        self.by_org
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(org)
            .copied()
    }
}

impl comity_tls::PinnedKeys for Pins {
    fn org_for(&self, key: &PublicKey) -> Option<OrgId> {
        self.by_key
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key.as_bytes())
            .cloned()
    }
}

/// What a node may be given besides its configuration, key and store.
pub struct NodeOptions {
    /// Where "now" comes from; tests move it.
    pub clock: Arc<dyn Clock>,
    /// Where the identity key lives, so that a rotation survives a restart.
    pub key_files: Option<KeyFiles>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(crate::clock::SystemClock),
            key_files: None,
        }
    }
}

/// Per origin, the highest seq flushed to disk, as a watch that the
/// subscriptions serving that origin wait on. Only entries up to it are
/// served: an entry a crash could still take away must never reach a peer,
/// or the node would sign a different entry at that seq after a restart and
/// look like an equivocator.
///
/// One watch per origin, so that an append wakes only the subscriptions of
/// its own log (a mesh node serves every peer its own log and others').
///
/// It is updated on the blocking thread that flushed, right after the flush,
/// so a caller that gives up waiting (a client that disconnects mid-publish)
/// cannot leave a stored entry unserved.
#[derive(Debug)]
struct Durability {
    heads: RwLock<HashMap<OrgId, watch::Sender<u64>>>,
    /// Bumped after every flush, whatever the origin (notifications, demo).
    appended: watch::Sender<u64>,
}

impl Durability {
    fn new(heads: impl IntoIterator<Item = (OrgId, u64)>) -> Self {
        let heads = heads
            .into_iter()
            .map(|(origin, seq)| (origin, watch::Sender::new(seq)))
            .collect();
        Self {
            heads: RwLock::new(heads),
            appended: watch::Sender::new(0),
        }
    }

    fn head(&self, origin: &OrgId) -> u64 {
        self.heads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .map_or(0, |head| *head.borrow())
    }

    fn subscribe(&self, origin: &OrgId) -> watch::Receiver<u64> {
        if let Some(head) = self
            .heads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
        {
            return head.subscribe();
        }
        let mut heads = self.heads.write().unwrap_or_else(|e| e.into_inner());
        heads
            .entry(origin.clone())
            .or_insert_with(|| watch::Sender::new(0))
            .subscribe()
    }

    /// Records that `origin` is on disk up to `seq`, and wakes its subscriptions.
    fn flushed(&self, origin: &OrgId, seq: u64) {
        let raise = |held: &mut u64| {
            let higher = seq > *held;
            *held = (*held).max(seq);
            higher
        };
        let known = {
            let heads = self.heads.read().unwrap_or_else(|e| e.into_inner());
            heads.get(origin).map(|head| head.send_if_modified(raise))
        };
        if known.is_none() {
            let mut heads = self.heads.write().unwrap_or_else(|e| e.into_inner());
            heads
                .entry(origin.clone())
                .or_insert_with(|| watch::Sender::new(0))
                .send_if_modified(raise);
        }
        self.appended.send_modify(|n| *n += 1);
    }
}

/// Counters a node keeps about itself.
#[derive(Debug, Default)]
pub struct Counters {
    /// Entries of followed logs verified and stored.
    pub ingested: std::sync::atomic::AtomicU64,
    /// Entries appended to the own log.
    pub published: std::sync::atomic::AtomicU64,
    /// Batches refused from peers (bad signature, gap, …).
    pub rejected: std::sync::atomic::AtomicU64,
    /// gRPC requests served (federation and local API).
    pub grpc_requests: std::sync::atomic::AtomicU64,
    /// HTTP requests served by the dashboard, feeds and API.
    pub http_requests: std::sync::atomic::AtomicU64,
    /// HTTP connections open now.
    pub http_connections: std::sync::atomic::AtomicU64,
    /// HTTP connections closed at once: `http.max_connections` were open.
    pub http_connections_refused: std::sync::atomic::AtomicU64,
}

pub struct Node {
    config: Config,
    /// The identity key; replaced by a key rotation, under the own-log lock
    /// right after the rotation entry is appended, so that the key in use
    /// and the next seq always change together.
    key: Arc<RwLock<IdentityKey>>,
    tls: Arc<comity_tls::SharedIdentity>,
    clock: Arc<dyn Clock>,
    key_files: Option<KeyFiles>,
    store: Arc<dyn Store>,
    pins: Arc<Pins>,
    /// What is on disk, and the signal live subscriptions wait on.
    durability: Arc<Durability>,
    /// Serialises appends to the own log (not their flushes).
    own_log: Arc<Mutex<()>>,
    /// Serialises key rotations: each stages its key in `identity.key.next`
    /// and makes it current only after its entry is durable.
    rotation: Mutex<()>,
    /// Serialises ingest per origin (normally one subscription per origin).
    ingest_locks: std::sync::Mutex<HashMap<OrgId, Arc<Mutex<()>>>>,
    /// Entries the operator accepted by id (`Node::accept_entry`).
    accepted: RwLock<HashMap<OrgId, Vouched>>,
    pub(crate) peers: PeerTable,
    pub(crate) tasks: TaskTracker,
    /// Set once the node serves; peer tasks start only then.
    pub(crate) started: std::sync::atomic::AtomicBool,
    pub(crate) shutdown: CancellationToken,
    pub counters: Counters,
    blobs_in_flight: crate::blobs::InFlight,
    password_checks: crate::accounts::PasswordChecks,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("org", &self.config.org)
            .finish()
    }
}

pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Runs blocking store work (fsync, big scans) off the async workers.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, NodeError> + Send + 'static,
) -> Result<T, NodeError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| NodeError::Internal(format!("blocking task failed: {e}")))?
}

impl Node {
    /// Builds a node over an opened store; pins every stored peer.
    pub fn new(
        config: Config,
        key: IdentityKey,
        store: Arc<dyn Store>,
    ) -> Result<Arc<Self>, NodeError> {
        Self::with_options(config, key, store, NodeOptions::default())
    }

    pub fn with_options(
        config: Config,
        key: IdentityKey,
        store: Arc<dyn Store>,
        options: NodeOptions,
    ) -> Result<Arc<Self>, NodeError> {
        let pins = Arc::new(Pins::default());
        let peers = PeerTable::new(config.org.clone());
        for record in store.peers()? {
            let record = finish_re_pin(&*store, record)?;
            pins.set(&record.org, record.key);
            peers.insert(record);
        }
        let tls = comity_tls::TlsIdentity::new(&key, &config.org)
            .map_err(|e| NodeError::Internal(format!("TLS identity: {e}")))?;
        let accepted = load_accepted(&*store)?;
        // Whatever a freshly opened store holds is on disk.
        let durable = Durability::new(
            store
                .heads()?
                .into_iter()
                .map(|(origin, head)| (origin, head.seq)),
        );
        Ok(Arc::new(Self {
            config,
            key: Arc::new(RwLock::new(key)),
            tls: Arc::new(comity_tls::SharedIdentity::new(tls)),
            clock: options.clock,
            key_files: options.key_files,
            store,
            pins,
            durability: Arc::new(durable),
            own_log: Arc::new(Mutex::new(())),
            rotation: Mutex::new(()),
            ingest_locks: Default::default(),
            accepted: RwLock::new(accepted),
            peers,
            tasks: TaskTracker::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            counters: Counters::default(),
            blobs_in_flight: Default::default(),
            password_checks: Default::default(),
        }))
    }

    pub fn org(&self) -> &OrgId {
        &self.config.org
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    pub fn public_key(&self) -> PublicKey {
        self.identity().public()
    }
    /// The current identity key (a copy: a rotation may replace it).
    pub fn identity(&self) -> IdentityKey {
        self.key.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// The TLS identity presented now, for building a client connection.
    pub fn tls_identity(&self) -> comity_tls::TlsIdentity {
        self.tls.current()
    }
    /// The TLS identity the server presents, swapped on key rotation.
    pub fn shared_tls_identity(&self) -> Arc<comity_tls::SharedIdentity> {
        self.tls.clone()
    }
    /// Where people reach this node's dashboard, when it serves one.
    pub fn http_url(&self) -> Option<String> {
        let http = &self.config.http;
        http.enabled.then(|| {
            http.base_url
                .clone()
                .unwrap_or_else(|| format!("http://{}", http.listen))
        })
    }
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
    /// Where the dashboard checks passwords.
    pub fn password_checks(&self) -> &crate::accounts::PasswordChecks {
        &self.password_checks
    }
    pub(crate) fn blobs_in_flight(&self) -> &crate::blobs::InFlight {
        &self.blobs_in_flight
    }
    pub(crate) fn key_files(&self) -> Option<&KeyFiles> {
        self.key_files.as_ref()
    }

    /// Held for the whole of a key rotation (see `Node::rotate_key`).
    pub(crate) async fn rotation_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rotation.lock().await
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn pins(&self) -> Arc<Pins> {
        self.pins.clone()
    }
    /// Cancelled when the node shuts down: other servers (the dashboard) stop with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }
    /// Runtime state of every pinned peer.
    pub fn peer_table(&self) -> &PeerTable {
        &self.peers
    }
    /// The highest seq of `origin` that is on disk here (0 for none).
    pub fn durable_head(&self, origin: &OrgId) -> u64 {
        self.durability.head(origin)
    }

    /// Changes after every flush, of any origin.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.durability.appended.subscribe()
    }

    /// `origin`'s durable head seq, changing as it moves: what a
    /// subscription serving that log waits on.
    pub fn durable_changes(&self, origin: &OrgId) -> watch::Receiver<u64> {
        self.durability.subscribe(origin)
    }

    /// The key an origin's next entries must be signed with: the pinned
    /// one. A rotation ingested re-pins the peer (`follow_rotation`), so
    /// the pin follows the log; but the operator's own pin, given after a
    /// compromise, is never overridden by a key the log rotated to before
    /// it (issue 10, item 12).
    pub fn key_of(&self, origin: &OrgId) -> Option<PublicKey> {
        if origin == self.org() {
            return Some(self.public_key());
        }
        self.pins.key_of(origin)
    }

    /// Every origin this node follows (its pinned peers).
    pub fn follows(&self) -> Vec<OrgId> {
        self.peers.orgs()
    }

    /// The profile this node's configuration describes.
    pub fn profile(&self) -> proto::OrgProfile {
        let p = &self.config.profile;
        proto::OrgProfile {
            id: self.org().to_string(),
            names: vec![proto::Text {
                lang: "en".into(),
                value: self.config.name.clone(),
            }],
            groups: p
                .groups
                .iter()
                .map(|g| proto::OrgGroup {
                    id: g.clone(),
                    names: Vec::new(),
                })
                .collect(),
            stakeholder_group: stakeholder_group(p.stakeholder_group.as_deref()) as i32,
            region: p.region.clone().unwrap_or_default(),
            country: p
                .country
                .as_deref()
                .unwrap_or_default()
                .to_ascii_uppercase(),
            endpoint: self.config.endpoint(),
            languages: p.languages.clone(),
            ..Default::default()
        }
    }

    /// Publishes the profile at seq 1, and again whenever it changed.
    pub async fn publish_profile_if_changed(&self) -> Result<Option<SignedEntry>, NodeError> {
        let profile = self.profile();
        let current = match self.store.latest_profile(self.org())? {
            Some(seq) => self.store.entry(self.org(), seq)?,
            None => None,
        };
        let unchanged = current
            .and_then(|e| proto::Document::decode(e.payload()).ok())
            .is_some_and(|d| d.body == Some(proto::document::Body::Profile(profile.clone())));
        if unchanged {
            return Ok(None);
        }
        self.publish(proto::document::Body::Profile(profile))
            .await
            .map(Some)
    }

    /// Signs `body` as the next entry of the own log, stores it durably, and
    /// only then returns: what a client is told is published survives a crash.
    pub async fn publish(&self, body: proto::document::Body) -> Result<SignedEntry, NodeError> {
        self.publish_to(body, Audience::Public).await
    }

    /// Publishes with an audience: a restricted entry's payload goes only to
    /// the organisations named.
    pub async fn publish_to(
        &self,
        body: proto::document::Body,
        audience: Audience,
    ) -> Result<SignedEntry, NodeError> {
        document::validate(&body, self.org())?;
        self.append_own(|_| body, audience, None).await
    }

    /// Appends the next entry of the own log, made by `body` from the key
    /// that signs it, and flushes. With `next_key` (a key rotation), the node
    /// switches to that key for entries and TLS right after the append,
    /// before the own-log lock is released: whatever is appended after the
    /// rotation entry, by whichever task, is signed with the new key.
    pub(crate) async fn append_own(
        &self,
        body: impl FnOnce(&PublicKey) -> proto::document::Body,
        audience: Audience,
        next_key: Option<IdentityKey>,
    ) -> Result<SignedEntry, NodeError> {
        // Made before the lock: a certificate takes a while to make.
        let next = match next_key {
            Some(key) => Some((
                comity_tls::TlsIdentity::new(&key, self.org())
                    .map_err(|e| NodeError::Internal(format!("TLS identity: {e}")))?,
                key,
            )),
            None => None,
        };
        let own_log = self.own_log.clone().lock_owned().await;
        // Read under the lock: no rotation can come between this read and
        // the append, so the entry is signed with the key its seq needs.
        let signer = self.identity();
        let body = body(&signer.public());
        if next.is_some() {
            // A rotation is made here, from the signer: check it as
            // `publish_to` checks what it is given.
            document::validate(&body, self.org())?;
        }
        let (kind, payload) = document::encode(body);
        let head = self.store.head(self.org())?;
        let mut unsigned = UnsignedEntry::new(self.org().clone(), kind, payload, self.clock.now());
        unsigned.audience = audience;
        let entry = unsigned.sign(&signer, head);
        let store = self.store.clone();
        let durability = self.durability.clone();
        let (key_in_use, tls) = (self.key.clone(), self.tls.clone());
        let stored = entry.clone();
        blocking(move || {
            store.append(&stored)?;
            if let Some((identity, key)) = next {
                *key_in_use.write().unwrap_or_else(|e| e.into_inner()) = key;
                tls.replace(identity);
            }
            // The next publish may sign on top while this one flushes:
            // publishes in flight together share a flush (group commit).
            // One flush covers every append made before it.
            drop(own_log);
            store.flush()?;
            durability.flushed(stored.origin(), stored.seq());
            Ok(())
        })
        .await?;
        self.counters
            .published
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        tracing::debug!(seq = entry.seq(), kind = kind.as_str(), "published");
        Ok(entry)
    }

    fn ingest_lock(&self, origin: &OrgId) -> Arc<Mutex<()>> {
        self.ingest_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(origin.clone())
            .or_default()
            .clone()
    }

    /// Verifies and stores entries of `origin` served by `source`, in order, as
    /// one group commit: [`Node::check`] then [`Node::store_checked`].
    pub async fn ingest(
        &self,
        source: &OrgId,
        origin: &OrgId,
        batch: Vec<proto::Entry>,
    ) -> Result<Ingested, NodeError> {
        let checked = self.check(origin, self.key_of(origin), batch).await?;
        self.store_checked(source, checked).await
    }

    /// Stage 1 of ingest (see [`crate::ingest`]): decodes `batch` and checks
    /// its signatures with `key` (the origin's pinned key, or the
    /// [`Checked::next_key`] of the batch before), off the async workers.
    pub async fn check(
        &self,
        origin: &OrgId,
        key: Option<PublicKey>,
        batch: Vec<proto::Entry>,
    ) -> Result<Checked, NodeError> {
        if origin == self.org() {
            return Err(NodeError::OwnOrigin);
        }
        let vouched = self.accepted_of(origin);
        // A few entries (live traffic) are checked in place: a hop to the
        // blocking pool would cost more than it saves.
        if batch.len() <= INLINE_CHECK {
            return Ok(ingest::check_vouched(origin, key, batch, vouched));
        }
        let origin = origin.clone();
        blocking(move || Ok(ingest::check_vouched(&origin, key, batch, vouched))).await
    }

    /// The entries of `origin` the operator accepted by id.
    fn accepted_of(&self, origin: &OrgId) -> Vouched {
        self.accepted
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .cloned()
            .unwrap_or_default()
    }

    /// Accepts entry `seq` of `origin` with id `id`, whatever its signature:
    /// the operator's way out of a log that an entry signed with the wrong
    /// key (as the key rotation race of issue 10 made) blocks here for ever.
    /// The operator has confirmed with the origin, out of band, that it
    /// published exactly that entry: the id pins its header, and through it
    /// its payload and its place in the chain, which are still checked.
    /// Kept in the store, so it holds across restarts.
    pub fn accept_entry(&self, origin: &OrgId, seq: u64, id: &str) -> Result<(), NodeError> {
        let id = Hash::from_hex(id.trim()).ok_or_else(|| {
            NodeError::InvalidArgument(format!(
                "{id:?} is not an entry id (64 hex digits, as `comity log` shows it)"
            ))
        })?;
        if origin == self.org() || !self.peers.contains(origin) {
            return Err(NodeError::NotFound(format!(
                "{} does not follow {origin}; only a followed log's entries can be accepted",
                self.org()
            )));
        }
        let held = self.store.head(origin)?.map_or(0, |h| h.seq);
        if seq <= held {
            return Err(NodeError::FailedPrecondition(format!(
                "{} already holds {origin} up to seq {held}; seq {seq} is not refused",
                self.org()
            )));
        }
        let mut value = vec![1u8];
        value.extend_from_slice(&id.0);
        self.store
            .put_record(ACCEPTED, &accepted_key(origin, seq), &value)?;
        self.store.flush()?;
        {
            let mut accepted = self.accepted.write().unwrap_or_else(|e| e.into_inner());
            let entries = accepted.entry(origin.clone()).or_default();
            entries.retain(|(s, _)| *s != seq);
            entries.push((seq, id));
        }
        tracing::warn!(%origin, seq, %id, "entry accepted by the operator, whatever its signature");
        self.peers.accepted(origin, seq, &id);
        Ok(())
    }

    /// Stage 2 of ingest: places the checked entries against the held log and
    /// stores what is new, under the origin's ingest lock. Entries before the
    /// first bad one are kept (they are authentic and chain); the bad one and
    /// everything after it are not. What was new is durable when this
    /// returns; the error, if any, names the first bad entry.
    pub async fn store_checked(
        &self,
        source: &OrgId,
        checked: Checked,
    ) -> Result<Ingested, NodeError> {
        let origin = checked.origin.clone();
        let lock = self.ingest_lock(&origin);
        let _guard = lock.lock().await;
        let key = self.key_of(&origin);
        let store = self.store.clone();
        let durability = self.durability.clone();
        let (source_org, origin_org) = (source.clone(), origin.clone());
        let (ingested, failure) = blocking(move || {
            let outcome = ingest::verify_and_store(&*store, &source_org, key, checked);
            // Flushed by verify_and_store: what the store holds now is on disk.
            if outcome.0.new + outcome.0.filled > 0
                && let Ok(Some(head)) = store.head(&origin_org)
            {
                durability.flushed(&origin_org, head.seq);
            }
            Ok(outcome)
        })
        .await?;
        if ingested.new > 0 {
            self.counters
                .ingested
                .fetch_add(ingested.new as u64, std::sync::atomic::Ordering::Relaxed);
        }
        let held = self.store.head(&origin)?.map_or(0, |h| h.seq);
        self.peers.passed(&origin, held);
        if let (Some(err), Some((seq, id))) = (&failure, ingested.refused)
            && seq == held + 1
        {
            // The next entry is refused: the log is blocked here until the
            // origin or the operator does something, so show it.
            let reason = match (err, key) {
                (NodeError::Verify(VerifyError::BadSignature { .. }), Some(key)) => {
                    format!("{err} (checked with the pinned key {key})")
                }
                _ => err.to_string(),
            };
            self.peers.note_refusal(
                &origin,
                crate::peers::Refusal {
                    seq,
                    id,
                    peer: source.clone(),
                    reason,
                    at: SystemTime::now(),
                },
            );
        }
        if let (Some((seq, rotated)), Some(signer)) = (ingested.rotated, key) {
            self.follow_rotation(&origin, signer, seq, rotated)?;
        }
        match failure {
            None => Ok(ingested),
            Some(err) => {
                self.counters
                    .rejected
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Err(err)
            }
        }
    }

    /// A followed organisation rotated its key at `seq`, in an entry that
    /// `signer` signed: pin the new one, for its entries and its TLS
    /// certificate, without anyone re-peering by hand. Not if the operator
    /// pinned another key meanwhile: that pin wins.
    ///
    /// The rotation is on disk before the pin is: a crash in between is
    /// finished at the next start ([`finish_re_pin`]).
    fn follow_rotation(
        &self,
        origin: &OrgId,
        signer: PublicKey,
        seq: u64,
        key: PublicKey,
    ) -> Result<(), NodeError> {
        let Some(mut record) = self.store.peers()?.into_iter().find(|p| &p.org == origin) else {
            return Ok(());
        };
        if record.key == key || record.key != signer {
            return Ok(());
        }
        tracing::info!(%origin, old = %record.key, new = %key, seq, "peer rotated its key");
        record.key = key;
        record.key_since = seq;
        self.store.put_peer(&record)?;
        self.store.flush()?;
        self.pins.set(origin, key);
        self.peers.update_key(origin, key);
        Ok(())
    }

    /// Pins a peer (or changes its key or endpoint) and, on a running node,
    /// starts replicating from it at once.
    pub fn add_peer(
        self: &Arc<Self>,
        org: OrgId,
        key: PublicKey,
        endpoint: Option<String>,
    ) -> Result<PeerRecord, NodeError> {
        if &org == self.org() {
            return Err(NodeError::InvalidArgument(
                "a node cannot peer with its own organisation".into(),
            ));
        }
        if key == self.public_key() {
            return Err(NodeError::InvalidArgument(
                "that key is this node's own key".into(),
            ));
        }
        if let Some(other) = comity_tls::PinnedKeys::org_for(&*self.pins, &key)
            && other != org
        {
            return Err(NodeError::InvalidArgument(format!(
                "that key is already pinned for {other}"
            )));
        }
        if let Some(endpoint) = &endpoint {
            crate::peers::validate_endpoint(endpoint)?;
        }
        // A new key applies after the log held now: a rotation held
        // already never overrides it, one that comes later (signed by it)
        // moves it on.
        let previous = self.store.peers()?.into_iter().find(|p| p.org == org);
        let key_since = match previous {
            Some(previous) if previous.key == key => previous.key_since,
            _ => self.store.head(&org)?.map_or(0, |h| h.seq),
        };
        let record = PeerRecord {
            org: org.clone(),
            key,
            endpoint,
            added_at: now_unix(),
            key_since,
        };
        self.store.put_peer(&record)?;
        self.store.flush()?;
        self.pins.set(&org, key);
        self.peers.insert(record.clone());
        crate::peers::restart_peer(self, &org);
        Ok(record)
    }

    pub fn remove_peer(self: &Arc<Self>, org: &OrgId) -> Result<bool, NodeError> {
        let removed = self.store.remove_peer(org)?;
        self.store.flush()?;
        self.pins.remove(org);
        self.peers.remove(org);
        Ok(removed)
    }

    pub fn heads(&self) -> Result<Vec<(OrgId, Head)>, NodeError> {
        Ok(self.store.heads()?)
    }
}

/// Finishes a re-pin that a crash interrupted: the store holds a key
/// rotation of `record`'s organisation above the seq its pin applies from
/// (the rotation was stored, the new pin was not). Rebuilt from the store's
/// `keys` index, so that the pin, for entries and TLS, is the key the log
/// names. A rotation at or below `key_since` is older than the pin (the
/// operator re-pinned after it) and changes nothing.
fn finish_re_pin(store: &dyn Store, mut record: PeerRecord) -> Result<PeerRecord, NodeError> {
    if let Some((seq, key)) = store.current_key(&record.org)?
        && seq > record.key_since
        && key != record.key
    {
        tracing::info!(
            peer = %record.org, old = %record.key, new = %key, seq,
            "re-pinning a peer to the key its log rotated to"
        );
        record.key = key;
        record.key_since = seq;
        store.put_peer(&record)?;
        store.flush()?;
    }
    Ok(record)
}

fn stakeholder_group(name: Option<&str>) -> proto::StakeholderGroup {
    use proto::StakeholderGroup as G;
    match name
        .map(|n| n.to_ascii_lowercase().replace('_', "-"))
        .as_deref()
    {
        Some("government") => G::Government,
        Some("intergovernmental") => G::Intergovernmental,
        Some("private-sector") => G::PrivateSector,
        Some("civil-society") => G::CivilSociety,
        Some("technical-academic" | "technical" | "academic") => G::TechnicalAcademic,
        _ => G::Unspecified,
    }
}

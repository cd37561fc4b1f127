//! The node's state and the operations on it: publish to the own log, ingest
//! entries of followed logs, pin peers. Everything a server task needs is
//! reached through an `Arc<Node>`, never a global, so a test runs many nodes
//! in one process.

use crate::{clock::Clock, datadir::KeyFiles};
use crate::{config::Config, error::NodeError, peers::PeerTable};
use comity_core::{
    Hash, Head, IdentityKey, Ingest, OrgId, PublicKey, SignedEntry, UnsignedEntry, document,
    entry::Audience, proto, verify,
};
use comity_store::{Equivocation, PeerRecord, Store};
use prost::Message;
use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
    time::{SystemTime, UNIX_EPOCH},
};
use tokio::sync::{Mutex, watch};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

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

/// Per origin, the highest seq flushed to disk, and a signal bumped whenever
/// it moves. Only entries up to it are served: an entry a crash could still
/// take away must never reach a peer, or the node would sign a different
/// entry at that seq after a restart and look like an equivocator.
///
/// It is updated on the blocking thread that flushed, right after the flush,
/// so a caller that gives up waiting (a client that disconnects mid-publish)
/// cannot leave a stored entry unserved.
#[derive(Debug)]
struct Durability {
    heads: RwLock<HashMap<OrgId, u64>>,
    appended: watch::Sender<u64>,
}

impl Durability {
    fn head(&self, origin: &OrgId) -> u64 {
        self.heads
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(origin)
            .copied()
            .unwrap_or(0)
    }

    /// Records that `origin` is on disk up to `seq`, and wakes subscriptions.
    fn flushed(&self, origin: &OrgId, seq: u64) {
        {
            let mut heads = self.heads.write().unwrap_or_else(|e| e.into_inner());
            let held = heads.entry(origin.clone()).or_insert(0);
            *held = (*held).max(seq);
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
}

pub struct Node {
    config: Config,
    /// The identity key; replaced (once) by a key rotation.
    key: RwLock<IdentityKey>,
    tls: Arc<comity_tls::SharedIdentity>,
    clock: Arc<dyn Clock>,
    key_files: Option<KeyFiles>,
    store: Arc<dyn Store>,
    pins: Arc<Pins>,
    /// What is on disk, and the signal live subscriptions wait on.
    durability: Arc<Durability>,
    /// Serialises appends to the own log.
    own_log: Mutex<()>,
    /// Serialises ingest per origin (normally one subscription per origin).
    ingest_locks: std::sync::Mutex<HashMap<OrgId, Arc<Mutex<()>>>>,
    pub(crate) peers: PeerTable,
    pub(crate) tasks: TaskTracker,
    /// Set once the node serves; peer tasks start only then.
    pub(crate) started: std::sync::atomic::AtomicBool,
    pub(crate) shutdown: CancellationToken,
    pub counters: Counters,
    blobs_in_flight: crate::blobs::InFlight,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("org", &self.config.org)
            .finish()
    }
}

fn now_unix() -> i64 {
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
        let peers = PeerTable::default();
        for record in store.peers()? {
            pins.set(&record.org, record.key);
            peers.insert(record);
        }
        let tls = comity_tls::TlsIdentity::new(&key, &config.org)
            .map_err(|e| NodeError::Internal(format!("TLS identity: {e}")))?;
        // Whatever a freshly opened store holds is on disk.
        let durable = store
            .heads()?
            .into_iter()
            .map(|(origin, head)| (origin, head.seq))
            .collect();
        Ok(Arc::new(Self {
            config,
            key: RwLock::new(key),
            tls: Arc::new(comity_tls::SharedIdentity::new(tls)),
            clock: options.clock,
            key_files: options.key_files,
            store,
            pins,
            durability: Arc::new(Durability {
                heads: RwLock::new(durable),
                appended: watch::Sender::new(0),
            }),
            own_log: Mutex::new(()),
            ingest_locks: Default::default(),
            peers,
            tasks: TaskTracker::new(),
            started: std::sync::atomic::AtomicBool::new(false),
            shutdown: CancellationToken::new(),
            counters: Counters::default(),
            blobs_in_flight: Default::default(),
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
    pub(crate) fn blobs_in_flight(&self) -> &crate::blobs::InFlight {
        &self.blobs_in_flight
    }
    pub(crate) fn key_files(&self) -> Option<&KeyFiles> {
        self.key_files.as_ref()
    }

    /// Starts signing with `key` and presenting it in TLS.
    pub(crate) fn use_key(&self, key: IdentityKey) -> Result<(), NodeError> {
        let tls = comity_tls::TlsIdentity::new(&key, self.org())
            .map_err(|e| NodeError::Internal(format!("TLS identity: {e}")))?;
        *self.key.write().unwrap_or_else(|e| e.into_inner()) = key;
        self.tls.replace(tls);
        Ok(())
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

    pub fn appended(&self) -> watch::Receiver<u64> {
        self.durability.appended.subscribe()
    }

    /// The key an origin's next entries must be signed with: its latest
    /// rotated key, else the pinned one.
    pub fn key_of(&self, origin: &OrgId) -> Option<PublicKey> {
        if origin == self.org() {
            return Some(self.public_key());
        }
        match self.store.current_key(origin) {
            Ok(Some((_, key))) => Some(key),
            _ => self.pins.key_of(origin),
        }
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
        let (kind, payload) = document::encode(body);
        let _guard = self.own_log.lock().await;
        let head = self.store.head(self.org())?;
        let mut unsigned = UnsignedEntry::new(self.org().clone(), kind, payload);
        unsigned.audience = audience;
        unsigned.created_at = self.clock.now().into();
        let entry = unsigned.sign(&self.identity(), head);
        let store = self.store.clone();
        let durability = self.durability.clone();
        let stored = entry.clone();
        blocking(move || {
            store.append(&stored)?;
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
    /// one group commit. Entries before the first bad one are kept (they are
    /// authentic and chain); the bad one and everything after it are not.
    /// What was new is durable when this returns; the error, if any, names
    /// the first bad entry.
    pub async fn ingest(
        &self,
        source: &OrgId,
        origin: &OrgId,
        batch: Vec<proto::Entry>,
    ) -> Result<Ingested, NodeError> {
        if origin == self.org() {
            return Err(NodeError::OwnOrigin);
        }
        let lock = self.ingest_lock(origin);
        let _guard = lock.lock().await;
        let key = self.key_of(origin);
        let store = self.store.clone();
        let durability = self.durability.clone();
        let (source_org, origin_org) = (source.clone(), origin.clone());
        let (ingested, failure) = blocking(move || {
            let outcome = verify_and_store(&*store, &source_org, &origin_org, key, batch);
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
        if let Some(key) = ingested.rotated_key {
            self.follow_rotation(origin, key)?;
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

    /// A followed organisation rotated its key: pin the new one, for its
    /// entries and its TLS certificate, without anyone re-peering by hand.
    fn follow_rotation(&self, origin: &OrgId, key: PublicKey) -> Result<(), NodeError> {
        let Some(mut record) = self.store.peers()?.into_iter().find(|p| &p.org == origin) else {
            return Ok(());
        };
        if record.key == key {
            return Ok(());
        }
        tracing::info!(%origin, old = %record.key, new = %key, "peer rotated its key");
        record.key = key;
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
        let record = PeerRecord {
            org: org.clone(),
            key,
            endpoint,
            added_at: now_unix(),
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

/// What one ingest stored.
#[derive(Debug, Default)]
pub struct Ingested {
    /// Entries that were new here.
    pub new: usize,
    /// Restricted entries held as stubs whose payload arrived now.
    pub filled: usize,
    /// Attachments the new entries refer to.
    pub attachments: Vec<proto::AttachmentRef>,
    /// The origin's new key, when the batch held a key rotation.
    pub rotated_key: Option<PublicKey>,
}

/// The verification loop of [`Node::ingest`], run on a blocking thread.
fn verify_and_store(
    store: &dyn Store,
    source: &OrgId,
    origin: &OrgId,
    mut key: Option<PublicKey>,
    batch: Vec<proto::Entry>,
) -> (Ingested, Option<NodeError>) {
    let mut accepted: Vec<SignedEntry> = Vec::with_capacity(batch.len());
    let mut failure = None;
    let mut ingested = Ingested::default();
    let mut head = match store.head(origin) {
        Ok(head) => head,
        Err(e) => return (ingested, Some(e.into())),
    };
    match store.is_frozen(origin) {
        Ok(false) => {}
        Ok(true) => return (ingested, Some(NodeError::Frozen(origin.clone()))),
        Err(e) => return (ingested, Some(e.into())),
    }
    for wire in batch {
        let entry = match SignedEntry::decode(wire) {
            Ok(entry) => entry,
            Err(e) => {
                failure = Some(verify::VerifyError::from(e).into());
                break;
            }
        };
        if entry.origin() != origin {
            failure = Some(NodeError::WrongOrigin {
                expected: origin.clone(),
                got: entry.origin().clone(),
            });
            break;
        }
        let held_at = |seq: u64| -> Option<Hash> {
            accepted
                .iter()
                .find(|e| e.seq() == seq)
                .map(SignedEntry::id)
                .or_else(|| store.entry(origin, seq).ok().flatten().map(|e| e.id()))
        };
        match verify::verify_for_ingest(&entry, key.as_ref(), head, held_at) {
            Ok(Ingest::Append) => {
                head = Some(entry.head());
                if let Some(rotated) = verify::rotated_key(&entry) {
                    key = Some(rotated);
                    ingested.rotated_key = Some(rotated);
                }
                if let Ok(body) = document::decode_for(&entry) {
                    ingested.attachments.extend(document::attachments_of(&body));
                }
                accepted.push(entry);
            }
            Ok(Ingest::Duplicate) => {
                // A stub held from a relay outside the audience takes its
                // payload when the whole entry comes (checked against the
                // signed header first).
                if !entry.is_redacted() && matches!(entry.audience(), Audience::Restricted(_)) {
                    let filled = verify::verify_payload(&entry)
                        .map_err(NodeError::from)
                        .and_then(|()| store.fill_payload(&entry).map_err(NodeError::from));
                    match filled {
                        Ok(true) => ingested.filled += 1,
                        Ok(false) => {}
                        Err(e) => {
                            failure = Some(e);
                            break;
                        }
                    }
                }
            }
            Ok(Ingest::Equivocation { held }) => {
                failure = Some(record_equivocation(store, source, &entry, held, &accepted));
                break;
            }
            Err(e) => {
                failure = Some(e.into());
                break;
            }
        }
    }
    let stored = store
        .append_batch(&accepted)
        .and_then(|new| store.flush().map(|()| new));
    match stored {
        Ok(new) => {
            ingested.new = new;
            (ingested, failure)
        }
        Err(e) => (Ingested::default(), Some(e.into())),
    }
}

fn record_equivocation(
    store: &dyn Store,
    source: &OrgId,
    conflicting: &SignedEntry,
    held: Hash,
    accepted: &[SignedEntry],
) -> NodeError {
    let origin = conflicting.origin().clone();
    let seq = conflicting.seq();
    let held_entry = accepted
        .iter()
        .find(|e| e.id() == held)
        .cloned()
        .or_else(|| store.entry(&origin, seq).ok().flatten());
    let Some(held_entry) = held_entry else {
        return NodeError::Internal(format!("held entry {origin}/{seq} vanished"));
    };
    let evidence = Equivocation {
        origin: origin.clone(),
        seq,
        held_header: held_entry.header_bytes().to_vec(),
        held_signature: held_entry.signature().to_vec(),
        conflicting_header: conflicting.header_bytes().to_vec(),
        conflicting_signature: conflicting.signature().to_vec(),
        reported_by: source.clone(),
        detected_at: now_unix(),
    };
    if let Err(e) = store.record_equivocation(&evidence) {
        return e.into();
    }
    tracing::error!(
        %origin, seq, held = %held, conflicting = %conflicting.id(), reported_by = %source,
        "EQUIVOCATION: origin signed two different entries at one seq; its log is frozen here"
    );
    NodeError::Equivocation { origin, seq }
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

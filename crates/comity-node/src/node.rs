//! The node: one organisation's state, reached through an `Arc<Node>` (never
//! a global, so a test runs many nodes in one process). It owns its parts
//! and lends them out; what is done with them lives beside it, in data-path
//! order: [`crate::ingest`] (followed logs in), [`crate::publish`] (the own
//! log out), [`crate::peering`] (pins), [`crate::profile`],
//! [`crate::workflow`] and [`crate::views`].

use crate::{
    accepted::Accepted,
    accounts::PasswordChecks,
    clock::{Clock, SystemClock},
    config::Config,
    counters::Counters,
    datadir::KeyFiles,
    durability::Durability,
    error::NodeError,
    identity::Identity,
    peers::PeerTable,
    pins::{Pins, finish_re_pin},
    search_part::Search,
    stubs::Stubs,
    transfers::InFlight,
};
use comity_core::{Head, IdentityKey, OrgId, PublicKey};
use comity_store::Store;
use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard, watch};

/// What a node may be given besides its configuration, key and store.
pub struct NodeOptions {
    /// Where "now" comes from; tests move it.
    pub clock: Arc<dyn Clock>,
    /// Where the identity key lives, so that a rotation survives a restart.
    pub key_files: Option<KeyFiles>,
    /// The API tokens that open the loopback TCP listener and the JSON API
    /// (`crate::tokens`); none: no token is accepted anywhere.
    pub api_tokens: Option<crate::tokens::ApiTokens>,
    /// Where the search index lives (`DataDir::search_path`); `None`: in
    /// memory, rebuilt from the store at every start.
    pub search_dir: Option<std::path::PathBuf>,
}

impl Default for NodeOptions {
    fn default() -> Self {
        Self {
            clock: Arc::new(SystemClock),
            key_files: None,
            api_tokens: None,
            search_dir: None,
        }
    }
}

pub struct Node {
    config: Config,
    identity: Arc<Identity>,
    clock: Arc<dyn Clock>,
    key_files: Option<KeyFiles>,
    api_tokens: Option<crate::tokens::ApiTokens>,
    store: Arc<dyn Store>,
    pins: Arc<Pins>,
    peers: PeerTable,
    /// What is on disk, and the signal live subscriptions wait on.
    durability: Arc<Durability>,
    /// Entries the operator accepted by id (`Node::accept_entry`).
    accepted: Accepted,
    /// Serialises appends to the own log (not their flushes).
    own_log: Arc<AsyncMutex<()>>,
    /// Serialises key rotations: each stages its key in `identity.key.next`
    /// and makes it current only after its entry is durable.
    rotation: AsyncMutex<()>,
    /// Serialises ingest per origin (normally one subscription per origin).
    ingest_locks: Mutex<HashMap<OrgId, Arc<AsyncMutex<()>>>>,
    transfers: InFlight,
    password_checks: PasswordChecks,
    counters: Counters,
    /// Checkpoints kept and cosigned (`crate::checkpoints`, state in `crate::trust`).
    checkpoints: crate::trust::CheckpointState,
    /// Whether the own log may be appended to yet (`crate::recovery`).
    recovery: crate::trust::RecoveryState,
    /// Stubs this node may read whole, to ask for again (`crate::stubs`).
    stubs: Stubs,
    /// The full-text search index and its indexer's state (`crate::search`).
    search: Search,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node")
            .field("org", &self.config.org)
            .finish()
    }
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
        let identity = Arc::new(Identity::new(key, &config.org)?);
        let accepted = Accepted::load(&*store)?;
        // Whatever a freshly opened store holds is on disk.
        let durable = Durability::new(
            store
                .heads()?
                .into_iter()
                .map(|(origin, head)| (origin, head.seq)),
        );
        let durable = Arc::new(durable);
        // Replicas of this node on one database: what another one commits
        // is durable here too, and wakes the live tails this node serves.
        let told = durable.clone();
        store.watch_appends(Arc::new(move |origin: &OrgId, seq| {
            told.flushed(origin, seq)
        }))?;
        let search = Search::new(options.search_dir, config.storage.search);
        Ok(Arc::new(Self {
            config,
            identity,
            clock: options.clock,
            key_files: options.key_files,
            api_tokens: options.api_tokens,
            store,
            pins,
            peers,
            durability: durable,
            accepted,
            own_log: Arc::new(AsyncMutex::new(())),
            rotation: AsyncMutex::new(()),
            ingest_locks: Mutex::default(),
            transfers: InFlight::default(),
            password_checks: PasswordChecks::default(),
            counters: Counters::default(),
            checkpoints: Default::default(),
            recovery: Default::default(),
            stubs: Stubs::default(),
            search,
        }))
    }

    pub fn org(&self) -> &OrgId {
        &self.config.org
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// The API tokens this node accepts, if it was given a token directory.
    pub fn api_tokens(&self) -> Option<&crate::tokens::ApiTokens> {
        self.api_tokens.as_ref()
    }
    pub fn public_key(&self) -> PublicKey {
        self.identity().public()
    }
    /// The current identity key (a copy: a rotation may replace it).
    pub fn identity(&self) -> IdentityKey {
        self.identity.key()
    }
    /// The TLS identity presented now, for building a client connection.
    pub fn tls_identity(&self) -> comity_tls::TlsIdentity {
        self.identity.tls()
    }
    /// The TLS identity the server presents, swapped on key rotation.
    pub fn shared_tls_identity(&self) -> Arc<comity_tls::SharedIdentity> {
        self.identity.shared_tls()
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
    /// Now, by the node's clock.
    pub fn now(&self) -> time::OffsetDateTime {
        self.clock.now()
    }
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }
    pub fn pins(&self) -> Arc<Pins> {
        self.pins.clone()
    }
    /// Runtime state of every pinned peer.
    pub fn peer_table(&self) -> &PeerTable {
        &self.peers
    }
    /// Every origin this node follows (its pinned peers).
    pub fn follows(&self) -> Vec<OrgId> {
        self.peers.orgs()
    }
    /// Counters the node keeps about itself (`/metrics`).
    pub fn counters(&self) -> &Counters {
        &self.counters
    }
    /// Where the dashboard checks passwords.
    pub fn password_checks(&self) -> &PasswordChecks {
        &self.password_checks
    }
    pub fn heads(&self) -> Result<Vec<(OrgId, Head)>, NodeError> {
        Ok(self.store.heads()?)
    }

    /// The highest seq of `origin` that is on disk here (0 for none).
    pub fn durable_head(&self, origin: &OrgId) -> u64 {
        self.durability.head(origin)
    }

    /// Changes after every flush, of any origin.
    pub fn appended(&self) -> watch::Receiver<u64> {
        self.durability.appended()
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

    // The parts the modules beside the node work with.

    pub(crate) fn identity_keys(&self) -> &Arc<Identity> {
        &self.identity
    }
    pub(crate) fn durability(&self) -> &Arc<Durability> {
        &self.durability
    }
    pub(crate) fn accepted(&self) -> &Accepted {
        &self.accepted
    }
    pub(crate) fn stubs(&self) -> &Stubs {
        &self.stubs
    }
    pub(crate) fn search_part(&self) -> &Search {
        &self.search
    }

    pub(crate) fn transfers(&self) -> &InFlight {
        &self.transfers
    }
    pub(crate) fn recovery_state(&self) -> &crate::trust::RecoveryState {
        &self.recovery
    }
    pub(crate) fn checkpoint_state(&self) -> &crate::trust::CheckpointState {
        &self.checkpoints
    }
    pub(crate) fn key_files(&self) -> Option<&KeyFiles> {
        self.key_files.as_ref()
    }

    /// Held to sign and append the next entry of the own log.
    pub(crate) async fn own_log_lock(&self) -> OwnedMutexGuard<()> {
        self.own_log.clone().lock_owned().await
    }

    /// Held for the whole of a key rotation (see `Node::rotate_key`).
    pub(crate) async fn rotation_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.rotation.lock().await
    }

    /// Serialises ingest of one origin.
    pub(crate) fn ingest_lock(&self, origin: &OrgId) -> Arc<AsyncMutex<()>> {
        self.ingest_locks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(origin.clone())
            .or_default()
            .clone()
    }
}

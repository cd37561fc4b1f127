//! In-process nodes: each in its own data directory, started and stopped
//! as `comity serve` runs one (a `comity_daemon::Daemon`), on a port kept
//! below the ephemeral range so that a restart gets it back.

use super::*;
use comity_core::{IdentityKey, OrgId, PublicKey, SignedEntry};
use comity_daemon::{Daemon, Listeners};
use comity_node::{
    Config, DataDir, Node, clock::ManualClock, node::NodeOptions, protocol::Endpoint,
};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::net::TcpListener;

/// A configuration tuned for tests: fast heartbeats, polls and reconnects.
pub fn test_config(org: &OrgId, listen: std::net::SocketAddr) -> Config {
    let mut config = Config::new(
        org.clone(),
        format!("{} (test)", org.as_str().to_uppercase()),
        listen,
    );
    config.replication.heartbeat_secs = 1;
    config.replication.heads_poll_secs = 1;
    config.replication.backoff_max_secs = 1;
    // A restarted node whose partners are all down waits this long before
    // it publishes (issue 13's recovery).
    config.replication.recovery_wait_secs = 3;
    config.limits.connect_timeout_secs = 2;
    config.limits.handshake_timeout_secs = 2;
    config
}

pub struct TestNode {
    pub org: OrgId,
    pub data: DataDir,
    pub config: Config,
    pub key: IdentityKey,
    /// This node's clock: it only moves when a test moves it.
    pub clock: Arc<ManualClock>,
    listener: Option<TcpListener>,
    running: Option<Daemon>,
    /// Whether [`start`](Self::start) also serves the web dashboard.
    dashboard: bool,
    http_listener: Option<TcpListener>,
}

impl TestNode {
    /// Initialises a node's data directory under `root`, without starting it.
    pub async fn create(root: &Path, id: &str) -> Self {
        Self::create_with(root, id, |_| {}).await
    }

    pub async fn create_with(root: &Path, id: &str, tune: impl FnOnce(&mut Config)) -> Self {
        let org = org(id);
        let listener = restartable_listener();
        let mut config = test_config(&org, listener.local_addr().unwrap());
        tune(&mut config);
        let data = DataDir::new(root.join(id));
        let key = data.init(&config).unwrap();
        Self {
            org,
            data,
            config,
            key,
            clock: Arc::new(ManualClock::starting_now()),
            listener: Some(listener),
            running: None,
            dashboard: false,
            http_listener: None,
        }
    }

    /// As [`create_with`](Self::create_with), for a node that also serves its
    /// web dashboard on an ephemeral 127.0.0.1 port whenever it runs (see
    /// [`http_url`](Self::http_url)). The port is bound before the node is
    /// made, so the configuration, and the links the node prints, name it.
    pub async fn create_with_dashboard(
        root: &Path,
        id: &str,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let http = restartable_listener();
        let http_addr = http.local_addr().unwrap();
        let mut node = Self::create_with(root, id, |config| {
            config.http.enabled = true;
            config.http.listen = http_addr;
            tune(config);
        })
        .await;
        node.dashboard = true;
        node.http_listener = Some(http);
        node
    }

    /// Creates and starts a node.
    pub async fn start_new(root: &Path, id: &str) -> Self {
        let mut node = Self::create(root, id).await;
        node.start().await;
        node
    }

    /// Starts (or restarts) the node from its data directory, on its port,
    /// and waits until it has recovered its own log (at once without
    /// partners; as soon as one that follows it answers; at most
    /// `recovery_wait_secs`): tests publish right after starting.
    pub async fn start(&mut self) {
        self.start_over(|store| store).await;
    }

    /// As [`start`](Self::start), over the store `wrap` makes of the one
    /// opened from the data directory (e.g. a
    /// [`HeldFlushStore`](super::HeldFlushStore)).
    pub async fn start_over(
        &mut self,
        wrap: impl FnOnce(Arc<dyn comity_store::Store>) -> Arc<dyn comity_store::Store>,
    ) {
        self.launch(wrap).await;
        let start = Instant::now();
        while matches!(
            self.node().recovery(),
            comity_node::recovery::Recovery::Recovering { .. }
        ) {
            assert!(start.elapsed() < DEADLINE, "{} never recovered", self.org);
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Starts the node without waiting for its recovery.
    pub async fn start_recovering(&mut self) {
        self.launch(|store| store).await;
    }

    async fn launch(
        &mut self,
        wrap: impl FnOnce(Arc<dyn comity_store::Store>) -> Arc<dyn comity_store::Store>,
    ) {
        assert!(self.running.is_none(), "{} already running", self.org);
        let store = wrap(open_store_retrying(&self.data, &self.config).await);
        // As `comity serve` does: finish a key rotation a stop interrupted.
        self.key = self.data.load_key_recovering(&self.org, &*store).unwrap();
        let options = NodeOptions {
            clock: self.clock.clone(),
            key_files: Some(self.data.key_files()),
            api_tokens: Some(comity_node::tokens::ApiTokens::in_data_dir(
                self.data.root(),
            )),
            search_dir: Some(self.data.search_path()),
        };
        let node =
            Node::with_options(self.config.clone(), self.key.clone(), store, options).unwrap();
        // A dial-out-only node (`[network] listen = "off"`) opens no port.
        let listener = match (self.config.dial_out_only(), self.listener.take()) {
            (true, _) => None,
            (false, Some(listener)) => Some(listener),
            (false, None) => Some(TcpListener::bind(self.config.listen).await.unwrap()),
        };
        // As `comity serve` runs it: node, notifier and (when asked) the
        // dashboard, under one token.
        let http = match (self.dashboard, self.http_listener.take()) {
            (false, _) => None,
            (true, Some(listener)) => Some(listener),
            (true, None) => Some(TcpListener::bind(self.config.http.listen).await.unwrap()),
        };
        // `[local_api] tcp`, when a test sets it (port 0: a fresh one each start).
        let local_api_tcp = match self.config.local_api.tcp {
            Some(addr) => Some(TcpListener::bind(addr).await.unwrap()),
            None => None,
        };
        let listeners = Listeners {
            federation: listener,
            http,
            socket: Some(self.data.socket_path()),
            local_api_tcp,
        };
        let running = Daemon::start(node, listeners).await.unwrap();
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        // The daemon lets go of the node (and its store) only when the
        // dashboard and the notifier have, so that a restart can reopen it.
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }

    /// The dashboard's base URL (`http://127.0.0.1:PORT`), for a node made by
    /// [`create_with_dashboard`](Self::create_with_dashboard).
    pub fn http_url(&self) -> String {
        assert!(self.dashboard, "{} serves no dashboard", self.org);
        self.node().http_url().expect("the dashboard is enabled")
    }

    /// Where the local API listens on loopback TCP (`[local_api] tcp`).
    pub fn local_api_tcp_addr(&self) -> Option<std::net::SocketAddr> {
        self.running.as_ref()?.local_api_tcp_addr()
    }

    pub fn node(&self) -> &Arc<Node> {
        self.running.as_ref().expect("node is running").node()
    }

    /// Where the running node's federation service listens; None for a
    /// dial-out-only node.
    pub fn federation_addr(&self) -> Option<std::net::SocketAddr> {
        self.running
            .as_ref()
            .expect("node is running")
            .federation_addr()
    }

    pub fn endpoint(&self) -> Endpoint {
        self.config.endpoint()
    }

    pub fn public_key(&self) -> PublicKey {
        self.key.public()
    }

    /// `self` pins `other` and dials it.
    pub fn follow(&self, other: &TestNode) {
        self.node()
            .add_peer(
                other.org.clone(),
                other.public_key(),
                Some(other.endpoint()),
            )
            .unwrap();
    }

    /// `self` pins `other` by key only: its log must come through relays.
    pub fn follow_key_only(&self, other: &TestNode) {
        self.node()
            .add_peer(other.org.clone(), other.public_key(), None)
            .unwrap();
    }

    pub fn head_seq(&self, origin: &OrgId) -> u64 {
        self.node()
            .store()
            .head(origin)
            .unwrap()
            .map_or(0, |h| h.seq)
    }

    /// Every entry of `origin` held here, in order.
    pub fn log_of(&self, origin: &OrgId) -> Vec<SignedEntry> {
        self.node()
            .store()
            .entries_after(origin, 0, usize::MAX)
            .unwrap()
    }

    /// Waits until this node holds `origin` up to `seq`.
    pub async fn wait_for_seq(&self, origin: &OrgId, seq: u64) {
        let node = self.node();
        let mut appended = node.appended();
        let start = Instant::now();
        while self.head_seq(origin) < seq {
            let left = DEADLINE.checked_sub(start.elapsed()).unwrap_or_else(|| {
                panic!(
                    "{} holds {origin} only up to {} after {DEADLINE:?}, expected {seq}",
                    self.org,
                    self.head_seq(origin)
                )
            });
            let _ = tokio::time::timeout(left, appended.changed()).await;
        }
    }

    /// Publishes `n` consultations and returns their entries.
    pub async fn publish(&self, n: usize) -> Vec<SignedEntry> {
        let mut entries = Vec::with_capacity(n);
        for i in 0..n {
            entries.push(
                self.node()
                    .publish(consultation(&format!("Consultation {i}")))
                    .await
                    .unwrap(),
            );
        }
        entries
    }
}

/// A listener for a node that may be stopped and started again on the same
/// port: below the ephemeral range (see [`ports`]), so that no outgoing
/// connection takes the port as its source while the node is down.
fn restartable_listener() -> TcpListener {
    let listener = ports::loopback_listener().unwrap();
    listener.set_nonblocking(true).unwrap();
    TcpListener::from_std(listener).unwrap()
}

async fn open_store_retrying(data: &DataDir, config: &Config) -> Arc<dyn comity_store::Store> {
    let start = Instant::now();
    loop {
        match data.open_store(config) {
            Ok(store) => return store,
            Err(e) if start.elapsed() < DEADLINE => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("cannot reopen store: {e}"),
        }
    }
}

//! Test harness: real nodes on 127.0.0.1 with ephemeral ports, each in its own
//! temporary data directory, started and stopped in-process.
#![allow(dead_code)]

use comity_core::{IdentityKey, OrgId, PublicKey, SignedEntry, proto, verify};
use comity_node::{Config, DataDir, Node, RunningNode, clock::ManualClock, node::NodeOptions};
use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::net::TcpListener;

/// Generous: CI machines are small and shared.
pub const DEADLINE: Duration = Duration::from_secs(30);

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

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
    running: Option<RunningNode>,
}

impl TestNode {
    /// Initialises a node's data directory under `root`, without starting it.
    pub async fn create(root: &Path, id: &str) -> Self {
        Self::create_with(root, id, |_| {}).await
    }

    pub async fn create_with(root: &Path, id: &str, tune: impl FnOnce(&mut Config)) -> Self {
        let org = org(id);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
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
        }
    }

    /// Creates and starts a node.
    pub async fn start_new(root: &Path, id: &str) -> Self {
        let mut node = Self::create(root, id).await;
        node.start().await;
        node
    }

    /// Starts (or restarts) the node from its data directory, on its port.
    pub async fn start(&mut self) {
        assert!(self.running.is_none(), "{} already running", self.org);
        let store = open_store_retrying(&self.data, &self.config).await;
        // As `comity serve` does: finish a key rotation a stop interrupted.
        self.key = self.data.load_key_recovering(&self.org, &*store).unwrap();
        let options = NodeOptions {
            clock: self.clock.clone(),
            key_files: Some(self.data.key_files()),
        };
        let node =
            Node::with_options(self.config.clone(), self.key.clone(), store, options).unwrap();
        let listener = match self.listener.take() {
            Some(listener) => listener,
            None => TcpListener::bind(self.config.listen).await.unwrap(),
        };
        let running = RunningNode::start(node, listener, Some(self.data.socket_path()))
            .await
            .unwrap();
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
    }

    pub fn node(&self) -> &Arc<Node> {
        self.running.as_ref().expect("node is running").node()
    }

    pub fn endpoint(&self) -> String {
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

/// A valid consultation document.
pub fn consultation(title: &str) -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(),
        revision: 1,
        title: vec![proto::Text {
            lang: "en".into(),
            value: title.into(),
        }],
        closes_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

/// Waits, up to [`DEADLINE`], for a condition that other tasks make true.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Asserts that `entries` are exactly seq 1..=n of one origin, chained and signed.
pub fn assert_chain(entries: &[SignedEntry], key: &PublicKey, n: u64) {
    let seqs: Vec<u64> = entries.iter().map(SignedEntry::seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "gaps or duplicates");
    let head = verify::verify_chain(entries, key).unwrap().unwrap();
    assert_eq!(head.seq, n);
}

/// A directory that outlives nothing: removed when the test ends.
pub fn temp_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("comity-test-")
        .tempdir()
        .unwrap()
}

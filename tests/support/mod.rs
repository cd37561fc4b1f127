//! Test harness: real nodes on 127.0.0.1, each in its own temporary data
//! directory, started and stopped in-process, or run as `comity serve`
//! processes; their ports are below the ephemeral range (see [`ports`]).
#![allow(dead_code)]

pub mod ports;

use comity_core::{IdentityKey, OrgId, PublicKey, SignedEntry, proto, verify};
use comity_node::{
    Config, DataDir, Node, RunningNode, clock::ManualClock, node::NodeOptions, protocol::Endpoint,
};
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
    /// Whether [`start`](Self::start) also serves the web dashboard.
    dashboard: bool,
    http_listener: Option<TcpListener>,
    dashboard_task: Option<tokio::task::JoinHandle<()>>,
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
            dashboard_task: None,
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
        // A dial-out-only node (`[network] listen = "off"`) opens no port.
        let listener = match (self.config.dial_out_only(), self.listener.take()) {
            (true, _) => None,
            (false, Some(listener)) => Some(listener),
            (false, None) => Some(TcpListener::bind(self.config.listen).await.unwrap()),
        };
        let running = RunningNode::start_with(node, listener, Some(self.data.socket_path()))
            .await
            .unwrap();
        if self.dashboard {
            let http = match self.http_listener.take() {
                Some(listener) => listener,
                None => TcpListener::bind(self.config.http.listen).await.unwrap(),
            };
            let node = running.node().clone();
            let stop = running.shutdown_token().cancelled_owned();
            self.dashboard_task = Some(tokio::spawn(async move {
                if let Err(e) = comity_web::serve(node, http, stop).await {
                    panic!("dashboard stopped: {e}");
                }
            }));
        }
        self.running = Some(running);
    }

    pub async fn stop(&mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await.unwrap();
        }
        // The node's shutdown stops the dashboard; wait for it to let go of
        // the node (and its store) so that a restart can reopen it.
        if let Some(task) = self.dashboard_task.take() {
            let _ = tokio::time::timeout(DEADLINE, task).await;
        }
    }

    /// The dashboard's base URL (`http://127.0.0.1:PORT`), for a node made by
    /// [`create_with_dashboard`](Self::create_with_dashboard).
    pub fn http_url(&self) -> String {
        assert!(self.dashboard, "{} serves no dashboard", self.org);
        self.node().http_url().expect("the dashboard is enabled")
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

/// A valid consultation document.
pub fn consultation(title: &str) -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
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

/// Waits until `node` follows `origin` through `source` (a subscription to
/// it is open or being opened).
pub async fn wait_until_following_through(node: &TestNode, origin: &OrgId, source: &OrgId) {
    let (node, origin, source) = (node.node().clone(), origin.clone(), source.clone());
    eventually(&format!("following {origin} through {source}"), move || {
        node.peer_table()
            .views()
            .iter()
            .any(|p| p.record.org == source && p.serving.contains(&origin))
    })
    .await;
}

/// The TLS side of a fake peer for tests of how a node treats its peers:
/// `org` with `key`, accepting only `victim`. Returns its endpoint and its
/// incoming connections, for a `FederationServer` or for raw bytes.
pub async fn fake_peer_tls(
    key: &IdentityKey,
    org: &OrgId,
    victim: &TestNode,
) -> (
    String,
    impl futures::Stream<
        Item = Result<
            impl tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static,
            std::io::Error,
        >,
    > + Send
    + 'static,
) {
    fake_peer_tls_for(key, org, &[victim]).await
}

/// As [`fake_peer_tls`], accepting every one of `victims`.
pub async fn fake_peer_tls_for(
    key: &IdentityKey,
    org: &OrgId,
    victims: &[&TestNode],
) -> (
    String,
    impl futures::Stream<
        Item = Result<
            impl tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static
            + use<>,
            std::io::Error,
        >,
    >
    + Send
    + 'static
    + use<>,
) {
    let identity = comity_tls::TlsIdentity::new(key, org).unwrap();
    let pins: std::collections::HashMap<_, _> = victims
        .iter()
        .map(|v| (v.public_key(), v.org.clone()))
        .collect();
    let identity = Arc::new(comity_tls::SharedIdentity::new(identity));
    let config = comity_tls::server_config(identity, Arc::new(pins)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}", listener.local_addr().unwrap());
    let incoming = comity_tls::incoming(listener, config, Duration::from_secs(2));
    (endpoint, incoming)
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

// ---------------------------------------------------------------------------
// Nodes as `comity serve` child processes, for the fault suite: they can be
// killed with SIGKILL, and run inside network namespaces.

/// The `comity` binary Cargo built for these tests.
pub const COMITY_BIN: &str = env!("CARGO_BIN_EXE_comity");

/// `COMITY_FAULT_LONG=1` switches the fault suite to its long-run sizes.
pub fn fault_long() -> bool {
    std::env::var("COMITY_FAULT_LONG").is_ok_and(|v| v == "1")
}

/// `ci` normally, `long` under `COMITY_FAULT_LONG=1`.
pub fn fault_size(ci: usize, long: usize) -> usize {
    if fault_long() { long } else { ci }
}

/// A free TCP port on 127.0.0.1 for a node in another process (see
/// [`ports`]).
pub fn free_port() -> u16 {
    ports::free_loopback_port().unwrap()
}

/// A node run as `comity serve` in a child process (optionally inside a
/// network namespace). Dropping it kills the process.
pub struct ChildNode {
    pub org: OrgId,
    pub data: DataDir,
    pub config: Config,
    pub key: PublicKey,
    netns: Option<String>,
    /// `COMITY_LOG` for the process: `warn` unless [`log_filter`](Self::log_filter) says more.
    log_filter: String,
    child: Option<std::process::Child>,
    log: std::path::PathBuf,
}

impl ChildNode {
    /// Initialises a data directory with the test timings and no dashboard.
    pub fn init(
        root: &Path,
        id: &str,
        listen: std::net::SocketAddr,
        tune: impl FnOnce(&mut Config),
    ) -> Self {
        let org = org(id);
        let mut config = test_config(&org, listen);
        config.http.enabled = false;
        tune(&mut config);
        let data = DataDir::new(root.join(id));
        let key = data.init(&config).unwrap().public();
        Self {
            org,
            data,
            config,
            key,
            netns: None,
            log_filter: "warn".into(),
            child: None,
            log: root.join(format!("{id}.log")),
        }
    }

    /// Runs the process inside network namespace `ns` (`ip netns exec`).
    pub fn in_netns(mut self, ns: &str) -> Self {
        self.netns = Some(ns.to_string());
        self
    }

    /// Logs what `filter` (a `COMITY_LOG` directive) lets through, so that
    /// [`log_tail`](Self::log_tail) says more when a test fails.
    pub fn log_filter(mut self, filter: &str) -> Self {
        self.log_filter = filter.to_string();
        self
    }

    pub fn endpoint(&self) -> Endpoint {
        self.config.endpoint()
    }

    /// Pins a peer in the store; only while the process is not running.
    pub fn pin(&self, org: &OrgId, key: PublicKey, endpoint: Option<Endpoint>) {
        assert!(self.child.is_none(), "{} is running", self.org);
        let store = self.open_store();
        comity_store::LocalStore::put_peer(
            &store,
            &comity_store::PeerRecord {
                org: org.clone(),
                key,
                endpoint: endpoint.map(String::from),
                added_at: 0,
                key_since: 0,
            },
        )
        .unwrap();
        comity_store::LogStore::flush(&store).unwrap();
    }

    /// Opens the store directly; only while the process is not running.
    ///
    /// Without sled's background flusher, so that dropping the store lets go
    /// of its lock at once; and retrying while a previous handle in this
    /// process (whose flusher thread may outlive it briefly) still holds it.
    pub fn open_store(&self) -> comity_store::SledStore {
        assert!(self.child.is_none(), "{} is running", self.org);
        let options = || comity_store::SledOptions {
            flush_every_ms: None,
            ..Default::default()
        };
        let start = Instant::now();
        loop {
            match comity_store::SledStore::open(&self.data.store_path(), options()) {
                Ok(store) => return store,
                Err(e) if e.to_string().contains("lock") && start.elapsed() < DEADLINE => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("{}: store does not open: {e}", self.org),
            }
        }
    }

    /// Starts `comity serve`; its log goes to `<root>/<id>.log`.
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "{} already running", self.org);
        let mut command = match &self.netns {
            Some(ns) => {
                let mut c = std::process::Command::new("ip");
                c.args(["netns", "exec", ns, COMITY_BIN]);
                c
            }
            None => std::process::Command::new(COMITY_BIN),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        command
            .args(["serve", "--data"])
            .arg(self.data.root())
            .env("COMITY_LOG", &self.log_filter)
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(log);
        self.child = Some(command.spawn().unwrap());
    }

    /// Starts the process and waits until its local API answers.
    pub async fn start(&mut self) {
        self.spawn();
        self.wait_ready().await;
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// The process id while the process runs (for sampling `/proc/<pid>`).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(std::process::Child::id)
    }

    /// Whether the process exited on its own (without [`kill`](Self::kill) or
    /// [`terminate`](Self::terminate)), and how; it is reaped, not restarted.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().unwrap())
    }

    /// The file the process's stderr goes to.
    pub fn log_path(&self) -> &Path {
        &self.log
    }

    /// Waits until the local API accepts connections.
    pub async fn wait_ready(&mut self) {
        let socket = self.data.socket_path();
        let start = Instant::now();
        loop {
            if socket.exists() && std::os::unix::net::UnixStream::connect(&socket).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                panic!("{} exited ({status}): {}", self.org, self.log_tail());
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{} not ready: {}",
                self.org,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// SIGKILL, then reap.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM (a clean stop), then reap; SIGKILL after [`DEADLINE`].
    pub fn terminate(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let start = Instant::now();
            while child.try_wait().ok().flatten().is_none() {
                if start.elapsed() > DEADLINE {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// A client of the local API.
    pub async fn api(
        &self,
    ) -> comity_proto::v1::node_client::NodeClient<tonic::transport::Channel> {
        comity_node::local_api::connect(&self.data.socket_path())
            .await
            .unwrap()
    }

    /// Heads per origin, as the running node reports them.
    pub async fn heads(&self) -> Option<std::collections::BTreeMap<String, u64>> {
        let mut api = comity_node::local_api::connect(&self.data.socket_path())
            .await
            .ok()?;
        let status = api
            .status(comity_proto::v1::StatusRequest {})
            .await
            .ok()?
            .into_inner();
        Some(
            status
                .heads
                .into_iter()
                .map(|h| (h.origin, h.seq))
                .collect(),
        )
    }

    /// The running node's peers, as `comity peer list` shows them.
    pub async fn peers(&self) -> Vec<comity_proto::v1::PeerStatus> {
        let mut api = self.api().await;
        api.list_peers(comity_proto::v1::ListPeersRequest {})
            .await
            .unwrap()
            .into_inner()
            .peers
    }

    /// Waits until the running node holds `origin` up to at least `seq`.
    pub async fn wait_for_seq(&self, origin: &OrgId, seq: u64, within: Duration) {
        let start = Instant::now();
        loop {
            let held = self
                .heads()
                .await
                .and_then(|h| h.get(origin.as_str()).copied())
                .unwrap_or(0);
            if held >= seq {
                return;
            }
            assert!(
                start.elapsed() < within,
                "{} holds {origin} only up to {held} after {within:?}, expected {seq}: {}",
                self.org,
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The last lines of the process's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(15)..].join("\n")
    }
}

impl Drop for ChildNode {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Verifies every origin's chain in `store` against the keys in `keys`, and
/// returns the heads (seq) per origin. Panics, naming `who`, on any gap,
/// duplicate, broken link or bad signature.
pub fn verify_store(
    who: &str,
    store: &dyn comity_store::Store,
    keys: &std::collections::BTreeMap<OrgId, PublicKey>,
) -> std::collections::BTreeMap<OrgId, u64> {
    let mut heads = std::collections::BTreeMap::new();
    for (origin, head) in store.heads().unwrap() {
        let key = keys
            .get(&origin)
            .unwrap_or_else(|| panic!("{who} holds an unknown origin {origin}"));
        let entries = store.entries_after(&origin, 0, usize::MAX).unwrap();
        let seqs: Vec<u64> = entries.iter().map(SignedEntry::seq).collect();
        assert_eq!(
            seqs,
            (1..=head.seq).collect::<Vec<_>>(),
            "{who}: {origin}'s log has gaps or duplicates"
        );
        let verified = verify::verify_chain(&entries, key)
            .unwrap_or_else(|e| panic!("{who}: {origin}'s chain does not verify: {e}"));
        assert_eq!(
            verified,
            Some(head),
            "{who}: {origin}'s head is not its last entry"
        );
        heads.insert(origin, head.seq);
    }
    heads
}

/// Publishes one consultation through the local API at `socket`: its seq
/// and id, or `None` when the node does not answer (down, restarting).
pub async fn publish_through(socket: &Path, title: String) -> Option<(u64, String)> {
    let mut api = comity_node::local_api::connect(socket).await.ok()?;
    let published = api
        .publish_consultation(comity_proto::v1::PublishConsultationRequest {
            title,
            closes: "2027-03-31".into(),
            ..Default::default()
        })
        .await
        .ok()?
        .into_inner();
    Some((published.seq, published.id))
}

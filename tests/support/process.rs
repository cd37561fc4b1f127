//! Nodes as `comity serve` child processes, for the fault suite: they can
//! be killed with SIGKILL, and run inside network namespaces.

use super::*;
use comity_core::{OrgId, PublicKey, SignedEntry, verify};
use comity_node::{Config, DataDir, protocol::Endpoint};
use std::{
    path::Path,
    time::{Duration, Instant},
};

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
                more_endpoints: Vec::new(),
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
            if socket.exists()
                && std::os::unix::net::UnixStream::connect(&socket).is_ok()
                && self.recovered().await
            {
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

    /// Whether the running node has left recovery (its local API answers
    /// and its status says it is not recovering).
    pub async fn recovered(&self) -> bool {
        let Ok(mut api) = comity_node::local_api::connect(&self.data.socket_path()).await else {
            return false;
        };
        api.status(comity_proto::v1::StatusRequest {})
            .await
            .is_ok_and(|s| {
                s.into_inner()
                    .recovery
                    .is_none_or(|r| r.phase() != comity_proto::v1::RecoveryPhase::Recovering)
            })
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

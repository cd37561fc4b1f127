//! Real nodes as separate processes: `comity init`, `comity peer add`,
//! `comity serve`, driven through their local API sockets.

use anyhow::{Context, Result, anyhow, bail};
use comity_core::{
    IdentityKey, OrgId, PublicKey, SignedEntry, UnsignedEntry, document, fixtures, proto,
};
use comity_node::{DataDir, local_api};
use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tonic::transport::Channel;

pub type Api = proto::node_client::NodeClient<Channel>;

/// The release `comity` binary.
#[derive(Debug, Clone)]
pub struct Bin(pub PathBuf);

impl Bin {
    /// `target/release/comity` next to this binary, else under the working directory.
    pub fn locate(explicit: Option<PathBuf>) -> Result<Self> {
        let mut candidates = Vec::new();
        if let Some(path) = explicit {
            candidates.push(path);
        }
        if let Ok(me) = std::env::current_exe()
            && let Some(dir) = me.parent()
        {
            candidates.push(dir.join("comity"));
        }
        candidates.push(PathBuf::from("target/release/comity"));
        candidates
            .into_iter()
            .find(|p| p.is_file())
            .map(Self)
            .ok_or_else(|| {
                anyhow!(
                    "no release `comity` binary found (looked next to comity-bench and in target/release); \
                     build it with: cargo build --release -p comity-cli -p comity-bench"
                )
            })
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(&self.0)
            .args(args)
            .env("COMITY_LOG", "warn")
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", self.0.display()))?;
        if !out.status.success() {
            bail!(
                "comity {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// A free TCP port on loopback, below the kernel's ephemeral range.
pub fn free_port() -> Result<u16> {
    Ok(crate::ports::free_loopback_port()?)
}

/// One node: its data directory and, while it serves, its process.
pub struct NodeProc {
    pub org: OrgId,
    pub dir: PathBuf,
    pub key: PublicKey,
    pub endpoint: String,
    bin: Bin,
    child: Option<Child>,
}

impl NodeProc {
    /// `comity init --http off` in `root/org`.
    pub fn init(bin: &Bin, root: &Path, org: &str) -> Result<Self> {
        Self::init_listening(bin, root, org, true)
    }

    /// As [`Self::init`]; unless `listening`, with `--listen off`: a node
    /// nobody can dial, which offers its log to the partners it dials (its
    /// `endpoint` is empty).
    pub fn init_listening(bin: &Bin, root: &Path, org: &str, listening: bool) -> Result<Self> {
        Self::init_on(bin, root, org, listening, None)
    }

    /// As [`Self::init_listening`], the node's store in the PostgreSQL
    /// database `store` (`comity init --store URL`) when one is given.
    pub fn init_on(
        bin: &Bin,
        root: &Path,
        org: &str,
        listening: bool,
        store: Option<&str>,
    ) -> Result<Self> {
        let dir = root.join(org);
        let listen = if listening {
            format!("127.0.0.1:{}", free_port()?)
        } else {
            "off".to_string()
        };
        let data = dir.display().to_string();
        let name = org.to_uppercase();
        let mut args = vec![
            "init", "--data", &data, "--org", org, "--name", &name, "--listen", &listen, "--http",
            "off",
        ];
        if let Some(url) = store {
            args.extend(["--store", url]);
        }
        bin.run(&args)?;
        let id: serde_json::Value =
            serde_json::from_str(&bin.run(&["id", "--json", "--data", &data])?)
                .context("parsing `comity id --json`")?;
        let field = |name: &str| -> Result<String> {
            id[name]
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("`comity id --json` gave no {name}"))
        };
        Ok(Self {
            org: OrgId::new(org)?,
            dir,
            key: field("key")?.parse()?,
            endpoint: if listening {
                field("endpoint")?
            } else {
                String::new()
            },
            bin: bin.clone(),
            child: None,
        })
    }

    pub fn socket(&self) -> PathBuf {
        DataDir::new(&self.dir).socket_path()
    }

    /// `comity peer add` (straight into the store when stopped, through the API when running).
    pub fn peer_add_cli(&self, other: &NodeProc) -> Result<()> {
        let data = self.dir.display().to_string();
        let key = other.key.to_string();
        self.bin.run(&[
            "peer",
            "add",
            other.org.as_str(),
            "--key",
            &key,
            "--endpoint",
            &other.endpoint,
            "--data",
            &data,
        ])?;
        Ok(())
    }

    /// `comity serve`, then waits until the local API answers. Retried a few
    /// times while the store is still locked by a store this process just
    /// closed (sled releases its lock from a background thread).
    pub async fn serve(&mut self) -> Result<Api> {
        let mut attempt = 0;
        loop {
            match self.serve_once().await {
                Err(e) if attempt < 10 && self.serve_log().contains("in use") => {
                    attempt += 1;
                    note_retry(&e);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => return other,
            }
        }
    }

    fn serve_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }

    async fn serve_once(&mut self) -> Result<Api> {
        if self.child.is_some() {
            bail!("{} already serves", self.org);
        }
        let log = std::fs::File::create(self.dir.join("serve.log"))?;
        let child = Command::new(&self.bin.0)
            .args(["serve", "--data"])
            .arg(&self.dir)
            .env("COMITY_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("spawning comity serve")?;
        self.child = Some(child);
        self.wait_api().await
    }

    pub async fn wait_api(&mut self) -> Result<Api> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                self.child = None;
                bail!(
                    "comity serve for {} exited with {status}; see {}",
                    self.org,
                    self.dir.join("serve.log").display()
                );
            }
            if let Ok(mut api) = local_api::connect(&self.socket()).await
                && api.status(proto::StatusRequest {}).await.is_ok()
            {
                return Ok(api);
            }
            if Instant::now() > deadline {
                bail!("{} did not answer on its local API within 60 s", self.org);
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, then waits for a clean exit (SIGKILL after 20 s).
    pub fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while child.try_wait()?.is_none() {
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }

    /// Writes `count` signed consultations of about 2 KiB straight into the
    /// (stopped) node's own log, with its own key: a backlog "published"
    /// without waiting on one fsync per entry.
    pub fn prefill(&self, count: usize) -> Result<u64> {
        self.prefill_with(count, |i| {
            fixtures::consultation(i, time::OffsetDateTime::now_utc())
        })
    }

    /// As [`Self::prefill`], with the documents `body` makes.
    pub fn prefill_with(
        &self,
        count: usize,
        body: impl Fn(usize) -> proto::document::Body,
    ) -> Result<u64> {
        if self.child.is_some() {
            bail!("prefill needs {} stopped", self.org);
        }
        let data = DataDir::new(&self.dir);
        let config = data.load_config()?;
        let key: IdentityKey = data.load_key()?;
        let store = data.open_store(&config)?;
        let mut head = store.head(&self.org)?;
        let mut batch: Vec<SignedEntry> = Vec::with_capacity(1000);
        for i in 0..count {
            let (kind, payload) = document::encode(body(i));
            let entry = UnsignedEntry::new(
                self.org.clone(),
                kind,
                payload,
                time::OffsetDateTime::now_utc(),
            )
            .sign(&key, head);
            head = Some(entry.head());
            batch.push(entry);
            if batch.len() == 1000 {
                store.append_batch(&batch)?;
                batch.clear();
            }
        }
        store.append_batch(&batch)?;
        store.flush()?;
        Ok(head.map_or(0, |h| h.seq))
    }

    pub fn disk_bytes(&self) -> u64 {
        dir_size(&DataDir::new(&self.dir).store_path())
    }
}

impl Drop for NodeProc {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The seq `origin`'s log reaches on the node behind `api` (0: none).
pub async fn held_up_to(api: &mut Api, origin: &OrgId, at_least: u64) -> Result<bool> {
    let entries = api
        .list_entries(proto::ListEntriesRequest {
            origin: origin.to_string(),
            after_seq: at_least.saturating_sub(1),
            limit: 1,
        })
        .await?
        .into_inner()
        .entries;
    Ok(entries.first().is_some_and(|e| e.seq >= at_least))
}

/// Polls until the node holds `origin` up to `seq`; returns when it does.
pub async fn wait_for(api: &mut Api, origin: &OrgId, seq: u64, timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !held_up_to(api, origin, seq).await? {
        if Instant::now() > deadline {
            bail!("{origin} did not reach seq {seq} within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

pub async fn add_peer(api: &mut Api, other: &NodeProc) -> Result<()> {
    api.add_peer(proto::AddPeerRequest {
        org: other.org.to_string(),
        key: other.key.to_string(),
        endpoint: other.endpoint.clone(),
        more_endpoints: Vec::new(),
    })
    .await?;
    Ok(())
}

/// Waits until the node behind `api` holds at least one entry of each of
/// `origins`.
pub async fn wait_for_all(api: &mut Api, origins: &[OrgId], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        let status = api.status(proto::StatusRequest {}).await?.into_inner();
        let held: std::collections::HashSet<&str> = status
            .heads
            .iter()
            .filter(|h| h.seq >= 1)
            .map(|h| h.origin.as_str())
            .collect();
        let missing = origins
            .iter()
            .filter(|o| !held.contains(o.as_str()))
            .count();
        if missing == 0 {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{} still misses {missing} of {} origins after {timeout:?}",
                status.org,
                origins.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

pub fn dir_size(path: &Path) -> u64 {
    let Ok(read) = std::fs::read_dir(path) else {
        return 0;
    };
    read.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            // Allocated blocks, as du counts them.
            Ok(m) => std::os::unix::fs::MetadataExt::blocks(&m) * 512,
            Err(_) => 0,
        })
        .sum()
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> Option<[f64; 3]> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    let mut fields = text.split_whitespace().map(|f| f.parse::<f64>().ok());
    Some([fields.next()??, fields.next()??, fields.next()??])
}

/// Resident set size of a process, in bytes.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    status_kb(pid, "VmRSS:").map(|kb| kb * 1024)
}

/// The anonymous part of a process's resident set (its heap and stacks):
/// the RSS less the pages of files mapped, mostly the binary's code.
pub fn rss_anon_bytes(pid: u32) -> Option<u64> {
    status_kb(pid, "RssAnon:").map(|kb| kb * 1024)
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based).
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

pub fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100)
}

fn note_retry(error: &anyhow::Error) {
    eprintln!("  (retrying: {error:#})");
}

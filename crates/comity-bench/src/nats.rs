//! The hub Comity is measured against, in the same run (`--compare-nats`):
//! NATS JetStream fanning one publisher's messages out to N durable
//! consumers on this machine, at the propagation scenario's N and entry size.
//!
//! Method (as in the reference kit under `shared/anchors`): a fresh
//! `nats-server -js` per run, listening on 127.0.0.1 only, its store in the
//! run's scratch directory (the disk Comity's nodes write to); one stream
//! with FILE storage; N durable PULL consumers (explicit acks, deliver all),
//! each on its own connection, pulling continuously and acking every
//! message; one publisher connection publishing one message at a time, each
//! awaiting its PubAck before the next. Fan-out latency of a message = the
//! moment the last of the N consumers had acked it − the moment its publish
//! started; one clock, in this process.
//!
//! Two publishing phases on the same consumers:
//! - `fan_out`: the publisher awaits only its PubAck (the kit's method, the
//!   figure the targets name);
//! - `fan_out_paced`: it also waits until the last consumer has acked before
//!   publishing the next, as Comity's "one at a time" does.
//!
//! JetStream's file store does not fsync each message by default, while
//! Comity makes each entry durable at the origin and at every follower, so
//! the fsync fan-out floor is printed beside both.

use crate::cluster;
use crate::scenarios::Latency;
use anyhow::{Context, Result, anyhow, bail};
use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, pull},
    stream,
};
use futures::StreamExt;
use serde::Serialize;
use std::{
    ffi::OsStr,
    ops::Range,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU32, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use tokio::sync::mpsc;

const STREAM: &str = "BENCH";
const SUBJECT: &str = "bench.entries";
/// Messages asked for per pull request (async-nats' default).
const PULL_BATCH: usize = 200;
/// Messages fanned out, paced, before anything is measured: every consumer
/// is pulling and every connection is warm.
const WARM_UP: usize = 20;
/// How long one message (paced) or one phase may take to reach every consumer.
const STALL: Duration = Duration::from_secs(30);

/// The first executable file called `name` in a PATH-style list.
pub fn find_on_path(name: &str, path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The `nats-server` to run: `explicit` if given, else the first on `path`.
/// The error is the one line the harness prints before it skips the
/// comparison.
pub fn locate(explicit: Option<&Path>, path: Option<&OsStr>) -> Result<PathBuf, String> {
    match explicit {
        Some(p) if is_executable(p) => Ok(p.to_path_buf()),
        Some(p) => Err(format!(
            "--compare-nats: {} is not an executable file; skipping the NATS comparison",
            p.display()
        )),
        None => path
            .and_then(|path| find_on_path("nats-server", path))
            .ok_or_else(|| {
                "--compare-nats: nats-server is not on PATH, so the NATS JetStream comparison is \
                 skipped (install it with: apt-get install nats-server)"
                    .to_string()
            }),
    }
}

/// `nats-server --version`, e.g. `nats-server: v2.9.10`.
pub fn version(bin: &Path) -> String {
    Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// One `nats-server -js` child; killed when dropped. Where `setpriv` exists
/// (util-linux), the server also gets SIGKILL if the harness itself dies.
struct Server {
    child: Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Server {
    /// Must run on the thread that lives as long as the harness (the
    /// runtime's `block_on` thread): the parent-death signal follows the
    /// thread that forked.
    fn spawn(bin: &Path, scratch: &Path) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("nats-anchor-")
            .tempdir_in(scratch)?;
        let port = cluster::free_port()?;
        let log = std::fs::File::create(dir.path().join("nats-server.log"))?;
        let mut command =
            match std::env::var_os("PATH").and_then(|path| find_on_path("setpriv", &path)) {
                Some(setpriv) => {
                    let mut c = Command::new(setpriv);
                    c.args(["--pdeathsig", "KILL", "--"]).arg(bin);
                    c
                }
                None => Command::new(bin),
            };
        command
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path().join("store"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", bin.display()))?;
        Ok(Self {
            child,
            url: format!("nats://127.0.0.1:{port}"),
            dir,
        })
    }

    fn log_tail(&self) -> String {
        let log =
            std::fs::read_to_string(self.dir.path().join("nats-server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(5)..].join(" | ")
    }

    /// A new client connection, once the server accepts them.
    async fn connect(&mut self) -> Result<async_nats::Client> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match async_nats::connect(&self.url).await {
                Ok(client) => return Ok(client),
                Err(e) => {
                    if let Some(status) = self.child.try_wait()? {
                        bail!("nats-server exited ({status}): {}", self.log_tail());
                    }
                    if Instant::now() > deadline {
                        bail!(
                            "nats-server at {} not reachable within 10 s: {e}; log: {}",
                            self.url,
                            self.log_tail()
                        );
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Aborts the consumer tasks when the run ends, however it ends.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Per message: when its publish started, when its PubAck came, when the
/// first and the last consumer acked it, and how many have.
struct Tracker {
    base: Instant,
    started: Vec<AtomicU64>,
    pub_acked: Vec<AtomicU64>,
    first: Vec<AtomicU64>,
    last: Vec<AtomicU64>,
    acks: Vec<AtomicU32>,
    duplicates: AtomicU64,
    errors: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl Tracker {
    fn new(messages: usize) -> Self {
        let zeros = || (0..messages).map(|_| AtomicU64::new(0)).collect();
        Self {
            base: Instant::now(),
            started: zeros(),
            pub_acked: zeros(),
            first: (0..messages).map(|_| AtomicU64::new(u64::MAX)).collect(),
            last: zeros(),
            acks: (0..messages).map(|_| AtomicU32::new(0)).collect(),
            duplicates: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            first_error: Mutex::new(None),
        }
    }

    fn now(&self) -> u64 {
        self.base.elapsed().as_nanos() as u64
    }

    /// Records one consumer's ack of `index` at `at`; true for the ack that
    /// completes the fan-out (exactly once per message).
    fn acked(&self, index: usize, at: u64, consumers: u32) -> bool {
        self.first[index].fetch_min(at, Ordering::Relaxed);
        self.last[index].fetch_max(at, Ordering::Relaxed);
        // AcqRel: whoever completes the count sees every other consumer's `last`.
        self.acks[index].fetch_add(1, Ordering::AcqRel) + 1 == consumers
    }

    fn error(&self, e: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut first) = self.first_error.lock() {
            first.get_or_insert(e);
        }
    }

    fn first_error(&self) -> String {
        self.first_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_else(|| "none".into())
    }
}

/// One consumer: pulls, acks each message, records the moment its ack was sent.
async fn consume(
    mut messages: pull::Stream,
    tracker: Arc<Tracker>,
    consumers: u32,
    done: mpsc::UnboundedSender<usize>,
) {
    let mut seen = vec![false; tracker.started.len()];
    while let Some(message) = messages.next().await {
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracker.error(format!("pull: {e}"));
                continue;
            }
        };
        let Some(index) = message_index(&message.payload).filter(|i| *i < seen.len()) else {
            tracker.error("a message without a valid index".into());
            continue;
        };
        if let Err(e) = message.ack().await {
            tracker.error(format!("ack: {e}"));
            continue;
        }
        let at = tracker.now();
        if std::mem::replace(&mut seen[index], true) {
            tracker.duplicates.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if tracker.acked(index, at, consumers) && done.send(index).is_err() {
            return;
        }
    }
}

/// A message of `size` bytes: its index in the first 8, random bytes after.
fn payload(index: usize, size: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; size.max(8)];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut bytes[8..]);
    bytes[..8].copy_from_slice(&(index as u64).to_le_bytes());
    bytes
}

fn message_index(payload: &[u8]) -> Option<usize> {
    let head: [u8; 8] = payload.get(..8)?.try_into().ok()?;
    usize::try_from(u64::from_le_bytes(head)).ok()
}

/// `(to - from)` in ms for each message in `range`, sorted.
fn sorted_ms(from: &[AtomicU64], to: &[AtomicU64], range: Range<usize>) -> Vec<f64> {
    let mut ms: Vec<f64> = range
        .map(|i| {
            let (a, b) = (
                from[i].load(Ordering::Relaxed),
                to[i].load(Ordering::Relaxed),
            );
            b.saturating_sub(a) as f64 / 1e6
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

#[derive(Debug, Clone, Serialize)]
pub struct NatsRun {
    pub followers: usize,
    pub round: usize,
    pub messages: usize,
    pub message_bytes: usize,
    /// Fan-out to the last consumer's ack, from the start of the publish;
    /// the publisher awaits only its PubAck before the next. `before_return`
    /// counts messages every consumer had acked before their PubAck came.
    pub fan_out: Latency,
    /// Same messages, to the first consumer's ack.
    pub fan_out_first_consumer: Latency,
    /// Publish to PubAck.
    pub pub_ack: Latency,
    pub publish_per_s: f64,
    /// Fan-out with the publisher also waiting for the last consumer before
    /// the next publish (Comity's "one at a time").
    pub fan_out_paced: Latency,
    pub duplicates: u64,
    pub consumer_errors: u64,
    /// nats-server's CPU over both phases, seconds.
    pub server_cpu_s: f64,
    pub server_rss_mb: f64,
}

/// Publishes `range` one message at a time, each awaiting its PubAck (and,
/// `paced`, its fan-out too); returns once every consumer has acked all.
async fn publish(
    js: &jetstream::Context,
    tracker: &Tracker,
    done: &mut mpsc::UnboundedReceiver<usize>,
    range: Range<usize>,
    size: usize,
    paced: bool,
) -> Result<Duration> {
    let consumers_behind = |fanned: usize, of: usize| {
        anyhow!(
            "NATS fan-out stalled: {fanned} of {of} messages reached every consumer within {} s \
             (consumer errors: {}, first: {})",
            STALL.as_secs(),
            tracker.errors.load(Ordering::Relaxed),
            tracker.first_error()
        )
    };
    let start = Instant::now();
    let mut fanned = 0;
    for i in range.clone() {
        let message = payload(i, size);
        tracker.started[i].store(tracker.now(), Ordering::Relaxed);
        js.publish(SUBJECT, message.into())
            .await
            .context("publish")?
            .await
            .context("PubAck")?;
        tracker.pub_acked[i].store(tracker.now(), Ordering::Relaxed);
        if paced {
            let deadline = tokio::time::Instant::now() + STALL;
            loop {
                match tokio::time::timeout_at(deadline, done.recv()).await {
                    Ok(Some(j)) if j == i => break,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => return Err(consumers_behind(fanned, range.len())),
                }
            }
            fanned += 1;
        }
    }
    let deadline = tokio::time::Instant::now() + STALL;
    while fanned < range.len() {
        match tokio::time::timeout_at(deadline, done.recv()).await {
            Ok(Some(j)) if range.contains(&j) => fanned += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => return Err(consumers_behind(fanned, range.len())),
        }
    }
    Ok(start.elapsed())
}

/// One anchor run: a fresh server, `followers` consumers, `messages`
/// published unpaced then `messages` paced.
pub async fn fan_out(
    bin: &Path,
    scratch: &Path,
    followers: usize,
    messages: usize,
    message_bytes: usize,
) -> Result<NatsRun> {
    let consumers = u32::try_from(followers).context("too many consumers")?;
    let mut server = Server::spawn(bin, scratch)?;
    let js = jetstream::new(server.connect().await?);
    js.create_stream(stream::Config {
        name: STREAM.into(),
        subjects: vec!["bench.>".into()],
        storage: stream::StorageType::File,
        retention: stream::RetentionPolicy::Limits,
        num_replicas: 1,
        ..Default::default()
    })
    .await
    .map_err(|e| anyhow!("creating the stream: {e}"))?;
    let stream = js
        .get_stream(STREAM)
        .await
        .map_err(|e| anyhow!("getting the stream: {e}"))?;
    for i in 0..followers {
        stream
            .create_consumer(pull::Config {
                durable_name: Some(format!("c{i}")),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ..Default::default()
            })
            .await
            .map_err(|e| anyhow!("creating consumer c{i}: {e}"))?;
    }

    let warm = 0..WARM_UP;
    let unpaced = WARM_UP..WARM_UP + messages;
    let paced = unpaced.end..unpaced.end + messages;
    let tracker = Arc::new(Tracker::new(paced.end));
    let (done_tx, mut done) = mpsc::unbounded_channel();
    let mut tasks = Tasks(Vec::with_capacity(followers));
    for i in 0..followers {
        // Each consumer on its own connection.
        let consumer: jetstream::consumer::PullConsumer = jetstream::new(server.connect().await?)
            .get_stream(STREAM)
            .await
            .map_err(|e| anyhow!("consumer {i} getting the stream: {e}"))?
            .get_consumer(&format!("c{i}"))
            .await
            .map_err(|e| anyhow!("getting consumer c{i}: {e}"))?;
        let pulled = consumer
            .stream()
            .max_messages_per_batch(PULL_BATCH)
            .messages()
            .await
            .map_err(|e| anyhow!("consumer c{i} pulling: {e}"))?;
        tasks.0.push(tokio::spawn(consume(
            pulled,
            tracker.clone(),
            consumers,
            done_tx.clone(),
        )));
    }
    drop(done_tx);

    publish(&js, &tracker, &mut done, warm, message_bytes, true).await?;
    let ticks = cluster::clock_ticks_per_second() as f64;
    let cpu_before = cluster::cpu_ticks(server.pid());
    let took = publish(
        &js,
        &tracker,
        &mut done,
        unpaced.clone(),
        message_bytes,
        false,
    )
    .await?;
    publish(&js, &tracker, &mut done, paced.clone(), message_bytes, true).await?;
    let server_cpu_s = match (cpu_before, cluster::cpu_ticks(server.pid())) {
        (Some(a), Some(b)) => b.saturating_sub(a) as f64 / ticks,
        _ => f64::NAN,
    };
    let server_rss_mb = cluster::rss_bytes(server.pid()).unwrap_or(0) as f64 / (1024.0 * 1024.0);
    drop(tasks);

    let t = &tracker;
    let before_pub_ack = unpaced
        .clone()
        .filter(|&i| t.last[i].load(Ordering::Relaxed) < t.pub_acked[i].load(Ordering::Relaxed))
        .count();
    Ok(NatsRun {
        followers,
        round: 1,
        messages,
        message_bytes,
        fan_out: Latency::of(
            &sorted_ms(&t.started, &t.last, unpaced.clone()),
            before_pub_ack,
        ),
        fan_out_first_consumer: Latency::of(&sorted_ms(&t.started, &t.first, unpaced.clone()), 0),
        pub_ack: Latency::of(&sorted_ms(&t.started, &t.pub_acked, unpaced.clone()), 0),
        publish_per_s: messages as f64 / took.as_secs_f64().max(1e-9),
        fan_out_paced: Latency::of(&sorted_ms(&t.started, &t.last, paced), 0),
        duplicates: t.duplicates.load(Ordering::Relaxed),
        consumer_errors: t.errors.load(Ordering::Relaxed),
        server_cpu_s,
        server_rss_mb,
    })
}

/// `a / b`, when `b` is a positive measurement.
pub fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0 && a.is_finite() && b.is_finite()).then(|| a / b)
}

/// Comity beside NATS (and the fsync floor) at one N, in one round.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub followers: usize,
    pub round: usize,
    pub message_bytes: usize,
    /// Comity one at a time, from the start of the publish call (the start
    /// NATS is measured from) to the last follower holding the entry durably.
    pub comity_p50_ms: f64,
    pub comity_p99_ms: f64,
    /// The same entries from the publish call's return (the harness's usual figure).
    pub comity_from_return_p50_ms: f64,
    pub comity_from_return_p99_ms: f64,
    /// NATS, publisher awaiting its PubAck only (the kit's method).
    pub nats_p50_ms: f64,
    pub nats_p99_ms: f64,
    /// NATS, publisher waiting for the last consumer too.
    pub nats_paced_p50_ms: f64,
    pub nats_paced_p99_ms: f64,
    /// Comity (from the call) over NATS; below 1 is faster than the hub.
    pub ratio_p50: Option<f64>,
    pub ratio_p99: Option<f64>,
    /// N writers appending 2 KiB + fdatasync at once, measured in the same round.
    pub floor_p50_ms: Option<f64>,
    pub floor_p99_ms: Option<f64>,
    /// Comity from the return over that floor (the "within 2×").
    pub comity_over_floor_p50: Option<f64>,
    /// /proc/loadavg at the start of the Comity round and of the NATS round.
    pub load_comity: Option<[f64; 3]>,
    pub load_nats: Option<[f64; 3]>,
}

impl Comparison {
    pub fn new(
        comity_from_call: &Latency,
        comity_from_return: &Latency,
        floor: Option<&Latency>,
        nats: &NatsRun,
    ) -> Self {
        Self {
            followers: nats.followers,
            round: nats.round,
            message_bytes: nats.message_bytes,
            comity_p50_ms: comity_from_call.p50_ms,
            comity_p99_ms: comity_from_call.p99_ms,
            comity_from_return_p50_ms: comity_from_return.p50_ms,
            comity_from_return_p99_ms: comity_from_return.p99_ms,
            nats_p50_ms: nats.fan_out.p50_ms,
            nats_p99_ms: nats.fan_out.p99_ms,
            nats_paced_p50_ms: nats.fan_out_paced.p50_ms,
            nats_paced_p99_ms: nats.fan_out_paced.p99_ms,
            ratio_p50: ratio(comity_from_call.p50_ms, nats.fan_out.p50_ms),
            ratio_p99: ratio(comity_from_call.p99_ms, nats.fan_out.p99_ms),
            floor_p50_ms: floor.map(|f| f.p50_ms),
            floor_p99_ms: floor.map(|f| f.p99_ms),
            comity_over_floor_p50: floor.and_then(|f| ratio(comity_from_return.p50_ms, f.p50_ms)),
            load_comity: None,
            load_nats: None,
        }
    }
}

/// What `--compare-nats` found and measured, for the JSON report.
#[derive(Debug, Clone, Serialize, Default)]
pub struct NatsReport {
    /// Why the comparison did not run, when it did not.
    pub skipped: Option<String>,
    pub server: Option<String>,
    pub version: Option<String>,
    pub runs: Vec<NatsRun>,
    pub comparison: Vec<Comparison>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn latency(ms: &[f64]) -> Latency {
        let mut sorted = ms.to_vec();
        sorted.sort_by(f64::total_cmp);
        Latency::of(&sorted, 0)
    }

    fn run(fan_out: &[f64], paced: &[f64]) -> NatsRun {
        NatsRun {
            followers: 15,
            round: 2,
            messages: fan_out.len(),
            message_bytes: 2125,
            fan_out: latency(fan_out),
            fan_out_first_consumer: latency(fan_out),
            pub_ack: latency(fan_out),
            publish_per_s: 1.0,
            fan_out_paced: latency(paced),
            duplicates: 0,
            consumer_errors: 0,
            server_cpu_s: 0.0,
            server_rss_mb: 0.0,
        }
    }

    #[test]
    fn missing_nats_server_is_one_line_naming_the_install() {
        let empty = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([empty.path()]).unwrap();
        let line = locate(None, Some(&path)).unwrap_err();
        assert!(!line.contains('\n'));
        assert!(line.contains("nats-server is not on PATH"), "{line}");
        assert!(line.contains("apt-get install nats-server"), "{line}");
        assert!(locate(None, None).is_err());
        let gone = empty.path().join("nats-server");
        let line = locate(Some(&gone), Some(&path)).unwrap_err();
        assert!(line.contains("not an executable file"), "{line}");
    }

    #[test]
    fn nats_server_is_found_on_path_only_when_executable() {
        use std::os::unix::fs::PermissionsExt;
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let path = std::env::join_paths([first.path(), second.path()]).unwrap();
        // Not executable in the first directory: skipped.
        let plain = first.path().join("nats-server");
        std::fs::write(&plain, "").unwrap();
        assert_eq!(find_on_path("nats-server", &path), None);
        let exe = second.path().join("nats-server");
        std::fs::write(&exe, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(find_on_path("nats-server", &path), Some(exe.clone()));
        assert_eq!(locate(None, Some(&path)), Ok(exe.clone()));
        assert_eq!(locate(Some(&exe), None), Ok(exe));
    }

    #[test]
    fn comparison_puts_comity_over_nats_and_over_the_floor() {
        // 100 samples each: p50 is the 50th, p99 the 99th.
        let nats: Vec<f64> = (1..=100).map(|i| f64::from(i) / 100.0).collect();
        let comity_call: Vec<f64> = nats.iter().map(|x| x * 4.0).collect();
        let comity_return: Vec<f64> = nats.iter().map(|x| x * 3.0).collect();
        let floor = latency(&[0.5, 0.5, 0.5, 0.75]);
        let paced: Vec<f64> = nats.iter().map(|x| x / 2.0).collect();
        let c = Comparison::new(
            &latency(&comity_call),
            &latency(&comity_return),
            Some(&floor),
            &run(&nats, &paced),
        );
        assert_eq!((c.followers, c.round, c.message_bytes), (15, 2, 2125));
        assert_eq!((c.nats_p50_ms, c.nats_p99_ms), (0.5, 0.99));
        assert_eq!((c.nats_paced_p50_ms, c.nats_paced_p99_ms), (0.25, 0.495));
        assert_eq!((c.comity_p50_ms, c.comity_p99_ms), (2.0, 3.96));
        assert_eq!(c.comity_from_return_p50_ms, 1.5);
        assert_eq!(c.ratio_p50, Some(4.0));
        assert!((c.ratio_p99.unwrap() - 4.0).abs() < 1e-12);
        assert_eq!((c.floor_p50_ms, c.floor_p99_ms), (Some(0.5), Some(0.75)));
        assert_eq!(c.comity_over_floor_p50, Some(3.0));
        // No floor measured: no ratio to it.
        let c = Comparison::new(
            &latency(&comity_call),
            &latency(&comity_return),
            None,
            &run(&nats, &paced),
        );
        assert_eq!((c.floor_p50_ms, c.comity_over_floor_p50), (None, None));
    }

    #[test]
    fn ratio_needs_a_positive_denominator() {
        assert_eq!(ratio(3.0, 1.5), Some(2.0));
        assert_eq!(ratio(3.0, 0.0), None);
        assert_eq!(ratio(3.0, -1.0), None);
        assert_eq!(ratio(f64::NAN, 1.0), None);
        assert_eq!(ratio(1.0, f64::INFINITY), None);
    }

    #[test]
    fn message_index_round_trips_and_refuses_short_payloads() {
        let p = payload(123_456, 2125);
        assert_eq!(p.len(), 2125);
        assert_eq!(message_index(&p), Some(123_456));
        assert_eq!(message_index(&p[..7]), None);
        // Smaller than the index: still carries it.
        assert_eq!(message_index(&payload(9, 3)), Some(9));
    }

    #[test]
    fn fan_out_completes_on_the_last_consumers_ack_only() {
        let t = Tracker::new(2);
        t.started[1].store(1_000_000, Ordering::Relaxed);
        assert!(!t.acked(1, 3_000_000, 3));
        assert!(!t.acked(1, 2_000_000, 3));
        assert!(t.acked(1, 5_000_000, 3));
        assert_eq!(sorted_ms(&t.started, &t.last, 1..2), vec![4.0]);
        assert_eq!(sorted_ms(&t.started, &t.first, 1..2), vec![1.0]);
    }
}

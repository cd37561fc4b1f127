//! Soak: a federation of 15 `comity serve` processes in a full mesh on
//! 127.0.0.1, publishing steadily while one node at a time is restarted at
//! random (SIGTERM mostly, SIGKILL sometimes; down for up to 2 s). A node is meant to run for
//! months on a small machine, so what a fault test cannot see matters here:
//! memory and file descriptors must stay flat, not creep up with every
//! connection, restart of a peer or entry stored.
//!
//! Every sample period the test reads each running node's resident set
//! (`VmRSS`, and its `RssAnon` and `RssFile` parts), open descriptors
//! (`/proc/<pid>/fd`), threads and CPU time from `/proc`. A restarted process
//! starts small, so the comparisons only use samples of processes that have
//! been up for a while. (In a debug build about 30 MB of `VmRSS` is the
//! mapped binary, `RssFile`, and stays constant; growth shows in `RssAnon`.)
//!
//! - `COMITY_FAULT_LONG=1`: one hour (`COMITY_SOAK_SECS` overrides it),
//!   sampled every 30 s, a restart every 30 to 120 s (one in four a SIGKILL),
//!   about four publishes a second across the federation. For each node, the
//!   mean RSS over the last quarter of the run must be at most 1.5 times the
//!   mean over the second quarter, and the mean descriptor count at most 16
//!   above it, both from processes up for at least 5 minutes (an eighth of
//!   the run when that is shorter). 1.5x leaves room for sled's page cache
//!   (16 MiB by default) and the allocator filling as the logs grow, but not
//!   for a leak per entry or per connection over an hour; 16 descriptors is
//!   about one peer's connections in flux during a restart, far below one
//!   leaked descriptor per restart or per reconnection. (A restarted process
//!   holds about 10 more descriptors than the others for its first few
//!   minutes, then settles; a run much shorter than an hour, with its
//!   shorter warm-up, sits closer to that limit.)
//! - The normal suite runs the same code with the same 15 nodes for 20 s,
//!   sampled every 2 s, with exactly two restarts (one SIGTERM, one SIGKILL).
//!   It cannot see a slow leak; it checks the sampling, restarts,
//!   convergence and the report, and that a node that was never restarted
//!   holds no more than 16 descriptors above its most in the first half of
//!   the run (a peer's restart must not leave sockets behind). It takes
//!   about 25 s on two cores.
//!
//! At the end publishing stops, every node must hold identical heads for
//! every origin within a bounded time, every store verifies (no gap, no
//! duplicate, every chain signed and linked), no store saw an equivocation,
//! and every publish acknowledged to a client is held, with the same id, by
//! every node.
//!
//! The curve: `target/soak/soak-samples.csv` (one row per node per sample),
//! `target/soak/soak.svg` (RSS and descriptors, min, mean and max across the
//! nodes, with the restarts marked), a summary table on stderr (per sample,
//! or per 5 minutes in the long run, with the CPU the nodes used together),
//! and the nodes' logs in `target/soak/logs/`, with a digest of their
//! warnings; a panic or an equivocation in any log fails the test.
//! `COMITY_SOAK_SEED` replays the random choices of a run (its seed is
//! printed); timings still differ.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{OrgId, PublicKey};
use comity_store::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use std::{
    collections::BTreeMap,
    fmt::Write as _,
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};
use support::{ChildNode, fault_long, free_port, temp_root, verify_store};
use tokio_util::sync::CancellationToken;

/// Nodes, in the long run and in the normal suite alike.
const NODES: usize = 15;
/// Long run: mean RSS in the last quarter / mean in the second quarter.
const RSS_GROWTH_MAX: f64 = 1.5;
/// Descriptors: at most this many above the earlier mean (long run) or the
/// earlier maximum (normal suite).
const FDS_GROWTH_MAX: f64 = 16.0;

/// The sizes of one run.
struct Plan {
    long: bool,
    duration: Duration,
    sample_every: Duration,
    /// Time from one restart to the next, in ms.
    restart_gap_ms: std::ops::Range<u64>,
    max_restarts: usize,
    /// One publish, to a node chosen at random, this often.
    publish_every: Duration,
    /// A process counts as steady once it has been up this long.
    warm_up: Duration,
    /// Rows of the summary table cover this long (the last one also takes
    /// the final sample); `None`: one row per sample.
    table_bucket: Option<Duration>,
    /// Time allowed for every node to hold every head at the end.
    converge_within: Duration,
}

impl Plan {
    fn from_env() -> Self {
        if fault_long() {
            let secs = std::env::var("COMITY_SOAK_SECS")
                .ok()
                .map(|s| s.parse::<u64>().expect("COMITY_SOAK_SECS: whole seconds"))
                .unwrap_or(3600);
            let duration = Duration::from_secs(secs);
            Self {
                long: true,
                duration,
                sample_every: Duration::from_secs(30),
                restart_gap_ms: 30_000..120_001,
                max_restarts: usize::MAX,
                publish_every: Duration::from_millis(250),
                warm_up: Duration::from_secs(300).min(duration / 8),
                table_bucket: Some(Duration::from_secs(300)),
                converge_within: Duration::from_secs(180),
            }
        } else {
            Self {
                long: false,
                duration: Duration::from_secs(20),
                sample_every: Duration::from_secs(2),
                // Two restarts, the second well before the end: 5-8 s apart.
                restart_gap_ms: 5_000..8_001,
                max_restarts: 2,
                publish_every: Duration::from_millis(250),
                warm_up: Duration::ZERO,
                table_bucket: None,
                converge_within: Duration::from_secs(60),
            }
        }
    }
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// One reading of one process.
#[derive(Clone, Debug)]
struct Sample {
    /// Seconds since the soak started.
    t: f64,
    node: usize,
    pid: u32,
    /// Seconds since this process started.
    uptime: f64,
    rss_kb: u64,
    /// The heap and other private memory, and file-backed pages (the binary).
    rss_anon_kb: u64,
    rss_file_kb: u64,
    fds: u64,
    threads: u64,
    cpu_s: f64,
    /// CPU use since this process's previous sample, in % of one core.
    cpu_pct: Option<f64>,
    /// Restarts of any node so far, and of this node.
    restarts: usize,
    node_restarts: usize,
    /// Publishes acknowledged so far, across the federation.
    published: u64,
}

struct Proc {
    rss_kb: u64,
    rss_anon_kb: u64,
    rss_file_kb: u64,
    threads: u64,
    fds: u64,
    cpu_ticks: u64,
}

/// RSS, threads, descriptors and CPU ticks of a live process, from `/proc`.
fn read_proc(pid: u32) -> Option<Proc> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let rss_kb = field("VmRSS:")?;
    let rss_anon_kb = field("RssAnon:")?;
    let rss_file_kb = field("RssFile:")?;
    let threads = field("Threads:")?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After "pid (name) ": state is field 3, utime 14, stime 15 (1-based).
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let cpu_ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Proc {
        rss_kb,
        rss_anon_kb,
        rss_file_kb,
        threads,
        fds,
        cpu_ticks,
    })
}

fn clock_ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// One restart, for the report.
struct Restart {
    t: f64,
    node: usize,
    sigkill: bool,
}

/// A publish acknowledged to a client: every node must end up holding it.
struct Ack {
    origin: OrgId,
    seq: u64,
    id: String,
}

/// Publishes one consultation through `socket`'s local API; `None` when the
/// node is down, restarting or does not answer in time.
async fn publish_once(socket: &Path, title: String) -> Option<(u64, String)> {
    tokio::time::timeout(
        Duration::from_secs(10),
        support::publish_through(socket, title),
    )
    .await
    .ok()
    .flatten()
}

/// A node's heads, or `None` if it does not answer within 10 s.
async fn heads_of(node: &ChildNode) -> Option<BTreeMap<String, u64>> {
    tokio::time::timeout(Duration::from_secs(10), node.heads())
        .await
        .ok()
        .flatten()
}

/// Waits until every node reports exactly `expected` as its heads, or until
/// `within` has passed (then panics, showing who is behind).
async fn wait_for_heads(
    nodes: &[ChildNode],
    what: &str,
    within: Duration,
    expected: impl Fn(&BTreeMap<String, u64>) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let mut behind = Vec::new();
        for node in nodes {
            let heads = heads_of(node).await.unwrap_or_default();
            if !expected(&heads) {
                behind.push(format!("{}: {heads:?}", node.org));
            }
        }
        if behind.is_empty() {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < within,
            "{what}: not reached after {within:?}; {} nodes differ: {behind:#?}",
            behind.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifteen_nodes_with_random_restarts_keep_memory_and_descriptors_flat() {
    let plan = Plan::from_env();
    let seed: u64 = std::env::var("COMITY_SOAK_SEED")
        .ok()
        .map(|s| s.parse().expect("COMITY_SOAK_SEED: a u64"))
        .unwrap_or_else(rand::random);
    eprintln!(
        "soak: {NODES} nodes, {:?}{}, sample every {:?}, seed {seed} (COMITY_SOAK_SEED={seed} replays it)",
        plan.duration,
        if plan.long {
            " (long run)"
        } else {
            " (normal suite)"
        },
        plan.sample_every
    );
    let mut rng = StdRng::seed_from_u64(seed);
    let ticks_per_second = clock_ticks_per_second();
    let root = temp_root();
    let setup = Instant::now();

    // A full mesh: every node pins every other by key and endpoint.
    let mut nodes: Vec<ChildNode> = (0..NODES)
        .map(|i| ChildNode::init(root.path(), &format!("soak-{i:02}"), loopback(), |_| {}))
        .collect();
    let keys: BTreeMap<OrgId, PublicKey> = nodes.iter().map(|n| (n.org.clone(), n.key)).collect();
    for i in 0..NODES {
        for j in 0..NODES {
            if i != j {
                let (org, key, endpoint) =
                    (nodes[j].org.clone(), nodes[j].key, nodes[j].endpoint());
                nodes[i].pin(&org, key, Some(endpoint));
            }
        }
    }
    let spawned = Instant::now();
    for node in &mut nodes {
        node.spawn();
    }
    for node in &mut nodes {
        node.wait_ready().await;
    }
    // The mesh is up once every node holds every profile (entry 1 of each log).
    let meshed = wait_for_heads(
        &nodes,
        "every node holds every profile",
        Duration::from_secs(120),
        |h| h.len() == NODES && h.values().all(|&seq| seq >= 1),
    )
    .await;
    eprintln!(
        "soak: set up in {:.1?} (mesh connected {:.1?} after the last node was ready)",
        setup.elapsed(),
        meshed
    );

    // Steady publishing to random nodes, through their local API.
    let stop = CancellationToken::new();
    let acked: Arc<Mutex<Vec<Ack>>> = Arc::default();
    let published = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let publisher = {
        let targets: Vec<(OrgId, PathBuf)> = nodes
            .iter()
            .map(|n| (n.org.clone(), n.data.socket_path()))
            .collect();
        let (stop, acked, published, refused) = (
            stop.clone(),
            acked.clone(),
            published.clone(),
            refused.clone(),
        );
        let mut rng = StdRng::seed_from_u64(seed.wrapping_add(1));
        let every = plan.publish_every;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0.. {
                // A publish in flight finishes (and is recorded) before this.
                tokio::select! {
                    () = stop.cancelled() => return,
                    _ = tick.tick() => {}
                }
                let (origin, socket) = &targets[rng.gen_range(0..targets.len())];
                match publish_once(socket, format!("Soak consultation {i} via {origin}")).await {
                    Some((seq, id)) => {
                        acked.lock().unwrap().push(Ack {
                            origin: origin.clone(),
                            seq,
                            id,
                        });
                        published.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        refused.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
    };

    // The soak: sample on schedule, restart at random.
    let started = Instant::now();
    let end = started + plan.duration;
    let mut up_since = vec![spawned; NODES];
    let mut node_restarts = vec![0usize; NODES];
    let mut restarts: Vec<Restart> = Vec::new();
    let mut samples: Vec<Sample> = Vec::new();
    let mut last_cpu: BTreeMap<u32, (f64, f64)> = BTreeMap::new();
    let mut slowest_stop = Duration::ZERO;
    let mut slowest_start = Duration::ZERO;
    let mut next_sample = started;
    let mut next_restart =
        started + Duration::from_millis(rng.gen_range(plan.restart_gap_ms.clone()));
    loop {
        let now = Instant::now();
        if now >= next_sample {
            let t = now.duration_since(started).as_secs_f64();
            for (i, node) in nodes.iter_mut().enumerate() {
                if let Some(status) = node.exited() {
                    panic!(
                        "{} exited on its own ({status}) at {t:.0}s:\n{}",
                        node.org,
                        node.log_tail()
                    );
                }
                let Some(pid) = node.pid() else { continue };
                let Some(p) = read_proc(pid) else { continue };
                let cpu_s = p.cpu_ticks as f64 / ticks_per_second;
                let cpu_pct = last_cpu
                    .get(&pid)
                    .filter(|(t0, _)| t > *t0)
                    .map(|(t0, c0)| (cpu_s - c0) / (t - t0) * 100.0);
                last_cpu.insert(pid, (t, cpu_s));
                samples.push(Sample {
                    t,
                    node: i,
                    pid,
                    uptime: now.duration_since(up_since[i]).as_secs_f64(),
                    rss_kb: p.rss_kb,
                    rss_anon_kb: p.rss_anon_kb,
                    rss_file_kb: p.rss_file_kb,
                    fds: p.fds,
                    threads: p.threads,
                    cpu_s,
                    cpu_pct,
                    restarts: restarts.len(),
                    node_restarts: node_restarts[i],
                    published: published.load(Ordering::Relaxed),
                });
            }
            if plan.long {
                let round: Vec<&Sample> = samples.iter().filter(|s| s.t == t).collect();
                let (rss, fds) = (
                    round.iter().map(|s| s.rss_kb as f64 / 1024.0),
                    round.iter().map(|s| s.fds as f64),
                );
                eprintln!(
                    "[{t:6.0}s] RSS MB {}  fds {}  restarts {}  published {}",
                    min_mean_max(rss),
                    min_mean_max(fds),
                    restarts.len(),
                    published.load(Ordering::Relaxed)
                );
            }
            if now >= end {
                break;
            }
            next_sample = (next_sample + plan.sample_every).min(end);
            continue;
        }
        if now >= next_restart && restarts.len() < plan.max_restarts {
            let i = rng.gen_range(0..NODES);
            // Long run: one in four a SIGKILL. Normal suite: one of each.
            let sigkill = if plan.long {
                rng.gen_bool(0.25)
            } else {
                restarts.len() % 2 == 1
            };
            let down = Duration::from_millis(rng.gen_range(0..2000));
            let t = now.duration_since(started).as_secs_f64();
            let node = &mut nodes[i];
            let stopping = Instant::now();
            tokio::task::block_in_place(|| {
                if sigkill {
                    node.kill();
                } else {
                    node.terminate();
                }
            });
            let stopped = stopping.elapsed();
            tokio::time::sleep(down).await;
            let starting = Instant::now();
            node.start().await;
            let ready = starting.elapsed();
            up_since[i] = Instant::now();
            node_restarts[i] += 1;
            slowest_stop = slowest_stop.max(stopped);
            slowest_start = slowest_start.max(ready);
            restarts.push(Restart {
                t,
                node: i,
                sigkill,
            });
            eprintln!(
                "[{t:6.1}s] restart {}: {} by {} (stopped in {stopped:.1?}, down {down:.1?}, ready in {ready:.1?})",
                restarts.len(),
                node.org,
                if sigkill { "SIGKILL" } else { "SIGTERM" }
            );
            next_restart =
                Instant::now() + Duration::from_millis(rng.gen_range(plan.restart_gap_ms.clone()));
            continue;
        }
        let wake = if restarts.len() < plan.max_restarts {
            next_sample.min(next_restart)
        } else {
            next_sample
        };
        tokio::time::sleep_until(wake.into()).await;
    }
    let soaked = started.elapsed();

    // The curve first, so that it is there even if a check below fails.
    let report = report_dir();
    std::fs::create_dir_all(&report).unwrap();
    let report = report.canonicalize().unwrap();
    let csv = report.join("soak-samples.csv");
    std::fs::write(&csv, samples_csv(&samples, &nodes)).unwrap();
    let svg = report.join("soak.svg");
    std::fs::write(&svg, chart(&samples, &restarts, &plan, seed)).unwrap();
    eprintln!("{}", summary_table(&samples, &plan));
    eprintln!(
        "soak: samples in {}, chart in {}",
        csv.display(),
        svg.display()
    );

    // Stop publishing; every node must come to hold every head.
    stop.cancel();
    publisher.await.unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for node in &nodes {
        let heads = heads_of(node)
            .await
            .unwrap_or_else(|| panic!("{} does not answer: {}", node.org, node.log_tail()));
        expected.insert(node.org.to_string(), heads[node.org.as_str()]);
    }
    let converged = wait_for_heads(
        &nodes,
        "identical heads everywhere after publishing stopped",
        plan.converge_within,
        |h| *h == expected,
    )
    .await;

    // Stop them all at once, then check every store.
    let stopping = Instant::now();
    tokio::task::block_in_place(|| {
        std::thread::scope(|scope| {
            for node in &mut nodes {
                scope.spawn(|| node.terminate());
            }
        });
    });
    let stopped_all = stopping.elapsed();
    let acked = std::mem::take(&mut *acked.lock().unwrap());
    for node in &nodes {
        let store = node.open_store();
        let heads = verify_store(node.org.as_str(), &store, &keys);
        let heads: BTreeMap<String, u64> =
            heads.into_iter().map(|(o, s)| (o.to_string(), s)).collect();
        assert_eq!(
            heads, expected,
            "{}: heads in the store after stopping",
            node.org
        );
        assert!(
            store.equivocations().unwrap().is_empty(),
            "{} saw an equivocation",
            node.org
        );
        for ack in &acked {
            let held = store
                .entry(&ack.origin, ack.seq)
                .unwrap()
                .unwrap_or_else(|| {
                    panic!(
                        "{} lacks {} seq {}, acknowledged to a client",
                        node.org, ack.origin, ack.seq
                    )
                });
            assert_eq!(
                held.id().to_hex(),
                ack.id,
                "{}: {} seq {} is not the entry acknowledged to the client",
                node.org,
                ack.origin,
                ack.seq
            );
        }
    }

    // What the nodes said about it.
    let logs = report.join("logs");
    let _ = std::fs::remove_dir_all(&logs);
    std::fs::create_dir_all(&logs).unwrap();
    let (lines, trouble) = log_digest(&nodes, &logs);
    let kills = restarts.iter().filter(|r| r.sigkill).count();
    eprintln!(
        "soak: {NODES} nodes for {soaked:.0?}; {} restarts ({} SIGTERM, {kills} SIGKILL; slowest stop {slowest_stop:.1?}, \
         slowest start {slowest_start:.1?}); {} publishes acknowledged, {} not (node down or restarting); \
         converged {converged:.1?} after publishing stopped; all stopped in {stopped_all:.1?}; \
         every store verifies and holds all {} acknowledged entries",
        restarts.len(),
        restarts.len() - kills,
        acked.len(),
        refused.load(Ordering::Relaxed),
        acked.len()
    );
    eprintln!("soak: node logs in {}:\n{lines}", logs.display());
    assert!(
        trouble.is_empty(),
        "the node logs report trouble:\n{}",
        trouble.join("\n")
    );
    assert!(!acked.is_empty(), "no publish was acknowledged");

    // Flat?
    if plan.long {
        assert_flat_long(&samples, &plan);
    } else {
        assert_no_descriptor_leak_short(&samples, &node_restarts, &plan);
    }
}

/// `target/soak` of this workspace (or of `CARGO_TARGET_DIR`).
fn report_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("soak")
}

fn samples_csv(samples: &[Sample], nodes: &[ChildNode]) -> String {
    let mut csv = String::from(
        "elapsed_s,node,pid,uptime_s,rss_kb,rss_anon_kb,rss_file_kb,fds,threads,cpu_s,cpu_pct,restarts,\
         node_restarts,published\n",
    );
    for s in samples {
        let _ = writeln!(
            csv,
            "{:.1},{},{},{:.1},{},{},{},{},{},{:.2},{},{},{},{}",
            s.t,
            nodes[s.node].org,
            s.pid,
            s.uptime,
            s.rss_kb,
            s.rss_anon_kb,
            s.rss_file_kb,
            s.fds,
            s.threads,
            s.cpu_s,
            s.cpu_pct.map_or(String::new(), |c| format!("{c:.1}")),
            s.restarts,
            s.node_restarts,
            s.published
        );
    }
    csv
}

fn mean(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let (sum, n) = values
        .into_iter()
        .fold((0.0, 0usize), |(sum, n), v| (sum + v, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// "min/mean/max" of some values, one decimal.
fn min_mean_max(values: impl Iterator<Item = f64> + Clone) -> String {
    let min = values.clone().fold(f64::INFINITY, f64::min);
    let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
    match mean(values) {
        Some(mean) => format!("{min:.1}/{mean:.1}/{max:.1}"),
        None => "-".into(),
    }
}

/// Samples grouped by the moment they were taken (one group per round).
fn rounds(samples: &[Sample]) -> Vec<(f64, Vec<&Sample>)> {
    let mut rounds: Vec<(f64, Vec<&Sample>)> = Vec::new();
    for s in samples {
        match rounds.last_mut() {
            Some((t, round)) if *t == s.t => round.push(s),
            _ => rounds.push((s.t, vec![s])),
        }
    }
    rounds
}

/// One row per table bucket: min/mean/max RSS and descriptors across every
/// sample in it, mean threads, and the CPU the nodes used together.
fn summary_table(samples: &[Sample], plan: &Plan) -> String {
    let mut rows: BTreeMap<u64, Vec<(f64, Vec<&Sample>)>> = BTreeMap::new();
    for (k, (t, round)) in rounds(samples).into_iter().enumerate() {
        let row = match plan.table_bucket {
            Some(bucket) => {
                let bucket = bucket.as_secs_f64();
                let last = (plan.duration.as_secs_f64() / bucket).ceil().max(1.0) as u64 - 1;
                ((t / bucket) as u64).min(last)
            }
            None => k as u64,
        };
        rows.entry(row).or_default().push((t, round));
    }
    let mut table = format!(
        "{:>8} {:>5} {:>20} {:>18} {:>7} {:>10} {:>8} {:>9}\n",
        "t (s)",
        "procs",
        "RSS MB min/mean/max",
        "fds min/mean/max",
        "threads",
        "CPU % sum",
        "restarts",
        "published"
    );
    for rounds in rows.values() {
        let all: Vec<&Sample> = rounds.iter().flat_map(|(_, r)| r.iter().copied()).collect();
        let rss = all.iter().map(|s| s.rss_kb as f64 / 1024.0);
        let fds = all.iter().map(|s| s.fds as f64);
        let threads = mean(all.iter().map(|s| s.threads as f64)).unwrap_or(0.0);
        // CPU of all nodes together, in % of one core, averaged over rounds.
        let cpu = mean(
            rounds
                .iter()
                .map(|(_, r)| r.iter().filter_map(|s| s.cpu_pct).sum::<f64>()),
        )
        .unwrap_or(0.0);
        let last = all.last().unwrap();
        let procs = rounds.last().unwrap().1.len();
        let _ = writeln!(
            table,
            "{:>8.1} {procs:>5} {:>20} {:>18} {threads:>7.1} {cpu:>10.0} {:>8} {:>9}",
            rounds[0].0,
            min_mean_max(rss),
            min_mean_max(fds),
            last.restarts,
            last.published
        );
    }
    table
}

/// Long run: for each node, the last quarter's means against the second
/// quarter's, from steady processes only.
fn assert_flat_long(samples: &[Sample], plan: &Plan) {
    let total = plan.duration.as_secs_f64();
    let warm = plan.warm_up.as_secs_f64();
    let steady = |node: usize, from: f64, to: f64| -> Vec<&Sample> {
        samples
            .iter()
            .filter(|s| s.node == node && s.uptime >= warm && s.t >= from && s.t < to)
            .collect()
    };
    let mut lines = Vec::new();
    let mut failures = Vec::new();
    let mut compared = 0;
    for node in 0..NODES {
        let early = steady(node, total / 4.0, total / 2.0);
        let late = steady(node, total * 3.0 / 4.0, f64::INFINITY);
        if early.is_empty() || late.is_empty() {
            lines.push(format!(
                "  soak-{node:02}: not compared (no sample up {warm:.0}s in one of the quarters)"
            ));
            continue;
        }
        compared += 1;
        let rss = |s: &[&Sample]| mean(s.iter().map(|s| s.rss_kb as f64 / 1024.0)).unwrap();
        let fds = |s: &[&Sample]| mean(s.iter().map(|s| s.fds as f64)).unwrap();
        let (rss_early, rss_late) = (rss(&early), rss(&late));
        let (fds_early, fds_late) = (fds(&early), fds(&late));
        let line = format!(
            "  soak-{node:02}: RSS {rss_early:.1} -> {rss_late:.1} MB (x{:.2}), fds {fds_early:.1} -> {fds_late:.1} ({:+.1})",
            rss_late / rss_early,
            fds_late - fds_early
        );
        if rss_late > rss_early * RSS_GROWTH_MAX || fds_late > fds_early + FDS_GROWTH_MAX {
            failures.push(line.clone());
        }
        lines.push(line);
    }
    eprintln!(
        "soak: second quarter -> last quarter, processes up at least {warm:.0}s:\n{}",
        lines.join("\n")
    );
    assert!(
        compared * 2 >= NODES,
        "only {compared} of {NODES} nodes had steady samples in both quarters: the run is too short \
         for its restarts"
    );
    assert!(
        failures.is_empty(),
        "memory or descriptors grew (limits: RSS x{RSS_GROWTH_MAX}, fds +{FDS_GROWTH_MAX}):\n{}",
        failures.join("\n")
    );
}

/// Normal suite: a node never restarted holds, at the end, no more than
/// [`FDS_GROWTH_MAX`] descriptors above its most in the first half of the run,
/// although two peers restarted meanwhile.
fn assert_no_descriptor_leak_short(samples: &[Sample], node_restarts: &[usize], plan: &Plan) {
    let half = plan.duration.as_secs_f64() / 2.0;
    let mut failures = Vec::new();
    let mut checked = 0;
    for node in (0..NODES).filter(|&n| node_restarts[n] == 0) {
        let mine: Vec<&Sample> = samples.iter().filter(|s| s.node == node).collect();
        let early = mine
            .iter()
            .filter(|s| s.t <= half)
            .map(|s| s.fds)
            .max()
            .unwrap();
        let last = mine.last().unwrap().fds;
        checked += 1;
        if last as f64 > early as f64 + FDS_GROWTH_MAX {
            failures.push(format!(
                "soak-{node:02}: {early} fds in the first half, {last} at the end"
            ));
        }
    }
    assert!(checked > 0, "every node was restarted");
    assert!(
        failures.is_empty(),
        "descriptors grew by more than {FDS_GROWTH_MAX} on nodes never restarted:\n{}",
        failures.join("\n")
    );
}

/// Copies each node's log to `into`, and sums them up: the count of warnings
/// and errors per node, the most frequent messages (digits folded), and the
/// lines that must never appear (panics, equivocations).
fn log_digest(nodes: &[ChildNode], into: &Path) -> (String, Vec<String>) {
    let mut per_node = Vec::new();
    let mut messages: BTreeMap<String, usize> = BTreeMap::new();
    let mut trouble = Vec::new();
    for node in nodes {
        let text = std::fs::read_to_string(node.log_path()).unwrap_or_default();
        let _ = std::fs::copy(node.log_path(), into.join(format!("{}.log", node.org)));
        let (mut warns, mut errors) = (0, 0);
        for line in text.lines().map(strip_ansi) {
            if line.contains(" WARN ") {
                warns += 1;
            } else if line.contains(" ERROR ") {
                errors += 1;
            }
            if line.contains("panicked") || line.contains("EQUIVOCATION") {
                trouble.push(format!("{}: {line}", node.org));
            }
            // Without its timestamp, and with numbers folded, a line is a kind of message.
            let kind: String = line
                .split_once(' ')
                .map_or(line.as_str(), |(_, rest)| rest)
                .trim()
                .chars()
                .map(|c| if c.is_ascii_digit() { '#' } else { c })
                .collect();
            if !kind.is_empty() {
                *messages.entry(kind).or_default() += 1;
            }
        }
        per_node.push(format!("{} {warns}W {errors}E", node.org));
    }
    let mut top: Vec<(usize, String)> = messages.into_iter().map(|(m, n)| (n, m)).collect();
    top.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    let mut digest = format!("  {}\n", per_node.join(", "));
    for (n, message) in top.iter().take(8) {
        let short: String = message.chars().take(220).collect();
        let _ = writeln!(digest, "  {n:>6} x {short}");
    }
    (digest, trouble)
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-byte.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The curve as SVG, drawn by hand (no plotting crate in the test build):
/// RSS and descriptors, mean and max across the running nodes at each
/// sample, with restarts marked (grey: SIGTERM, red: SIGKILL).
fn chart(samples: &[Sample], restarts: &[Restart], plan: &Plan, seed: u64) -> String {
    const W: f64 = 960.0;
    const PANEL_H: f64 = 250.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 150.0;
    const TOP: f64 = 50.0;
    const GAP: f64 = 60.0;
    let rounds = rounds(samples);
    let x_max = plan.duration.as_secs_f64().max(1.0);
    let minutes = x_max >= 600.0;
    // Per round: (t, min, mean, max) of one measure across the nodes.
    let series = |f: &dyn Fn(&Sample) -> f64| -> Vec<(f64, [f64; 3])> {
        rounds
            .iter()
            .map(|(t, round)| {
                let values = round.iter().map(|s| f(s));
                let min = values.clone().fold(f64::INFINITY, f64::min);
                let max = values.clone().fold(f64::NEG_INFINITY, f64::max);
                (*t, [min, mean(values).unwrap_or(0.0), max])
            })
            .collect()
    };
    let panels = [
        ("RSS per node (MB)", series(&|s| s.rss_kb as f64 / 1024.0)),
        ("open descriptors per node", series(&|s| s.fds as f64)),
    ];
    let height = TOP + 2.0 * PANEL_H + GAP + 50.0;
    let plot_w = W - LEFT - RIGHT;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{height}\" \
         font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{LEFT}\" y=\"24\" font-size=\"16\">Comity soak: {NODES} nodes, {} restarts, seed {seed}</text>\n",
        restarts.len()
    );
    for (p, (title, lines)) in panels.iter().enumerate() {
        let top = TOP + p as f64 * (PANEL_H + GAP);
        let y_max = nice_ceiling(lines.iter().map(|&(_, v)| v[2]).fold(1.0, f64::max) * 1.1);
        let x = |t: f64| LEFT + t / x_max * plot_w;
        let y = |v: f64| top + PANEL_H - v / y_max * PANEL_H;
        let _ = writeln!(
            svg,
            "<rect x=\"{LEFT}\" y=\"{top}\" width=\"{plot_w}\" height=\"{PANEL_H}\" fill=\"none\" stroke=\"#444\"/>\n\
             <text x=\"{LEFT}\" y=\"{}\" font-weight=\"bold\">{title}</text>",
            top - 8.0
        );
        for k in 0..=5 {
            let v = y_max * f64::from(k) / 5.0;
            let (gy, right, label_x) = (y(v), LEFT + plot_w, LEFT - 6.0);
            let _ = writeln!(
                svg,
                "<line x1=\"{LEFT}\" x2=\"{right}\" y1=\"{gy:.1}\" y2=\"{gy:.1}\" stroke=\"#eee\"/>\
                 <text x=\"{label_x}\" y=\"{:.1}\" text-anchor=\"end\">{v:.0}</text>",
                gy + 4.0
            );
            let t = x_max * f64::from(k) / 5.0;
            let label = if minutes {
                format!("{:.0} min", t / 60.0)
            } else {
                format!("{t:.0} s")
            };
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{label}</text>",
                x(t),
                top + PANEL_H + 16.0
            );
        }
        for r in restarts {
            let colour = if r.sigkill { "#d62728" } else { "#bbb" };
            let (rx, bottom, node) = (x(r.t), top + PANEL_H, r.node);
            let _ = writeln!(
                svg,
                "<line x1=\"{rx:.1}\" x2=\"{rx:.1}\" y1=\"{top}\" y2=\"{bottom}\" stroke=\"{colour}\" \
                 stroke-dasharray=\"3,3\"><title>soak-{node:02}</title></line>"
            );
        }
        for (k, (label, colour)) in [("min", "#2ca02c"), ("mean", "#1f77b4"), ("max", "#ff7f0e")]
            .into_iter()
            .enumerate()
        {
            let points: Vec<String> = lines
                .iter()
                .map(|&(t, v)| format!("{:.1},{:.1}", x(t), y(v[k])))
                .collect();
            let points = points.join(" ");
            let ly = top + 20.0 + k as f64 * 18.0;
            let (x1, x2, tx, ty) = (
                LEFT + plot_w + 12.0,
                LEFT + plot_w + 36.0,
                LEFT + plot_w + 42.0,
                ly + 4.0,
            );
            let _ = writeln!(
                svg,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{points}\"/>\n\
                 <line x1=\"{x1:.1}\" x2=\"{x2:.1}\" y1=\"{ly}\" y2=\"{ly}\" stroke=\"{colour}\" stroke-width=\"2\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty:.1}\">{label}</text>"
            );
        }
    }
    let _ = writeln!(
        svg,
        "<text x=\"{LEFT}\" y=\"{:.1}\">dashed: restarts (grey SIGTERM, red SIGKILL); a restarted process starts small</text>\n</svg>",
        height - 12.0
    );
    svg
}

/// The smallest 1, 2 or 5 times a power of ten at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    let magnitude = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * magnitude)
        .find(|&c| c >= v)
        .unwrap_or(v)
}

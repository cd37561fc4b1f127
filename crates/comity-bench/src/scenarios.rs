//! The scenarios, each on its own nodes in its own temporary directory.

use crate::cluster::{self, Api, Bin, NodeProc};
use crate::probe::{Arrival, Probe};
use anyhow::{Context, Result};
use comity_core::{OrgId, fixtures, proto};
use serde::Serialize;
use std::{
    collections::HashMap,
    path::Path,
    time::{Duration, Instant},
};

/// How long the idle mesh's CPU is sampled before publishing starts.
const MESH_IDLE_WINDOW: Duration = Duration::from_secs(20);

/// Latencies in ms: p50, p99, max over `count`.
#[derive(Debug, Clone, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    /// Arrivals at the last follower before the publish call had returned to
    /// the harness (counted as 0 ms).
    pub before_return: usize,
}

pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Latency {
    pub fn of(sorted_ms: &[f64], before_return: usize) -> Self {
        Self {
            count: sorted_ms.len(),
            p50_ms: percentile(sorted_ms, 50.0),
            p99_ms: percentile(sorted_ms, 99.0),
            max_ms: sorted_ms.last().copied().unwrap_or(0.0),
            mean_ms: sorted_ms.iter().sum::<f64>() / sorted_ms.len().max(1) as f64,
            before_return,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Propagation {
    pub followers: usize,
    /// The publisher listens on no port (`--listen off`): it dials every
    /// follower and offers its log; the followers pin it by key only.
    pub dial_out_origin: bool,
    /// What the nodes kept beside their logs (off with `--no-witness`, the
    /// idle baseline, and `--no-search`, what indexing costs the mesh).
    #[serde(flatten)]
    pub keeps: Keeps,
    /// Which of the run's rounds at this N (`--compare-nats` runs two).
    pub round: usize,
    /// From the publish call's return to the last follower holding the entry.
    pub one_at_a_time: Latency,
    /// The same entries from the start of the publish call (the start a
    /// NATS publish is measured from; it adds the origin's own durable write).
    pub one_at_a_time_from_call: Latency,
    pub bursts_of_50: Latency,
    /// Entry deliveries (entries × followers) per second during bursts.
    pub burst_deliveries_per_s: f64,
    pub setup_s: f64,
    /// CPU of all the mesh's nodes together while nothing is published, over
    /// `MESH_IDLE_WINDOW`, in % of one core.
    pub mesh_idle_cpu_percent: f64,
    pub publisher_rss_mb: f64,
    pub follower_rss_mb_mean: f64,
    /// The floor under "durable at every follower" on one machine: N
    /// threads each append 2 KiB to their own file and `fdatasync` it at
    /// once; the time until the last is done, per round.
    pub fsync_fanout: Option<Latency>,
    #[serde(skip)]
    pub single_sorted_ms: Vec<f64>,
    #[serde(skip)]
    pub burst_sorted_ms: Vec<f64>,
}

fn mb(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Runs `f` over `items` on up to `threads` OS threads (for the blocking CLI calls).
fn parallel<T: Send, R: Send>(
    items: Vec<T>,
    threads: usize,
    f: impl Fn(T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let chunks: Vec<Vec<(usize, T)>> = {
        let mut chunks: Vec<Vec<(usize, T)>> = (0..threads.max(1)).map(|_| Vec::new()).collect();
        for (i, item) in items.into_iter().enumerate() {
            chunks[i % threads.max(1)].push((i, item));
        }
        chunks
    };
    let mut out: Vec<(usize, R)> = std::thread::scope(|scope| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let f = &f;
                scope.spawn(move || {
                    chunk
                        .into_iter()
                        .map(|(i, item)| f(item).map(|r| (i, r)))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("worker thread panicked")))
            })
            .collect::<Result<Vec<_>>>()
            .map(|v| v.into_iter().flatten().collect())
    })?;
    out.sort_by_key(|(i, _)| *i);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

fn init_many(bin: &Bin, root: &Path, names: Vec<String>) -> Result<Vec<NodeProc>> {
    parallel(names, 4, |name| NodeProc::init(bin, root, &name))
}

/// What the nodes of a propagation mesh keep beside their logs.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Keeps {
    /// Trees, and checkpoints signed and cosigned (`[storage] witness`).
    pub witness: bool,
    /// The search index (`[storage] search`).
    pub search: bool,
}

impl Keeps {
    pub const ALL: Self = Self {
        witness: true,
        search: true,
    };

    /// Writes these choices into a node's configuration (before it serves).
    fn apply(self, node: &NodeProc) -> Result<()> {
        if !self.witness || !self.search {
            let mut config = comity_node::Config::load(&node.dir)?;
            config.storage.witness = self.witness;
            config.storage.search = self.search;
            config.save(&node.dir)?;
        }
        Ok(())
    }

    /// How a report row names what is off ("" when everything is kept).
    pub fn off_suffix(self) -> String {
        let mut off = Vec::new();
        if !self.witness {
            off.push("checkpoints off");
        }
        if !self.search {
            off.push("search off");
        }
        off.iter().map(|o| format!(", {o}")).collect()
    }
}

/// As [`init_many`], the first node dial-out only when `dial_out_first`,
/// and on the PostgreSQL database `first_store` when one is given.
fn init_mesh(
    bin: &Bin,
    root: &Path,
    names: Vec<String>,
    dial_out_first: bool,
    keeps: Keeps,
    first_store: Option<&str>,
) -> Result<Vec<NodeProc>> {
    parallel(names.into_iter().enumerate().collect(), 4, |(i, name)| {
        let store = first_store.filter(|_| i == 0);
        let node = NodeProc::init_on(bin, root, &name, !(dial_out_first && i == 0), store)?;
        keeps.apply(&node)?;
        Ok(node)
    })
}

async fn serve_all(nodes: &mut [NodeProc]) -> Result<Vec<Api>> {
    let mut apis = Vec::with_capacity(nodes.len());
    for node in nodes.iter_mut() {
        apis.push(node.serve().await?);
    }
    Ok(apis)
}

/// Receives arrivals until every one of `seqs` reached all `followers`;
/// returns the time each seq reached the last of them.
async fn collect(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Arrival>,
    followers: usize,
    seqs: &[u64],
    early: &mut HashMap<u64, HashMap<usize, Instant>>,
    timeout: Duration,
) -> Result<HashMap<u64, Instant>> {
    let mut done = HashMap::new();
    let wanted: std::collections::HashSet<u64> = seqs.iter().copied().collect();
    for seq in seqs {
        if let Some(times) = early.get(seq)
            && times.len() >= followers
            && let Some(last) = times.values().max()
        {
            done.insert(*seq, *last);
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    while done.len() < wanted.len() {
        let arrival = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .with_context(|| {
                format!(
                    "propagation stalled: {} of {} entries reached all {followers} followers",
                    done.len(),
                    wanted.len()
                )
            })?
            .context("probe streams ended")?;
        let times = early.entry(arrival.seq).or_default();
        times.entry(arrival.follower).or_insert(arrival.at);
        if times.len() == followers
            && wanted.contains(&arrival.seq)
            && let Some(last) = times.values().max()
        {
            done.insert(arrival.seq, *last);
        }
    }
    Ok(done)
}

/// Propagation from one publisher to `followers` in a full mesh; with
/// `dial_out_origin`, the publisher listens on no port (`--listen off`):
/// it dials each follower and offers its log, and the followers know it by
/// key only. With `origin_store`, the publisher's store is that PostgreSQL
/// database (the followers stay on sled).
pub async fn propagation(
    bin: &Bin,
    scratch: &Path,
    followers: usize,
    entries: usize,
    dial_out_origin: bool,
    keeps: Keeps,
    origin_store: Option<&str>,
) -> Result<Propagation> {
    let setup = Instant::now();
    let root = tempfile::tempdir_in(scratch)?;
    let mut names = vec!["pub".to_string()];
    names.extend((1..=followers).map(|i| format!("f{i:03}")));
    let mut nodes = init_mesh(
        bin,
        root.path(),
        names,
        dial_out_origin,
        keeps,
        origin_store,
    )?;
    let mut apis = serve_all(&mut nodes).await?;
    let probe = Probe::new()?;
    // Full mesh through each node's local API (what `comity peer add` does on a
    // running node), and the probe pinned (by key only) at every follower.
    let mut tasks = Vec::new();
    for (i, api) in apis.iter().enumerate() {
        let mut api = api.clone();
        let others: Vec<(String, String, String)> = nodes
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| (n.org.to_string(), n.key.to_string(), n.endpoint.clone()))
            .collect();
        let probe_pin = (i > 0).then(|| (probe.org.to_string(), probe.key.public().to_string()));
        tasks.push(tokio::spawn(async move {
            for (org, key, endpoint) in others {
                api.add_peer(proto::AddPeerRequest {
                    org,
                    key,
                    endpoint,
                    more_endpoints: Vec::new(),
                })
                .await?;
            }
            if let Some((org, key)) = probe_pin {
                api.add_peer(proto::AddPeerRequest {
                    org,
                    key,
                    endpoint: String::new(),
                    more_endpoints: Vec::new(),
                })
                .await?;
            }
            Ok::<_, tonic::Status>(())
        }));
    }
    for task in tasks {
        task.await??;
    }
    let publisher = nodes[0].org.clone();
    let mut pub_api = apis[0].clone();
    // Every node holds every node's profile (seq 1): the mesh is up and
    // has nothing left to exchange.
    let origins: Vec<OrgId> = nodes.iter().map(|n| n.org.clone()).collect();
    for api in apis.iter_mut() {
        cluster::wait_for_all(api, &origins, Duration::from_secs(900)).await?;
    }
    let follower_refs: Vec<&NodeProc> = nodes.iter().skip(1).collect();
    let mut rx = probe.watch(&follower_refs, &publisher, 1).await?;
    let setup_s = setup.elapsed().as_secs_f64();
    // The whole mesh at rest: what it costs the machine before any publishing.
    let pids: Vec<Option<u32>> = nodes.iter().map(NodeProc::pid).collect();
    let idle_cpu = cpu_percent_over(&pids, MESH_IDLE_WINDOW).await;
    let mesh_idle_cpu_percent: f64 = idle_cpu.iter().filter(|c| c.is_finite()).sum();

    let mut early: HashMap<u64, HashMap<usize, Instant>> = HashMap::new();
    let mut single = Vec::with_capacity(entries);
    let mut single_from_call = Vec::with_capacity(entries);
    let mut before_single = 0;
    for i in 0..entries {
        let called = Instant::now();
        let seq = pub_api
            .publish_consultation(fixtures::consultation_request(i))
            .await?
            .into_inner()
            .seq;
        let returned = Instant::now();
        let done = collect(
            &mut rx,
            followers,
            &[seq],
            &mut early,
            Duration::from_secs(30),
        )
        .await?;
        let last = done[&seq];
        if last < returned {
            before_single += 1;
        }
        single.push(last.saturating_duration_since(returned).as_secs_f64() * 1e3);
        single_from_call.push(last.saturating_duration_since(called).as_secs_f64() * 1e3);
        early.remove(&seq);
    }
    let mut burst = Vec::with_capacity(entries);
    let mut before_burst = 0;
    let mut delivery_time = Duration::ZERO;
    let mut deliveries = 0usize;
    for b in 0..entries.div_ceil(50) {
        let mut returned = Vec::with_capacity(50);
        let start = Instant::now();
        for i in 0..50.min(entries - b * 50) {
            let seq = pub_api
                .publish_consultation(fixtures::consultation_request(entries + b * 50 + i))
                .await?
                .into_inner()
                .seq;
            returned.push((seq, Instant::now()));
        }
        let seqs: Vec<u64> = returned.iter().map(|(s, _)| *s).collect();
        let done = collect(
            &mut rx,
            followers,
            &seqs,
            &mut early,
            Duration::from_secs(60),
        )
        .await?;
        let mut end = start;
        for (seq, at) in returned {
            let last = done[&seq];
            end = end.max(last);
            if last < at {
                before_burst += 1;
            }
            burst.push(last.saturating_duration_since(at).as_secs_f64() * 1e3);
            early.remove(&seq);
        }
        delivery_time += end - start;
        deliveries += seqs.len() * followers;
    }
    single.sort_by(f64::total_cmp);
    single_from_call.sort_by(f64::total_cmp);
    burst.sort_by(f64::total_cmp);
    let publisher_rss = nodes[0].pid().and_then(cluster::rss_bytes).unwrap_or(0);
    let follower_rss: Vec<u64> = nodes
        .iter()
        .skip(1)
        .filter_map(|n| n.pid().and_then(cluster::rss_bytes))
        .collect();
    drop(apis);
    drop(nodes);
    let fsync_fanout = match crate::ceilings::fsync_fanout(root.path(), followers, 200) {
        Ok(sorted) => Some(Latency::of(&sorted, 0)),
        Err(e) => {
            eprintln!("fsync fan-out floor not measured: {e:#}");
            None
        }
    };
    Ok(Propagation {
        followers,
        dial_out_origin,
        keeps,
        round: 1,
        one_at_a_time: Latency::of(&single, before_single),
        one_at_a_time_from_call: Latency::of(&single_from_call, 0),
        bursts_of_50: Latency::of(&burst, before_burst),
        burst_deliveries_per_s: deliveries as f64 / delivery_time.as_secs_f64().max(1e-9),
        setup_s,
        mesh_idle_cpu_percent,
        publisher_rss_mb: mb(publisher_rss),
        follower_rss_mb_mean: mb(follower_rss.iter().sum::<u64>())
            / follower_rss.len().max(1) as f64,
        fsync_fanout,
        single_sorted_ms: single,
        burst_sorted_ms: burst,
    })
}

/// Bytes on the wire (protobuf) of a typical entry the scenarios publish.
pub fn entry_wire_bytes(origin: &OrgId) -> usize {
    use prost::Message;
    let now = time::OffsetDateTime::now_utc();
    let (kind, payload) = comity_core::document::encode(fixtures::consultation(0, now));
    comity_core::UnsignedEntry::new(origin.clone(), kind, payload, now)
        .sign(&comity_core::IdentityKey::generate(), None)
        .wire()
        .encoded_len()
}

#[derive(Debug, Clone, Serialize)]
pub struct Transfer {
    pub entries: u64,
    pub seconds: f64,
    pub entries_per_s: f64,
    /// Bytes of a typical entry in this backlog (protobuf on the wire).
    pub entry_bytes: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct IngestAndCatchUp {
    pub ingest: Transfer,
    pub catch_up: Transfer,
    /// The follower's store on disk divided by the entries it holds (none
    /// when its store is in PostgreSQL, outside its data directory).
    pub disk_bytes_per_entry: Option<f64>,
    pub follower_rss_mb_after_ingest: f64,
}

/// A sled origin's backlog pulled by a new follower (ingest), then, after
/// both went down and the origin wrote as much again, by the follower
/// restarted (catch-up). With `follower_store`, the follower's store is
/// that PostgreSQL database.
pub async fn ingest_and_catch_up(
    bin: &Bin,
    scratch: &Path,
    count: usize,
    follower_store: Option<&str>,
) -> Result<IngestAndCatchUp> {
    let root = tempfile::tempdir_in(scratch)?;
    let mut publisher = NodeProc::init(bin, root.path(), "origin")?;
    let mut follower = NodeProc::init_on(bin, root.path(), "follower", true, follower_store)?;
    let (publisher, follower) = (&mut publisher, &mut follower);
    publisher.peer_add_cli(follower)?;
    let target = publisher.prefill(count)?;
    let _pub_api = publisher.serve().await?;
    let mut f_api = follower.serve().await?;

    // Ingest: the follower pins the origin (as `comity peer add` does on a
    // running node) and pulls its whole backlog.
    let start = Instant::now();
    cluster::add_peer(&mut f_api, publisher).await?;
    cluster::wait_for(&mut f_api, &publisher.org, target, Duration::from_secs(900)).await?;
    let took = start.elapsed().as_secs_f64();
    let entry_bytes = entry_wire_bytes(&publisher.org);
    let ingest = Transfer {
        entries: count as u64,
        seconds: took,
        entries_per_s: count as f64 / took,
        entry_bytes,
    };
    let rss = follower.pid().and_then(cluster::rss_bytes).unwrap_or(0);

    // Catch-up: the follower goes down; the origin publishes `count` more
    // (written into its log while it too is stopped, then served again).
    drop(f_api);
    follower.stop()?;
    publisher.stop()?;
    let target = publisher.prefill(count)?;
    let _pub_api = publisher.serve().await?;
    let start = Instant::now();
    let mut f_api = follower.serve().await?;
    cluster::wait_for(&mut f_api, &publisher.org, target, Duration::from_secs(900)).await?;
    let took = start.elapsed().as_secs_f64();
    let catch_up = Transfer {
        entries: count as u64,
        seconds: took,
        entries_per_s: count as f64 / took,
        entry_bytes,
    };
    drop(f_api);
    follower.stop()?;
    let disk = follower.disk_bytes();
    Ok(IngestAndCatchUp {
        ingest,
        catch_up,
        disk_bytes_per_entry: follower_store
            .is_none()
            .then(|| disk as f64 / (2 * count) as f64),
        follower_rss_mb_after_ingest: mb(rss),
    })
}

/// `--only postgres` on real nodes (issue 14): each scenario run twice in
/// one run on one machine, once with the node under test on sled and once
/// on PostgreSQL (a database of its own on the run's throwaway server),
/// everything else alike; the ratios are PostgreSQL over sled.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresNodes {
    /// A follower ingesting a sled origin's backlog, then catching up.
    pub sled_follower: IngestAndCatchUp,
    pub postgres_follower: IngestAndCatchUp,
    pub ingest_ratio: f64,
    pub catch_up_ratio: f64,
    /// Publish to follower, the origin (the publisher) on each store, its
    /// followers on sled.
    pub sled_origin: Propagation,
    pub postgres_origin: Propagation,
    /// One publish at a time, from the publish call's return: p50, p99.
    pub one_at_a_time_ratio: [f64; 2],
    /// The same from the start of the publish call (which includes the
    /// origin's own commit): p50, p99.
    pub from_call_ratio: [f64; 2],
    /// 1-, 5- and 15-minute load averages before and after.
    pub load_before: Option<[f64; 3]>,
    pub load_after: Option<[f64; 3]>,
}

/// Runs [`ingest_and_catch_up`] with the follower on sled, then on a new
/// database of `pg`; then [`propagation`] to `followers` with the origin on
/// sled, then on another new database of `pg`.
pub async fn postgres_nodes(
    bin: &Bin,
    scratch: &Path,
    pg: &comity_testkit::pg::TestPg,
    count: usize,
    followers: usize,
    entries: usize,
) -> Result<PostgresNodes> {
    let load_before = cluster::load_average();
    eprintln!("   ingest and catch-up, {count} entries each: follower on sled");
    let sled_follower = ingest_and_catch_up(bin, scratch, count, None).await?;
    eprintln!("   ingest and catch-up, {count} entries each: follower on PostgreSQL");
    let url = pg.database();
    let postgres_follower = ingest_and_catch_up(bin, scratch, count, Some(&url)).await?;
    eprintln!("   publish to {followers} followers, {entries} entries each way: origin on sled");
    let sled_origin =
        propagation(bin, scratch, followers, entries, false, Keeps::ALL, None).await?;
    eprintln!(
        "   publish to {followers} followers, {entries} entries each way: origin on PostgreSQL"
    );
    let url = pg.database();
    let postgres_origin = propagation(
        bin,
        scratch,
        followers,
        entries,
        false,
        Keeps::ALL,
        Some(&url),
    )
    .await?;
    let ratio = |pg: &Latency, sled: &Latency| [pg.p50_ms / sled.p50_ms, pg.p99_ms / sled.p99_ms];
    Ok(PostgresNodes {
        ingest_ratio: postgres_follower.ingest.entries_per_s / sled_follower.ingest.entries_per_s,
        catch_up_ratio: postgres_follower.catch_up.entries_per_s
            / sled_follower.catch_up.entries_per_s,
        one_at_a_time_ratio: ratio(&postgres_origin.one_at_a_time, &sled_origin.one_at_a_time),
        from_call_ratio: ratio(
            &postgres_origin.one_at_a_time_from_call,
            &sled_origin.one_at_a_time_from_call,
        ),
        sled_follower,
        postgres_follower,
        sled_origin,
        postgres_origin,
        load_before,
        load_after: cluster::load_average(),
    })
}

/// What the Merkle tree and cosigning cost on ingest (issue 13): the same
/// backlog ingested, in one run, by a follower with them off
/// (`[storage] witness = false`) and by one with them on, alternately.
#[derive(Debug, Clone, Serialize)]
pub struct WitnessCost {
    pub entries: u64,
    pub rounds: usize,
    /// Median over the rounds.
    pub without_entries_per_s: f64,
    pub with_entries_per_s: f64,
    /// With / without: below 1 is the cost.
    pub with_over_without: f64,
    /// Whether the follower with them on had cosigned the origin's head
    /// checkpoint when the run ended (it must: the cost measured is real).
    pub cosigned: bool,
}

pub async fn witness_cost(
    bin: &Bin,
    scratch: &Path,
    count: usize,
    rounds: usize,
) -> Result<WitnessCost> {
    let root = tempfile::tempdir_in(scratch)?;
    let mut origin = NodeProc::init(bin, root.path(), "wc-origin")?;
    let target = origin.prefill(count)?;
    let mut without = Vec::new();
    let mut with = Vec::new();
    let mut cosigned = false;
    for round in 0..rounds {
        for witness in [false, true] {
            let name = format!("wc-{}-{round}", if witness { "on" } else { "off" });
            let mut follower = NodeProc::init(bin, root.path(), &name)?;
            let mut config = comity_node::Config::load(&follower.dir)?;
            config.storage.witness = witness;
            config.save(&follower.dir)?;
            origin.peer_add_cli(&follower)?;
            let mut o_api = origin.serve().await?;
            let mut f_api = follower.serve().await?;
            let start = Instant::now();
            cluster::add_peer(&mut f_api, &origin).await?;
            cluster::wait_for(&mut f_api, &origin.org, target, Duration::from_secs(900)).await?;
            let rate = count as f64 / start.elapsed().as_secs_f64();
            if witness {
                with.push(rate);
                // The cosignature comes back to the origin by gossip.
                let deadline = Instant::now() + Duration::from_secs(30);
                while !cosigned && Instant::now() < deadline {
                    let answer = o_api
                        .get_checkpoint(comity_proto::v1::GetCheckpointRequest {
                            origin: origin.org.to_string(),
                        })
                        .await;
                    cosigned = answer.is_ok_and(|a| {
                        a.into_inner()
                            .cosigners
                            .iter()
                            .any(|c| c.org == follower.org.as_str() && c.size == target)
                    });
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            } else {
                without.push(rate);
            }
            drop(f_api);
            drop(o_api);
            follower.stop()?;
            origin.stop()?;
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (w, wo) = (median(&mut with), median(&mut without));
    Ok(WitnessCost {
        entries: count as u64,
        rounds,
        without_entries_per_s: wo,
        with_entries_per_s: w,
        with_over_without: w / wo,
        cosigned,
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// What the idle node and the follower keep beside their logs.
    #[serde(flatten)]
    pub keeps: Keeps,
    pub idle_rss_mb: f64,
    /// The anonymous part of `idle_rss_mb`; the rest is mapped files,
    /// mostly the binary's code.
    pub idle_rss_anon_mb: f64,
    pub idle_cpu_percent: f64,
    pub origins: usize,
    pub entries_per_origin: usize,
    pub many_origins_fill_s: f64,
    /// After the fill, until the follower used under 5 % of a core over
    /// 5 s (the search index catching up; at most 900 s).
    pub many_origins_settle_s: f64,
    pub many_origins_rss_mb: f64,
    pub many_origins_rss_anon_mb: f64,
    pub many_origins_idle_cpu_percent: f64,
    pub many_origins_disk_bytes_per_entry: f64,
    /// Bytes of one of those entries (protobuf, as stored).
    pub entry_bytes: usize,
    pub cpu_window_s: u64,
    /// sled alone holding as many entries of the same size, one row each:
    /// the engine's floor under the follower's memory and disk per entry.
    pub sled_floor: Option<Floor>,
    /// Comity's store alone (no network, search index or checkpoints)
    /// holding as many consultations: the floor of the store's layout.
    pub store_floor: Option<Floor>,
}

/// What a store alone takes to hold entries: a child process (`sled-floor`
/// or `store-floor`) with the node's allocator and cache, measured from
/// outside.
#[derive(Debug, Clone, Serialize)]
pub struct Floor {
    pub entries: u64,
    pub entry_bytes: usize,
    pub rss_mb_empty: f64,
    pub rss_mb_full: f64,
    /// (full - empty) / entries.
    pub rss_bytes_per_entry: f64,
    pub disk_bytes_per_entry: f64,
    /// Disk per entry over the entry's own bytes.
    pub disk_over_entry_bytes: f64,
}

/// sled alone: `origins` x `per_origin` entries of `entry_bytes`, one row each.
pub fn sled_floor(
    scratch: &Path,
    origins: usize,
    per_origin: usize,
    entry_bytes: usize,
) -> Result<Floor> {
    let counts = [origins, per_origin, entry_bytes];
    run_floor(
        "sled-floor",
        scratch,
        &counts,
        origins * per_origin,
        entry_bytes,
    )
}

/// The node's store alone: `origins` x `per_origin` signed consultations
/// (of `entry_bytes` each), appended as ingest appends them.
pub fn store_floor(
    scratch: &Path,
    origins: usize,
    per_origin: usize,
    entry_bytes: usize,
) -> Result<Floor> {
    let counts = [origins, per_origin];
    run_floor(
        "store-floor",
        scratch,
        &counts,
        origins * per_origin,
        entry_bytes,
    )
}

/// Runs `program` (next to this binary) on a new directory, `counts` and
/// the node's cache size in MB, and measures it from outside: its memory
/// once the empty store is open and once every entry is flushed, then its
/// directory.
fn run_floor(
    program: &str,
    scratch: &Path,
    counts: &[usize],
    entries: usize,
    entry_bytes: usize,
) -> Result<Floor> {
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Command, Stdio};
    let exe = std::env::current_exe()?.with_file_name(program);
    let dir = tempfile::tempdir_in(scratch)?;
    let store = dir.path().join("store");
    let mut child = Command::new(&exe)
        .arg(&store)
        .args(counts.iter().map(|n| n.to_string()))
        .arg(
            comity_node::config::StorageConfig::default()
                .cache_mb
                .to_string(),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", exe.display()))?;
    let pid = child.id();
    let (Some(mut input), Some(output)) = (child.stdin.take(), child.stdout.take()) else {
        anyhow::bail!("{program} has no pipes");
    };
    let mut lines = BufReader::new(output).lines();
    let mut rss_when = |said: &str| -> Result<u64> {
        match lines.next() {
            Some(Ok(line)) if line == said => {}
            other => anyhow::bail!("{program} said {other:?}, expected {said}"),
        }
        let rss = cluster::rss_bytes(pid).with_context(|| format!("{program}'s memory"))?;
        writeln!(input)?;
        Ok(rss)
    };
    let empty = rss_when("open")?;
    let full = rss_when("full")?;
    let status = child.wait()?;
    anyhow::ensure!(status.success(), "{program} failed: {status}");
    let entries = entries as u64;
    let disk = cluster::dir_size(&store) as f64 / entries.max(1) as f64;
    Ok(Floor {
        entries,
        entry_bytes,
        rss_mb_empty: mb(empty),
        rss_mb_full: mb(full),
        rss_bytes_per_entry: full.saturating_sub(empty) as f64 / entries.max(1) as f64,
        disk_bytes_per_entry: disk,
        disk_over_entry_bytes: disk / entry_bytes as f64,
    })
}

pub async fn footprint(
    bin: &Bin,
    scratch: &Path,
    origins: usize,
    per_origin: usize,
    window: Duration,
    keeps: Keeps,
) -> Result<Footprint> {
    let root = tempfile::tempdir_in(scratch)?;
    let mut idle = NodeProc::init(bin, root.path(), "idle")?;
    keeps.apply(&idle)?;
    idle.serve().await?;

    let mut names = vec!["follower".to_string()];
    names.extend((1..=origins).map(|i| format!("o{i:03}")));
    let mut nodes = init_many(bin, root.path(), names)?;
    let (follower, sources) = nodes.split_at_mut(1);
    let follower = &mut follower[0];
    keeps.apply(follower)?;
    let targets = parallel(sources.iter().collect(), 2, |o| {
        // The CLI first: its process has exited (and released the store) before prefill opens it.
        o.peer_add_cli(follower)?;
        o.prefill(per_origin)
    })?;
    for source in sources.iter_mut() {
        source.serve().await?;
    }
    let mut f_api = follower.serve().await?;
    let start = Instant::now();
    for source in sources.iter() {
        cluster::add_peer(&mut f_api, source).await?;
    }
    for (source, target) in sources.iter().zip(&targets) {
        cluster::wait_for(&mut f_api, &source.org, *target, Duration::from_secs(3600)).await?;
    }
    let fill = start.elapsed().as_secs_f64();
    // The search index runs behind ingest (it is off the data path): let
    // the follower finish what the fill left it, then sample it at rest.
    let settle = settle(follower.pid(), Duration::from_secs(900)).await;
    let cpu = cpu_percent_over(&[idle.pid(), follower.pid()], window).await;
    let idle_rss = idle.pid().and_then(cluster::rss_bytes).unwrap_or(0);
    let idle_anon = idle.pid().and_then(cluster::rss_anon_bytes).unwrap_or(0);
    let many_rss = follower.pid().and_then(cluster::rss_bytes).unwrap_or(0);
    let many_anon = follower
        .pid()
        .and_then(cluster::rss_anon_bytes)
        .unwrap_or(0);
    drop(f_api);
    follower.stop()?;
    let total: u64 = targets.iter().sum();
    let disk = follower.disk_bytes();
    drop(nodes);
    let entry_bytes = entry_wire_bytes(&OrgId::new("o001")?);
    let measured = |what: &str, floor: Result<Floor>| match floor {
        Ok(floor) => Some(floor),
        Err(e) => {
            eprintln!("{what} floor not measured: {e:#}");
            None
        }
    };
    let sled_floor = measured(
        "sled",
        sled_floor(scratch, origins, per_origin, entry_bytes),
    );
    let store_floor = measured(
        "store",
        store_floor(scratch, origins, per_origin, entry_bytes),
    );
    Ok(Footprint {
        keeps,
        idle_rss_mb: mb(idle_rss),
        idle_rss_anon_mb: mb(idle_anon),
        idle_cpu_percent: cpu[0],
        origins,
        entries_per_origin: per_origin,
        many_origins_fill_s: fill,
        many_origins_settle_s: settle.as_secs_f64(),
        many_origins_rss_mb: mb(many_rss),
        many_origins_rss_anon_mb: mb(many_anon),
        many_origins_idle_cpu_percent: cpu[1],
        many_origins_disk_bytes_per_entry: disk as f64 / total.max(1) as f64,
        entry_bytes,
        cpu_window_s: window.as_secs(),
        sled_floor,
        store_floor,
    })
}

/// Waits until `pid` uses under 5 % of a core over 5 s, or `limit`;
/// returns how long that took.
async fn settle(pid: Option<u32>, limit: Duration) -> Duration {
    let started = Instant::now();
    while started.elapsed() < limit {
        let busy = cpu_percent_over(&[pid], Duration::from_secs(5)).await[0];
        if busy.is_nan() || busy < 5.0 {
            break;
        }
    }
    started.elapsed()
}

/// Each process's CPU use over `window`, in % of one core (NaN if it is gone).
async fn cpu_percent_over(pids: &[Option<u32>], window: Duration) -> Vec<f64> {
    let ticks = cluster::clock_ticks_per_second() as f64;
    let sample = || -> Vec<Option<u64>> {
        pids.iter()
            .map(|p| p.and_then(cluster::cpu_ticks))
            .collect()
    };
    let before = sample();
    tokio::time::sleep(window).await;
    before
        .into_iter()
        .zip(sample())
        .map(|pair| match pair {
            (Some(b), Some(a)) => a.saturating_sub(b) as f64 / ticks / window.as_secs_f64() * 100.0,
            _ => f64::NAN,
        })
        .collect()
}

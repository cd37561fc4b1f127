//! `comity-bench`: starts real `comity` nodes as separate processes on
//! 127.0.0.1 and measures propagation, ingest, catch-up, footprint and wire
//! size, each next to a ceiling measured in the same run on the same machine.
//! Prints a table and writes a JSON report (and a propagation CDF as SVG
//! beside it).

mod ceilings;
mod cluster;
mod idle_link;
mod nats;
mod plot;
// Shared with the test suite, which starts nodes as processes the same way.
use comity_testkit::ports;
mod probe;
mod scenarios;
mod search;
mod wire;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use std::{path::PathBuf, time::Duration};

#[derive(Parser, Debug)]
#[command(version, about)]
struct Args {
    /// Small sizes: the whole run takes a few minutes, each scenario about one.
    #[arg(long)]
    quick: bool,
    /// Also run propagation to 200 followers (raises the open-file limit).
    #[arg(long)]
    scale: bool,
    /// Follower counts for propagation, overriding the mode's (e.g. `--followers 200`).
    #[arg(long, value_delimiter = ',')]
    followers: Vec<usize>,
    /// Entries published each way (one at a time, then in bursts) per
    /// propagation scenario, overriding the mode's (200 quick, 1,000 full).
    #[arg(long)]
    entries: Option<usize>,
    /// Entries per origin in the footprint's follower, overriding the
    /// mode's (1,000 quick, 10,000 full); 1 measures what following its
    /// origins costs a node before it holds anything.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    footprint_entries: Option<u64>,
    /// Where to write the JSON report; the SVG goes beside it.
    #[arg(long, default_value = "bench-report.json")]
    report: PathBuf,
    /// The release `comity` binary (default: next to this one, or target/release/comity).
    #[arg(long)]
    comity: Option<PathBuf>,
    /// Where the nodes' temporary data directories go (default: the system temp dir).
    #[arg(long)]
    scratch: Option<PathBuf>,
    /// Run only these scenarios (comma separated): ceilings, wire, propagation, ingest, witness, search, footprint;
    /// and idle-link (the keep-alive traffic of one idle dial-out link, 3 min quick, 10 min full)
    /// and postgres (on a throwaway PostgreSQL, beside sled: store ingest, then node ingest
    /// and catch-up with the follower on it, and publish-to-follower latency with the origin
    /// on it, to 5 followers or the first of --followers; needs PostgreSQL's binaries),
    /// which run only when named here.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Run NATS JetStream fan-out (a local `nats-server -js`) beside the
    /// propagation scenario, at its follower counts and entry size, in two
    /// alternating rounds (Comity, NATS, Comity, NATS), and print the ratios.
    /// Skipped, with a note, when nats-server is not installed.
    #[arg(long)]
    compare_nats: bool,
    /// Propagation meshes, and the footprint's idle node and follower,
    /// with `[storage] witness = false` (no trees, no checkpoints): what
    /// checkpoints cost.
    #[arg(long)]
    no_witness: bool,
    /// Propagation meshes, and the footprint's idle node and follower,
    /// with `[storage] search = false` (no search index): what indexing
    /// costs.
    #[arg(long)]
    no_search: bool,
    /// The nats-server binary for --compare-nats (default: the first on PATH).
    #[arg(long, requires = "compare_nats")]
    nats_server: Option<PathBuf>,
}

#[derive(Serialize)]
struct Machine {
    cores: usize,
    model: String,
    kernel: String,
}

#[derive(Serialize, Default)]
struct Ratios {
    /// Ingest entries/s over the one-core check of an entry (signature + payload).
    ingest_over_entry_verify: Option<f64>,
    /// Ingest over raw verify_strict of 2 KiB messages.
    ingest_over_verify_strict: Option<f64>,
    /// Ingest over sled appends flushed every 100.
    ingest_over_sled_flush_100: Option<f64>,
    /// Ingest over the serial bound (one core verifying, then sled storing).
    ingest_over_serial_bound: Option<f64>,
    catch_up_over_serial_bound: Option<f64>,
    /// Ingest over the slower of its two stages' ceilings (check, store),
    /// which run on two cores at once.
    ingest_over_pipeline_bound: Option<f64>,
    catch_up_over_pipeline_bound: Option<f64>,
    /// Burst fan-out deliveries/s over the plain TLS stream's messages/s, per follower count.
    propagation_burst_over_stream: Vec<(usize, f64)>,
}

#[derive(Serialize)]
struct Report {
    date: String,
    command: String,
    quick: bool,
    machine: Machine,
    ceilings: Option<ceilings::Ceilings>,
    wire: Option<wire::WireSize>,
    propagation: Vec<scenarios::Propagation>,
    ingest_and_catch_up: Option<scenarios::IngestAndCatchUp>,
    witness_cost: Option<scenarios::WitnessCost>,
    search: Option<search::SearchBench>,
    footprint: Option<scenarios::Footprint>,
    /// `--only idle-link`: one idle dial-out link's bytes on the wire.
    idle_link: Option<idle_link::IdleLink>,
    /// `--only postgres`: store ingest on PostgreSQL beside sled.
    postgres: Option<ceilings::PostgresIngest>,
    /// `--only postgres`: node ingest, catch-up and publish to follower
    /// with the node on PostgreSQL beside sled.
    postgres_nodes: Option<scenarios::PostgresNodes>,
    /// `--compare-nats`: the hub beside the propagation scenario.
    nats: Option<nats::NatsReport>,
    ratios: Ratios,
    cdf_svg: Option<String>,
    errors: Vec<String>,
}

fn machine() -> Machine {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_default();
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

fn main() -> Result<()> {
    let args = Args::parse();
    // 200 nodes in a full mesh hold ~400 sockets each; the children inherit this.
    let nofile = rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0);
    eprintln!("open-file limit: {nofile}");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(args))
}

fn wanted(args: &Args, name: &str) -> bool {
    args.only.is_empty() || args.only.iter().any(|o| o == name)
}

async fn run(args: Args) -> Result<()> {
    let keeps = scenarios::Keeps {
        witness: !args.no_witness,
        search: !args.no_search,
    };
    let bin = cluster::Bin::locate(args.comity.clone())?;
    let scratch = args.scratch.clone().unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&scratch)?;
    let quick = args.quick;
    let date = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let mut report = Report {
        date,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        quick,
        machine: machine(),
        ceilings: None,
        wire: None,
        propagation: Vec::new(),
        ingest_and_catch_up: None,
        witness_cost: None,
        search: None,
        footprint: None,
        idle_link: None,
        postgres: None,
        postgres_nodes: None,
        nats: None,
        ratios: Ratios::default(),
        cdf_svg: None,
        errors: Vec::new(),
    };
    eprintln!(
        "comity-bench: {} mode, nodes from {}, scratch {}",
        if quick { "quick" } else { "full" },
        bin.0.display(),
        scratch.display()
    );

    if wanted(&args, "ceilings") {
        eprintln!("== ceilings");
        match ceilings::measure(&scratch, quick).await {
            Ok(c) => report.ceilings = Some(c),
            Err(e) => report.errors.push(format!("ceilings: {e:#}")),
        }
    }
    if wanted(&args, "wire") {
        eprintln!("== wire size");
        match wire::measure() {
            Ok(w) => report.wire = Some(w),
            Err(e) => report.errors.push(format!("wire: {e:#}")),
        }
    }
    // The NATS anchor, when asked for and installed.
    let nats_server = if args.compare_nats {
        let mut found = nats::NatsReport::default();
        let server =
            if wanted(&args, "propagation") {
                nats::locate(
                    args.nats_server.as_deref(),
                    std::env::var_os("PATH").as_deref(),
                )
            } else {
                Err("--compare-nats runs beside the propagation scenario, which --only leaves out; \
                 skipping the NATS comparison"
                .to_string())
            };
        let server = match server {
            Ok(server) => {
                found.version = Some(nats::version(&server));
                found.server = Some(server.display().to_string());
                Some(server)
            }
            Err(line) => {
                println!("{line}");
                found.skipped = Some(line);
                None
            }
        };
        report.nats = Some(found);
        server
    } else {
        None
    };
    if wanted(&args, "propagation") {
        let (mut sizes, entries): (Vec<usize>, usize) = if quick {
            (vec![15], 200)
        } else if args.scale {
            (vec![15, 50, 200], 1000)
        } else {
            (vec![15, 50], 1000)
        };
        if !args.followers.is_empty() {
            sizes = args.followers.clone();
        }
        let entries = args.entries.unwrap_or(entries);
        // With the anchor: Comity, NATS, Comity, NATS at each N.
        let rounds = if nats_server.is_some() { 2 } else { 1 };
        let message_bytes = scenarios::entry_wire_bytes(&comity_core::OrgId::new("pub")?);
        for n in sizes {
            for round in 1..=rounds {
                let load_comity = cluster::load_average();
                eprintln!(
                    "== propagation to {n} followers, {entries} entries one at a time and {entries} in bursts of 50{}",
                    if rounds > 1 {
                        format!(" (round {round} of {rounds})")
                    } else {
                        String::new()
                    }
                );
                let comity =
                    match scenarios::propagation(&bin, &scratch, n, entries, false, keeps, None)
                        .await
                    {
                        Ok(mut p) => {
                            p.round = round;
                            report.propagation.push(p.clone());
                            Some(p)
                        }
                        Err(e) => {
                            report.errors.push(format!("propagation N={n}: {e:#}"));
                            None
                        }
                    };
                let Some(server) = &nats_server else {
                    continue;
                };
                let load_nats = cluster::load_average();
                eprintln!(
                    "== NATS JetStream fan-out to {n} durable consumers, {entries} messages of {message_bytes} B (round {round} of {rounds})"
                );
                match nats::fan_out(server, &scratch, n, entries, message_bytes).await {
                    Ok(mut run) => {
                        run.round = round;
                        if let (Some(found), Some(p)) = (report.nats.as_mut(), &comity) {
                            let mut c = nats::Comparison::new(
                                &p.one_at_a_time_from_call,
                                &p.one_at_a_time,
                                p.fsync_fanout.as_ref(),
                                &run,
                            );
                            c.load_comity = load_comity;
                            c.load_nats = load_nats;
                            found.comparison.push(c);
                        }
                        if let Some(found) = report.nats.as_mut() {
                            found.runs.push(run);
                        }
                    }
                    Err(e) => report.errors.push(format!("NATS N={n}: {e:#}")),
                }
            }
        }
    }
    if wanted(&args, "propagation") {
        // Beside the figure at N = 15: the same from an origin nobody can
        // dial, which offers its log over the connections it opens.
        let entries = args.entries.unwrap_or(if quick { 200 } else { 1000 });
        eprintln!(
            "== propagation from a dial-out-only origin to 15 followers, {entries} entries one at a time and {entries} in bursts of 50"
        );
        match scenarios::propagation(&bin, &scratch, 15, entries, true, keeps, None).await {
            Ok(p) => report.propagation.push(p),
            Err(e) => report
                .errors
                .push(format!("propagation from a dial-out origin N=15: {e:#}")),
        }
    }
    // Only when asked for: it needs PostgreSQL's binaries. One throwaway
    // server (durable defaults) for the store and the node figures.
    if args.only.iter().any(|o| o == "postgres") {
        match comity_testkit::pg::TestPg::durable() {
            Ok(pg) => postgres(&args, &bin, &scratch, &pg, &mut report).await,
            Err(why) => report.errors.push(format!("postgres: {why}")),
        }
    }
    if wanted(&args, "ingest") {
        let count = if quick { 20_000 } else { 100_000 };
        eprintln!("== ingest and catch-up, {count} entries each");
        match scenarios::ingest_and_catch_up(&bin, &scratch, count, None).await {
            Ok(i) => report.ingest_and_catch_up = Some(i),
            Err(e) => report.errors.push(format!("ingest/catch-up: {e:#}")),
        }
    }
    if wanted(&args, "witness") {
        let (count, rounds) = if quick { (10_000, 2) } else { (50_000, 3) };
        eprintln!(
            "== tree and cosigning on ingest: {count} entries, {rounds} rounds without and with"
        );
        match scenarios::witness_cost(&bin, &scratch, count, rounds).await {
            Ok(w) => report.witness_cost = Some(w),
            Err(e) => report.errors.push(format!("witness cost: {e:#}")),
        }
    }
    if wanted(&args, "search") {
        let (count, rounds, runs) = if quick {
            (20_000, 1, 100)
        } else {
            (100_000, 2, 200)
        };
        eprintln!(
            "== search: {count} documents ingested without and with the index ({rounds} rounds), then {runs} searches per query"
        );
        match search::search(&bin, &scratch, count, rounds, runs).await {
            Ok(s) => report.search = Some(s),
            Err(e) => report.errors.push(format!("search: {e:#}")),
        }
    }
    if wanted(&args, "footprint") {
        let (origins, per, window) = if quick {
            (20, 1_000, Duration::from_secs(10))
        } else {
            (200, 10_000, Duration::from_secs(60))
        };
        let per = args.footprint_entries.map_or(per, |n| n as usize);
        eprintln!("== footprint: idle node; follower of {origins} origins x {per} entries");
        match scenarios::footprint(&bin, &scratch, origins, per, window, keeps).await {
            Ok(f) => report.footprint = Some(f),
            Err(e) => report.errors.push(format!("footprint: {e:#}")),
        }
    }
    if args.only.iter().any(|o| o == "idle-link") {
        let window = Duration::from_secs(if quick { 180 } else { 600 });
        eprintln!(
            "== one idle dial-out link through a counting proxy, {} s",
            window.as_secs()
        );
        match idle_link::measure(&bin, &scratch, window).await {
            Ok(i) => report.idle_link = Some(i),
            Err(e) => report.errors.push(format!("idle link: {e:#}")),
        }
    }

    ratios(&mut report);
    if !report.propagation.is_empty() {
        let svg = report.report_svg_path(&args.report);
        let mut curves = Vec::new();
        let rounds = report
            .propagation
            .iter()
            .map(|p| p.round)
            .max()
            .unwrap_or(1);
        for p in &report.propagation {
            let round = if rounds > 1 {
                format!(" (round {})", p.round)
            } else {
                String::new()
            };
            let round = if p.dial_out_origin {
                format!("{round}, dial-out origin")
            } else {
                round
            };
            curves.push(plot::Curve {
                label: format!("{} followers, one at a time{round}", p.followers),
                sorted_ms: p.single_sorted_ms.clone(),
            });
            curves.push(plot::Curve {
                label: format!("{} followers, bursts of 50{round}", p.followers),
                sorted_ms: p.burst_sorted_ms.clone(),
            });
        }
        match plot::cdf(
            &svg,
            "Comity propagation CDF (loopback, real nodes)",
            &curves,
        ) {
            Ok(()) => report.cdf_svg = Some(svg.display().to_string()),
            Err(e) => report.errors.push(format!("plot: {e:#}")),
        }
    }
    print_table(&report);
    std::fs::write(&args.report, serde_json::to_vec_pretty(&report)?)
        .with_context(|| format!("writing {}", args.report.display()))?;
    eprintln!("report: {}", args.report.display());
    if let Some(svg) = &report.cdf_svg {
        eprintln!("CDF: {svg}");
    }
    if !report.errors.is_empty() {
        anyhow::bail!("{} scenario(s) failed", report.errors.len());
    }
    Ok(())
}

/// `--only postgres`: the store's ingest, then the node-level scenarios,
/// each on PostgreSQL beside sled, on the run's server `pg`.
async fn postgres(
    args: &Args,
    bin: &cluster::Bin,
    scratch: &std::path::Path,
    pg: &comity_testkit::pg::TestPg,
    report: &mut Report,
) {
    let count = if args.quick { 20_000 } else { 100_000 };
    eprintln!("== store ingest on PostgreSQL beside sled, {count} entries");
    match ceilings::postgres_ingest(scratch, pg, count) {
        Ok(p) => {
            eprintln!(
                "store ingest: sled {:.0} entries/s, PostgreSQL {:.0} entries/s (ratio {:.2})",
                p.sled_entries_per_s, p.postgres_entries_per_s, p.ratio
            );
            report.postgres = Some(p);
        }
        Err(e) => report.errors.push(format!("postgres: {e:#}")),
    }
    let followers = args.followers.first().copied().unwrap_or(5);
    let entries = args.entries.unwrap_or(if args.quick { 200 } else { 1000 });
    eprintln!("== nodes on PostgreSQL beside sled");
    match scenarios::postgres_nodes(bin, scratch, pg, count, followers, entries).await {
        Ok(p) => report.postgres_nodes = Some(p),
        Err(e) => report.errors.push(format!("postgres nodes: {e:#}")),
    }
}

impl Report {
    fn report_svg_path(&self, report: &std::path::Path) -> PathBuf {
        let stem = report
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bench-report".into());
        report.with_file_name(format!("{stem}-propagation-cdf.svg"))
    }
}

fn ratios(report: &mut Report) {
    let Some(c) = &report.ceilings else {
        return;
    };
    let serial = 1.0 / (1.0 / c.entry_verify_per_s + 1.0 / c.sled_flush_100_per_s);
    // The two ingest stages run on two cores at once: the slower one bounds.
    let pipeline = c.entry_check_batched_per_s.min(c.store_batch_per_s);
    if let Some(i) = &report.ingest_and_catch_up {
        let r = &mut report.ratios;
        r.ingest_over_entry_verify = Some(i.ingest.entries_per_s / c.entry_verify_per_s);
        r.ingest_over_verify_strict = Some(i.ingest.entries_per_s / c.verify_strict_per_s);
        r.ingest_over_sled_flush_100 = Some(i.ingest.entries_per_s / c.sled_flush_100_per_s);
        r.ingest_over_serial_bound = Some(i.ingest.entries_per_s / serial);
        r.catch_up_over_serial_bound = Some(i.catch_up.entries_per_s / serial);
        r.ingest_over_pipeline_bound = Some(i.ingest.entries_per_s / pipeline);
        r.catch_up_over_pipeline_bound = Some(i.catch_up.entries_per_s / pipeline);
    }
    report.ratios.propagation_burst_over_stream = report
        .propagation
        .iter()
        .filter(|p| !p.dial_out_origin)
        .map(|p| {
            (
                p.followers,
                p.burst_deliveries_per_s / c.tls_stream_msgs_per_s,
            )
        })
        .collect();
}

fn print_table(r: &Report) {
    let row = |name: &str, value: String, target: &str| {
        println!("{name:<58} {value:>18}  {target}");
    };
    println!(
        "\ncomity-bench — {} — {} cores, {} — {}",
        if r.quick { "quick" } else { "full" },
        r.machine.cores,
        r.machine.model,
        r.date
    );
    println!("{:<58} {:>18}  target / reference", "figure", "value");
    println!("{}", "-".repeat(100));
    if let Some(c) = &r.ceilings {
        row(
            "ceiling: Ed25519 verify_strict 2 KiB, 1 core /s",
            format!("{:.0}", c.verify_strict_per_s),
            "~25,000",
        );
        row(
            "ceiling: Ed25519 verify_batch (64) 2 KiB, 1 core /s",
            format!("{:.0}", c.verify_batch_per_s),
            "45,000-60,000",
        );
        row(
            "ceiling: Comity entry check (decode+sig+payload), 1 core /s",
            format!("{:.0}", c.entry_verify_per_s),
            "",
        );
        row(
            "ceiling: ingest check stage, batches of 512, 1 core /s",
            format!("{:.0}", c.entry_check_batched_per_s),
            "",
        );
        row(
            "ceiling: ingest store stage, batches of 512 + flush /s",
            format!("{:.0}", c.store_batch_per_s),
            "",
        );
        row(
            "ceiling: sled 2 KiB appends, flush each /s",
            format!("{:.0}", c.sled_flush_each_per_s),
            "~4,000",
        );
        row(
            "ceiling: sled 2 KiB appends, flush per 100 /s",
            format!("{:.0}", c.sled_flush_100_per_s),
            "~13,000",
        );
        row(
            "ceiling: sled 2 KiB appends, unflushed /s",
            format!("{:.0}", c.sled_unflushed_per_s),
            "~25,000",
        );
        row(
            "ceiling: TLS gRPC stream, 2 KiB messages /s",
            format!("{:.0}", c.tls_stream_msgs_per_s),
            "~360,000",
        );
    }
    if let Some(w) = &r.wire {
        row(
            "wire: liaison statement entry, protobuf (bytes)",
            w.entry_protobuf.to_string(),
            "",
        );
        row(
            "wire: same, gzip (bytes)",
            w.entry_protobuf_gzip.to_string(),
            "",
        );
        row("wire: same as JSON (bytes)", w.entry_json.to_string(), "");
        row(
            "wire: JSON, gzip (bytes)",
            w.entry_json_gzip.to_string(),
            "",
        );
    }
    let rounds = r.propagation.iter().map(|p| p.round).max().unwrap_or(1);
    for p in &r.propagation {
        let n = if rounds > 1 {
            format!("N={} round {}", p.followers, p.round)
        } else {
            format!("N={}", p.followers)
        };
        let n = if p.dial_out_origin {
            format!("{n} (dial-out origin)")
        } else {
            n
        };
        let l = &p.one_at_a_time;
        row(
            &format!("propagation {n} one at a time p50/p99/max ms"),
            format!("{:.2}/{:.2}/{:.2}", l.p50_ms, l.p99_ms, l.max_ms),
            "<= NATS at this N; p50 <= 2x the fsync floor",
        );
        let l = &p.bursts_of_50;
        row(
            &format!("propagation {n} bursts of 50 p50/p99/max ms"),
            format!("{:.2}/{:.2}/{:.2}", l.p50_ms, l.p99_ms, l.max_ms),
            if p.followers == 15 { "p99 < 15 ms" } else { "" },
        );
        if let Some(l) = &p.fsync_fanout {
            row(
                &format!(
                    "  floor: {} writers append 2 KiB + fdatasync at once, p50/p99 ms",
                    p.followers
                ),
                format!("{:.2}/{:.2}", l.p50_ms, l.p99_ms),
                "",
            );
        }
        row(
            &format!("propagation {n} burst deliveries /s"),
            format!("{:.0}", p.burst_deliveries_per_s),
            "",
        );
        row(
            &format!("propagation {n} RSS publisher / follower mean MB"),
            format!("{:.1} / {:.1}", p.publisher_rss_mb, p.follower_rss_mb_mean),
            "< 25 MB",
        );
        row(
            &format!(
                "propagation {n} idle mesh CPU, all {} nodes{}, % of a core",
                p.followers + 1,
                p.keeps.off_suffix()
            ),
            format!("{:.1}", p.mesh_idle_cpu_percent),
            "< 200 (2 cores)",
        );
    }
    if let Some(i) = &r.ingest_and_catch_up {
        row(
            &format!(
                "ingest: {} entries of {} B from one peer /s",
                i.ingest.entries, i.ingest.entry_bytes
            ),
            format!("{:.0}", i.ingest.entries_per_s),
            ">= 20,000",
        );
        row(
            &format!("catch-up: {} entries after restart /s", i.catch_up.entries),
            format!("{:.0}", i.catch_up.entries_per_s),
            ">= 25,000",
        );
        row(
            "disk bytes per stored entry (follower)",
            i.disk_bytes_per_entry
                .map_or("-".to_string(), |d| format!("{d:.0}")),
            "",
        );
        row(
            "follower RSS after ingest MB",
            format!("{:.1}", i.follower_rss_mb_after_ingest),
            "",
        );
    }
    if let Some(p) = &r.postgres {
        row(
            &format!(
                "store ingest, {} entries in batches of 512, sled / PostgreSQL /s",
                p.entries
            ),
            format!(
                "{:.0} / {:.0}",
                p.sled_entries_per_s, p.postgres_entries_per_s
            ),
            ">= 5,000 on PostgreSQL",
        );
        row("  ratio PostgreSQL / sled", format!("{:.2}", p.ratio), "");
    }
    if let Some(p) = &r.postgres_nodes {
        let (s, g) = (&p.sled_follower, &p.postgres_follower);
        row(
            &format!(
                "node ingest, {} entries, follower on sled / PostgreSQL /s",
                s.ingest.entries
            ),
            format!(
                "{:.0} / {:.0}",
                s.ingest.entries_per_s, g.ingest.entries_per_s
            ),
            ">= 5,000 on PostgreSQL",
        );
        row(
            "  ratio PostgreSQL / sled",
            format!("{:.2}", p.ingest_ratio),
            "",
        );
        row(
            &format!(
                "node catch-up, {} entries, follower on sled / PostgreSQL /s",
                s.catch_up.entries
            ),
            format!(
                "{:.0} / {:.0}",
                s.catch_up.entries_per_s, g.catch_up.entries_per_s
            ),
            "",
        );
        row(
            "  ratio PostgreSQL / sled",
            format!("{:.2}", p.catch_up_ratio),
            "",
        );
        for (on, prop) in [("sled", &p.sled_origin), ("PostgreSQL", &p.postgres_origin)] {
            let (l, c) = (&prop.one_at_a_time, &prop.one_at_a_time_from_call);
            row(
                &format!(
                    "publish to {} followers, origin on {on}: p50/p99 ms (from call)",
                    prop.followers
                ),
                format!(
                    "{:.2}/{:.2} ({:.2}/{:.2})",
                    l.p50_ms, l.p99_ms, c.p50_ms, c.p99_ms
                ),
                "",
            );
        }
        row(
            "  ratio PostgreSQL / sled p50/p99 (from call)",
            format!(
                "{:.2}/{:.2} ({:.2}/{:.2})",
                p.one_at_a_time_ratio[0],
                p.one_at_a_time_ratio[1],
                p.from_call_ratio[0],
                p.from_call_ratio[1]
            ),
            "",
        );
        let load = |l: Option<[f64; 3]>| {
            l.map_or("-".to_string(), |l| {
                format!("{:.1} {:.1} {:.1}", l[0], l[1], l[2])
            })
        };
        row(
            &format!(
                "load average before; after: {}; {}",
                load(p.load_before),
                load(p.load_after)
            ),
            String::new(),
            "",
        );
    }
    if let Some(w) = &r.witness_cost {
        row(
            &format!("ingest without tree+cosign: {} entries /s", w.entries),
            format!("{:.0}", w.without_entries_per_s),
            "",
        );
        row(
            &format!("ingest with tree+cosign: {} entries /s", w.entries),
            format!("{:.0}", w.with_entries_per_s),
            ">= 12,500",
        );
        row(
            &format!(
                "ingest with / without tree+cosign (median of {}, cosigned: {})",
                w.rounds, w.cosigned
            ),
            format!("{:.2}", w.with_over_without),
            "close to 1",
        );
    }
    if let Some(l) = &r.idle_link {
        row(
            "idle dial-out link, up / down, TCP payload bytes/min",
            format!("{:.0} / {:.0}", l.up_bytes_per_min, l.down_bytes_per_min),
            &format!(
                "heartbeats {} s, PINGs {} s; {} connection(s) in {:.0} s",
                l.heartbeat_secs, l.ping_secs, l.connections, l.window_s
            ),
        );
    }
    if let Some(s) = &r.search {
        row(
            &format!("ingest without search index: {} documents /s", s.documents),
            format!("{:.0}", s.without_index_entries_per_s),
            "",
        );
        row(
            &format!("ingest with search index: {} documents /s", s.documents),
            format!("{:.0}", s.with_index_entries_per_s),
            ">= 12,500",
        );
        row(
            &format!(
                "ingest with / without search index (median of {})",
                s.rounds
            ),
            format!("{:.2}", s.with_over_without),
            "close to 1",
        );
        row(
            "every document searchable after s (from ingest start)",
            format!(
                "{:.1} ({:.0} documents/s)",
                s.indexed_after_s, s.indexed_documents_per_s
            ),
            "",
        );
        row(
            "search index on disk MB; follower RSS MB",
            format!(
                "{:.1}; {:.1}",
                s.index_disk_bytes as f64 / 1_048_576.0,
                s.follower_rss_mb
            ),
            "",
        );
        for q in &s.queries {
            row(
                &format!("search p50 / p99 ms: {} ({} found)", q.name, q.total),
                format!("{:.2} / {:.2}", q.p50_ms, q.p99_ms),
                "p99 < 50",
            );
        }
        row(
            &format!(
                "load average before; after: {}; {}",
                s.load_before, s.load_after
            ),
            String::new(),
            "",
        );
    }
    if let Some(f) = &r.footprint {
        let off = f.keeps.off_suffix();
        row(
            &format!("idle node{off} RSS MB"),
            format!("{:.1}", f.idle_rss_mb),
            "< 15 MB",
        );
        row(
            "  of which anonymous (the rest: the binary's code, files)",
            format!("{:.1}", f.idle_rss_anon_mb),
            "",
        );
        row(
            &format!("idle node CPU over {} s (% of one core)", f.cpu_window_s),
            format!("{:.3}", f.idle_cpu_percent),
            "",
        );
        row(
            &format!(
                "follower of {} origins x {} entries{off} RSS MB",
                f.origins, f.entries_per_origin
            ),
            format!("{:.1}", f.many_origins_rss_mb),
            "",
        );
        row(
            "  of which anonymous",
            format!("{:.1}", f.many_origins_rss_anon_mb),
            "",
        );
        row(
            &format!(
                "  same, CPU over {} s once settled (% of one core)",
                f.cpu_window_s
            ),
            format!("{:.3}", f.many_origins_idle_cpu_percent),
            "",
        );
        row(
            "  same, time to fill (s)",
            format!("{:.1}", f.many_origins_fill_s),
            "",
        );
        row(
            "  same, then until under 5 % CPU (search catching up) (s)",
            format!("{:.1}", f.many_origins_settle_s),
            "",
        );
        let held = (f.origins * f.entries_per_origin) as f64;
        row(
            "  same, RSS bytes per entry held",
            format!("{:.0}", f.many_origins_rss_mb * 1e6 / held.max(1.0)),
            "< 100",
        );
        row(
            "  same, disk bytes per stored entry / entry bytes",
            format!(
                "{:.0} / {} ({:.2}x)",
                f.many_origins_disk_bytes_per_entry,
                f.entry_bytes,
                f.many_origins_disk_bytes_per_entry / f.entry_bytes as f64
            ),
            "<= 1.4x",
        );
        let floors = [
            ("sled alone", &f.sled_floor),
            ("the store alone", &f.store_floor),
        ];
        for (what, floor) in floors {
            let Some(s) = floor else { continue };
            row(
                &format!(
                    "  floor: {what}, {} entries, RSS MB empty / full",
                    s.entries
                ),
                format!("{:.1} / {:.1}", s.rss_mb_empty, s.rss_mb_full),
                "",
            );
            row(
                &format!("  floor: {what}, RSS bytes per entry held"),
                format!("{:.0}", s.rss_bytes_per_entry),
                "",
            );
            row(
                &format!("  floor: {what}, disk bytes per entry / entry bytes"),
                format!(
                    "{:.0} ({:.2}x)",
                    s.disk_bytes_per_entry, s.disk_over_entry_bytes
                ),
                "",
            );
        }
    }
    let rt = &r.ratios;
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    row(
        "ratio: ingest / entry-check ceiling",
        opt(rt.ingest_over_entry_verify),
        "",
    );
    row(
        "ratio: ingest / verify_strict ceiling",
        opt(rt.ingest_over_verify_strict),
        "",
    );
    row(
        "ratio: ingest / sled flush-per-100 ceiling",
        opt(rt.ingest_over_sled_flush_100),
        "",
    );
    row(
        "ratio: ingest / serial bound (check then store)",
        opt(rt.ingest_over_serial_bound),
        "",
    );
    row(
        "ratio: catch-up / serial bound",
        opt(rt.catch_up_over_serial_bound),
        "",
    );
    row(
        "ratio: ingest / pipeline bound (slower stage)",
        opt(rt.ingest_over_pipeline_bound),
        "",
    );
    row(
        "ratio: catch-up / pipeline bound",
        opt(rt.catch_up_over_pipeline_bound),
        "",
    );
    for (n, v) in &rt.propagation_burst_over_stream {
        row(
            &format!("ratio: N={n} burst deliveries / TLS stream"),
            format!("{v:.3}"),
            "",
        );
    }
    if let Some(n) = &r.nats {
        print_nats(n);
    }
    for e in &r.errors {
        println!("ERROR {e}");
    }
}

/// Comity beside the hub, per N and round: latency to the last of N, ms.
fn print_nats(n: &nats::NatsReport) {
    // A skip was said in one line when the run started.
    let Some(first) = n.comparison.first() else {
        return;
    };
    println!(
        "\nComity vs NATS JetStream ({}), one publish at a time, {} B messages, same run; latency to the last of N, ms",
        n.version.as_deref().unwrap_or("nats-server"),
        first.message_bytes
    );
    let opt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "{:>4} {:>5}  {:>13}  {:>13}  {:>13}  {:>13}  {:>11}  {:>13}  {:>7}  {:>14}",
        "N",
        "round",
        "Comity p50/99",
        "(from return)",
        "NATS p50/99",
        "(paced)",
        "ratio 50/99",
        "floor p50/99",
        "C/floor",
        "load C / NATS"
    );
    let load = |l: Option<[f64; 3]>| l.map_or("-".to_string(), |l| format!("{:.1}", l[0]));
    for c in &n.comparison {
        println!(
            "{:>4} {:>5}  {:>13}  {:>13}  {:>13}  {:>13}  {:>11}  {:>13}  {:>7}  {:>14}",
            c.followers,
            c.round,
            format!("{:.2}/{:.2}", c.comity_p50_ms, c.comity_p99_ms),
            format!(
                "{:.2}/{:.2}",
                c.comity_from_return_p50_ms, c.comity_from_return_p99_ms
            ),
            format!("{:.2}/{:.2}", c.nats_p50_ms, c.nats_p99_ms),
            format!("{:.2}/{:.2}", c.nats_paced_p50_ms, c.nats_paced_p99_ms),
            format!("{}/{}", opt(c.ratio_p50), opt(c.ratio_p99)),
            format!("{}/{}", opt(c.floor_p50_ms), opt(c.floor_p99_ms)),
            opt(c.comity_over_floor_p50),
            format!("{} / {}", load(c.load_comity), load(c.load_nats)),
        );
    }
    println!(
        "Comity: from the publish call to the last follower holding the entry durably (\"from return\": from the call's return). \
         NATS: from publish() to the last consumer's ack; the publisher awaits its PubAck only (\"paced\": also the last consumer). \
         ratio: Comity / NATS (below 1: faster than the hub). floor: N writers append 2 KiB + fdatasync at once; \
         C/floor: Comity from return / floor, p50. JetStream does not fsync each message. load: 1-minute load average."
    );
}

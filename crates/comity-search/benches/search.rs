//! Search latency and indexing throughput with 100,000 documents held.
//!
//! `cargo bench -p comity-search --bench search`. Prints indexing rates,
//! index size, memory, and p50/p99 latency per query type (measured over
//! 400 runs each), then runs criterion on the same queries. Set
//! `COMITY_SEARCH_BENCH_DOCS` for a smaller corpus.

mod common;

use std::time::{Duration, Instant};

use comity_search::{DocKind, Reader, SearchConfig, SearchIndex, SearchQuery};
use criterion::{Criterion, criterion_group, criterion_main};

fn corpus_size() -> u64 {
    std::env::var("COMITY_SEARCH_BENCH_DOCS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000)
}

fn queries() -> Vec<(&'static str, SearchQuery, Reader)> {
    let me = || Reader::Org("org01".into());
    let q = |t: &str| SearchQuery::new(t);
    vec![
        ("en: one word", q("security"), me()),
        ("en: two words (AND)", q("network security"), me()),
        ("en: phrase", q("\"internet governance\""), me()),
        ("en: rare words", q("submarine cable"), me()),
        ("fr: other inflection", q("consultation publique"), me()),
        ("es: word", q("gobernanza"), me()),
        ("ru: word", q("безопасность"), me()),
        ("ar: word", q("الإنترنت"), me()),
        ("zh: two characters", q("安全"), me()),
        ("zh: four characters", q("网络安全"), me()),
        (
            "filters: origin + kind",
            SearchQuery {
                origin: Some("org07".into()),
                kind: Some(DocKind::Consultation),
                ..q("security")
            },
            me(),
        ),
        (
            "lang filter fr",
            SearchQuery {
                lang: Some("fr".into()),
                ..q("sécurité réseau")
            },
            me(),
        ),
        ("public reader", q("data protection"), Reader::Public),
        (
            "page 5 (offset 80)",
            SearchQuery {
                offset: 80,
                ..q("security")
            },
            me(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let n = corpus_size();
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("search");
    let (anon0, _, _) = common::memory_mib();
    let (index, _) = SearchIndex::open(&dir, SearchConfig::default()).expect("open");

    // Generating documents is not indexing: time it alone, then generate
    // them again on the fly while indexing, so that the process holds no
    // corpus (its memory is the index's).
    let started = Instant::now();
    let mut bytes = 0usize;
    for i in 0..n {
        let d = common::document(i);
        bytes += d
            .titles
            .iter()
            .chain(&d.summaries)
            .chain(&d.bodies)
            .map(|t| t.text.len())
            .sum::<usize>();
    }
    let generation = started.elapsed();

    // 1. A full rebuild: every document, commits every 20,000.
    let started = Instant::now();
    for i in 0..n {
        index.upsert(&common::document(i)).expect("upsert");
    }
    index.finish_rebuild().expect("finish");
    let rebuild = started.elapsed().saturating_sub(generation);
    let (anon1, file1, hwm1) = common::memory_mib();

    // 2. Ingest as on a running node: new documents and new revisions,
    // with the timer committing (and the batch).
    let committer = index.start_committer();
    let extra = (n / 8).max(1);
    let fresh: Vec<_> = (n..n + extra)
        .map(common::document)
        .chain((0..extra / 2).map(|i| {
            let mut d = common::document(i * 7 % n);
            d.revision = 2;
            d.seq += n * 2;
            d
        }))
        .collect();
    let started = Instant::now();
    for d in &fresh {
        index.upsert(d).expect("upsert");
    }
    committer.stop().expect("commit");
    let ingest = started.elapsed();
    let stats = index.stats().expect("stats");
    let fresh_len = fresh.len();
    drop(fresh);
    let (anon2, file2, hwm2) = common::memory_mib();

    println!(
        "\n== comity-search: {n} documents, {:.0} MiB of text",
        bytes as f64 / 1048576.0
    );
    println!(
        "rebuild (generating the documents, {:.1} s, not counted): {:.1} s, {:.0} documents/s, {:.1} MiB/s of text",
        generation.as_secs_f64(),
        rebuild.as_secs_f64(),
        n as f64 / rebuild.as_secs_f64(),
        bytes as f64 / 1048576.0 / rebuild.as_secs_f64()
    );
    println!(
        "ingest with the commit timer: {} documents ({} new, {} revisions) in {:.2} s, {:.0} documents/s",
        fresh_len,
        extra,
        extra / 2,
        ingest.as_secs_f64(),
        fresh_len as f64 / ingest.as_secs_f64()
    );
    println!(
        "index: {} documents searchable, {} segments, {:.1} MiB on disk ({:.2} of the text)",
        stats.docs,
        stats.segments,
        stats.disk_bytes as f64 / 1048576.0,
        stats.disk_bytes as f64 / bytes as f64
    );
    println!(
        "memory: heap (RssAnon) {anon0:.0} MiB before, {anon1:.0} MiB after the rebuild, {anon2:.0} MiB after ingest; \
         mapped index files (RssFile) {file1:.0} / {file2:.0} MiB; peak RSS {hwm1:.0} / {hwm2:.0} MiB"
    );

    let qs = queries();
    println!(
        "\n{:<28} {:>8} {:>10} {:>10}",
        "query", "total", "p50", "p99"
    );
    let mut worst = Duration::ZERO;
    for (name, q, reader) in &qs {
        for _ in 0..20 {
            index.search(q, reader).expect("search");
        }
        let mut times = Vec::with_capacity(400);
        let mut total = 0;
        for _ in 0..400 {
            let t = Instant::now();
            let r = index.search(q, reader).expect("search");
            times.push(t.elapsed());
            total = r.total;
        }
        let (p50, p99) = common::percentiles(times);
        worst = worst.max(p99);
        println!(
            "{name:<28} {total:>8} {:>8.2}ms {:>8.2}ms",
            ms(p50),
            ms(p99)
        );
    }
    println!("worst p99: {:.2} ms (target: under 50 ms)\n", ms(worst));

    let mut group = c.benchmark_group("search_100k");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for (name, q, reader) in &qs {
        group.bench_function(*name, |b| {
            b.iter(|| index.search(q, reader).expect("search"))
        });
    }
    group.finish();
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! sled store: append with a flush per 100 entries, batches of 512 with a
//! flush each (ingest's group commit), one entry and its flush timed
//! apart (a follower receiving one entry at a time), and scan with
//! `entries_after`, for entries of about 2 KiB, in a temporary directory.
//!
//! `cargo bench -p comity-store --bench store`

use comity_core::{IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, fixtures};
use comity_store::{LogStore, SledOptions, SledStore};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::{
    hint::black_box,
    time::{Duration, Instant},
};

const BATCH: usize = 100;
const INGEST_BATCH: usize = 512;
const PREFILL: usize = 2_000;

fn entries(org: &OrgId, key: &IdentityKey, count: usize) -> Vec<SignedEntry> {
    let mut head = None;
    (0..count)
        .map(|i| {
            let body = fixtures::consultation(i, time::OffsetDateTime::now_utc());
            let (kind, payload) = document::encode(body);
            let entry =
                UnsignedEntry::new(org.clone(), kind, payload, time::OffsetDateTime::now_utc())
                    .sign(key, head);
            head = Some(entry.head());
            entry
        })
        .collect()
}

fn store(c: &mut Criterion) {
    let org = OrgId::new("itu").expect("org id");
    let key = IdentityKey::generate();
    // Enough chained entries for every iteration criterion may run.
    let all = entries(&org, &key, 80_000);
    let dir = tempfile::tempdir().expect("tempdir");

    let mut group = c.benchmark_group("sled_store_2KiB");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(4))
        .warm_up_time(Duration::from_secs(1))
        .throughput(Throughput::Elements(BATCH as u64));

    // Each iteration: a fresh store, then 100 appends and one flush (group commit).
    let mut round = 0usize;
    group.bench_function("append_100_then_flush", |b| {
        b.iter_batched(
            || {
                round += 1;
                SledStore::open(&dir.path().join(round.to_string()), SledOptions::default())
                    .expect("open")
            },
            |store| {
                for entry in &all[..BATCH] {
                    store.append(entry).expect("append");
                }
                store.flush().expect("flush");
                store
            },
            BatchSize::PerIteration,
        )
    });

    // Ingest's shape: one `append_batch` of 512 entries and one flush per
    // group commit, on a store that keeps growing (fresh stores are opened
    // outside the clock when the chain runs out).
    group.throughput(Throughput::Elements(INGEST_BATCH as u64));
    let mut fresh = 0usize;
    group.bench_function("append_batch_512_then_flush", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            let mut chunks = all.chunks_exact(INGEST_BATCH);
            let mut store = None;
            for _ in 0..iters {
                let chunk = match chunks.next() {
                    Some(chunk) if store.is_some() => chunk,
                    _ => {
                        fresh += 1;
                        let path = dir.path().join(format!("batch-{fresh}"));
                        store = Some(SledStore::open(&path, SledOptions::default()).expect("open"));
                        chunks = all.chunks_exact(INGEST_BATCH);
                        chunks.next().expect("a chunk")
                    }
                };
                let target = store.as_ref().expect("opened");
                let start = Instant::now();
                target.append_batch(chunk).expect("append");
                target.flush().expect("flush");
                elapsed += start.elapsed();
            }
            elapsed
        })
    });

    // A follower receiving one entry at a time (propagation): the append's
    // transaction and the flush after it, each timed alone, on a store that
    // already holds 2,000 entries of the origin.
    let follower =
        SledStore::open(&dir.path().join("follower"), SledOptions::default()).expect("open");
    follower.append_batch(&all[..PREFILL]).expect("prefill");
    follower.flush().expect("flush");
    let mut next = all[PREFILL..].iter();
    group.throughput(Throughput::Elements(1));
    group.bench_function("follower_append_1", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let entry = next.next().expect("enough entries for the run");
                let start = Instant::now();
                follower.append(entry).expect("append");
                elapsed += start.elapsed();
                follower.flush().expect("flush");
            }
            elapsed
        })
    });
    group.bench_function("follower_flush_after_1", |b| {
        b.iter_custom(|iters| {
            let mut elapsed = Duration::ZERO;
            for _ in 0..iters {
                let entry = next.next().expect("enough entries for the run");
                follower.append(entry).expect("append");
                let start = Instant::now();
                follower.flush().expect("flush");
                elapsed += start.elapsed();
            }
            elapsed
        })
    });

    let scanned = SledStore::open(&dir.path().join("scan"), SledOptions::default()).expect("open");
    for chunk in all.chunks(1000) {
        scanned.append_batch(chunk).expect("append");
    }
    scanned.flush().expect("flush");
    group.throughput(Throughput::Elements(256));
    group.bench_function("entries_after_256", |b| {
        let mut after = 0u64;
        b.iter(|| {
            let got = scanned.entries_after(&org, after, 256).expect("scan");
            after = (after + 256) % 19_000;
            black_box(got)
        })
    });
    group.finish();
}

criterion_group!(benches, store);
criterion_main!(benches);

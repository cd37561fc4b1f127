//! `store-floor`: what Comity's store alone costs to hold a follower's
//! entries, in memory and on disk: the node's `SledStore` with the node's
//! options and allocator, fed signed consultations in ingest's batches,
//! and nothing else (no network, no search index, no checkpoints). Between
//! `sled-floor` (the engine, one row per entry) and the follower of
//! `comity-bench --only footprint` (the whole node), it shows which layer
//! a byte per entry held belongs to (issue 16).
//!
//! Usage: `store-floor DIR ORIGINS PER_ORIGIN CACHE_MB`. It prints `open`
//! once the empty store is open and `full` once every entry is appended
//! and flushed, and after each waits for a line on its input (its parent
//! measures it meanwhile).

use anyhow::{Context, Result, bail};
use comity_core::{IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, fixtures};
use comity_store::{LogStore, SledOptions, SledStore};
#[path = "../floor_child.rs"]
mod floor_child;
use floor_child::said_then_wait;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Entries taken from each origin in turn, as a follower fills from many
/// origins at once.
const RUN: usize = 50;
/// Flushed once so many entries are appended, as ingest flushes a batch.
const FLUSH_EVERY: usize = 512;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, origins, per, cache_mb] = args.as_slice() else {
        bail!("usage: store-floor DIR ORIGINS PER_ORIGIN CACHE_MB");
    };
    let origins: usize = origins.parse().context("ORIGINS")?;
    let per: usize = per.parse().context("PER_ORIGIN")?;
    let cache_mb: u64 = cache_mb.parse().context("CACHE_MB")?;

    let store = SledStore::open(
        std::path::Path::new(dir),
        SledOptions {
            cache_capacity_bytes: cache_mb * 1024 * 1024,
            ..SledOptions::default()
        },
    )?;
    said_then_wait("open")?;
    let logs: Vec<(OrgId, IdentityKey)> = (0..origins)
        .map(|i| Ok((OrgId::new(format!("o{i:03}"))?, IdentityKey::generate())))
        .collect::<Result<_>>()?;
    let mut run: Vec<SignedEntry> = Vec::with_capacity(RUN);
    let mut unflushed = 0;
    for start in (0..per).step_by(RUN) {
        for (origin, key) in logs.iter() {
            let mut head = store.head(origin)?;
            for i in start..(start + RUN).min(per) {
                let now = time::OffsetDateTime::now_utc();
                let (kind, payload) = document::encode(fixtures::consultation(i, now));
                let entry = UnsignedEntry::new(origin.clone(), kind, payload, now).sign(key, head);
                head = Some(entry.head());
                run.push(entry);
            }
            store.append_batch(&run)?;
            unflushed += run.len();
            run.clear();
            if unflushed >= FLUSH_EVERY {
                store.flush()?;
                unflushed = 0;
            }
        }
    }
    store.flush()?;
    Ok(said_then_wait("full")?)
}

//! `sled-floor`: what sled alone costs to hold a node's entries, in memory
//! and on disk. It is the floor under the node's memory and disk per entry
//! held (issue 16): the same engine and cache as a node, the same entries,
//! one row each and nothing else. `comity-bench` runs it as a child and
//! measures it from outside (`scenarios::sled_floor`). It uses the node's
//! allocator and the node's options for it (from `.cargo/config.toml`).
//!
//! Usage: `sled-floor DIR ORIGINS PER_ORIGIN ENTRY_BYTES CACHE_MB`. It
//! prints `open` once the empty store is open and `full` once every entry
//! is written and flushed, and after each waits for a line on its input
//! (its parent measures it meanwhile).

use anyhow::{Context, Result, bail};
#[path = "../floor_child.rs"]
mod floor_child;
use floor_child::said_then_wait;

#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// Entries written per origin before moving to the next one: a follower
/// fills from many origins at once, a batch of each in turn.
const RUN: usize = 50;
/// Flushed every so many inserts, as ingest flushes once per batch.
const FLUSH_EVERY: usize = 512;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, origins, per, entry_bytes, cache_mb] = args.as_slice() else {
        bail!("usage: sled-floor DIR ORIGINS PER_ORIGIN ENTRY_BYTES CACHE_MB");
    };
    let origins: usize = origins.parse().context("ORIGINS")?;
    let per: usize = per.parse().context("PER_ORIGIN")?;
    let entry_bytes: usize = entry_bytes.parse().context("ENTRY_BYTES")?;
    let cache_mb: u64 = cache_mb.parse().context("CACHE_MB")?;

    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(cache_mb * 1024 * 1024)
        .open()?;
    let entries = db.open_tree("entries")?;
    said_then_wait("open")?;
    let mut value = vec![0x5a_u8; entry_bytes];
    let mut written: u64 = 0;
    for start in (0..per).step_by(RUN) {
        for origin in 0..origins {
            let name = format!("o{origin:03}");
            for seq in start..(start + RUN).min(per) {
                // As the store keys an entry: origin, a separator, the seq.
                let mut key = name.as_bytes().to_vec();
                key.push(0);
                key.extend_from_slice(&(seq as u64 + 1).to_be_bytes());
                // Distinct values, as entries are.
                value[..8].copy_from_slice(&written.to_be_bytes());
                entries.insert(key, value.as_slice())?;
                written += 1;
                if written.is_multiple_of(FLUSH_EVERY as u64) {
                    db.flush()?;
                }
            }
        }
    }
    db.flush()?;
    Ok(said_then_wait("full")?)
}

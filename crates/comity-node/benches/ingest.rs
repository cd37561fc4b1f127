//! How many entries per second one node verifies and stores from one peer's
//! backlog, over real mutual TLS on loopback, with sled stores on disk.
//!
//! `cargo bench -p comity-node --bench ingest [-- ENTRIES]` (default 20,000
//! entries of about 2 KiB). Prints the figure; asserts nothing about speed.

use comity_core::{IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, fixtures};
use comity_node::{Config, DataDir, Node, RunningNode};
use std::{sync::Arc, time::Instant};

async fn node(root: &std::path::Path, id: &str) -> (Arc<Node>, tokio::net::TcpListener, DataDir) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let org = OrgId::new(id).expect("org id");
    let config = Config::new(org, id.to_uppercase(), listener.local_addr().expect("addr"));
    let data = DataDir::new(root.join(id));
    let key = data.init(&config).expect("init");
    let store = data.open_store(&config).expect("store");
    (Node::new(config, key, store).expect("node"), listener, data)
}

#[tokio::main]
async fn main() {
    let count: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(20_000);
    let root = tempfile::tempdir().expect("tempdir");
    let (publisher, publisher_listener, publisher_data) = node(root.path(), "itu").await;
    let (follower, follower_listener, _) = node(root.path(), "ietf").await;

    // The publisher's backlog, written straight into its store.
    let key: IdentityKey = publisher.identity();
    let mut head = publisher.store().head(publisher.org()).expect("head");
    let mut batch: Vec<SignedEntry> = Vec::with_capacity(1000);
    for i in 0..count {
        let (kind, payload) =
            document::encode(fixtures::consultation(i, time::OffsetDateTime::now_utc()));
        let entry = UnsignedEntry::new(
            publisher.org().clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(&key, head);
        head = Some(entry.head());
        batch.push(entry);
        if batch.len() == 1000 {
            publisher.store().append_batch(&batch).expect("append");
            batch.clear();
        }
    }
    publisher.store().append_batch(&batch).expect("append");
    publisher.store().flush().expect("flush");
    let target = head.expect("entries").seq;
    let entry_size = publisher
        .store()
        .entry(publisher.org(), 2)
        .expect("read")
        .map(|e| e.header_bytes().len() + e.signature().len() + e.payload().len())
        .unwrap_or(0);

    publisher
        .add_peer(
            follower.org().clone(),
            follower.public_key(),
            Some(follower.config().endpoint()),
        )
        .expect("peer");
    follower
        .add_peer(
            publisher.org().clone(),
            publisher.public_key(),
            Some(publisher.config().endpoint()),
        )
        .expect("peer");
    let a = RunningNode::start(
        publisher.clone(),
        publisher_listener,
        Some(publisher_data.socket_path()),
    )
    .await
    .expect("start publisher");
    let mut appended = follower.appended();
    let start = Instant::now();
    let b = RunningNode::start(follower.clone(), follower_listener, None)
        .await
        .expect("start follower");
    while follower
        .store()
        .head(publisher.org())
        .expect("head")
        .map_or(0, |h| h.seq)
        < target
    {
        let _ = appended.changed().await;
    }
    let took = start.elapsed();
    println!(
        "ingest: {} entries of {} bytes in {:.2} s = {:.0} entries/s (one peer, mutual TLS on loopback, sled, group commit)",
        count,
        entry_size,
        took.as_secs_f64(),
        count as f64 / took.as_secs_f64()
    );
    b.shutdown().await.expect("stop");
    a.shutdown().await.expect("stop");
}

//! Waiting for exactly the state a test then asserts: a condition with a
//! deadline, never a fixed sleep.

use super::*;
use comity_core::OrgId;
use std::time::{Duration, Instant};

/// Generous: CI machines are small and shared.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Waits until `node` follows `origin` through `source` (a subscription to
/// it is open or being opened).
pub async fn wait_until_following_through(node: &TestNode, origin: &OrgId, source: &OrgId) {
    let (node, origin, source) = (node.node().clone(), origin.clone(), source.clone());
    eventually(&format!("following {origin} through {source}"), move || {
        node.peer_table()
            .views()
            .iter()
            .any(|p| p.record.org == source && p.serving.contains(&origin))
    })
    .await;
}

/// Waits until `node` takes `origin`'s log from `origin` itself: it pulls
/// it from there, or `origin` dialled in and offers it.
pub async fn wait_until_direct(node: &TestNode, origin: &OrgId) {
    let (node, origin) = (node.node().clone(), origin.clone());
    eventually(
        &format!("{origin}'s log straight from {origin}"),
        move || {
            node.peer_table()
                .views()
                .iter()
                .any(|p| p.record.org == origin && (p.serving.contains(&origin) || p.offers_to_us))
        },
    )
    .await;
}

/// Waits, up to [`DEADLINE`], for a condition that other tasks make true.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

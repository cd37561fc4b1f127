//! Replication between real nodes on loopback: full mesh, outage and
//! catch-up, relay through a third party.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use support::{TestNode, assert_chain, eventually, temp_root};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_published_at_one_node_reaches_the_others() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let c = TestNode::start_new(root.path(), "icann").await;
    for (x, y) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        x.follow(y);
    }
    let published = a.publish(1).await.remove(0);
    b.wait_for_seq(&a.org, published.seq()).await;
    c.wait_for_seq(&a.org, published.seq()).await;
    for node in [&b, &c] {
        let held = node.log_of(&a.org);
        assert_eq!(held.last().unwrap().id(), published.id());
        assert_eq!(held.last().unwrap().payload(), published.payload());
        assert_chain(&held, &a.public_key(), published.seq());
    }
    // Reciprocity is seen from both sides.
    eventually("a sees b as reciprocal", || {
        a.node()
            .peer_table()
            .views()
            .iter()
            .any(|p| p.record.org == b.org && p.reciprocal && p.connected)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_catches_up_without_duplicates() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let mut c = TestNode::start_new(root.path(), "ripe-ncc").await;
    for (x, y) in [(&a, &b), (&a, &c), (&b, &a), (&b, &c), (&c, &a), (&c, &b)] {
        x.follow(y);
    }
    let first = a.publish(1).await.remove(0);
    c.wait_for_seq(&a.org, first.seq()).await;

    c.stop().await;
    let published = a.publish(200).await;
    let last = published.last().unwrap().seq();
    c.start().await;
    c.wait_for_seq(&a.org, last).await;

    let held = c.log_of(&a.org);
    assert_chain(&held, &a.public_key(), last);
    let ingested = c
        .node()
        .counters
        .ingested
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        ingested, 200,
        "after restart, each missing entry is applied exactly once"
    );
    assert_eq!(held.last().unwrap().id(), published.last().unwrap().id());
    c.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_only_follower_gets_the_log_through_a_relay_even_when_the_origin_is_gone() {
    let root = temp_root();
    let mut a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    let mut c = TestNode::start_new(root.path(), "afrinic").await;
    a.follow(&b);
    b.follow(&a);
    b.follow(&c);
    c.follow(&b);
    c.follow_key_only(&a); // C never connects to A.

    let early = a.publish(3).await;
    c.wait_for_seq(&a.org, early.last().unwrap().seq()).await;
    // C's source for A is B: A is not reachable from C.
    assert!(
        c.node()
            .peer_table()
            .views()
            .iter()
            .all(|p| p.record.org != a.org || !p.connected)
    );

    // C goes down; A publishes more, B relays them; A goes away for good.
    c.stop().await;
    let late = a.publish(5).await;
    let last = late.last().unwrap().seq();
    b.wait_for_seq(&a.org, last).await;
    a.stop().await;

    c.start().await;
    c.wait_for_seq(&a.org, last).await;
    assert_chain(&c.log_of(&a.org), &a.public_key(), last);
    c.stop().await;
}

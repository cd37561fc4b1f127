//! Crash safety: `comity serve` processes killed with SIGKILL at random
//! moments, while publishing and while ingesting a peer's backlog. After each
//! kill the store opens, every chain verifies, nothing acknowledged (to a
//! client, or served to a peer) is lost, and replication resumes.
//!
//! 20 trials of each in the normal suite; `COMITY_FAULT_LONG=1` runs 200.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{OrgId, PublicKey};
use comity_proto::v1::PublishConsultationRequest;
use comity_store::prelude::*;
use rand::Rng;
use std::{
    collections::BTreeMap,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};
use support::{ChildNode, TestNode, fault_size, free_port, temp_root, verify_store};

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Publishes through the local API from `workers` clients until the node
/// dies; every acknowledged (seq, id) goes into `acknowledged`.
fn publish_until_killed(
    node: &ChildNode,
    workers: usize,
    trial: usize,
    acknowledged: &Arc<Mutex<BTreeMap<u64, String>>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..workers)
        .map(|worker| {
            let socket = node.data.socket_path();
            let acknowledged = acknowledged.clone();
            tokio::spawn(async move {
                let Ok(mut client) = comity_node::local_api::connect(&socket).await else {
                    return;
                };
                for i in 0.. {
                    let request = PublishConsultationRequest {
                        title: format!("Trial {trial} worker {worker} consultation {i}"),
                        closes: "2027-03-31".into(),
                        ..Default::default()
                    };
                    match client.publish_consultation(request).await {
                        Ok(published) => {
                            let published = published.into_inner();
                            acknowledged
                                .lock()
                                .unwrap()
                                .insert(published.seq, published.id);
                        }
                        Err(_) => return,
                    }
                }
            })
        })
        .collect()
}

/// SIGKILL during a publish burst, with a follower subscribed to the
/// publisher: every entry acknowledged to a client, and every entry the
/// follower received, is in the publisher's store after the kill.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_publish_loses_nothing_acknowledged_to_a_client_or_a_peer() {
    let trials = fault_size(20, 200);
    let root = temp_root();
    let mut publisher = ChildNode::init(root.path(), "crash-pub", loopback(), |_| {});
    let mut follower = TestNode::create(root.path(), "crash-fol").await;
    follower.start().await;
    publisher.pin(&follower.org, follower.public_key(), None);
    follower
        .node()
        .add_peer(
            publisher.org.clone(),
            publisher.key,
            Some(publisher.endpoint()),
        )
        .unwrap();
    let origin = publisher.org.clone();
    let keys: BTreeMap<OrgId, PublicKey> = BTreeMap::from([
        (publisher.org.clone(), publisher.key),
        (follower.org.clone(), follower.public_key()),
    ]);
    let acknowledged: Arc<Mutex<BTreeMap<u64, String>>> = Arc::default();
    let mut durable = 0;
    let mut served = 0;
    let started = Instant::now();
    for trial in 0..trials {
        publisher.start().await;
        // Replication resumes: the follower gets what survived the last kill.
        follower.wait_for_seq(&origin, durable).await;

        let publishers = publish_until_killed(&publisher, 4, trial, &acknowledged);
        let moment = Duration::from_millis(rand::thread_rng().gen_range(30..400));
        tokio::time::sleep(moment).await;
        publisher.kill();
        for task in publishers {
            let _ = task.await;
        }

        let store = publisher.open_store();
        let heads = verify_store(&format!("trial {trial}: publisher"), &store, &keys);
        let head = heads.get(&origin).copied().unwrap_or(0);
        assert!(
            head >= durable,
            "trial {trial}: the log went back from {durable} to {head}"
        );
        for (seq, id) in acknowledged.lock().unwrap().iter() {
            let held = store
                .entry(&origin, *seq)
                .unwrap()
                .unwrap_or_else(|| panic!("trial {trial}: acknowledged seq {seq} lost"));
            assert_eq!(&held.id().to_hex(), id, "trial {trial}: seq {seq} changed");
        }
        // What the publisher served to its peer must have been durable: a
        // lost entry would be signed again, differently, at the same seq.
        let received = follower.log_of(&origin);
        for entry in &received {
            let held = store.entry(&origin, entry.seq()).unwrap();
            assert_eq!(
                held.map(|e| e.id()),
                Some(entry.id()),
                "trial {trial}: the follower received seq {} before the publisher made it durable; \
                 the publisher lost it in the crash (held up to {head})",
                entry.seq()
            );
        }
        assert!(!follower.node().store().is_frozen(&origin).unwrap());
        served = served.max(received.len());
        durable = head;
    }
    // A last restart: the follower catches up on everything, no fork.
    publisher.start().await;
    let mut api = publisher.api().await;
    let last = api
        .publish_consultation(PublishConsultationRequest {
            title: "After the last crash".into(),
            closes: "2027-03-31".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    follower.wait_for_seq(&origin, last.seq).await;
    support::assert_chain(&follower.log_of(&origin), &publisher.key, last.seq);
    assert!(follower.node().store().equivocations().unwrap().is_empty());
    publisher.terminate();
    follower.stop().await;
    let acknowledged = acknowledged.lock().unwrap().len();
    assert!(acknowledged > 0, "no publish was acknowledged in any trial");
    eprintln!(
        "publish crash: {trials} trials in {:?}, {acknowledged} acknowledged entries held, \
         follower received {served} and all were durable",
        started.elapsed()
    );
}

/// SIGKILL of a follower in the middle of ingesting a publisher's backlog
/// (while the publisher keeps publishing): the follower's store opens, the
/// chain verifies and is the publisher's, what was durable stays durable,
/// and after a restart it catches up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_ingest_keeps_a_verified_prefix_and_replication_resumes() {
    let trials = fault_size(20, 200);
    let backlog = fault_size(400, 1000);
    let root = temp_root();
    let mut source = TestNode::create(root.path(), "ingest-src").await;
    source.start().await;
    // Small group commits: a backlog takes many, and a kill lands between or in them.
    let mut follower = ChildNode::init(root.path(), "ingest-fol", loopback(), |c| {
        c.replication.batch_size = 32;
    });
    follower.pin(&source.org, source.public_key(), Some(source.endpoint()));
    source
        .node()
        .add_peer(follower.org.clone(), follower.key, None)
        .unwrap();
    let origin = source.org.clone();
    let keys: BTreeMap<OrgId, PublicKey> = BTreeMap::from([
        (source.org.clone(), source.public_key()),
        (follower.org.clone(), follower.key),
    ]);
    let mut durable = 0;
    let mut mid_ingest = 0;
    let started = Instant::now();
    for trial in 0..trials {
        source.publish(backlog).await;
        let target = source.head_seq(&origin);
        // Live entries too, while the follower works through the backlog.
        let live = {
            let node = source.node().clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let title = format!("live {trial}/{i}");
                    if node.publish(support::consultation(&title)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            })
        };
        follower.start().await;
        // Kill once the follower got a random part of the way.
        let part = rand::thread_rng().gen_range(0.05..0.95);
        let threshold = durable + ((target - durable) as f64 * part) as u64;
        let t0 = Instant::now();
        let seen = loop {
            let held = follower
                .heads()
                .await
                .and_then(|h| h.get(origin.as_str()).copied())
                .unwrap_or(0);
            if held >= threshold || t0.elapsed() > support::DEADLINE {
                break held;
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        follower.kill();
        live.abort();
        assert!(
            seen >= threshold,
            "trial {trial}: replication did not resume: held {seen}, below {threshold}: {}",
            follower.log_tail()
        );
        if seen < target {
            mid_ingest += 1;
        }

        let store = follower.open_store();
        let heads = verify_store(&format!("trial {trial}: follower"), &store, &keys);
        let head = heads.get(&origin).copied().unwrap_or(0);
        assert!(
            head >= durable,
            "trial {trial}: durable entries vanished: held {durable}, now {head}"
        );
        let held = store.entries_after(&origin, 0, usize::MAX).unwrap();
        let published = source.log_of(&origin);
        for entry in &held {
            assert_eq!(
                entry.id(),
                published[entry.seq() as usize - 1].id(),
                "trial {trial}: seq {} is not the publisher's",
                entry.seq()
            );
        }
        assert!(store.equivocations().unwrap().is_empty());
        durable = head;
    }
    // Restarted, the follower catches up on everything.
    follower.start().await;
    let last = source.head_seq(&origin);
    follower
        .wait_for_seq(&origin, last, Duration::from_secs(60))
        .await;
    follower.terminate();
    let store = follower.open_store();
    verify_store("follower at the end", &store, &keys);
    assert_eq!(store.head(&origin).unwrap().map(|h| h.seq), Some(last));
    source.stop().await;
    eprintln!(
        "ingest crash: {trials} trials in {:?}, {mid_ingest} killed mid-ingest, {last} entries held",
        started.elapsed()
    );
}

//! Witnessed checkpoints between real nodes on loopback (issue 13): the
//! origin signs its log, partners cosign it once they hold it durably, the
//! cosignatures travel back, and a split view (one data directory run
//! twice) is frozen by the two partners that each hold one side of it, from
//! their checkpoints alone.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{
    IdentityKey, SignedEntry,
    checkpoint::SignedCheckpoint,
    merkle::{self, leaf_hash},
};
use comity_node::checkpoints::is_checkpoint_evidence;
use comity_store::LogStore;
use rand::Rng;
use std::{net::SocketAddr, path::Path, time::Duration};
use support::{ChildNode, FakePeer, TestNode, eventually, fault_size, free_port, org, temp_root};

fn root_of(entries: &[SignedEntry]) -> merkle::MerkleHash {
    let leaves: Vec<_> = entries
        .iter()
        .map(|e| leaf_hash(e.header_bytes()))
        .collect();
    merkle::root_of(&leaves)
}

/// The checkpoint `node` keeps of `origin`'s log, if any.
fn kept(node: &TestNode, origin: &TestNode) -> Option<SignedCheckpoint> {
    node.node().checkpoint_of(&origin.org).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_signs_its_log_and_partners_cosign_it_back() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    for (x, y) in [
        (&itu, &ietf),
        (&itu, &icann),
        (&ietf, &itu),
        (&ietf, &icann),
        (&icann, &itu),
        (&icann, &ietf),
    ] {
        x.follow(y);
    }
    itu.publish(5).await;
    // Its profile, then 5 consultations.
    assert_eq!(itu.head_seq(&itu.org), 6);
    let published = itu.log_of(&itu.org);
    // The origin's own checkpoint, at its durable head, over exactly its entries.
    eventually("itu signs a checkpoint at 6", || {
        kept(&itu, &itu).is_some_and(|c| c.checkpoint.size == 6)
    })
    .await;
    let own = kept(&itu, &itu).unwrap();
    assert_eq!(own.checkpoint.root, root_of(&published));
    assert!(own.to_text().starts_with("comity/itu\n6\n"));
    SignedCheckpoint::verify(own.to_text().as_bytes(), &itu.org, &itu.public_key()).unwrap();

    // Both partners cosign it, and their cosignatures come back to the origin.
    eventually("itu holds ietf's and icann's cosignatures", || {
        kept(&itu, &itu).is_some_and(|c| {
            c.checkpoint.size == 6
                && c.cosigned_by(&ietf.org, &ietf.public_key()).is_some()
                && c.cosigned_by(&icann.org, &icann.public_key()).is_some()
        })
    })
    .await;
    // Between partners too: ietf holds icann's cosignature of itu's log.
    eventually("ietf holds icann's cosignature of itu's log", || {
        kept(&ietf, &itu).is_some_and(|c| {
            c.checkpoint.size == 6 && c.cosigned_by(&icann.org, &icann.public_key()).is_some()
        })
    })
    .await;
    let note = kept(&itu, &itu).unwrap().to_text();
    let reread = SignedCheckpoint::verify(note.as_bytes(), &itu.org, &itu.public_key()).unwrap();
    assert!(
        reread.cosigned_by(&ietf.org, &itu.public_key()).is_none(),
        "wrong key"
    );
    assert_eq!(
        itu.node().cosigners_of(&reread).len(),
        2,
        "two cosigners: {note}"
    );

    // A consistency proof from 6 to 9 leaves, as the Consistency RPC serves it.
    itu.publish(3).await;
    ietf.wait_for_seq(&itu.org, 9).await;
    let proof = ietf.node().consistency_proof(&itu.org, 6, 9).await.unwrap();
    let all = itu.log_of(&itu.org);
    merkle::verify_consistency(6, 9, &root_of(&all[..6]), &root_of(&all), &proof).unwrap();
    assert!(
        ietf.node()
            .consistency_proof(&itu.org, 6, 10)
            .await
            .is_err()
    );
    assert!(ietf.node().consistency_proof(&itu.org, 0, 9).await.is_err());
    // No freeze anywhere.
    for node in [&itu, &ietf, &icann] {
        assert!(node.node().store().equivocations().unwrap().is_empty());
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for item in std::fs::read_dir(from).unwrap() {
        let item = item.unwrap();
        let target = to.join(item.file_name());
        let kind = item.file_type().unwrap();
        if kind.is_dir() {
            copy_dir(&item.path(), &target);
        } else if kind.is_file() {
            std::fs::copy(item.path(), target).unwrap();
        }
    }
}

/// One origin's data directory copied and run twice, each copy connected to
/// a different partner, each publishing other entries at the same seqs. The
/// two partners never relay that origin to each other (each reaches it
/// directly and holds as much of it as the other): they catch the fork from
/// the checkpoints they gossip, and both freeze it. Bound: the first gossip
/// of a connection goes at once, so both freeze within one round trip of
/// the partners connecting (the test allows its usual deadline).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_split_view_is_frozen_by_both_partners_from_checkpoints_alone() {
    let root = temp_root();
    let mut first = TestNode::create(root.path(), "itu").await;
    first.start().await;
    first.publish(2).await;
    first.stop().await;
    let copy_root = root.path().join("copy");
    let mut second = TestNode::create(&copy_root, "itu").await;
    std::fs::remove_dir_all(second.data.root()).unwrap();
    copy_dir(first.data.root(), second.data.root());
    first.start().await;
    second.start().await;
    assert_eq!(first.public_key(), second.public_key());

    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    ietf.follow(&first);
    first.follow(&ietf);
    icann.follow(&second);
    second.follow(&icann);
    // A copy whose configuration differs (its address) publishes a new
    // profile at start: even the sides out so that both are as long.
    let (h1, h2) = (first.head_seq(&first.org), second.head_seq(&second.org));
    let left = first.publish(3 + (h2.max(h1) - h1) as usize).await;
    let right = second.publish(3 + (h2.max(h1) - h2) as usize).await;
    assert_ne!(left[0].id(), right[0].id());
    let (n1, n2) = (first.head_seq(&first.org), second.head_seq(&second.org));
    assert_eq!(n1, n2, "both copies hold as many entries");
    ietf.wait_for_seq(&first.org, n1).await;
    icann.wait_for_seq(&second.org, n2).await;
    eventually(
        "each partner keeps its side's checkpoint at its head",
        || {
            kept(&ietf, &first).is_some_and(|c| c.checkpoint.size == n1)
                && kept(&icann, &second).is_some_and(|c| c.checkpoint.size == n2)
        },
    )
    .await;

    // Now the partners meet.
    ietf.follow(&icann);
    icann.follow(&ietf);
    eventually("both partners freeze itu", || {
        ietf.node().store().is_frozen(&first.org).unwrap()
            && icann.node().store().is_frozen(&first.org).unwrap()
    })
    .await;
    for (partner, side) in [(&ietf, &left), (&icann, &right)] {
        let evidence = partner.node().store().equivocations().unwrap();
        assert_eq!(evidence.len(), 1, "{}", partner.org);
        assert!(is_checkpoint_evidence(&evidence[0]));
        assert_eq!(evidence[0].seq, n1);
        // Both notes verify as itu's: portable evidence.
        for note in [&evidence[0].held_header, &evidence[0].conflicting_header] {
            SignedCheckpoint::verify(note, &first.org, &first.public_key()).unwrap();
        }
        // Caught from checkpoints alone: each holds only its own side.
        let held = partner.log_of(&first.org);
        assert_eq!(held.len() as u64, n1);
        assert_eq!(held.last().unwrap().id(), side.last().unwrap().id());
    }
}

/// SIGKILL of a follower (a `comity serve` process) while it ingests and
/// cosigns a publisher's log: every cosignature it ever issued, as the
/// publisher saw it, is for a size its store holds after the kill. A
/// cosignature is made only after the entries it vouches for are flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_cosigning_never_vouches_for_entries_not_durable() {
    let trials = fault_size(4, 40);
    let root = temp_root();
    let mut source = TestNode::create(root.path(), "cosign-src").await;
    source.start().await;
    let listen = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut follower = ChildNode::init(root.path(), "cosign-fol", listen, |c| {
        c.replication.batch_size = 16;
    });
    follower.pin(&source.org, source.public_key(), Some(source.endpoint()));
    source
        .node()
        .add_peer(follower.org.clone(), follower.key, None)
        .unwrap();
    let origin = source.org.clone();
    let mut cosigned_ever = 0u64;
    let mut seen_cosignatures = 0usize;
    for trial in 0..trials {
        source.publish(fault_size(50, 300)).await;
        let live = {
            let node = source.node().clone();
            tokio::spawn(async move {
                for i in 0.. {
                    let title = format!("live {trial}/{i}");
                    if node.publish(support::consultation(&title)).await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(3)).await;
                }
            })
        };
        follower.start().await;
        // Watch the follower's cosignatures come back, and kill it at a
        // random moment while it works.
        let run_for = Duration::from_millis(rand::thread_rng().gen_range(300..2500));
        let started = std::time::Instant::now();
        while started.elapsed() < run_for {
            if let Some(c) = source
                .node()
                .cosigned_by_as_kept(&origin, &follower.org)
                .unwrap()
                && c.cosigned_by(&follower.org, &follower.key).is_some()
            {
                if c.checkpoint.size > cosigned_ever {
                    seen_cosignatures += 1;
                }
                cosigned_ever = cosigned_ever.max(c.checkpoint.size);
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        follower.kill();
        live.abort();
        let store = follower.open_store();
        let held = store.head(&origin).unwrap().map_or(0, |h| h.seq);
        assert!(
            cosigned_ever <= held,
            "trial {trial}: the follower cosigned size {cosigned_ever} but holds only {held} after SIGKILL"
        );
        // What it vouched for is the publisher's log.
        let leaves = store.leaf_hashes(&origin, cosigned_ever).unwrap();
        let published = source.log_of(&origin);
        assert_eq!(
            merkle::root_of(&leaves),
            root_of(&published[..cosigned_ever as usize])
        );
        drop(store);
    }
    assert!(
        seen_cosignatures > 0,
        "the follower never cosigned: the test checked nothing"
    );
}

/// `Checkpoints` and `Consistency` are asked only of a peer whose `Hello`
/// lists the capability "checkpoints" (an older build has neither RPC). The
/// fake lists it only from its second `Hello` on (the node reconnects
/// because the fake serves no `Subscribe`): the gossip comes, and only
/// after that second `Hello`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_are_asked_only_of_a_peer_that_announces_them() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let key = IdentityKey::generate();
    // It serves no logs, so the node's pull fails and its link dials again.
    let fake = FakePeer::new(org("old-build"))
        .gossips_checkpoints_from_hello(2)
        .on_subscribe(|_| async {
            Err(tonic::Status::unavailable("this test peer serves no logs"))
        });
    let (hellos, calls) = (fake.hellos(), fake.checkpoint_calls());
    let (endpoint, stop) = fake.start(&key, &[&itu]).await;
    itu.node()
        .add_peer(
            org("old-build"),
            key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    let seen = calls.clone();
    eventually(
        "checkpoint gossip once the capability is announced",
        move || !seen.lock().unwrap().is_empty(),
    )
    .await;
    let calls = calls.lock().unwrap().clone();
    assert!(
        calls.iter().all(|&hello| hello >= 2),
        "asked for checkpoints while the peer did not announce them (calls made after Hello number {calls:?})"
    );
    assert!(hellos.load(std::sync::atomic::Ordering::SeqCst) >= 2);
    stop.cancel();
}

//! Witnessed checkpoints between real nodes on loopback (issue 13): the
//! origin signs its log, partners cosign it once they hold it durably, the
//! cosignatures travel back, and a split view (one data directory run
//! twice) is frozen by the two partners that each hold one side of it, from
//! their checkpoints alone.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{
    IdentityKey, SignedEntry, UnsignedEntry,
    checkpoint::SignedCheckpoint,
    document,
    merkle::{self, leaf_hash},
};
use comity_node::checkpoints::is_checkpoint_evidence;
use comity_store::LogStore;
use rand::Rng;
use std::{net::SocketAddr, path::Path, time::Duration};
use support::{
    ChildNode, FakePeer, FlushGate, HeldFlushStore, TestNode, eventually, fault_size, free_port,
    org, temp_root,
};

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
    // Proofs are served within the durable head (a flush after the append).
    eventually("ietf holds itu's 9 durably", || {
        ietf.node().durable_head(&itu.org) >= 9
    })
    .await;
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
/// publisher saw it, is for a size its store holds after the kill, with the
/// publisher's root there. This checks the end state of a real kill and
/// reopen (what a flush wrote is on disk); the window between an append
/// and its flush is too short for a kill to land in, so the rule that a
/// cosignature waits for the flush is tested with the flush held back
/// (`a_follower_never_cosigns_entries_its_store_has_not_flushed`).
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

/// What a partner shows of an origin beyond the entries a node holds.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Shown {
    /// A larger checkpoint whose tree extends the held one.
    Extension,
    /// A larger checkpoint of a forked tree (another entry at seq 4).
    Fork,
    /// The forked checkpoint, and a proof that reproduces nothing.
    Garbage,
}

/// `ietf` holds itu's log and checkpoint at size 6; a partner that gossips
/// checkpoints shows it itu's checkpoint at size 9, signed with itu's key,
/// and answers `Consistency` from the tree that goes with it (or garbage).
/// Returns ietf, itu and the consistency requests the partner received.
async fn shown_a_larger_checkpoint(
    root: &Path,
    shown: Shown,
) -> (
    TestNode,
    TestNode,
    std::sync::Arc<std::sync::Mutex<Vec<comity_core::proto::ConsistencyRequest>>>,
    tokio_util::sync::CancellationToken,
) {
    let itu = TestNode::start_new(root, "itu").await;
    let ietf = TestNode::start_new(root, "ietf").await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    itu.publish(5).await;
    ietf.wait_for_seq(&itu.org, 6).await;
    eventually("ietf keeps itu's checkpoint at 6", || {
        kept(&ietf, &itu).is_some_and(|c| c.checkpoint.size == 6)
    })
    .await;
    let held = kept(&ietf, &itu).unwrap();
    let real = ietf.node().store().leaf_hashes(&itu.org, 6).unwrap();
    let mut leaves = real.clone();
    if shown != Shown::Extension {
        leaves[3] = leaf_hash(b"another entry at seq 4");
    }
    leaves.extend((0..3u8).map(|i| leaf_hash(&[b'x', i])));
    let larger = comity_core::checkpoint::Checkpoint::new(&itu.org, 9, merkle::root_of(&leaves))
        .sign(&itu.key)
        .unwrap();
    assert_eq!(held.checkpoint.root, merkle::root_of(&real));
    let fake = FakePeer::new(org("icann"))
        .gossips_checkpoints_from_hello(1)
        .shows_notes(vec![larger.to_text().into_bytes()])
        .on_consistency(move |request| {
            let (old, new) = (request.old_size as usize, request.new_size as usize);
            assert_eq!((old, new), (6, 9), "the sizes of the two checkpoints");
            let hashes = match shown {
                Shown::Garbage => vec![leaf_hash(b"garbage"); 3],
                _ => merkle::consistency_proof(old as u64, &leaves[..new]).unwrap(),
            };
            Ok(comity_core::proto::ConsistencyResponse {
                hashes: hashes.iter().map(|h| h.to_vec()).collect(),
                old_root: merkle::root_of(&leaves[..old]).to_vec(),
            })
        });
    let calls = fake.consistency_calls();
    let key = IdentityKey::generate();
    let (endpoint, stop) = fake.start(&key, &[&ietf]).await;
    ietf.node()
        .add_peer(org("icann"), key.public(), Some(endpoint.parse().unwrap()))
        .unwrap();
    (ietf, itu, calls, stop)
}

/// A node that holds an origin's checkpoint at 6 and is shown one at 9
/// whose tree does not extend it (the origin forked at seq 4) asks the
/// partner that gossips checkpoints for a consistency proof, finds that the
/// proof reproduces the larger root but another root at 6, and freezes the
/// origin with the two notes as evidence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_checkpoint_of_a_forked_tree_is_caught_by_a_consistency_proof() {
    let root = temp_root();
    let (ietf, itu, calls, stop) = shown_a_larger_checkpoint(root.path(), Shown::Fork).await;
    eventually("ietf freezes itu from the consistency proof", || {
        ietf.node().store().is_frozen(&itu.org).unwrap()
    })
    .await;
    let evidence = ietf.node().store().equivocations().unwrap();
    assert_eq!(evidence.len(), 1);
    assert!(is_checkpoint_evidence(&evidence[0]));
    let (a, b) = (&evidence[0].held_header, &evidence[0].conflicting_header);
    let a = SignedCheckpoint::verify(a, &itu.org, &itu.public_key()).unwrap();
    let b = SignedCheckpoint::verify(b, &itu.org, &itu.public_key()).unwrap();
    assert_eq!((a.checkpoint.size, b.checkpoint.size), (6, 9));
    assert_eq!(evidence[0].reported_by, org("icann"));
    assert!(!calls.lock().unwrap().is_empty());
    stop.cancel();
}

/// The same with a larger checkpoint whose tree does extend the held one:
/// the proof is asked for, it verifies, and nothing is raised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_larger_checkpoint_that_extends_the_held_one_is_proven_consistent() {
    let root = temp_root();
    let (ietf, itu, calls, stop) = shown_a_larger_checkpoint(root.path(), Shown::Extension).await;
    let asked = calls.clone();
    eventually("ietf asks for a proof and accepts it", || {
        !asked.lock().unwrap().is_empty() && !ietf.node().awaits_proof(&itu.org)
    })
    .await;
    assert!(!ietf.node().store().is_frozen(&itu.org).unwrap());
    assert!(ietf.node().store().equivocations().unwrap().is_empty());
    stop.cancel();
}

/// A partner shows checkpoints of sizes this node's log has already passed
/// (as every partner of a busy log does): each is checked against the root
/// this node's log had at that size, whether that root was noted at a
/// flush or recomputed from the entries, and kept for the next showing. The
/// origin's own checkpoints pass, again and again; one with another root
/// at a past size freezes the origin.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_of_past_sizes_are_checked_against_the_roots_held_there() {
    use comity_core::checkpoint::Checkpoint;
    use comity_node::checkpoints::Absorbed;
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    itu.publish(6).await;
    ietf.wait_for_seq(&itu.org, 7).await;
    eventually("ietf keeps itu's checkpoint at 7", || {
        kept(&ietf, &itu).is_some_and(|c| c.checkpoint.size == 7)
    })
    .await;
    let leaves = ietf.node().store().leaf_hashes(&itu.org, 7).unwrap();
    let note = |size: usize, root: merkle::MerkleHash| {
        Checkpoint::new(&itu.org, size as u64, root)
            .sign(&itu.key)
            .unwrap()
            .to_text()
            .into_bytes()
    };
    let true_at = |size: usize| note(size, merkle::root_of(&leaves[..size]));
    let icann = org("icann");
    for size in 2..7 {
        for _ in 0..2 {
            let absorbed = ietf
                .node()
                .absorb_notes(&icann, vec![true_at(size)])
                .await
                .unwrap();
            assert_eq!(
                absorbed,
                vec![Absorbed::Known],
                "itu's own checkpoint at {size}"
            );
        }
    }
    assert!(!ietf.node().store().is_frozen(&itu.org).unwrap());

    // Another root at a size already checked (its root kept here).
    let mut forked = leaves[..4].to_vec();
    forked[2] = leaf_hash(b"another entry at seq 3");
    let absorbed = ietf
        .node()
        .absorb_notes(&icann, vec![note(4, merkle::root_of(&forked))])
        .await
        .unwrap();
    assert_eq!(
        absorbed,
        vec![Absorbed::Equivocation {
            origin: itu.org.clone(),
            size: 4
        }]
    );
    assert!(ietf.node().store().is_frozen(&itu.org).unwrap());
}

/// `Checkpoints` answers a caller that asks for changes only with the notes
/// that changed since its last call, not every note kept (in a mesh, every
/// link gossips once per poll period); any other call gets them all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gossip_answers_a_caller_in_step_with_the_changed_notes_only() {
    use comity_proto::v1::{CheckpointsRequest, federation_client::FederationClient};
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    itu.publish(2).await;
    let at = itu.head_seq(&itu.org);
    // Settled: each keeps the other's checkpoint, cosigned, and its own
    // with the other's cosignature.
    let settled = |size: u64| {
        kept(&ietf, &itu).is_some_and(|c| {
            c.checkpoint.size == size && c.cosigned_by(&ietf.org, &ietf.public_key()).is_some()
        }) && kept(&ietf, &ietf)
            .is_some_and(|c| c.cosigned_by(&itu.org, &itu.public_key()).is_some())
    };
    eventually("ietf's checkpoints settle", || settled(at)).await;

    let (icann, key) = (org("icann"), IdentityKey::generate());
    ietf.node()
        .add_peer(icann.clone(), key.public(), None)
        .unwrap();
    let identity = comity_tls::TlsIdentity::new(&key, &icann).unwrap();
    let config = comity_tls::client_config(&identity, ietf.public_key()).unwrap();
    let channel = comity_tls::connect(ietf.endpoint().as_str(), config, Duration::from_secs(5))
        .await
        .unwrap();
    let mut client = FederationClient::new(channel);
    let mut ask = async |changes_only| {
        client
            .checkpoints(CheckpointsRequest {
                notes: Vec::new(),
                changes_only,
            })
            .await
            .unwrap()
            .into_inner()
            .notes
    };
    let all = ask(false).await;
    assert_eq!(all, ietf.node().notes_to_share().unwrap());
    assert!(all.len() >= 2, "itu's checkpoint and ietf's own");
    assert!(ask(true).await.is_empty(), "nothing changed");

    itu.publish(1).await;
    eventually("ietf's checkpoints settle again", || settled(at + 1)).await;
    let changed = ask(true).await;
    let now = ietf.node().notes_to_share().unwrap();
    assert!(!changed.is_empty());
    assert!(changed.iter().all(|n| now.contains(n) && !all.contains(n)));
    assert!(changed.len() < now.len(), "ietf's own note did not change");
    assert_eq!(ask(false).await, now, "a full round gets every note");
}

/// A partner whose proof reproduces nothing is not believed about the
/// origin: no freeze, and the pair is asked again later.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_consistency_proof_is_not_evidence_against_the_origin() {
    let root = temp_root();
    let (ietf, itu, calls, stop) = shown_a_larger_checkpoint(root.path(), Shown::Garbage).await;
    let asked = calls.clone();
    eventually("ietf asks twice (the first answer judged)", || {
        asked.lock().unwrap().len() >= 2
    })
    .await;
    assert!(!ietf.node().store().is_frozen(&itu.org).unwrap());
    assert!(ietf.node().store().equivocations().unwrap().is_empty());
    assert!(ietf.node().awaits_proof(&itu.org));
    stop.cancel();
}

/// Under a steady stream of publishes the origin still signs checkpoints,
/// each of a size that was durable, and they advance while the publishing
/// goes on. The stream is made steady on purpose: after each publish the
/// test appends one more entry without flushing it, so the tree is beyond
/// the durable head at every moment but the instant of a flush (a rule
/// that signs only when the two agree signs next to never).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_advance_under_a_steady_stream_of_publishes() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let node = itu.node().clone();
    let store = node.store().clone();
    let mut sizes: Vec<u64> = Vec::new();
    let mut publishes = 0;
    while sizes.len() < 4 {
        assert!(
            publishes < 400,
            "only the checkpoints {sizes:?} after {publishes} publishes in a steady stream"
        );
        node.publish(support::consultation(&format!("published {publishes}")))
            .await
            .unwrap();
        // Appended, not flushed: the next publish's flush covers it.
        let (kind, payload) =
            document::encode(support::consultation(&format!("pending {publishes}")));
        let pending = UnsignedEntry::new(
            itu.org.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(&itu.key, store.head(&itu.org).unwrap());
        store.append(&pending).unwrap();
        publishes += 1;
        if let Some(c) = kept(&itu, &itu)
            && sizes.last() != Some(&c.checkpoint.size)
        {
            assert!(
                c.checkpoint.size <= node.durable_head(&itu.org),
                "a checkpoint beyond the durable head"
            );
            sizes.push(c.checkpoint.size);
        }
        // The stream's pace (the sign rounds run every 20 ms at most).
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(sizes.windows(2).all(|w| w[0] < w[1]), "sizes {sizes:?}");
    // The latest is itu's log at that size.
    let latest = kept(&itu, &itu).unwrap();
    let log = itu.log_of(&itu.org);
    assert_eq!(
        latest.checkpoint.root,
        root_of(&log[..latest.checkpoint.size as usize])
    );
    SignedCheckpoint::verify(latest.to_text().as_bytes(), &itu.org, &itu.public_key()).unwrap();
}

/// The cosignature `cosigner` issued of `origin`'s log, as `node` keeps it:
/// its size, if any.
fn cosigned_size(node: &TestNode, origin: &TestNode, cosigner: &TestNode) -> Option<u64> {
    node.node()
        .cosigned_by_as_kept(&origin.org, &cosigner.org)
        .unwrap()
        .filter(|c| {
            c.cosigned_by(&cosigner.org, &cosigner.public_key())
                .is_some()
        })
        .map(|c| c.checkpoint.size)
}

/// The crash guarantee, made observable: a follower cosigns only entries its
/// store has flushed. Its store's flushes are held back (`HeldFlushStore`
/// delegates to the real store; the gate records the head of the last
/// completed flush, which is all a crash at that moment would keep). The
/// origin publishes one more entry: the follower appends it, its flush
/// waits, and it receives and keeps the origin's checkpoint of it. No
/// cosignature it issued, as it keeps it or as the origin received it, may
/// then be of a size beyond what is durable. Once the flush goes through,
/// it cosigns that checkpoint and the origin receives it.
///
/// Against a rule that cosigns at the appended head instead of the durable
/// one, this fails: the follower cosigns size 7 with 6 durable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follower_never_cosigns_entries_its_store_has_not_flushed() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let gate = FlushGate::new();
    let mut ietf = TestNode::create(root.path(), "ietf").await;
    let wrapped = gate.clone();
    ietf.start_over(move |store| HeldFlushStore::wrap(store, wrapped))
        .await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    itu.publish(5).await;
    // Its profile, then 5 consultations: cosigned once flushed.
    eventually("itu holds ietf's cosignature of its log at 6", || {
        cosigned_size(&itu, &itu, &ietf) == Some(6)
    })
    .await;
    assert!(gate.durable(&itu.org) >= 6);

    let held = gate.hold();
    itu.publish(1).await;
    eventually("ietf appends itu's entry 7, and its flush waits", || {
        ietf.head_seq(&itu.org) == 7 && gate.waiting() > 0
    })
    .await;
    let durable = gate.durable(&itu.org);
    assert_eq!(durable, 6, "nothing flushed since the gate was held");
    assert_eq!(ietf.node().durable_head(&itu.org), durable);
    // The origin signs its own (its store flushes), and gossips it: the
    // follower checks it, keeps it, and decides whether to cosign it, all
    // under its checkpoint lock, before the kept note changes.
    eventually("ietf keeps itu's checkpoint at 7", || {
        kept(&ietf, &itu).is_some_and(|c| c.checkpoint.size == 7)
    })
    .await;
    // A crash now keeps 6 entries of itu here, not 7: nothing it issued, nor
    // anything itu received from it, may vouch for more.
    let at_ietf = kept(&ietf, &itu).unwrap();
    assert!(
        at_ietf.cosigned_by(&ietf.org, &ietf.public_key()).is_none(),
        "ietf cosigned itu's checkpoint at 7 with only {durable} entries durable"
    );
    for (holder, issued) in [
        ("ietf", cosigned_size(&ietf, &itu, &ietf)),
        ("itu", cosigned_size(&itu, &itu, &ietf)),
    ] {
        assert!(
            issued.is_some_and(|size| size <= durable),
            "{holder} holds ietf's cosignature at {issued:?} with only {durable} entries durable at ietf"
        );
    }
    // Once the flush goes through, the cosignature follows, and reaches itu.
    drop(held);
    eventually("itu holds ietf's cosignature of its log at 7", || {
        cosigned_size(&itu, &itu, &ietf) == Some(7)
    })
    .await;
    assert_eq!(gate.durable(&itu.org), 7);
}

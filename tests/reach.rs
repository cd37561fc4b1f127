//! Reach (issue 12): a node that nobody can dial takes full part. With
//! `[network] listen = "off"` it opens no listening socket, dials its
//! partners and offers its own log over those connections (`Offer`); they
//! take it through normal ingest and relay it to others. Versions and
//! capabilities announced in `Hello` are acted on.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{IdentityKey, OrgId, proto};
use comity_node::config::Listen;
use comity_proto::v1::HelloRequest;
use std::sync::atomic::Ordering;
use support::{FakePeer, TestNode, assert_chain, eventually, org, temp_root};
use tonic::Status;

/// What `node` holds of `origin`: each seq once, 1..=n, chained and signed.
fn assert_exactly(node: &TestNode, origin: &TestNode, n: u64) {
    let log = node.log_of(&origin.org);
    assert_chain(&log, &origin.public_key(), n);
    let seqs: Vec<u64> = log.iter().map(|e| e.seq()).collect();
    assert_eq!(
        seqs,
        (1..=n).collect::<Vec<_>>(),
        "{} of {}",
        node.org,
        origin.org
    );
}

fn view_of(node: &TestNode, peer: &OrgId) -> comity_node::peers::PeerView {
    node.node()
        .peer_table()
        .views()
        .into_iter()
        .find(|v| &v.record.org == peer)
        .unwrap()
}

/// `kenya-igf` opens no port at all. `itu` and `ietf` know it by key only;
/// it dials them. Its publishes reach both directly (offered), theirs reach
/// it, `icann` (which neither it nor anyone dials for it) gets its log
/// through `itu` as a relay, and a stop and restart of either side resumes
/// with no gap and no duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_no_listening_socket_takes_full_part() {
    let root = temp_root();
    let mut kenya = TestNode::create_with(root.path(), "kenya-igf", |c| {
        c.network.listen = Listen::Off;
    })
    .await;
    kenya.start().await;
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let icann = TestNode::start_new(root.path(), "icann").await;

    // No listening socket: nothing answers on the port its config names.
    assert_eq!(kenya.federation_addr(), None);
    assert!(
        std::net::TcpStream::connect(kenya.config.listen).is_err(),
        "something listens on {}",
        kenya.config.listen
    );

    kenya.follow(&itu);
    kenya.follow(&ietf);
    itu.follow_key_only(&kenya);
    ietf.follow_key_only(&kenya);
    itu.follow(&ietf);
    ietf.follow(&itu);
    // icann reaches only itu; kenya-igf's log comes to it through itu.
    icann.follow(&itu);
    itu.follow(&icann);
    icann.follow_key_only(&kenya);

    let mut published = kenya.publish(5).await.len() as u64 + 1; // + the profile
    for node in [&itu, &ietf, &icann] {
        node.wait_for_seq(&kenya.org, published).await;
    }
    // Both directions.
    itu.publish(3).await;
    ietf.publish(2).await;
    kenya.wait_for_seq(&itu.org, 4).await;
    kenya.wait_for_seq(&ietf.org, 3).await;

    // Status shows who dialled: itu was dialled by kenya-igf, which offers
    // (once its link is up: it may have started before itu pinned it, and
    // itu may have got the entries above through ietf meanwhile).
    let (itu_node, kenya_org) = (itu.node().clone(), kenya.org.clone());
    eventually("itu takes kenya-igf's offer", move || {
        itu_node
            .peer_table()
            .views()
            .iter()
            .any(|v| v.record.org == kenya_org && v.offers_to_us && v.dialled() == "them")
    })
    .await;
    assert!(view_of(&itu, &kenya.org).reciprocal);
    let kenya_org = kenya.org.clone();
    let (itu_org, kenya_node) = (itu.org.clone(), kenya.node().clone());
    eventually("kenya-igf offers its log to itu", move || {
        kenya_node
            .peer_table()
            .views()
            .iter()
            .any(|v| v.record.org == itu_org && v.we_offer && v.dialled() == "us")
    })
    .await;
    let statuses = kenya.node().peer_statuses().unwrap();
    let to_itu = statuses.iter().find(|p| p.org == "itu").unwrap();
    assert_eq!((to_itu.dialled.as_str(), to_itu.we_offer), ("us", true));
    let statuses = itu.node().peer_statuses().unwrap();
    let from_kenya = statuses
        .iter()
        .find(|p| p.org == kenya_org.as_str())
        .unwrap();
    assert_eq!(from_kenya.dialled, "them");

    // The accepting side restarts: the offer resumes after what it holds.
    itu.stop().await;
    published += kenya.publish(4).await.len() as u64;
    ietf.wait_for_seq(&kenya.org, published).await;
    itu.start().await;
    itu.wait_for_seq(&kenya.org, published).await;

    // The dial-out side restarts: it dials again and goes on.
    kenya.stop().await;
    itu.publish(2).await;
    kenya.start().await;
    published += kenya.publish(3).await.len() as u64;
    for node in [&itu, &ietf, &icann] {
        node.wait_for_seq(&kenya.org, published).await;
    }
    kenya.wait_for_seq(&itu.org, 6).await;
    for node in [&itu, &ietf, &icann] {
        assert_exactly(node, &kenya, published);
    }
    assert_exactly(&kenya, &itu, 6);
    assert_exactly(&kenya, &ietf, 3);
}

/// A dial-out node never asks a peer for `Offer` unless that peer's `Hello`
/// lists the capability. The fake lists it only from its second `Hello` on
/// (the node reconnects because the fake serves no `Subscribe`): the offer
/// comes, and only after that second `Hello`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_is_never_asked_for_a_capability_it_lacks() {
    let root = temp_root();
    let mut kenya = TestNode::create_with(root.path(), "kenya-igf", |c| {
        c.network.listen = Listen::Off;
    })
    .await;
    kenya.start().await;
    let key = IdentityKey::generate();
    // It serves no logs, so the node's pull fails and its link dials again.
    let fake = FakePeer::new(org("old-build"))
        .takes_offers_from_hello(2)
        .on_subscribe(|_| async { Err(Status::unavailable("this test peer serves no logs")) });
    let (hellos, offers) = (fake.hellos(), fake.offers());
    let (endpoint, stop) = fake.start(&key, &[&kenya]).await;
    kenya
        .node()
        .add_peer(
            org("old-build"),
            key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    let seen = offers.clone();
    eventually("an offer after the capability is announced", move || {
        !seen.lock().unwrap().is_empty()
    })
    .await;
    let offers = offers.lock().unwrap().clone();
    assert!(
        offers.iter().all(|&hello| hello >= 2),
        "offered while the peer did not announce the capability (offers made after Hello number {offers:?})"
    );
    assert!(hellos.load(Ordering::SeqCst) >= 2);
    stop.cancel();
}

/// A peer answering with another protocol version is refused, naming both
/// versions, on the dialling side; and a node refuses a caller's `Hello`
/// with an unknown version the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_protocol_version_is_refused_naming_both_versions() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ours = comity_proto::PROTOCOL_VERSION;
    let theirs = ours + 6;

    // Dialling a peer that speaks another version.
    let key = IdentityKey::generate();
    let (endpoint, stop) = FakePeer::new(org("future"))
        .version(theirs)
        .takes_offers_from_hello(1)
        .start(&key, &[&itu])
        .await;
    itu.node()
        .add_peer(org("future"), key.public(), Some(endpoint.parse().unwrap()))
        .unwrap();
    let node = itu.node().clone();
    eventually("the link to a peer of another version fails", move || {
        node.peer_table().views().iter().any(|v| {
            v.record.org == org("future")
                && v.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("protocol version mismatch"))
        })
    })
    .await;
    let error = view_of(&itu, &org("future")).last_error.unwrap();
    assert!(
        error.contains(&format!("version {ours}")) && error.contains(&format!("version {theirs}")),
        "{error}"
    );
    assert!(!view_of(&itu, &org("future")).connected);
    stop.cancel();

    // Being called with another version.
    let caller_key = IdentityKey::generate();
    let caller = org("caller");
    itu.node()
        .add_peer(caller.clone(), caller_key.public(), None)
        .unwrap();
    let identity = comity_tls::TlsIdentity::new(&caller_key, &caller).unwrap();
    let config = comity_tls::client_config(&identity, itu.public_key()).unwrap();
    let channel = comity_tls::connect(
        itu.endpoint().as_str(),
        config,
        std::time::Duration::from_secs(5),
    )
    .await
    .unwrap();
    let refused = proto::federation_client::FederationClient::new(channel)
        .hello(HelloRequest {
            protocol_version: theirs,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains(&format!("version {ours}"))
            && refused.message().contains(&format!("version {theirs}")),
        "{}",
        refused.message()
    );
}

/// Issue 12: `ietf` is the addressee of a restricted entry of `itu`, and
/// first gets `itu`'s log through `icann`, a relay outside the audience:
/// a redacted stub. Once the origin comes within reach, `ietf` asks again
/// and holds the whole entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stub_from_a_relay_outside_the_audience_is_filled_in_from_the_origin() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    icann.follow(&itu);
    itu.follow(&icann);
    ietf.follow(&icann);
    icann.follow(&ietf);
    // Out of ietf's direct reach, for now.
    ietf.follow_key_only(&itu);
    itu.follow_key_only(&ietf);

    let restricted = itu
        .node()
        .publish_to(
            support::consultation("For ietf only"),
            comity_core::entry::Audience::Restricted(vec![ietf.org.clone()]),
        )
        .await
        .unwrap();
    let later = itu.publish(2).await;
    ietf.wait_for_seq(&itu.org, later[1].seq()).await;
    let held = |node: &TestNode| {
        node.node()
            .store()
            .entry(&itu.org, restricted.seq())
            .unwrap()
            .unwrap()
    };
    assert!(held(&icann).is_redacted(), "icann is outside the audience");
    assert!(
        held(&ietf).is_redacted(),
        "ietf got it through icann, as a stub"
    );

    // The origin comes within reach.
    ietf.follow(&itu);
    let ietf_node = ietf.node().clone();
    let (origin, seq) = (itu.org.clone(), restricted.seq());
    eventually("ietf holds the whole entry", move || {
        ietf_node
            .store()
            .entry(&origin, seq)
            .unwrap()
            .is_some_and(|e| !e.is_redacted())
    })
    .await;
    let whole = held(&ietf);
    assert_eq!(whole.id(), restricted.id());
    assert_eq!(whole.payload(), restricted.payload());
    // Nothing else changed: the log is still exactly itu's.
    assert_exactly(&ietf, &itu, later[1].seq());
}

/// Issue 12: `itu` is stopped while `icann` rotates its key twice, and
/// started only after. It pins the old key; icann's certificate shows the
/// newest. It connects provisionally, verifies the rotations from the key
/// it pins, connects to icann directly (there is no other node to relay),
/// gets the log and re-pins, durably.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_offline_during_a_rotation_reaches_the_rotated_node_directly() {
    let root = temp_root();
    let icann = TestNode::start_new(root.path(), "icann").await;
    let mut itu = TestNode::start_new(root.path(), "itu").await;
    itu.follow(&icann);
    icann.follow(&itu);
    let before = icann.publish(1).await;
    itu.wait_for_seq(&icann.org, before[0].seq()).await;
    let old_key = icann.public_key();
    assert_eq!(itu.node().pins().key_of(&icann.org), Some(old_key));

    itu.stop().await;
    icann.node().rotate_key().await.unwrap();
    icann.node().rotate_key().await.unwrap();
    let after = icann.publish(2).await;
    let new_key = icann.node().public_key();
    assert_ne!(new_key, old_key);

    // Started with the old key pinned (from its store).
    itu.start().await;
    itu.wait_for_seq(&icann.org, after[1].seq()).await;
    // Ingest re-pins just after it stores the rotation.
    let itu_node = itu.node().clone();
    let icann_org = icann.org.clone();
    eventually("itu pins icann's new key", move || {
        itu_node.pins().key_of(&icann_org) == Some(new_key)
    })
    .await;
    let stored = itu
        .node()
        .store()
        .peers()
        .unwrap()
        .into_iter()
        .find(|p| p.org == icann.org)
        .unwrap();
    assert_eq!(stored.key, new_key, "the new pin is in the store");
    assert!(view_of(&itu, &icann.org).connected, "connected directly");
    // The log verifies from the first key, through both rotations.
    assert_chain(&itu.log_of(&icann.org), &old_key, after[1].seq());
}

/// Issue 12: nobody can dial a dial-out node for the attachments its
/// entries name; its partner asks for them over the offer and gets them,
/// checked against the documents and their hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_attachments_of_a_dial_out_node_reach_its_partners() {
    let root = temp_root();
    let mut kenya = TestNode::create_with(root.path(), "kenya-igf", |c| {
        c.network.listen = Listen::Off;
    })
    .await;
    kenya.start().await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    kenya.follow(&itu);
    itu.follow_key_only(&kenya);

    // Two chunks and a bit (chunks are 64 KiB).
    let content: Vec<u8> = (0..150_000u32).map(|i| (i % 251) as u8).collect();
    let hash = comity_core::Hash::of(&content);
    kenya.node().store().put_blob(&content).unwrap();
    let mut body = support::consultation("With an annex");
    if let proto::document::Body::Consultation(c) = &mut body {
        c.attachments = vec![proto::AttachmentRef {
            hash: hash.0.to_vec(),
            size: content.len() as u64,
            media_type: "application/pdf".into(),
            name: "annex.pdf".into(),
        }];
    }
    let entry = kenya.node().publish(body).await.unwrap();
    itu.wait_for_seq(&kenya.org, entry.seq()).await;
    let itu_node = itu.node().clone();
    eventually("itu holds the attachment", move || {
        itu_node.store().blob_size(&hash).unwrap().is_some()
    })
    .await;
    assert_eq!(itu.node().store().blob(&hash).unwrap().unwrap(), content);
}

/// A dead endpoint: a loopback port nothing listens on, as a node behind
/// NAT looks from outside whatever its configuration says.
fn unreachable_endpoint() -> comity_node::protocol::Endpoint {
    format!("https://127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap()
}

/// Issue 12: `kenya-igf` listens (the default), but nobody can dial it:
/// `itu` and `ietf` pin it with an endpoint that does not answer, as a node
/// behind NAT looks from outside. It dials them, and every outbound link to
/// a peer that takes offers carries its log, so its publishes reach both
/// directly (they do not peer each other: there is no relay), theirs reach
/// it, status shows who dialled, and a restart resumes with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listening_node_nobody_can_dial_offers_its_log_over_the_links_it_opens() {
    let root = temp_root();
    let mut kenya = TestNode::start_new(root.path(), "kenya-igf").await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    assert!(!kenya.node().config().dial_out_only(), "it listens");
    assert!(kenya.federation_addr().is_some());
    kenya.follow(&itu);
    kenya.follow(&ietf);
    for partner in [&itu, &ietf] {
        partner
            .node()
            .add_peer(
                kenya.org.clone(),
                kenya.public_key(),
                Some(unreachable_endpoint()),
            )
            .unwrap();
    }

    let mut published = kenya.publish(5).await.len() as u64 + 1; // + the profile
    for node in [&itu, &ietf] {
        node.wait_for_seq(&kenya.org, published).await;
    }
    itu.publish(3).await;
    ietf.publish(2).await;
    kenya.wait_for_seq(&itu.org, 4).await;
    kenya.wait_for_seq(&ietf.org, 3).await;

    // Who dialled: itu cannot reach kenya-igf, which dialled in and offers.
    let statuses = itu.node().peer_statuses().unwrap();
    let from_kenya = statuses
        .iter()
        .find(|p| p.org == kenya.org.as_str())
        .unwrap();
    assert_eq!(from_kenya.dialled, "them");
    assert!(!view_of(&itu, &kenya.org).connected, "itu never reached it");
    let statuses = kenya.node().peer_statuses().unwrap();
    let to_itu = statuses.iter().find(|p| p.org == "itu").unwrap();
    assert_eq!((to_itu.dialled.as_str(), to_itu.we_offer), ("us", true));

    // It restarts: it dials again and goes on, nothing lost or repeated.
    kenya.stop().await;
    itu.publish(2).await;
    kenya.start().await;
    published += kenya.publish(3).await.len() as u64;
    for node in [&itu, &ietf] {
        node.wait_for_seq(&kenya.org, published).await;
        assert_exactly(node, &kenya, published);
    }
    kenya.wait_for_seq(&itu.org, 6).await;
    assert_exactly(&kenya, &itu, 6);
}

/// Issue 12: two partners that can dial each other both offer their logs
/// over the links they opened, and each takes the other's log from that
/// offer only: while the offer lasts it does not also pull the same log
/// over its own link.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partners_that_dial_each_other_take_each_log_once_from_its_offer() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    itu.follow(&ietf);
    ietf.follow(&itu);
    for (node, peer) in [(&itu, &ietf), (&ietf, &itu)] {
        let (node, peer) = (node.node().clone(), peer.org.clone());
        eventually("both links up, each offering", move || {
            node.peer_table().views().iter().any(|v| {
                v.record.org == peer && v.dialled() == "both" && v.we_offer && v.offers_to_us
            })
        })
        .await;
    }
    let published = itu.publish(4).await;
    ietf.wait_for_seq(&itu.org, published[3].seq()).await;
    let published = ietf.publish(3).await;
    itu.wait_for_seq(&ietf.org, published[2].seq()).await;
    for (node, peer) in [(&itu, &ietf), (&ietf, &itu)] {
        let view = view_of(node, &peer.org);
        assert!(
            view.offers_to_us && !view.serving.contains(&peer.org),
            "{} pulls {} over its own link while it offers: {view:?}",
            node.org,
            peer.org
        );
        assert_exactly(node, peer, peer.head_seq(&peer.org));
    }
}

/// Issue 12: `ietf` is the addressee of a restricted entry of `kenya-igf`,
/// which only dials out, and first gets its log through `icann`, a relay
/// outside the audience: a redacted stub. Once kenya-igf dials ietf and
/// offers its log, ietf asks for the stub again over the offer and holds
/// the whole entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stub_is_filled_in_over_the_offer_of_an_origin_that_only_dials_in() {
    let root = temp_root();
    let mut kenya = TestNode::create_with(root.path(), "kenya-igf", |c| {
        c.network.listen = Listen::Off;
    })
    .await;
    kenya.start().await;
    let icann = TestNode::start_new(root.path(), "icann").await;
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    kenya.follow(&icann);
    icann.follow_key_only(&kenya);
    ietf.follow(&icann);
    icann.follow(&ietf);
    ietf.follow_key_only(&kenya);

    let restricted = kenya
        .node()
        .publish_to(
            support::consultation("For ietf only"),
            comity_core::entry::Audience::Restricted(vec![ietf.org.clone()]),
        )
        .await
        .unwrap();
    let later = kenya.publish(2).await;
    ietf.wait_for_seq(&kenya.org, later[1].seq()).await;
    let held = |node: &TestNode| {
        node.node()
            .store()
            .entry(&kenya.org, restricted.seq())
            .unwrap()
            .unwrap()
    };
    assert!(held(&icann).is_redacted(), "icann is outside the audience");
    assert!(held(&ietf).is_redacted(), "ietf got it through icann");

    // The origin dials ietf now: only over its offer can it be reached.
    kenya.follow(&ietf);
    let ietf_node = ietf.node().clone();
    let (origin, seq) = (kenya.org.clone(), restricted.seq());
    eventually("ietf holds the whole entry", move || {
        ietf_node
            .store()
            .entry(&origin, seq)
            .unwrap()
            .is_some_and(|e| !e.is_redacted())
    })
    .await;
    let whole = held(&ietf);
    assert_eq!(whole.id(), restricted.id());
    assert_eq!(whole.payload(), restricted.payload());
    assert!(view_of(&ietf, &kenya.org).offers_to_us);
    assert_exactly(&ietf, &kenya, later[1].seq());
}

/// Issue 12: an attachment of 0 bytes named by an entry of a dial-out node
/// reaches its partner over the offer, as any other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_attachment_of_a_dial_out_node_reaches_its_partner() {
    let root = temp_root();
    let mut kenya = TestNode::create_with(root.path(), "kenya-igf", |c| {
        c.network.listen = Listen::Off;
    })
    .await;
    kenya.start().await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    kenya.follow(&itu);
    itu.follow_key_only(&kenya);

    let hash = comity_core::Hash::of(&[]);
    kenya.node().store().put_blob(&[]).unwrap();
    let mut body = support::consultation("With an empty annex");
    if let proto::document::Body::Consultation(c) = &mut body {
        c.attachments = vec![proto::AttachmentRef {
            hash: hash.0.to_vec(),
            size: 0,
            media_type: "text/plain".into(),
            name: "empty.txt".into(),
        }];
    }
    let entry = kenya.node().publish(body).await.unwrap();
    itu.wait_for_seq(&kenya.org, entry.seq()).await;
    let itu_node = itu.node().clone();
    eventually("itu holds the empty attachment", move || {
        itu_node.store().blob_size(&hash).unwrap() == Some(0)
    })
    .await;
    assert_eq!(
        itu.node().store().blob(&hash).unwrap().unwrap(),
        Vec::<u8>::new()
    );
}

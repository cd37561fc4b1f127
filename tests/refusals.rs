//! What a node refuses, each with its own error, storing nothing of it:
//! callers whose key is not pinned, certificates that a pinned peer issued
//! for someone else, and peers that serve forged, gapped, mis-chained,
//! oversized or equivocating entries.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{
    Hash, Head, IdentityKey, SignedEntry, UnsignedEntry, document, entry::EntryKind, proto,
};
use comity_proto::v1::{
    HelloRequest, HelloResponse, SubscribeRequest, federation_client::FederationClient,
};
use std::{sync::Arc, time::Duration};
use support::{FakePeer, TestNode, entry_event, eventually, org, temp_root, then_silence};
use tokio_util::sync::CancellationToken;
use tonic::Response;

/// What the hostile peer serves to a subscription starting after `after_seq`.
type Script = Arc<dyn Fn(u64) -> Vec<proto::Entry> + Send + Sync>;

/// Starts a hostile peer `evil` that serves `script`, trusting only `victim`.
async fn start_hostile(
    key: &IdentityKey,
    victim: &TestNode,
    advertised_head: u64,
    script: Script,
) -> (String, CancellationToken) {
    let evil = org("evil");
    FakePeer::new(evil.clone())
        .claims(&evil, advertised_head)
        .on_subscribe(move |request| {
            let entries = script(request.after_seq);
            async move { Ok(then_silence(entries.into_iter().map(entry_event).collect())) }
        })
        .max_encoding_message_size(16 * 1024 * 1024)
        .start(key, &[victim])
        .await
}

fn evil_chain(key: &IdentityKey, n: usize) -> Vec<SignedEntry> {
    let mut head = None;
    (0..n)
        .map(|i| {
            let (kind, payload) = document::encode(support::consultation(&format!("c{i}")).clone());
            let entry =
                UnsignedEntry::new(org("evil"), kind, payload, time::OffsetDateTime::now_utc())
                    .sign(key, head);
            head = Some(entry.head());
            entry
        })
        .collect()
}

fn wires(entries: &[SignedEntry]) -> Vec<proto::Entry> {
    entries.iter().map(|e| e.wire().clone()).collect()
}

/// Runs a victim node against a hostile peer and waits until the victim
/// reports an error containing `expected`; returns the victim for inspection.
async fn victim_of(
    root: &std::path::Path,
    evil_key: &IdentityKey,
    advertised_head: u64,
    script: Script,
    expected: &str,
) -> (TestNode, CancellationToken) {
    let victim =
        TestNode::create_with(root, "victim", |c| c.limits.max_message_bytes = 64 * 1024).await;
    let mut victim = victim;
    victim.start().await;
    let (endpoint, stop) = start_hostile(evil_key, &victim, advertised_head, script).await;
    victim
        .node()
        .add_peer(
            org("evil"),
            evil_key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    let node = victim.node().clone();
    eventually(&format!("victim reports {expected:?}"), || {
        node.peer_table().views().iter().any(|p| {
            p.last_error
                .as_deref()
                .is_some_and(|e| e.contains(expected))
        })
    })
    .await;
    (victim, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_signature_is_refused() {
    let root = temp_root();
    let evil_key = IdentityKey::generate();
    let forger = IdentityKey::generate();
    let forged = wires(&evil_chain(&forger, 1));
    let (victim, stop) = victim_of(
        root.path(),
        &evil_key,
        1,
        Arc::new(move |_| forged.clone()),
        "bad signature",
    )
    .await;
    assert_eq!(victim.head_seq(&org("evil")), 0, "nothing stored");
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gap_is_refused() {
    let root = temp_root();
    let evil_key = IdentityKey::generate();
    let chain = evil_chain(&evil_key, 3);
    let gapped = wires(&[chain[0].clone(), chain[2].clone()]);
    let (victim, stop) = victim_of(
        root.path(),
        &evil_key,
        3,
        Arc::new(move |_| gapped.clone()),
        "is not next",
    )
    .await;
    assert_eq!(
        victim.head_seq(&org("evil")),
        1,
        "only the entry before the gap is kept"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_prev_hash_is_refused() {
    let root = temp_root();
    let evil_key = IdentityKey::generate();
    let first = evil_chain(&evil_key, 1).remove(0);
    let (kind, payload) = document::encode(support::consultation("mis-chained"));
    let bad_prev = Head {
        seq: 1,
        hash: Hash::of(b"not the first entry"),
    };
    let second = UnsignedEntry::new(org("evil"), kind, payload, time::OffsetDateTime::now_utc())
        .sign(&evil_key, Some(bad_prev));
    let served = wires(&[first, second]);
    let (victim, stop) = victim_of(
        root.path(),
        &evil_key,
        2,
        Arc::new(move |_| served.clone()),
        "prev hash",
    )
    .await;
    assert_eq!(victim.head_seq(&org("evil")), 1);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_message_is_refused() {
    let root = temp_root();
    let evil_key = IdentityKey::generate();
    let big = UnsignedEntry::new(
        org("evil"),
        EntryKind::Consultation,
        vec![7; 200 * 1024],
        time::OffsetDateTime::now_utc(),
    )
    .sign(&evil_key, None);
    let served = wires(&[big]);
    let (victim, stop) = victim_of(
        root.path(),
        &evil_key,
        1,
        Arc::new(move |_| served.clone()),
        "oversized",
    )
    .await;
    assert_eq!(victim.head_seq(&org("evil")), 0);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_equivocating_origin_is_frozen_with_evidence() {
    let root = temp_root();
    let evil_key = IdentityKey::generate();
    let chain = evil_chain(&evil_key, 3);
    let fork = evil_chain(&evil_key, 2);
    assert_ne!(chain[1].id(), fork[1].id());
    let (honest, forked) = (wires(&chain), fork[1].wire().clone());
    // First the honest log; once the victim holds it, a different seq 2.
    let script: Script = Arc::new(move |after| {
        if after < 3 {
            honest.clone()
        } else {
            vec![forked.clone()]
        }
    });
    let (victim, stop) = victim_of(root.path(), &evil_key, 3, script, "equivocated").await;
    let store = victim.node().store();
    assert_eq!(victim.head_seq(&org("evil")), 3);
    assert!(store.is_frozen(&org("evil")).unwrap());
    let evidence = store.equivocations().unwrap();
    assert_eq!(evidence.len(), 1);
    assert_eq!(evidence[0].seq, 2);
    assert_eq!(evidence[0].held_id(), chain[1].id());
    assert_eq!(evidence[0].conflicting_id(), fork[1].id());
    // The held log is untouched.
    assert_eq!(victim.log_of(&org("evil"))[1].id(), chain[1].id());
    // And the operator sees it in `comity status`.
    let mut api = comity_node::local_api::connect(&victim.data.socket_path())
        .await
        .unwrap();
    let status = api
        .status(comity_proto::v1::StatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert!(status.heads.iter().any(|h| h.origin == "evil" && h.frozen));
    assert_eq!(status.equivocations.len(), 1);
    assert_eq!(
        status.equivocations[0].conflicting_id,
        fork[1].id().to_hex()
    );
    stop.cancel();
}

/// Calls `Hello` at `server` presenting `identity`, expecting `server_key`.
async fn hello_as(
    identity: &comity_tls::TlsIdentity,
    server: &TestNode,
) -> Result<HelloResponse, String> {
    let config =
        comity_tls::client_config(identity, server.public_key()).map_err(|e| e.to_string())?;
    let channel = comity_tls::connect(server.endpoint().as_str(), config, Duration::from_secs(2))
        .await
        .map_err(|e| e.to_string())?;
    FederationClient::new(channel)
        .hello(HelloRequest {
            protocol_version: comity_proto::PROTOCOL_VERSION,
            ..Default::default()
        })
        .await
        .map(Response::into_inner)
        .map_err(|s| s.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_whose_key_is_not_pinned_is_refused_and_gets_nothing() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    a.publish(2).await;
    let stranger = TestNode::start_new(root.path(), "stranger").await;
    stranger.follow(&a); // the stranger pins A, but A does not pin the stranger

    let node = stranger.node().clone();
    eventually("the stranger sees its connection refused", || {
        node.peer_table()
            .views()
            .iter()
            .any(|p| p.last_error.is_some() && !p.connected)
    })
    .await;
    assert_eq!(
        stranger.head_seq(&a.org),
        0,
        "no entry reached the stranger"
    );

    // Straight at the API: refused before any service runs.
    let identity = comity_tls::TlsIdentity::new(&stranger.key, &stranger.org).unwrap();
    assert!(hello_as(&identity, &a).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_issued_by_a_pinned_peer_for_another_organisation_is_refused() {
    let root = temp_root();
    let a = TestNode::start_new(root.path(), "itu").await;
    let b = TestNode::start_new(root.path(), "ietf").await;
    a.follow(&b);

    // B's own certificate is accepted: B is pinned.
    let b_identity = comity_tls::TlsIdentity::new(&b.key, &b.org).unwrap();
    let hello = hello_as(&b_identity, &a)
        .await
        .expect("pinned peer is accepted");
    assert_eq!(hello.org, "itu");

    // B acts as a CA and issues a certificate, for a fresh key, naming "icann".
    let b_pkcs8 = rustls_pki_types::PrivatePkcs8KeyDer::from(b.key.to_pkcs8_der().unwrap());
    let b_pair =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&b_pkcs8, &rcgen::PKCS_ED25519).unwrap();
    let mut ca_params = rcgen::CertificateParams::new(vec!["ietf".into()]).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let issuer = rcgen::Issuer::new(ca_params, b_pair);
    let impostor_key = IdentityKey::generate();
    let impostor_pkcs8 =
        rustls_pki_types::PrivatePkcs8KeyDer::from(impostor_key.to_pkcs8_der().unwrap());
    let impostor_pair =
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&impostor_pkcs8, &rcgen::PKCS_ED25519)
            .unwrap();
    let params = rcgen::CertificateParams::new(vec!["icann".into()]).unwrap();
    let cert = params.signed_by(&impostor_pair, &issuer).unwrap();
    let impostor =
        comity_tls::TlsIdentity::from_certificate(cert.der().clone(), &impostor_key).unwrap();
    assert!(
        hello_as(&impostor, &a).await.is_err(),
        "a certificate issued by a pinned peer is not a pin"
    );
}

/// Issue 10, item 13: with `require_reciprocity`, what counts is what the
/// node can verify, not what a peer says. A pinned peer that claims in its
/// `Hello` to follow the node, but has never answered the node's own
/// `Hello` over mutual TLS, is not served; a peer that has is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reciprocity_is_judged_from_what_the_node_saw_not_from_what_a_peer_claims() {
    let root = temp_root();
    let mut a = TestNode::create_with(root.path(), "itu", |c| {
        c.replication.require_reciprocity = true
    })
    .await;
    a.start().await;
    let honest = TestNode::start_new(root.path(), "ietf").await;
    a.follow(&honest);
    honest.follow(&a);
    let published = a.publish(1).await.remove(0);
    honest.wait_for_seq(&a.org, published.seq()).await;

    // A pins the liar by key only, so it never hears the liar answer it.
    let liar_key = IdentityKey::generate();
    let liar = org("icann");
    a.node()
        .add_peer(liar.clone(), liar_key.public(), None)
        .unwrap();
    let identity = comity_tls::TlsIdentity::new(&liar_key, &liar).unwrap();
    let config = comity_tls::client_config(&identity, a.public_key()).unwrap();
    let channel = comity_tls::connect(a.endpoint().as_str(), config, Duration::from_secs(5))
        .await
        .unwrap();
    let mut client = FederationClient::new(channel);
    let hello = client
        .hello(HelloRequest {
            protocol_version: comity_proto::PROTOCOL_VERSION,
            follows: vec![a.org.to_string()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(hello.org, "itu");
    for origin in [&a.org, &honest.org] {
        let refused = client
            .subscribe(SubscribeRequest {
                origin: origin.to_string(),
                after_seq: 0,
                ..Default::default()
            })
            .await
            .map(|_| ())
            .expect_err("a peer that only claims to follow is not served");
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    }
}

/// Opens a stopped node's store, waiting while a closing handle holds it.
async fn open_stopped_store(node: &TestNode) -> Arc<dyn comity_store::Store> {
    let start = std::time::Instant::now();
    loop {
        match node.data.open_store(&node.config) {
            Ok(store) => return store,
            Err(e) => {
                assert!(start.elapsed() < support::DEADLINE, "store: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

async fn status_of(node: &TestNode) -> comity_proto::v1::StatusResponse {
    comity_node::local_api::connect(&node.data.socket_path())
        .await
        .unwrap()
        .status(comity_proto::v1::StatusRequest {})
        .await
        .unwrap()
        .into_inner()
}

/// Issue 10, item 1, the way out: a log already broken (an entry signed
/// with a key the chain does not name there, as the rotation race made)
/// is refused by every partner for ever. The refusal shows in `comity
/// status` on both sides with its reason: at the partner, which entry and
/// why; at the origin, which partner refuses which of its entries and why.
/// Once the two operators have compared the entry's id out of band, the
/// partner accepts that one entry by id, and replication goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_a_partner_refuses_shows_in_status_on_both_sides_until_it_is_accepted() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let mut icann = TestNode::start_new(root.path(), "icann").await;
    itu.follow(&icann);
    icann.follow(&itu);
    let good = icann.publish(1).await.remove(0);
    itu.wait_for_seq(&icann.org, good.seq()).await;

    // ICANN's log gets an entry signed with a stray key, then a good one.
    icann.stop().await;
    let stray = IdentityKey::generate();
    let (broken, after) = {
        let store = open_stopped_store(&icann).await;
        let head = store.head(&icann.org).unwrap();
        let (kind, payload) = document::encode(support::consultation("signed by a stray key"));
        let broken = UnsignedEntry::new(
            icann.org.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(&stray, head);
        let (kind, payload) = document::encode(support::consultation("signed as it should be"));
        let after = UnsignedEntry::new(
            icann.org.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(&icann.key, Some(broken.head()));
        store.append(&broken).unwrap();
        store.append(&after).unwrap();
        store.flush().unwrap();
        (broken, after)
    };
    icann.start().await;

    // The partner shows what it refuses, and why...
    let refused_at_itu = || async {
        status_of(&itu)
            .await
            .refused
            .into_iter()
            .find(|r| r.origin == "icann")
    };
    let start = std::time::Instant::now();
    let refusal = loop {
        if let Some(refusal) = refused_at_itu().await {
            break refusal;
        }
        assert!(start.elapsed() < support::DEADLINE, "itu shows no refusal");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(refusal.seq, broken.seq());
    assert_eq!(refusal.id, broken.id().to_hex());
    assert_eq!(refusal.peer, "icann", "served by");
    assert!(
        refusal.reason.contains("bad signature"),
        "{}",
        refusal.reason
    );
    assert_eq!(itu.head_seq(&icann.org), good.seq());

    // ...and so does the origin: which partner refuses which entry, and why.
    let start = std::time::Instant::now();
    let reported = loop {
        let status = status_of(&icann).await;
        if let Some(r) = status
            .refused_by_peers
            .into_iter()
            .find(|r| r.peer == "itu")
        {
            break r;
        }
        assert!(
            start.elapsed() < support::DEADLINE,
            "icann shows no refusal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(reported.origin, "icann");
    assert_eq!(reported.seq, broken.seq());
    assert_eq!(reported.id, broken.id().to_hex());
    assert!(
        reported.reason.contains("bad signature"),
        "{}",
        reported.reason
    );

    // A wrong id is refused with a clear error, and changes nothing.
    let mut api = comity_node::local_api::connect(&itu.data.socket_path())
        .await
        .unwrap();
    let wrong = api
        .accept_entry(comity_proto::v1::AcceptEntryRequest {
            origin: "icann".into(),
            seq: broken.seq(),
            id: "00".repeat(32).chars().take(63).collect(),
        })
        .await
        .expect_err("not an id");
    assert_eq!(wrong.code(), tonic::Code::InvalidArgument, "{wrong}");

    // The way out: ITU's operator accepts that one entry, by its id.
    api.accept_entry(comity_proto::v1::AcceptEntryRequest {
        origin: "icann".into(),
        seq: broken.seq(),
        id: broken.id().to_hex(),
    })
    .await
    .unwrap();
    itu.wait_for_seq(&icann.org, after.seq()).await;
    let held: Vec<Hash> = itu.log_of(&icann.org).iter().map(SignedEntry::id).collect();
    let origin: Vec<Hash> = icann
        .log_of(&icann.org)
        .iter()
        .map(SignedEntry::id)
        .collect();
    assert_eq!(held, origin, "the partner holds exactly the origin's log");
    assert!(refused_at_itu().await.is_none(), "nothing refused any more");
    let start = std::time::Instant::now();
    while !status_of(&icann).await.refused_by_peers.is_empty() {
        assert!(
            start.elapsed() < support::DEADLINE,
            "icann still shows a refusal"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

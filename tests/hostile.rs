//! Hostile input. Properties: verification never panics on arbitrary bytes or
//! chains, and no single-bit change to a signed entry of a chain is accepted
//! as a different entry (crates/comity-core/tests/verify.rs covers a lone
//! first entry; these cover later entries, whole chains and the node's
//! ingest path). And a hostile peer — garbage on the TLS stream, a slow drip,
//! invalid protobuf in a valid gRPC stream, huge messages, an endless stream
//! of duplicates — while an honest peer keeps replicating to and from the
//! node under attack: the node stays up, keeps serving, shows a clear error
//! for the attacker in its peer status, and stores nothing of the attack.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{
    IdentityKey, SignedEntry, UnsignedEntry, document,
    entry::EntryKind,
    proto,
    verify::{verify_chain, verify_for_ingest},
};
use comity_proto::v1::{HelloRequest, SubscribeRequest};
use proptest::prelude::*;
use prost::Message;
use std::time::Duration;
use support::{Events, FakePeer, TestNode, entry_event, eventually, org, temp_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

fn evil_chain(key: &IdentityKey, origin: &str, n: usize) -> Vec<SignedEntry> {
    let mut head = None;
    (0..n)
        .map(|i| {
            let (kind, payload) = document::encode(support::consultation(&format!("c{i}")).clone());
            let entry =
                UnsignedEntry::new(org(origin), kind, payload, time::OffsetDateTime::now_utc())
                    .sign(key, head);
            head = Some(entry.head());
            entry
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// A bit flipped anywhere in the third entry of a chain: the chain does
    /// not verify, unless the flip left header, signature and payload intact
    /// (an unknown field of the outer message).
    #[test]
    fn a_bit_flip_in_a_chain_is_rejected(bit in any::<usize>()) {
        let key = IdentityKey::generate();
        let mut chain = evil_chain(&key, "itu", 4);
        let original = chain[2].clone();
        let mut bytes = original.wire().encode_to_vec();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        if let Ok(flipped) = SignedEntry::decode_bytes(&bytes) {
            let same = flipped.header_bytes() == original.header_bytes()
                && flipped.signature() == original.signature()
                && flipped.payload() == original.payload();
            chain[2] = flipped;
            prop_assert_eq!(verify_chain(&chain, &key.public()).is_ok(), same);
        }
    }

    /// A bit flipped in the header, signature or payload fields themselves
    /// (not the outer framing): always rejected, and never taken for the
    /// held entry (a duplicate) either.
    #[test]
    fn a_bit_flip_in_a_signed_field_is_never_accepted(field in 0usize..3, bit in any::<usize>()) {
        let key = IdentityKey::generate();
        let chain = evil_chain(&key, "itu", 2);
        let mut wire = chain[1].wire().clone();
        let target = match field {
            0 => &mut wire.header,
            1 => &mut wire.signature,
            _ => &mut wire.payload,
        };
        let bit = bit % (target.len() * 8);
        target[bit / 8] ^= 1 << (bit % 8);
        if let Ok(flipped) = SignedEntry::decode(wire) {
            // As the next entry…
            prop_assert!(verify_for_ingest(&flipped, Some(&key.public()), Some(chain[0].head()), |_| None).is_err());
            // …and against a log that already holds the original.
            let held = chain[1].id();
            let verdict = verify_for_ingest(&flipped, Some(&key.public()), Some(chain[1].head()), |_| Some(held));
            prop_assert!(!matches!(verdict, Ok(comity_core::Ingest::Duplicate)) || field == 2,
                "a changed header or signature passed as the held entry");
            if field != 2 {
                prop_assert!(!matches!(verdict, Ok(comity_core::Ingest::Equivocation { .. })),
                    "a forged header was taken for evidence of equivocation");
            }
        }
    }

    /// Whole chains of arbitrary bytes: decoding and verifying never panics.
    #[test]
    fn verifying_arbitrary_chains_never_panics(
        blobs in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..6),
        fields in proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 0..200),
             proptest::collection::vec(any::<u8>(), 0..80),
             proptest::collection::vec(any::<u8>(), 0..200)), 0..4),
    ) {
        let key = IdentityKey::generate();
        let mut entries: Vec<SignedEntry> = blobs.iter().filter_map(|b| SignedEntry::decode_bytes(b).ok()).collect();
        entries.extend(fields.into_iter().filter_map(|(header, signature, payload)| {
            SignedEntry::decode(proto::Entry { header, signature, payload }).ok()
        }));
        let _ = verify_chain(&entries, &key.public());
        for e in &entries {
            let _ = document::decode_for(e);
            let _ = verify_for_ingest(e, Some(&key.public()), None, |_| None);
        }
    }

    /// A valid header with an arbitrary payload: verification never panics
    /// and never accepts a payload whose hash does not match.
    #[test]
    fn arbitrary_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..600)) {
        let key = IdentityKey::generate();
        let signed = UnsignedEntry::new(org("itu"), EntryKind::Consultation, payload.clone(), time::OffsetDateTime::now_utc()).sign(&key, None);
        let _ = verify_for_ingest(&signed, Some(&key.public()), None, |_| None);
        let mut swapped = signed.wire().clone();
        swapped.payload.push(0);
        if let Ok(e) = SignedEntry::decode(swapped) {
            prop_assert!(verify_for_ingest(&e, Some(&key.public()), None, |_| None).is_err());
        }
    }
}

/// The node's own ingest path: single-bit changes of a served entry are
/// refused and nothing of them is stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_refuses_every_bit_flip_of_a_served_entry() {
    let root = temp_root();
    let node = TestNode::create(root.path(), "victim").await;
    let mut node = node;
    node.start().await;
    let key = IdentityKey::generate();
    node.node()
        .add_peer(org("evil"), key.public(), None)
        .unwrap();
    let entry = evil_chain(&key, "evil", 1).remove(0);
    let bytes = entry.wire().encode_to_vec();
    let mut accepted_as_is = 0;
    for bit in (0..bytes.len() * 8).step_by(7) {
        let mut flipped = bytes.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        let Ok(wire) = proto::Entry::decode(flipped.as_slice()) else {
            continue;
        };
        let stored = node
            .node()
            .ingest(&org("evil"), &org("evil"), vec![wire])
            .await;
        if stored.is_ok() {
            // Only a flip outside the signed fields can pass, and then it is the entry itself.
            let held = node.log_of(&org("evil"));
            assert_eq!(held.len(), 1);
            assert_eq!(held[0].header_bytes(), entry.header_bytes());
            assert_eq!(held[0].payload(), entry.payload());
            accepted_as_is += 1;
            break;
        }
        assert_eq!(
            node.head_seq(&org("evil")),
            0,
            "bit {bit}: something was stored"
        );
    }
    eprintln!("{accepted_as_is} flip(s) outside the signed fields decoded to the same entry");
    node.stop().await;
}

// ---------------------------------------------------------------------------
// A hostile peer

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// Random bytes on the TLS stream right after the handshake.
    RawGarbage,
    /// Random bytes on the TLS stream, one per second.
    RawDrip,
    /// A valid gRPC stream of entries whose fields are random bytes.
    InvalidProtobuf,
    /// An entry of 8 MiB.
    Huge,
    /// Its (valid) first entry, again and again, forever.
    EndlessDuplicates,
}

/// What the attacker streams to a subscription, for an attack through the
/// protocol: garbage, a huge entry, or its first entry again and again.
fn attack_stream(attack: Attack, key: &IdentityKey) -> Events {
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    let first = evil_chain(key, "evil", 1).remove(0).into_wire();
    tokio::spawn(async move {
        loop {
            let wire = match attack {
                Attack::InvalidProtobuf => proto::Entry {
                    header: rand::random::<[u8; 32]>().to_vec(),
                    signature: rand::random::<[u8; 32]>().to_vec(),
                    payload: rand::random::<[u8; 32]>().to_vec(),
                },
                Attack::Huge => proto::Entry {
                    payload: vec![0x5a; 8 * 1024 * 1024],
                    ..first.clone()
                },
                _ => first.clone(),
            };
            if tx.send(Ok(entry_event(wire))).await.is_err() {
                return;
            }
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// Starts the attacker, trusting only `victim`; returns its endpoint.
async fn start_attacker(
    attack: Attack,
    key: &IdentityKey,
    victim: &TestNode,
    stop: &CancellationToken,
) -> String {
    let (endpoint, incoming) = support::fake_peer_tls(key, &org("evil"), victim).await;
    let stop = stop.clone();
    match attack {
        Attack::RawGarbage | Attack::RawDrip => {
            tokio::spawn(async move {
                use futures::StreamExt;
                let mut incoming = std::pin::pin!(incoming);
                loop {
                    let stream = tokio::select! {
                        _ = stop.cancelled() => return,
                        next = incoming.next() => match next {
                            Some(Ok(stream)) => stream,
                            _ => return,
                        },
                    };
                    let stop = stop.clone();
                    tokio::spawn(async move {
                        let (mut read, mut write) = tokio::io::split(stream);
                        tokio::spawn(async move {
                            let mut sink = [0u8; 4096];
                            while matches!(read.read(&mut sink).await, Ok(n) if n > 0) {}
                        });
                        loop {
                            let (chunk, pause) = match attack {
                                Attack::RawGarbage => (
                                    rand::random::<[u8; 32]>().repeat(32),
                                    Duration::from_millis(10),
                                ),
                                _ => (vec![rand::random::<u8>()], Duration::from_secs(1)),
                            };
                            if write.write_all(&chunk).await.is_err()
                                || write.flush().await.is_err()
                            {
                                return;
                            }
                            tokio::select! {
                                _ = stop.cancelled() => return,
                                _ = tokio::time::sleep(pause) => {}
                            }
                        }
                    });
                }
            });
        }
        _ => {
            let key = key.clone();
            FakePeer::new(org("evil"))
                .claims(&org("evil"), 1_000_000)
                .on_subscribe(move |_| {
                    let events = attack_stream(attack, &key);
                    async move { Ok(events) }
                })
                .max_encoding_message_size(64 * 1024 * 1024)
                .serve(incoming, stop);
        }
    }
    endpoint
}

/// Runs `attack` against a victim that also replicates, both ways, with an
/// honest peer; returns the error the victim shows for the attacker.
async fn under_attack(attack: Attack, expected: &[&str]) -> String {
    let root = temp_root();
    let mut victim = TestNode::create_with(root.path(), "victim", |c| {
        c.limits.max_message_bytes = 64 * 1024;
    })
    .await;
    victim.start().await;
    let mut honest = TestNode::start_new(root.path(), "honest").await;
    victim.follow(&honest);
    honest.follow(&victim);

    let evil_key = IdentityKey::generate();
    let stop = CancellationToken::new();
    let endpoint = start_attacker(attack, &evil_key, &victim, &stop).await;
    victim
        .node()
        .add_peer(
            org("evil"),
            evil_key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();

    // During the attack, entries flow both ways between victim and honest.
    let started = std::time::Instant::now();
    let mut rounds = 0;
    while started.elapsed() < Duration::from_secs(6) {
        let to_victim = honest.publish(3).await.last().unwrap().seq();
        let from_victim = victim.publish(3).await.last().unwrap().seq();
        victim.wait_for_seq(&honest.org, to_victim).await;
        honest.wait_for_seq(&victim.org, from_victim).await;
        rounds += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        rounds > 3,
        "{attack:?}: replication crawled: {rounds} rounds in 6 s"
    );

    // The victim names the attacker's fault in its peer status.
    let node = victim.node().clone();
    let evil_error = || {
        node.peer_table()
            .views()
            .into_iter()
            .find(|p| p.record.org == org("evil"))
            .and_then(|p| p.last_error)
    };
    eventually(
        &format!("{attack:?}: the victim reports {expected:?}"),
        || evil_error().is_some_and(|e| expected.iter().any(|x| e.contains(x))),
    )
    .await;
    let error = evil_error().unwrap();

    // And the operator sees it through the local API, as `comity peer list`.
    let mut api = comity_node::local_api::connect(&victim.data.socket_path())
        .await
        .unwrap();
    let peers = api
        .list_peers(comity_proto::v1::ListPeersRequest {})
        .await
        .unwrap()
        .into_inner()
        .peers;
    let shown = peers.iter().find(|p| p.org == "evil").unwrap();
    assert!(!shown.last_error.is_empty(), "{attack:?}: no error shown");

    // Nothing of the attack is stored; the honest logs are whole.
    let evil_held = victim.head_seq(&org("evil"));
    let allowed = match attack {
        Attack::EndlessDuplicates => 1, // its one authentic entry
        _ => 0,
    };
    assert!(
        evil_held <= allowed,
        "{attack:?}: stored {evil_held} of the attacker's entries"
    );
    support::assert_chain(
        &victim.log_of(&honest.org),
        &honest.public_key(),
        honest.head_seq(&honest.org),
    );
    support::assert_chain(
        &honest.log_of(&victim.org),
        &victim.public_key(),
        victim.head_seq(&victim.org),
    );
    eprintln!("{attack:?}: {rounds} honest rounds during the attack; victim shows: {error}");
    stop.cancel();
    victim.stop().await;
    honest.stop().await;
    error
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_bytes_on_the_tls_stream() {
    under_attack(
        Attack::RawGarbage,
        &["refused", "transport", "connection", "h2"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_drip_of_bytes() {
    under_attack(
        Attack::RawDrip,
        &["no answer", "timed out", "timeout", "refused"],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_protobuf_in_a_valid_grpc_stream() {
    under_attack(Attack::InvalidProtobuf, &["protobuf", "decode", "invalid"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_message() {
    under_attack(Attack::Huge, &["oversized"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_never_ending_stream_of_duplicates() {
    under_attack(Attack::EndlessDuplicates, &["duplicate"]).await;
}

// ---------------------------------------------------------------------------
// A pinned peer that opens streams and never reads them

/// Issue 10, item 8: the RSS a node under the attack below must stay under,
/// as `comity serve` (a debug build, which idles at about 30 MB; measured
/// under the attack: about 65 MB). Without the caps, each unread
/// subscription held up to 384 entries (a 256-entry read and a 128-event
/// buffer) and the node grew to 1.4 GB.
const SUBSCRIPTION_FLOOD_RSS_MAX_KB: u64 = 128 * 1024;

/// The resident set of process `pid`, in kB (`VmRSS`).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Records the highest RSS of `pid` until `stop`, sampling every 50 ms.
fn watch_rss(pid: u32, stop: CancellationToken) -> tokio::task::JoinHandle<u64> {
    tokio::spawn(async move {
        let mut max = 0;
        loop {
            max = max.max(rss_kb(pid));
            tokio::select! {
                () = stop.cancelled() => return max,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
    })
}

/// A federation client of `server` with `key`, as organisation `org`.
async fn federation_client(
    key: &IdentityKey,
    org: &comity_core::OrgId,
    server: &support::ChildNode,
) -> Result<comity_proto::v1::federation_client::FederationClient<tonic::transport::Channel>, String>
{
    let identity = comity_tls::TlsIdentity::new(key, org).unwrap();
    let config = comity_tls::client_config(&identity, server.key).unwrap();
    let channel = comity_tls::connect(server.endpoint().as_str(), config, Duration::from_secs(5))
        .await
        .map_err(|e| e.to_string())?;
    let mut client = comity_proto::v1::federation_client::FederationClient::new(channel);
    // The connection is only known to be accepted once a call is answered.
    client
        .hello(HelloRequest {
            protocol_version: comity_proto::PROTOCOL_VERSION,
            ..Default::default()
        })
        .await
        .map_err(|s| s.to_string())?;
    Ok(client)
}

/// Issue 10, item 8: a pinned peer opens 2,000 `Subscribe` streams to a node
/// holding 1,000 entries of about 2 KiB, over as many connections as the
/// node lets it, and never reads them. The node (`comity serve`, its RSS read
/// from /proc) stays under [`SUBSCRIPTION_FLOOD_RSS_MAX_KB`] throughout, and
/// an honest peer that starts following it meanwhile gets its whole log and
/// an entry published during the attack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_peer_opening_2000_unread_subscriptions_cannot_exhaust_memory() {
    use comity_store::prelude::*;
    const ENTRIES: u64 = 1000;
    const STREAMS: usize = 2000;
    const CONNECTIONS: usize = 4;
    let root = temp_root();
    let mallory = (org("mallory"), IdentityKey::generate());
    let mut honest = TestNode::create(root.path(), "ietf").await;
    let listen = format!("127.0.0.1:{}", support::free_port())
        .parse()
        .unwrap();
    let mut itu = support::ChildNode::init(root.path(), "itu", listen, |_| {});

    // The node's own log: its profile, then 1,000 consultations of ~2 KiB.
    {
        let key = itu.data.load_key().unwrap();
        let store = itu.open_store();
        let mut head = store.head(&itu.org).unwrap();
        let mut batch = Vec::new();
        for i in 0..ENTRIES {
            let mut body = support::consultation(&format!("Consultation {i}"));
            if let proto::document::Body::Consultation(c) = &mut body {
                c.summary = vec![proto::Text {
                    lang: "en".into(),
                    value: "x".repeat(1900),
                }];
            }
            let (kind, payload) = document::encode(body);
            let entry = UnsignedEntry::new(
                itu.org.clone(),
                kind,
                payload,
                time::OffsetDateTime::now_utc(),
            )
            .sign(&key, head);
            head = Some(entry.head());
            batch.push(entry);
        }
        store.append_batch(&batch).unwrap();
        store.flush().unwrap();
    }
    itu.pin(&mallory.0, mallory.1.public(), None);
    itu.pin(&honest.org, honest.public_key(), Some(honest.endpoint()));
    itu.start().await;
    let pid = itu.pid().unwrap();
    let stop_watching = CancellationToken::new();
    let watcher = watch_rss(pid, stop_watching.clone());

    // The attack: connections until the node refuses one, 2,000 streams
    // spread over them, every one kept and never read.
    let mut clients = Vec::new();
    let mut refused_connection = None;
    for _ in 0..CONNECTIONS + 1 {
        match federation_client(&mallory.1, &mallory.0, &itu).await {
            Ok(client) => clients.push(client),
            Err(e) => {
                refused_connection = Some(e);
                break;
            }
        }
    }
    let allowed = comity_node::config::LimitsConfig::default().max_connections_per_peer;
    assert_eq!(clients.len(), allowed, "{refused_connection:?}");
    assert!(
        refused_connection.is_some(),
        "connection {} was served",
        allowed + 1
    );
    let per_connection = STREAMS.div_ceil(clients.len());
    let mut held = Vec::new();
    let (mut opened, mut refused) = (0, 0);
    for client in &clients {
        let calls = (0..per_connection).map(|_| {
            let mut client = client.clone();
            async move {
                tokio::time::timeout(
                    Duration::from_secs(30),
                    client.subscribe(SubscribeRequest {
                        origin: "itu".into(),
                        after_seq: 0,
                        ..Default::default()
                    }),
                )
                .await
            }
        });
        for call in futures::future::join_all(calls).await {
            match call.expect("the node answers every Subscribe") {
                Ok(stream) => {
                    opened += 1;
                    held.push(stream);
                }
                Err(status) => {
                    assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status}");
                    refused += 1;
                }
            }
        }
    }
    eprintln!(
        "{} connections ({}), {opened} streams opened, {refused} refused; RSS now {} kB",
        clients.len(),
        refused_connection.as_deref().unwrap_or("none refused"),
        rss_kb(pid)
    );
    assert!(opened + refused >= STREAMS);

    // An honest peer starts following meanwhile, and is served everything.
    honest.start().await;
    honest
        .node()
        .add_peer(itu.org.clone(), itu.key, Some(itu.endpoint()))
        .unwrap();
    honest.wait_for_seq(&itu.org, ENTRIES + 1).await;
    let published = support::publish_through(&itu.data.socket_path(), "During the attack".into())
        .await
        .unwrap();
    honest.wait_for_seq(&itu.org, published.0).await;
    support::assert_chain(&honest.log_of(&itu.org), &itu.key, published.0);

    stop_watching.cancel();
    let max_rss = watcher.await.unwrap();
    eprintln!(
        "highest RSS of the node under attack: {} MB (bound {} MB)",
        max_rss / 1024,
        SUBSCRIPTION_FLOOD_RSS_MAX_KB / 1024
    );
    assert!(
        max_rss < SUBSCRIPTION_FLOOD_RSS_MAX_KB,
        "the node grew to {max_rss} kB under {opened} unread subscriptions: {}",
        itu.log_tail()
    );
    assert!(itu.exited().is_none(), "the node died: {}", itu.log_tail());
    drop(held);
    honest.stop().await;
}

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
use comity_proto::v1::{
    HeadsRequest, HeadsResponse, HelloRequest, HelloResponse, SubscribeEvent, SubscribeRequest,
    federation_server::{Federation, FederationServer},
    subscribe_event::Event,
};
use proptest::prelude::*;
use prost::Message;
use std::time::Duration;
use support::{TestNode, eventually, org, temp_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};

fn evil_chain(key: &IdentityKey, origin: &str, n: usize) -> Vec<SignedEntry> {
    let mut head = None;
    (0..n)
        .map(|i| {
            let (kind, payload) = document::encode(support::consultation(&format!("c{i}")).clone());
            let entry = UnsignedEntry::new(org(origin), kind, payload).sign(key, head);
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
        let signed = UnsignedEntry::new(org("itu"), EntryKind::Consultation, payload.clone()).sign(&key, None);
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

struct HostilePeer {
    attack: Attack,
    key: IdentityKey,
}

fn evil_head(seq: u64) -> Vec<comity_proto::v1::Head> {
    vec![comity_proto::v1::Head {
        origin: "evil".into(),
        seq,
        hash: vec![0; 32],
    }]
}

#[tonic::async_trait]
impl Federation for HostilePeer {
    async fn hello(&self, _: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        Ok(Response::new(HelloResponse {
            protocol_version: comity_proto::PROTOCOL_VERSION,
            org: "evil".into(),
            follows_you: true,
            heads: evil_head(1_000_000),
            ..Default::default()
        }))
    }

    async fn heads(&self, _: Request<HeadsRequest>) -> Result<Response<HeadsResponse>, Status> {
        Ok(Response::new(HeadsResponse {
            heads: evil_head(1_000_000),
        }))
    }

    type GetBlobStream =
        tokio_stream::wrappers::ReceiverStream<Result<comity_proto::v1::BlobChunk, Status>>;

    async fn get_blob(
        &self,
        _: Request<comity_proto::v1::GetBlobRequest>,
    ) -> Result<Response<Self::GetBlobStream>, Status> {
        Err(Status::not_found("no attachments"))
    }

    type SubscribeStream = tokio_stream::wrappers::ReceiverStream<Result<SubscribeEvent, Status>>;

    async fn subscribe(
        &self,
        _: Request<SubscribeRequest>,
    ) -> Result<Response<Self::SubscribeStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let attack = self.attack;
        let first = evil_chain(&self.key, "evil", 1).remove(0).into_wire();
        tokio::spawn(async move {
            let entry = |entry| {
                Ok(SubscribeEvent {
                    event: Some(Event::Entry(entry)),
                })
            };
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
                if tx.send(entry(wire)).await.is_err() {
                    return;
                }
            }
        });
        Ok(Response::new(tokio_stream::wrappers::ReceiverStream::new(
            rx,
        )))
    }
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
            let service = FederationServer::new(HostilePeer {
                attack,
                key: key.clone(),
            })
            .max_encoding_message_size(64 * 1024 * 1024);
            tokio::spawn(async move {
                tonic::transport::Server::builder()
                    .add_service(service)
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await
            });
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
        .add_peer(org("evil"), evil_key.public(), Some(endpoint))
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

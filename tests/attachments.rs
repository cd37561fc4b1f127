//! Attachments across nodes: a blob goes only to organisations that may read
//! an entry naming it, and is asked only of them; a peer that lies about a
//! blob's size costs a download, never the blob; a document may name only so
//! many attachments, and only a few are fetched at a time.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod support;

use comity_core::{
    Hash, Head, IdentityKey, OrgId, SignedEntry, UnsignedEntry, document, entry::Audience, proto,
};
use comity_proto::v1::{BlobChunk, GetBlobRequest, federation_client::FederationClient};
use prost::Message;
use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};
use support::{TestNode, eventually, org, temp_root};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Code, Status};

/// How a fake peer answers `GetBlob`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serving {
    /// Each blob as it is.
    Honest,
    /// The size it claims is the blob's, and it sends one byte more.
    OneByteTooMany,
    /// As it is, after a pause; the transfers open at once are counted.
    Slowly,
}

/// A peer with a log of its own (signed by its key) and some blobs, which
/// records every blob it is asked for: the state behind a
/// [`support::FakePeer`].
#[derive(Clone)]
struct BlobPeer {
    org: OrgId,
    log: Arc<Vec<SignedEntry>>,
    blobs: Arc<HashMap<Hash, Vec<u8>>>,
    serving: Arc<Mutex<Serving>>,
    asked: Arc<Mutex<Vec<Hash>>>,
    open: Arc<AtomicUsize>,
    most_open: Arc<AtomicUsize>,
}

impl BlobPeer {
    fn new(org: OrgId, log: Vec<SignedEntry>, blobs: &[&[u8]], serving: Serving) -> Self {
        Self {
            org,
            log: Arc::new(log),
            blobs: Arc::new(blobs.iter().map(|b| (Hash::of(b), b.to_vec())).collect()),
            serving: Arc::new(Mutex::new(serving)),
            asked: Arc::default(),
            open: Arc::default(),
            most_open: Arc::default(),
        }
    }

    fn heads(&self) -> Vec<comity_proto::v1::Head> {
        self.log
            .last()
            .map(|e| comity_proto::v1::Head {
                origin: self.org.to_string(),
                seq: e.seq(),
                hash: e.head().hash.0.to_vec(),
            })
            .into_iter()
            .collect()
    }

    fn asked(&self) -> Vec<Hash> {
        self.asked.lock().unwrap().clone()
    }

    fn serve(&self, serving: Serving) {
        *self.serving.lock().unwrap() = serving;
    }

    /// Serves as `org` with `key` to `victims` until the token is cancelled:
    /// a [`support::FakePeer`] with its own log, heartbeats after it, and
    /// its blobs as `serving` says.
    async fn start(&self, key: &IdentityKey, victims: &[&TestNode]) -> (String, CancellationToken) {
        let (org, log) = (self.org.clone(), self.log.clone());
        let this = self.clone();
        support::FakePeer::new(self.org.clone())
            .heads(self.heads())
            .on_subscribe(move |request| {
                let answer = if request.origin == org.as_str() {
                    let entries = log
                        .iter()
                        .filter(|e| e.seq() > request.after_seq)
                        .map(|e| support::entry_event(e.wire().clone()))
                        .collect();
                    let head_seq = log.last().map_or(0, SignedEntry::seq);
                    Ok(support::then_heartbeats(
                        entries,
                        head_seq,
                        Duration::from_millis(300),
                    ))
                } else {
                    Err(Status::not_found("only my own log"))
                };
                async move { answer }
            })
            .on_get_blob(move |request| this.get_blob(request))
            .start(key, victims)
            .await
    }

    fn get_blob(&self, request: GetBlobRequest) -> Result<support::Chunks, Status> {
        let hash = Hash::from_slice(&request.hash).unwrap();
        self.asked.lock().unwrap().push(hash);
        let blob = self
            .blobs
            .get(&hash)
            .cloned()
            .ok_or_else(|| Status::not_found("not here"))?;
        let serving = *self.serving.lock().unwrap();
        let total_size = blob.len() as u64;
        let mut sent = blob;
        if serving == Serving::OneByteTooMany {
            sent.push(0x5a);
        }
        let (open, most_open) = (self.open.clone(), self.most_open.clone());
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        tokio::spawn(async move {
            if serving == Serving::Slowly {
                let now = open.fetch_add(1, Ordering::SeqCst) + 1;
                most_open.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            let start = usize::try_from(request.offset).unwrap().min(sent.len());
            for (i, data) in sent[start..].chunks(64 * 1024).enumerate() {
                let chunk = BlobChunk {
                    offset: (start + i * 64 * 1024) as u64,
                    data: data.to_vec(),
                    total_size,
                };
                if tx.send(Ok(chunk)).await.is_err() {
                    break;
                }
            }
            if serving == Serving::Slowly {
                open.fetch_sub(1, Ordering::SeqCst);
            }
        });
        Ok(ReceiverStream::new(rx))
    }
}

/// Asks `server` for a blob as `org` with `key`: the whole blob, or the
/// status it was refused with.
async fn get_blob_as(
    key: &IdentityKey,
    org: &OrgId,
    server: &TestNode,
    hash: &Hash,
) -> Result<Vec<u8>, Status> {
    let identity = comity_tls::TlsIdentity::new(key, org).unwrap();
    let config = comity_tls::client_config(&identity, server.public_key()).unwrap();
    let channel = comity_tls::connect(server.endpoint().as_str(), config, Duration::from_secs(5))
        .await
        .unwrap();
    let mut stream = FederationClient::new(channel)
        .get_blob(GetBlobRequest {
            hash: hash.0.to_vec(),
            offset: 0,
        })
        .await?
        .into_inner();
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.message().await? {
        bytes.extend_from_slice(&chunk.data);
    }
    Ok(bytes)
}

fn attachment(name: &str, content: &[u8]) -> proto::AttachmentRef {
    proto::AttachmentRef {
        hash: Hash::of(content).0.to_vec(),
        size: content.len() as u64,
        media_type: "application/pdf".into(),
        name: name.into(),
    }
}

/// A log of one public consultation naming `attachments`, signed by `key`.
fn consultation_log(
    key: &IdentityKey,
    origin: &OrgId,
    attachments: Vec<proto::AttachmentRef>,
) -> Vec<SignedEntry> {
    let mut body = support::consultation("Call for comments on the annexes");
    if let proto::document::Body::Consultation(c) = &mut body {
        c.attachments = attachments;
    }
    let (kind, payload) = document::encode(body);
    vec![
        UnsignedEntry::new(
            origin.clone(),
            kind,
            payload,
            time::OffsetDateTime::now_utc(),
        )
        .sign(key, None::<Head>),
    ]
}

async fn wait_connected(node: &TestNode, peers: &[&OrgId]) {
    let table = node.node().clone();
    let peers: Vec<OrgId> = peers.iter().map(|p| (*p).clone()).collect();
    eventually(&format!("{} connected to {peers:?}", node.org), move || {
        let views = table.peer_table().views();
        peers
            .iter()
            .all(|p| views.iter().any(|v| &v.record.org == p && v.connected))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restricted_attachment_reaches_only_its_audience() {
    let root = temp_root();
    let ietf = TestNode::start_new(root.path(), "ietf").await;
    let itu = TestNode::start_new(root.path(), "itu").await;
    // ICANN, pinned by both, outside the audience, tells what it is asked.
    let icann_key = IdentityKey::generate();
    let icann = BlobPeer::new(org("icann"), Vec::new(), &[], Serving::Honest);
    let (icann_endpoint, stop) = icann.start(&icann_key, &[&ietf, &itu]).await;
    ietf.follow(&itu);
    itu.follow(&ietf);
    for node in [&ietf, &itu] {
        node.node()
            .add_peer(
                icann.org.clone(),
                icann_key.public(),
                Some(icann_endpoint.parse().unwrap()),
            )
            .unwrap();
    }
    wait_connected(&ietf, &[&itu.org, &icann.org]).await;
    wait_connected(&itu, &[&ietf.org, &icann.org]).await;

    // IETF tells ITU alone about an annex it does not hold yet, so that
    // ITU's first fetch fails at the origin.
    let annex = b"%PDF-1.4 confidential annex".repeat(1000);
    let hash = Hash::of(&annex);
    let draft = ietf
        .node()
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Information as i32,
            title: "Confidential coordination".into(),
            body: "See the annex.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let mut statement = proto::LiaisonStatement::decode(draft.statement.as_slice()).unwrap();
    statement.state = proto::LiaisonState::Posted as i32;
    statement.attachments = vec![attachment("annex.pdf", &annex)];
    let posted = ietf
        .node()
        .publish_to(
            proto::document::Body::Liaison(statement),
            Audience::Restricted(vec![itu.org.clone()]),
        )
        .await
        .unwrap();
    itu.wait_for_seq(&ietf.org, posted.seq()).await;
    let missing = itu.node().attachment(&hash).await;
    assert!(missing.is_err(), "the origin does not hold it yet");
    assert_eq!(
        icann.asked(),
        vec![],
        "ITU asked ICANN, outside the audience, for the attachment"
    );

    // Once the origin holds it, the addressee gets it from there.
    ietf.node().store().put_blob(&annex).unwrap();
    itu.node().attachment(&hash).await.unwrap();
    assert_eq!(itu.node().store().blob(&hash).unwrap().unwrap(), annex);

    // ICANN, knowing the hash, is refused by both.
    for server in [&ietf, &itu] {
        let refused = get_blob_as(&icann_key, &icann.org, server, &hash).await;
        match refused {
            Err(status) => assert_eq!(
                status.code(),
                Code::PermissionDenied,
                "{}: {status}",
                server.org
            ),
            Ok(bytes) => panic!(
                "{} served ICANN {} bytes of a restricted attachment",
                server.org,
                bytes.len()
            ),
        }
    }
    // An attachment of a public document is served to any pinned peer.
    let paper = b"%PDF-1.4 public background paper".to_vec();
    let public = ietf
        .node()
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Public consultation".into(),
            closes: "2099-12-31".into(),
            attachments: vec![proto::AttachmentUpload {
                name: "paper.pdf".into(),
                media_type: "application/pdf".into(),
                content: paper.clone(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        get_blob_as(&icann_key, &icann.org, &ietf, &Hash::of(&paper))
            .await
            .unwrap(),
        paper
    );
    itu.wait_for_seq(&ietf.org, public.seq()).await;
    assert!(
        icann.asked().iter().all(|h| h != &hash),
        "ICANN learnt the restricted hash: {:?}",
        icann.asked()
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_longer_than_it_claims_is_dropped_and_fetched_again() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ripe_key = IdentityKey::generate();
    let ripe = org("ripe-ncc");
    // Not a multiple of the chunk size, so the extra byte rides a chunk.
    let annex: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let hash = Hash::of(&annex);
    let log = consultation_log(&ripe_key, &ripe, vec![attachment("annex.pdf", &annex)]);
    let peer = BlobPeer::new(ripe.clone(), log, &[&annex], Serving::OneByteTooMany);
    let (endpoint, stop) = peer.start(&ripe_key, &[&itu]).await;
    itu.node()
        .add_peer(
            ripe.clone(),
            ripe_key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    itu.wait_for_seq(&ripe, 1).await;
    // The fetch started on ingest has begun; the one asked for now comes
    // after it, so when it returns neither is under way.
    let asked = peer.clone();
    eventually("the fetch started on ingest", move || {
        asked.asked().contains(&hash)
    })
    .await;

    let refused = itu.node().attachment(&hash).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(
        itu.node().store().partial_blob_len(&hash).unwrap(),
        0,
        "the poisoned partial download is kept"
    );
    assert!(itu.node().store().blob(&hash).unwrap().is_none());

    peer.serve(Serving::Honest);
    itu.node().attachment(&hash).await.unwrap();
    assert_eq!(itu.node().store().blob(&hash).unwrap().unwrap(), annex);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_fetches_run_a_few_at_a_time() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ripe_key = IdentityKey::generate();
    let ripe = org("ripe-ncc");
    let annexes: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("annex {i} ").repeat(100).into_bytes())
        .collect();
    let refs = annexes
        .iter()
        .enumerate()
        .map(|(i, a)| attachment(&format!("annex-{i}.pdf"), a))
        .collect();
    let log = consultation_log(&ripe_key, &ripe, refs);
    let blobs: Vec<&[u8]> = annexes.iter().map(Vec::as_slice).collect();
    let peer = BlobPeer::new(ripe.clone(), log, &blobs, Serving::Slowly);
    let (endpoint, stop) = peer.start(&ripe_key, &[&itu]).await;
    itu.node()
        .add_peer(
            ripe.clone(),
            ripe_key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    let store = itu.node().store().clone();
    let hashes: Vec<Hash> = annexes.iter().map(|a| Hash::of(a)).collect();
    eventually("every annex fetched", || {
        hashes
            .iter()
            .all(|h| store.blob_size(h).ok().flatten().is_some())
    })
    .await;
    let most = peer.most_open.load(Ordering::SeqCst);
    assert!(
        (1..=comity_node::blobs::MAX_CONCURRENT_FETCHES).contains(&most),
        "{most} blob fetches ran at once"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_naming_too_many_attachments_is_refused() {
    let root = temp_root();
    let itu = TestNode::start_new(root.path(), "itu").await;
    let ripe_key = IdentityKey::generate();
    let ripe = org("ripe-ncc");
    let refs = (0..=comity_core::document::MAX_ATTACHMENTS)
        .map(|i| attachment(&format!("annex-{i}.pdf"), format!("annex {i}").as_bytes()))
        .collect();
    let log = consultation_log(&ripe_key, &ripe, refs);
    let peer = BlobPeer::new(ripe.clone(), log, &[], Serving::Honest);
    let (endpoint, stop) = peer.start(&ripe_key, &[&itu]).await;
    itu.node()
        .add_peer(
            ripe.clone(),
            ripe_key.public(),
            Some(endpoint.parse().unwrap()),
        )
        .unwrap();
    let node = itu.node().clone();
    eventually("the log is refused for its attachments", || {
        node.peer_table().views().iter().any(|p| {
            p.record.org == ripe
                && p.last_error
                    .as_deref()
                    .is_some_and(|e| e.contains("attachments"))
        })
    })
    .await;
    assert_eq!(itu.head_seq(&ripe), 0);
    assert_eq!(peer.asked(), vec![], "nothing of it is fetched");
    stop.cancel();
}

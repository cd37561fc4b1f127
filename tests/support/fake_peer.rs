//! The TLS side of a fake peer, for tests of how a node treats its peers.

use super::*;
use comity_core::{IdentityKey, OrgId};
use std::{sync::Arc, time::Duration};
use tokio::net::TcpListener;

/// The TLS side of a fake peer for tests of how a node treats its peers:
/// `org` with `key`, accepting only `victim`. Returns its endpoint and its
/// incoming connections, for a `FederationServer` or for raw bytes.
pub async fn fake_peer_tls(
    key: &IdentityKey,
    org: &OrgId,
    victim: &TestNode,
) -> (
    String,
    impl futures::Stream<
        Item = Result<
            impl tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static,
            std::io::Error,
        >,
    > + Send
    + 'static,
) {
    fake_peer_tls_for(key, org, &[victim]).await
}

/// As [`fake_peer_tls`], accepting every one of `victims`.
pub async fn fake_peer_tls_for(
    key: &IdentityKey,
    org: &OrgId,
    victims: &[&TestNode],
) -> (
    String,
    impl futures::Stream<
        Item = Result<
            impl tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static
            + use<>,
            std::io::Error,
        >,
    >
    + Send
    + 'static
    + use<>,
) {
    let identity = comity_tls::TlsIdentity::new(key, org).unwrap();
    let pins: std::collections::HashMap<_, _> = victims
        .iter()
        .map(|v| (v.public_key(), v.org.clone()))
        .collect();
    let identity = Arc::new(comity_tls::SharedIdentity::new(identity));
    let config = comity_tls::server_config(identity, Arc::new(pins)).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("https://{}", listener.local_addr().unwrap());
    let incoming = comity_tls::incoming(listener, config, Duration::from_secs(2));
    (endpoint, incoming)
}

/// A subscription's events, as a fake peer streams them.
pub type Events =
    tokio_stream::wrappers::ReceiverStream<Result<comity_proto::v1::SubscribeEvent, tonic::Status>>;
/// A blob's chunks, as a fake peer streams them.
pub type Chunks =
    tokio_stream::wrappers::ReceiverStream<Result<comity_proto::v1::BlobChunk, tonic::Status>>;

type OnSubscribe = Arc<
    dyn Fn(
            comity_proto::v1::SubscribeRequest,
        ) -> futures::future::BoxFuture<'static, Result<Events, tonic::Status>>
        + Send
        + Sync,
>;
type OnGetBlob =
    Arc<dyn Fn(comity_proto::v1::GetBlobRequest) -> Result<Chunks, tonic::Status> + Send + Sync>;

/// One configurable fake peer for the tests of how a node treats its peers
/// (hostile, refusing, relaying, serving attachments, of another version):
/// it advertises the heads and follows it is given in `Hello` and `Heads`,
/// says it follows the caller back, and answers `Subscribe` and `GetBlob`
/// with the closures it is given. By default it speaks this build's protocol
/// version, streams nothing, serves no attachments, takes no offers and
/// gossips no checkpoints.
#[derive(Clone)]
pub struct FakePeer {
    pub org: OrgId,
    heads: Vec<comity_proto::v1::Head>,
    follows: Vec<String>,
    on_subscribe: OnSubscribe,
    on_get_blob: OnGetBlob,
    max_encoding: Option<usize>,
    version: u32,
    offer_from_hello: Option<u32>,
    hellos: Arc<std::sync::atomic::AtomicU32>,
    offers: Arc<std::sync::Mutex<Vec<u32>>>,
    checkpoints_from_hello: Option<u32>,
    checkpoint_calls: Arc<std::sync::Mutex<Vec<u32>>>,
}

impl FakePeer {
    pub fn new(org: OrgId) -> Self {
        Self {
            org,
            heads: Vec::new(),
            follows: Vec::new(),
            on_subscribe: Arc::new(|_| {
                Box::pin(async { Err(tonic::Status::not_found("this peer streams nothing")) })
            }),
            on_get_blob: Arc::new(|_| Err(tonic::Status::not_found("no attachments"))),
            max_encoding: None,
            version: comity_proto::PROTOCOL_VERSION,
            offer_from_hello: None,
            hellos: Arc::default(),
            offers: Arc::default(),
            checkpoints_from_hello: None,
            checkpoint_calls: Arc::default(),
        }
    }

    /// The protocol version it answers `Hello` with.
    pub fn version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }

    /// Announces the "offer" capability from its `n`-th `Hello` on, and then
    /// takes offers (holding each open, acknowledging nothing).
    pub fn takes_offers_from_hello(mut self, n: u32) -> Self {
        self.offer_from_hello = Some(n);
        self
    }

    /// How many `Hello`s it has answered.
    pub fn hellos(&self) -> Arc<std::sync::atomic::AtomicU32> {
        self.hellos.clone()
    }

    /// For each `Offer` it received, how many `Hello`s it had answered then.
    pub fn offers(&self) -> Arc<std::sync::Mutex<Vec<u32>>> {
        self.offers.clone()
    }

    /// Announces the "checkpoints" capability from its `n`-th `Hello` on,
    /// and then answers `Checkpoints` (with none of its own).
    pub fn gossips_checkpoints_from_hello(mut self, n: u32) -> Self {
        self.checkpoints_from_hello = Some(n);
        self
    }

    /// For each `Checkpoints` or `Consistency` call it received, how many
    /// `Hello`s it had answered then.
    pub fn checkpoint_calls(&self) -> Arc<std::sync::Mutex<Vec<u32>>> {
        self.checkpoint_calls.clone()
    }

    /// Whether its `n`-th `Hello` announces checkpoints.
    fn announces_checkpoints(&self, n: u32) -> bool {
        self.checkpoints_from_hello.is_some_and(|from| n >= from)
    }

    /// Records a `Checkpoints` or `Consistency` call; whether it is answered.
    fn checkpoint_call(&self) -> bool {
        let hellos = self.hellos.load(std::sync::atomic::Ordering::SeqCst);
        self.checkpoint_calls.lock().unwrap().push(hellos);
        self.announces_checkpoints(hellos)
    }

    /// Whether its `n`-th `Hello` announces offers.
    fn announces_offers(&self, n: u32) -> bool {
        self.offer_from_hello.is_some_and(|from| n >= from)
    }

    /// The heads it advertises, in `Hello` and `Heads`.
    pub fn heads(mut self, heads: Vec<comity_proto::v1::Head>) -> Self {
        self.heads = heads;
        self
    }

    /// Claims to hold `origin` up to `seq` (with a made-up hash).
    pub fn claims(self, origin: &OrgId, seq: u64) -> Self {
        self.heads(vec![comity_proto::v1::Head {
            origin: origin.to_string(),
            seq,
            hash: vec![0; 32],
        }])
    }

    /// The origins it says it follows, in `Hello`.
    pub fn follows(mut self, origins: &[&OrgId]) -> Self {
        self.follows = origins.iter().map(ToString::to_string).collect();
        self
    }

    /// How it answers a subscription.
    pub fn on_subscribe<F, Fut>(mut self, answer: F) -> Self
    where
        F: Fn(comity_proto::v1::SubscribeRequest) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<Events, tonic::Status>> + Send + 'static,
    {
        self.on_subscribe = Arc::new(move |request| Box::pin(answer(request)));
        self
    }

    /// How it answers a request for a blob.
    pub fn on_get_blob(
        mut self,
        answer: impl Fn(comity_proto::v1::GetBlobRequest) -> Result<Chunks, tonic::Status>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.on_get_blob = Arc::new(answer);
        self
    }

    /// The largest message it sends (tonic's default is 4 MiB).
    pub fn max_encoding_message_size(mut self, bytes: usize) -> Self {
        self.max_encoding = Some(bytes);
        self
    }

    /// Serves as its org with `key` to `victims` until the token is cancelled.
    pub async fn start(
        self,
        key: &IdentityKey,
        victims: &[&TestNode],
    ) -> (String, tokio_util::sync::CancellationToken) {
        let (endpoint, incoming) = fake_peer_tls_for(key, &self.org, victims).await;
        let stop = tokio_util::sync::CancellationToken::new();
        self.serve(incoming, stop.clone());
        (endpoint, stop)
    }

    /// Serves on connections already accepted (see [`fake_peer_tls`]) until
    /// `stop` is cancelled.
    pub fn serve<IO>(
        self,
        incoming: impl futures::Stream<Item = Result<IO, std::io::Error>> + Send + 'static,
        stop: tokio_util::sync::CancellationToken,
    ) where
        IO: tokio::io::AsyncRead
            + tokio::io::AsyncWrite
            + tonic::transport::server::Connected
            + Unpin
            + Send
            + 'static,
    {
        let max = self.max_encoding;
        let mut service = comity_proto::v1::federation_server::FederationServer::new(self);
        if let Some(max) = max {
            service = service.max_encoding_message_size(max);
        }
        tokio::spawn(async move {
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
        });
    }
}

#[tonic::async_trait]
impl comity_proto::v1::federation_server::Federation for FakePeer {
    async fn hello(
        &self,
        _: tonic::Request<comity_proto::v1::HelloRequest>,
    ) -> Result<tonic::Response<comity_proto::v1::HelloResponse>, tonic::Status> {
        let n = self
            .hellos
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            + 1;
        let mut capabilities = vec!["subscribe".to_string(), "heartbeat".to_string()];
        if self.announces_offers(n) {
            capabilities.push("offer".into());
        }
        if self.announces_checkpoints(n) {
            capabilities.push("checkpoints".into());
        }
        Ok(tonic::Response::new(comity_proto::v1::HelloResponse {
            protocol_version: self.version,
            capabilities,
            org: self.org.to_string(),
            follows: self.follows.clone(),
            follows_you: true,
            heads: self.heads.clone(),
            ..Default::default()
        }))
    }

    async fn heads(
        &self,
        _: tonic::Request<comity_proto::v1::HeadsRequest>,
    ) -> Result<tonic::Response<comity_proto::v1::HeadsResponse>, tonic::Status> {
        Ok(tonic::Response::new(comity_proto::v1::HeadsResponse {
            heads: self.heads.clone(),
            ..Default::default()
        }))
    }

    type SubscribeStream = Events;

    async fn subscribe(
        &self,
        request: tonic::Request<comity_proto::v1::SubscribeRequest>,
    ) -> Result<tonic::Response<Events>, tonic::Status> {
        (self.on_subscribe)(request.into_inner())
            .await
            .map(tonic::Response::new)
    }

    type GetBlobStream = Chunks;

    async fn get_blob(
        &self,
        request: tonic::Request<comity_proto::v1::GetBlobRequest>,
    ) -> Result<tonic::Response<Chunks>, tonic::Status> {
        (self.on_get_blob)(request.into_inner()).map(tonic::Response::new)
    }

    /// Answers with no checkpoints of its own once it has announced the
    /// capability; records every call.
    async fn checkpoints(
        &self,
        _: tonic::Request<comity_proto::v1::CheckpointsRequest>,
    ) -> Result<tonic::Response<comity_proto::v1::CheckpointsResponse>, tonic::Status> {
        if !self.checkpoint_call() {
            return Err(tonic::Status::unimplemented("no checkpoints here"));
        }
        Ok(tonic::Response::new(
            comity_proto::v1::CheckpointsResponse::default(),
        ))
    }

    /// Proves nothing; records every call.
    async fn consistency(
        &self,
        _: tonic::Request<comity_proto::v1::ConsistencyRequest>,
    ) -> Result<tonic::Response<comity_proto::v1::ConsistencyResponse>, tonic::Status> {
        self.checkpoint_call();
        Err(tonic::Status::unimplemented("no consistency proofs here"))
    }

    type OfferStream = tokio_stream::wrappers::ReceiverStream<
        Result<comity_core::proto::OfferDown, tonic::Status>,
    >;

    /// Takes offers only once it has announced the capability; records when.
    async fn offer(
        &self,
        _: tonic::Request<tonic::Streaming<comity_core::proto::OfferUp>>,
    ) -> Result<tonic::Response<Self::OfferStream>, tonic::Status> {
        let hellos = self.hellos.load(std::sync::atomic::Ordering::SeqCst);
        self.offers.lock().unwrap().push(hellos);
        if !self.announces_offers(hellos) {
            return Err(tonic::Status::unimplemented(
                "this test peer takes no offers",
            ));
        }
        let (tx, rx) = tokio::sync::mpsc::channel(1);
        let _ = tx.try_send(Ok(comity_core::proto::OfferDown::default()));
        // Held open until the caller goes.
        tokio::spawn(async move { tx.closed().await });
        Ok(tonic::Response::new(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        ))
    }
}

/// Events sent by a task: `first`, then a heartbeat saying `head_seq` every
/// `every`, for as long as the subscriber listens.
pub fn then_heartbeats(
    first: Vec<comity_proto::v1::SubscribeEvent>,
    head_seq: u64,
    every: Duration,
) -> Events {
    use comity_proto::v1::{Heartbeat, SubscribeEvent, subscribe_event::Event};
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(async move {
        for event in first {
            if tx.send(Ok(event)).await.is_err() {
                return;
            }
        }
        let beat = || SubscribeEvent {
            event: Some(Event::Heartbeat(Heartbeat {
                head_seq,
                at: None,
                ..Default::default()
            })),
        };
        while tx.send(Ok(beat())).await.is_ok() {
            tokio::time::sleep(every).await;
        }
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

/// An entry as a subscription event.
pub fn entry_event(entry: comity_core::proto::Entry) -> comity_proto::v1::SubscribeEvent {
    comity_proto::v1::SubscribeEvent {
        event: Some(comity_proto::v1::subscribe_event::Event::Entry(entry)),
    }
}

/// Events sent by a task: `first`, then nothing, the stream kept open as a
/// live tail would be, for as long as the subscriber listens.
pub fn then_silence(first: Vec<comity_proto::v1::SubscribeEvent>) -> Events {
    let (tx, rx) = tokio::sync::mpsc::channel(first.len() + 1);
    for event in first {
        let _ = tx.try_send(Ok(event));
    }
    tokio::spawn(async move {
        tx.closed().await;
    });
    tokio_stream::wrappers::ReceiverStream::new(rx)
}

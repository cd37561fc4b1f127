//! The accepting side: a rustls server configuration that requires a pinned
//! client key, an accept loop that handshakes off the critical path, and
//! reading the caller's key inside a gRPC service.
//!
//! The accept loop bounds what strangers and peers can hold: handshakes in
//! progress (anyone can open a TCP connection) and connections per pinned
//! key ([`ServerLimits`]), each past its limit closed at once.

use std::{
    collections::HashMap,
    io,
    net::SocketAddr,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::{Duration, Instant},
};

use comity_core::PublicKey;
use rustls::{
    ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::{TcpListener, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, mpsc},
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Status, transport::server::Connected};
use tracing::{debug, info, warn};

use crate::{
    PinnedKeys, SharedIdentity, TlsError, key_of_certificate, provider,
    verify::PinnedClientVerifier,
};

/// Handshaken connections waiting for the gRPC server to pick them up.
const READY_QUEUE: usize = 64;
/// Pause after an accept error that is not about one connection (e.g. out of
/// file descriptors), so the loop does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(200);

/// A TLS 1.3 server configuration presenting the identity current in
/// `identity` and requiring a client certificate whose Ed25519 key `pins`
/// knows. Both are consulted on every handshake: after
/// [`SharedIdentity::replace`] (a key rotation) new connections get the new
/// certificate, and peers pinned or unpinned at runtime count at once.
///
/// ALPN is `h2`. Session resumption is off, so every connection presents its
/// certificate and meets the pins as they are at that moment.
pub fn server_config(
    identity: Arc<SharedIdentity>,
    pins: Arc<dyn PinnedKeys>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = provider();
    let verifier = PinnedClientVerifier::new(pins, provider.signature_verification_algorithms);
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_cert_resolver(Arc::new(CurrentIdentity(identity)));
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// Presents whatever identity is current, whatever the client asked for (no
/// SNI is sent, and names do not matter). The signing key was parsed when the
/// [`crate::TlsIdentity`] was made, so a handshake only takes a read lock and
/// clones an `Arc`.
#[derive(Debug)]
struct CurrentIdentity(Arc<SharedIdentity>);

impl ResolvesServerCert for CurrentIdentity {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.certified_key())
    }
}

/// What one server lets clients hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerLimits {
    /// How long a TLS handshake may take before the connection is dropped.
    pub handshake_timeout: Duration,
    /// Handshakes in progress at once. Anyone who can reach the port can
    /// start one; a connection past the limit is closed at once.
    pub max_pending_handshakes: usize,
    /// Connections one client key may hold open at once; a connection past
    /// the limit is closed right after its handshake.
    pub max_connections_per_peer: usize,
}

impl ServerLimits {
    /// The defaults: 128 handshakes in progress, 4 connections per peer.
    pub fn new(handshake_timeout: Duration) -> Self {
        Self {
            handshake_timeout,
            max_pending_handshakes: 128,
            max_connections_per_peer: 4,
        }
    }
}

/// Accepts TCP connections on `listener` and yields those whose TLS handshake
/// succeeds, for `tonic::transport::Server::serve_with_incoming[_shutdown]`,
/// with the default [`ServerLimits`].
///
/// Each handshake runs in its own task under `handshake_timeout`, so a slow or
/// silent client never holds up the others. Failed and timed-out handshakes
/// are logged (refusals by the verifiers at `info`, the rest at `debug`) and
/// dropped: the stream never yields `Err`, because tonic's accept loop stops
/// at the first one. The loop ends when the returned stream is dropped.
///
/// Must be called from within a Tokio runtime (it spawns the accept loop).
pub fn incoming(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    handshake_timeout: Duration,
) -> impl Stream<Item = Result<PeerConnection, io::Error>> + Send + 'static {
    incoming_with(listener, config, ServerLimits::new(handshake_timeout))
}

/// [`incoming`], with the given limits.
pub fn incoming_with(
    listener: TcpListener,
    config: Arc<ServerConfig>,
    limits: ServerLimits,
) -> impl Stream<Item = Result<PeerConnection, io::Error>> + Send + 'static {
    let (ready, receiver) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        limits,
        ready,
    ));
    ReceiverStream::new(receiver).map(Ok::<_, io::Error>)
}

/// Open connections per client key.
type PeerCounts = Arc<Mutex<HashMap<PublicKey, usize>>>;

/// A handshaken connection, counted against its client key's
/// [`ServerLimits::max_connections_per_peer`] until it is dropped.
pub struct PeerConnection {
    stream: TlsStream<TcpStream>,
    _slot: PeerSlot,
}

struct PeerSlot {
    counts: PeerCounts,
    key: PublicKey,
}

impl PeerSlot {
    /// A place for one more connection of `key`, if it has one left.
    fn take(counts: &PeerCounts, key: PublicKey, max: usize) -> Option<Self> {
        let mut map = counts.lock().unwrap_or_else(|e| e.into_inner());
        let open = map.entry(key).or_insert(0);
        if *open >= max {
            return None;
        }
        *open += 1;
        Some(Self {
            counts: counts.clone(),
            key,
        })
    }
}

impl Drop for PeerSlot {
    fn drop(&mut self) {
        let mut map = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(open) = map.get_mut(&self.key) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                map.remove(&self.key);
            }
        }
    }
}

impl AsyncRead for PeerConnection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for PeerConnection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The TLS connection's own information, so that `Request::peer_certs` (and
/// [`caller_key`]) work through the wrapper.
impl Connected for PeerConnection {
    type ConnectInfo = <TlsStream<TcpStream> as Connected>::ConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

/// Logs at `warn` at most once a minute, for refusals that come in floods.
#[derive(Default)]
struct Occasional(Option<Instant>);

impl Occasional {
    fn due(&mut self) -> bool {
        let due = self
            .0
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(60));
        if due {
            self.0 = Some(Instant::now());
        }
        due
    }
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    limits: ServerLimits,
    ready: mpsc::Sender<PeerConnection>,
) {
    let pending = Arc::new(Semaphore::new(limits.max_pending_handshakes.max(1)));
    let counts = PeerCounts::default();
    let mut warn_pending = Occasional::default();
    loop {
        let accepted = tokio::select! {
            () = ready.closed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                let Ok(permit) = pending.clone().try_acquire_owned() else {
                    if warn_pending.due() {
                        warn!(%peer, max = limits.max_pending_handshakes, "too many TLS handshakes in progress; closing new connections");
                    } else {
                        debug!(%peer, "too many TLS handshakes in progress; connection closed");
                    }
                    continue;
                };
                tokio::spawn(handshake(
                    tcp,
                    peer,
                    acceptor.clone(),
                    limits,
                    permit,
                    counts.clone(),
                    ready.clone(),
                ));
            }
            Err(e) if is_per_connection(&e) => {
                debug!(error = %e, "a connection failed before it was accepted");
            }
            Err(e) => {
                warn!(error = %e, "cannot accept connections; retrying shortly");
                tokio::select! {
                    () = ready.closed() => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    debug!("TLS accept loop stopped: the server dropped its incoming stream");
}

async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    limits: ServerLimits,
    pending: OwnedSemaphorePermit,
    counts: PeerCounts,
    ready: mpsc::Sender<PeerConnection>,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let handshake_timeout = limits.handshake_timeout;
    let outcome = tokio::select! {
        () = ready.closed() => return,
        outcome = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => outcome,
    };
    drop(pending);
    match outcome {
        Ok(Ok(stream)) => {
            // The verifier accepted exactly one pinned certificate.
            let key = stream
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|certs| certs.first())
                .and_then(|cert| key_of_certificate(cert).ok());
            let Some(key) = key else {
                info!(%peer, "refused a TLS connection without a usable client key");
                return;
            };
            let Some(slot) = PeerSlot::take(&counts, key, limits.max_connections_per_peer) else {
                info!(%peer, %key, max = limits.max_connections_per_peer, "refused a connection: this peer already holds as many as it may");
                return;
            };
            let connection = PeerConnection {
                stream,
                _slot: slot,
            };
            if ready.send(connection).await.is_err() {
                debug!(%peer, "server stopped; dropping a connection that had just handshaken");
            }
        }
        Ok(Err(e)) => {
            let refused_by_tls = e.get_ref().is_some_and(|inner| inner.is::<rustls::Error>());
            if refused_by_tls {
                info!(%peer, error = %e, "refused a TLS connection");
            } else {
                debug!(%peer, error = %e, "TLS handshake failed");
            }
        }
        Err(_) => {
            debug!(%peer, timeout = ?handshake_timeout, "TLS handshake timed out; connection dropped");
        }
    }
}

/// Accept errors that concern one connection only (the next accept may succeed).
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// The calling peer's Ed25519 key, from the client certificate of the TLS
/// connection the request arrived on.
///
/// The key is the caller's identity; map it to an organisation with
/// [`PinnedKeys::org_for`]. Works for servers fed by [`incoming`]; fails with
/// `unauthenticated` for a request without a verified client certificate.
pub fn caller_key<T>(request: &Request<T>) -> Result<PublicKey, Status> {
    let certs = request.peer_certs().ok_or_else(|| {
        Status::unauthenticated(
            "no client certificate on this connection: peers must connect over mutual TLS \
             with their pinned Ed25519 key (serve with comity_tls::incoming)",
        )
    })?;
    let [cert] = certs.as_slice() else {
        return Err(Status::unauthenticated(format!(
            "expected exactly one client certificate, got {}",
            certs.len()
        )));
    };
    key_of_certificate(cert)
        .map_err(|e| Status::unauthenticated(format!("unusable client certificate: {e}")))
}

//! The accepting side: a rustls server configuration that requires a pinned
//! client key, an accept loop that handshakes off the critical path, and
//! reading the caller's key inside a gRPC service.

use std::{io, net::SocketAddr, sync::Arc, time::Duration};

use comity_core::PublicKey;
use rustls::{
    ServerConfig,
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::{TlsAcceptor, server::TlsStream};
use tokio_stream::{Stream, StreamExt, wrappers::ReceiverStream};
use tonic::{Request, Status};
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

/// Accepts TCP connections on `listener` and yields those whose TLS handshake
/// succeeds, for `tonic::transport::Server::serve_with_incoming[_shutdown]`.
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
) -> impl Stream<Item = Result<TlsStream<TcpStream>, io::Error>> + Send + 'static {
    let (ready, receiver) = mpsc::channel(READY_QUEUE);
    tokio::spawn(accept_loop(
        listener,
        TlsAcceptor::from(config),
        handshake_timeout,
        ready,
    ));
    ReceiverStream::new(receiver).map(Ok::<_, io::Error>)
}

async fn accept_loop(
    listener: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    ready: mpsc::Sender<TlsStream<TcpStream>>,
) {
    loop {
        let accepted = tokio::select! {
            () = ready.closed() => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((tcp, peer)) => {
                tokio::spawn(handshake(
                    tcp,
                    peer,
                    acceptor.clone(),
                    handshake_timeout,
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
    handshake_timeout: Duration,
    ready: mpsc::Sender<TlsStream<TcpStream>>,
) {
    if let Err(e) = tcp.set_nodelay(true) {
        debug!(%peer, error = %e, "cannot set TCP_NODELAY");
    }
    let outcome = tokio::select! {
        () = ready.closed() => return,
        outcome = tokio::time::timeout(handshake_timeout, acceptor.accept(tcp)) => outcome,
    };
    match outcome {
        Ok(Ok(stream)) => {
            if ready.send(stream).await.is_err() {
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

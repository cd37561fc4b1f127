//! End-to-end pinning: a tonic server fed by `incoming`, serving gRPC health
//! behind an interceptor that records `caller_key`, and clients made with
//! `client_config` + `connect`, all on 127.0.0.1. Also key rotation: the
//! server's `SharedIdentity` is replaced while it runs.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{Arc, Mutex, RwLock},
    time::{Duration, Instant},
};

use comity_core::{IdentityKey, OrgId, PublicKey};
use comity_tls::{
    PinnedKeys, ServerLimits, SharedIdentity, TlsError, TlsIdentity, caller_key, client_config,
    connect, incoming_with, server_config,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use time::OffsetDateTime;
use tokio::{net::TcpListener, sync::oneshot};
use tonic::{
    Request, Status,
    service::interceptor::InterceptedService,
    transport::{Channel, Server},
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn key_pair(key: &IdentityKey) -> KeyPair {
    KeyPair::try_from(key.to_pkcs8_der().unwrap()).unwrap()
}

/// Pins that can change at runtime and remember which keys they were asked about.
#[derive(Debug, Default)]
struct RecordingPins {
    table: RwLock<HashMap<PublicKey, OrgId>>,
    asked: Mutex<Vec<PublicKey>>,
}

impl PinnedKeys for RecordingPins {
    fn org_for(&self, key: &PublicKey) -> Option<OrgId> {
        self.asked.lock().unwrap().push(*key);
        self.table.read().unwrap().get(key).cloned()
    }
}

impl RecordingPins {
    fn pin(&self, key: PublicKey, org_id: &str) {
        self.table.write().unwrap().insert(key, org(org_id));
    }

    fn asked(&self) -> Vec<PublicKey> {
        self.asked.lock().unwrap().clone()
    }
}

struct TestServer {
    addr: SocketAddr,
    /// The key the server started with.
    key: PublicKey,
    /// The server's identity, replaceable while it runs.
    identity: Arc<SharedIdentity>,
    pins: Arc<RecordingPins>,
    /// Every caller key the interceptor saw, in order.
    seen: Arc<Mutex<Vec<PublicKey>>>,
    _shutdown: oneshot::Sender<()>,
}

impl TestServer {
    async fn start(pinned: &[(PublicKey, &str)], handshake_timeout: Duration) -> Self {
        Self::start_with(pinned, ServerLimits::new(handshake_timeout)).await
    }

    async fn start_with(pinned: &[(PublicKey, &str)], limits: ServerLimits) -> Self {
        let key = IdentityKey::generate();
        let identity = Arc::new(SharedIdentity::new(
            TlsIdentity::new(&key, &org("server-org")).unwrap(),
        ));
        let pins = Arc::new(RecordingPins::default());
        for (pinned_key, org_id) in pinned {
            pins.pin(*pinned_key, org_id);
        }
        let config = server_config(identity.clone(), pins.clone() as Arc<dyn PinnedKeys>).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();

        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = {
            let seen = seen.clone();
            move |request: Request<()>| -> Result<Request<()>, Status> {
                let key = caller_key(&request)?;
                seen.lock().unwrap().push(key);
                Ok(request)
            }
        };
        let (_reporter, health) = tonic_health::server::health_reporter();
        let (shutdown, stop) = oneshot::channel::<()>();
        let server = Server::builder()
            .add_service(InterceptedService::new(health, record))
            .serve_with_incoming_shutdown(incoming_with(listener, config, limits), async move {
                let _ = stop.await;
            });
        tokio::spawn(async move { server.await.unwrap() });

        Self {
            addr,
            key: key.public(),
            identity,
            pins,
            seen,
            _shutdown: shutdown,
        }
    }

    fn endpoint(&self) -> String {
        format!("https://{}", self.addr)
    }

    fn seen(&self) -> Vec<PublicKey> {
        self.seen.lock().unwrap().clone()
    }
}

async fn health_check(channel: Channel) -> Result<ServingStatus, Status> {
    let response = HealthClient::new(channel)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;
    Ok(response.into_inner().status())
}

/// Connects as `identity`, expecting the server to hold `server_key`, and
/// makes one health check. Any failure, at connect or at the first RPC, is
/// an `Err` describing where it happened.
async fn first_rpc(
    server: &TestServer,
    identity: &TlsIdentity,
    server_key: PublicKey,
) -> Result<ServingStatus, String> {
    let config = client_config(identity, server_key).map_err(|e| format!("config: {e}"))?;
    let channel = connect(&server.endpoint(), config, CONNECT_TIMEOUT)
        .await
        .map_err(|e| format!("connect: {e}"))?;
    health_check(channel).await.map_err(|s| format!("rpc: {s}"))
}

#[tokio::test]
async fn pinned_client_is_served_and_identified_by_its_key() {
    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    // The name in the certificate is irrelevant: the key is the identity.
    let identity = TlsIdentity::new(&client_key, &org("whatever-name")).unwrap();

    let status = first_rpc(&server, &identity, server.key).await.unwrap();
    assert_eq!(status, ServingStatus::Serving);

    assert_eq!(server.seen(), vec![client_key.public()]);
    assert_eq!(server.pins.org_for(&server.seen()[0]), Some(org("ietf")));

    // Also through a bare `host:port` endpoint, on a second connection.
    let config = client_config(&identity, server.key).unwrap();
    let channel = connect(&server.addr.to_string(), config, CONNECT_TIMEOUT)
        .await
        .unwrap();
    assert_eq!(health_check(channel).await.unwrap(), ServingStatus::Serving);
    assert_eq!(server.seen(), vec![client_key.public(); 2]);
}

#[tokio::test]
async fn unpinned_client_is_refused_and_the_server_keeps_serving() {
    let pinned = IdentityKey::generate();
    let stranger = IdentityKey::generate();
    let server = TestServer::start(&[(pinned.public(), "ietf")], HANDSHAKE_TIMEOUT).await;

    // Same org name as the pinned peer: names must not help.
    let stranger_identity = TlsIdentity::new(&stranger, &org("ietf")).unwrap();
    let outcome = first_rpc(&server, &stranger_identity, server.key).await;
    assert!(outcome.is_err(), "unpinned client was served: {outcome:?}");
    assert!(server.seen().is_empty());
    assert_eq!(server.pins.asked(), vec![stranger.public()]);

    // The refused handshake did not stop the accept loop.
    let pinned_identity = TlsIdentity::new(&pinned, &org("ietf")).unwrap();
    let status = first_rpc(&server, &pinned_identity, server.key)
        .await
        .unwrap();
    assert_eq!(status, ServingStatus::Serving);
    assert_eq!(server.seen(), vec![pinned.public()]);

    // Pinning the stranger at runtime lets its next connection in.
    server.pins.pin(stranger.public(), "newcomer");
    let status = first_rpc(&server, &stranger_identity, server.key)
        .await
        .unwrap();
    assert_eq!(status, ServingStatus::Serving);
    assert_eq!(server.seen(), vec![pinned.public(), stranger.public()]);
}

#[tokio::test]
async fn certificate_issued_by_a_pinned_peer_for_another_key_is_refused() {
    // The trap: P is pinned. P makes itself a CA certificate and issues a
    // certificate for a fresh key, naming another organisation.
    let p_key = IdentityKey::generate();
    let server = TestServer::start(&[(p_key.public(), "p-org")], HANDSHAKE_TIMEOUT).await;

    let mut ca_params = CertificateParams::new(vec!["p-org".to_owned()]).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "p-org");
    let issuer = Issuer::new(ca_params, key_pair(&p_key));

    let fresh_key = IdentityKey::generate();
    let mut forged_params = CertificateParams::new(vec!["victim-org".to_owned()]).unwrap();
    forged_params
        .distinguished_name
        .push(DnType::CommonName, "victim-org");
    let forged = forged_params
        .signed_by(&key_pair(&fresh_key), &issuer)
        .unwrap();
    let forged_identity = TlsIdentity::from_certificate(forged.der().clone(), &fresh_key).unwrap();

    let outcome = first_rpc(&server, &forged_identity, server.key).await;
    assert!(
        outcome.is_err(),
        "issued certificate was accepted: {outcome:?}"
    );
    assert!(server.seen().is_empty());
    // It was judged by its own key, which is not pinned, never by its issuer.
    assert_eq!(server.pins.asked(), vec![fresh_key.public()]);
}

#[tokio::test]
async fn client_refuses_a_server_with_another_key() {
    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    let identity = TlsIdentity::new(&client_key, &org("ietf")).unwrap();

    let expected = IdentityKey::generate().public();
    let config = client_config(&identity, expected).unwrap();
    let err = connect(&server.endpoint(), config, CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Handshake { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&server.key.to_string()), "{message}");
    assert!(message.contains(&expected.to_string()), "{message}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn expired_or_not_yet_valid_certificate_with_a_pinned_key_is_refused() {
    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    let now = OffsetDateTime::now_utc();

    for (from, to) in [
        (time::Duration::days(-30), time::Duration::days(-1)),
        (time::Duration::days(1), time::Duration::days(30)),
    ] {
        let mut params = CertificateParams::new(vec!["ietf".to_owned()]).unwrap();
        params.not_before = now + from;
        params.not_after = now + to;
        let cert = params.self_signed(&key_pair(&client_key)).unwrap();
        let identity = TlsIdentity::from_certificate(cert.der().clone(), &client_key).unwrap();

        let outcome = first_rpc(&server, &identity, server.key).await;
        assert!(
            outcome.is_err(),
            "certificate valid {from} .. {to} from now was accepted: {outcome:?}"
        );
    }
    assert!(server.seen().is_empty());

    // The same key with a current certificate is fine.
    let identity = TlsIdentity::new(&client_key, &org("ietf")).unwrap();
    assert_eq!(
        first_rpc(&server, &identity, server.key).await.unwrap(),
        ServingStatus::Serving
    );
}

#[tokio::test]
async fn silent_clients_do_not_block_others_and_are_dropped_after_the_timeout() {
    let handshake_timeout = Duration::from_secs(2);
    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], handshake_timeout).await;

    // Open TCP connections that never say a word.
    let opened = Instant::now();
    let mut silent = Vec::new();
    for _ in 0..3 {
        silent.push(tokio::net::TcpStream::connect(server.addr).await.unwrap());
    }

    let identity = TlsIdentity::new(&client_key, &org("ietf")).unwrap();
    assert_eq!(
        first_rpc(&server, &identity, server.key).await.unwrap(),
        ServingStatus::Serving
    );
    assert!(
        opened.elapsed() < handshake_timeout,
        "the good client was only served after {:?}",
        opened.elapsed()
    );
    // The silent connections are all still open (nothing to read, no EOF).
    let mut buf = [0u8; 16];
    for stream in &silent {
        let err = stream.try_read(&mut buf).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::WouldBlock);
    }

    // ... until the handshake timeout, when the server drops them.
    for stream in &silent {
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                stream.readable().await.unwrap();
                match stream.try_read(&mut buf) {
                    Ok(n) => return Ok(n),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                }
            }
        })
        .await
        .expect("the server never dropped a silent connection");
        // EOF or a reset, and nothing was ever sent to us.
        assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");
    }
    let waited = opened.elapsed();
    assert!(
        waited >= handshake_timeout - Duration::from_millis(100),
        "silent connections dropped after {waited:?}, before the {handshake_timeout:?} timeout"
    );
}

#[tokio::test]
async fn tls12_client_is_refused_even_with_a_pinned_key() {
    #[derive(Debug)]
    struct AcceptAnything;
    impl rustls::client::danger::ServerCertVerifier for AcceptAnything {
        fn verify_server_cert(
            &self,
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &[rustls_pki_types::CertificateDer<'_>],
            _: &rustls_pki_types::ServerName<'_>,
            _: &[u8],
            _: rustls_pki_types::UnixTime,
        ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &rustls_pki_types::CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
            Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            vec![rustls::SignatureScheme::ED25519]
        }
    }

    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    let identity = TlsIdentity::new(&client_key, &org("ietf")).unwrap();
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_protocol_versions(&[&rustls::version::TLS12])
    .unwrap()
    .dangerous()
    .with_custom_certificate_verifier(Arc::new(AcceptAnything))
    .with_client_auth_cert(
        vec![identity.certificate().clone()],
        rustls_pki_types::PrivatePkcs8KeyDer::from(client_key.to_pkcs8_der().unwrap()).into(),
    )
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec()];

    let outcome = match connect(&server.endpoint(), Arc::new(config), CONNECT_TIMEOUT).await {
        Ok(channel) => health_check(channel).await.map_err(|s| s.to_string()),
        Err(e) => Err(e.to_string()),
    };
    assert!(outcome.is_err(), "TLS 1.2 client was served: {outcome:?}");
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn rotated_server_key_is_presented_to_new_connections_without_a_restart() {
    let client_key = IdentityKey::generate();
    let server = TestServer::start(&[(client_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    let client = TlsIdentity::new(&client_key, &org("ietf")).unwrap();
    let k1 = server.key;
    assert_eq!(server.identity.current().public_key(), k1);

    // Before rotation: a client pinned to K1 is served.
    assert_eq!(
        first_rpc(&server, &client, k1).await.unwrap(),
        ServingStatus::Serving
    );

    // `comity key rotate`: same organisation, new key K2, same running server.
    let k2_key = IdentityKey::generate();
    let k2 = k2_key.public();
    server
        .identity
        .replace(TlsIdentity::new(&k2_key, &org("server-org")).unwrap());
    assert_eq!(server.identity.current().public_key(), k2);

    // A client still expecting K1 is refused, and told which key it met.
    let config = client_config(&client, k1).unwrap();
    let err = connect(&server.endpoint(), config, CONNECT_TIMEOUT)
        .await
        .unwrap_err();
    assert!(matches!(err, TlsError::Handshake { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&k2.to_string()), "{message}");
    assert!(message.contains(&k1.to_string()), "{message}");
    // ... as a key a caller can act on (issue 12: connect provisionally).
    assert_eq!(err.presented_other_key(), Some(k2));
    // A provisional client accepts the new key (and checks the handshake).
    let provisional = comity_tls::client_config_provisional(&client).unwrap();
    connect(&server.endpoint(), provisional, CONNECT_TIMEOUT)
        .await
        .unwrap();

    // A client expecting K2 is served by the same server.
    assert_eq!(
        first_rpc(&server, &client, k2).await.unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(server.seen(), vec![client_key.public(); 2]);
}

#[tokio::test]
async fn clients_built_after_a_rotation_present_the_new_key() {
    let old_key = IdentityKey::generate();
    let new_key = IdentityKey::generate();
    // The server knows the client organisation only by its new key.
    let server = TestServer::start(&[(new_key.public(), "ietf")], HANDSHAKE_TIMEOUT).await;
    let shared = SharedIdentity::new(TlsIdentity::new(&old_key, &org("ietf")).unwrap());

    let outcome = first_rpc(&server, &shared.current(), server.key).await;
    assert!(outcome.is_err(), "old client key was served: {outcome:?}");

    shared.replace(TlsIdentity::new(&new_key, &org("ietf")).unwrap());
    assert_eq!(
        first_rpc(&server, &shared.current(), server.key)
            .await
            .unwrap(),
        ServingStatus::Serving
    );
    assert_eq!(server.seen(), vec![new_key.public()]);
    assert_eq!(
        server.pins.asked(),
        vec![old_key.public(), new_key.public()]
    );
}

/// Waits up to 30 s for the server to close `stream` (EOF or a reset)
/// without sending anything.
async fn closed_by_server(stream: &tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; 16];
    tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            if stream.readable().await.is_err() {
                return true;
            }
            match stream.try_read(&mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                Ok(0) | Err(_) => return true,
                Ok(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false)
}

/// Issue 10, item 8: handshakes in progress are bounded. Past the limit, a
/// connection is closed at once; once the pending ones end, clients get in.
#[tokio::test]
async fn handshakes_past_the_limit_are_closed_at_once() {
    let client_key = IdentityKey::generate();
    let limits = ServerLimits {
        max_pending_handshakes: 2,
        ..ServerLimits::new(Duration::from_secs(60))
    };
    let server = TestServer::start_with(&[(client_key.public(), "ietf")], limits).await;

    // Two silent connections take both places, for up to a minute.
    let silent = [
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
        tokio::net::TcpStream::connect(server.addr).await.unwrap(),
    ];
    let identity = TlsIdentity::new(&client_key, &org("ietf")).unwrap();
    // A third connection is closed at once, not kept waiting for a minute.
    let started = Instant::now();
    let third = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    assert!(closed_by_server(&third).await);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{:?}",
        started.elapsed()
    );
    let refused = first_rpc(&server, &identity, server.key).await;
    assert!(refused.is_err(), "{refused:?}");
    // The silent ones go; their places free up.
    drop(silent);
    let start = Instant::now();
    loop {
        if first_rpc(&server, &identity, server.key).await.is_ok() {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "never served again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Issue 10, item 8: one client key may hold only so many connections; past
/// the limit a connection is closed right after its handshake. Other keys
/// are not affected, and a closed connection frees its place.
#[tokio::test]
async fn connections_past_the_per_peer_limit_are_closed() {
    let greedy = IdentityKey::generate();
    let other = IdentityKey::generate();
    let limits = ServerLimits {
        max_connections_per_peer: 2,
        ..ServerLimits::new(HANDSHAKE_TIMEOUT)
    };
    let server = TestServer::start_with(
        &[(greedy.public(), "greedy"), (other.public(), "other")],
        limits,
    )
    .await;
    let greedy_identity = TlsIdentity::new(&greedy, &org("greedy")).unwrap();
    let open = || async {
        let config = client_config(&greedy_identity, server.key).unwrap();
        let channel = connect(&server.endpoint(), config, CONNECT_TIMEOUT)
            .await
            .map_err(|e| e.to_string())?;
        health_check(channel.clone())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(channel)
    };
    let first = open().await.unwrap();
    let second = open().await.unwrap();
    let third = open().await;
    assert!(third.is_err(), "a third connection was served");
    // Another peer is served meanwhile.
    let other_identity = TlsIdentity::new(&other, &org("other")).unwrap();
    assert_eq!(
        first_rpc(&server, &other_identity, server.key)
            .await
            .unwrap(),
        ServingStatus::Serving
    );
    // The first two still work.
    assert!(health_check(first.clone()).await.is_ok());
    assert!(health_check(second.clone()).await.is_ok());
    // Closing one lets a new one in.
    drop(first);
    let start = Instant::now();
    while open().await.is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the place was never freed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(second);
}

//! The dialling side: a rustls client configuration pinned to one server key,
//! and a tonic channel that does its own TCP and TLS.

use std::{
    sync::{Arc, Mutex, PoisonError},
    time::Duration,
};

use comity_core::PublicKey;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::{TlsConnector, client::TlsStream};
use tonic::transport::{Channel, Endpoint};

use crate::{TlsError, TlsIdentity, provider, verify::PinnedServerVerifier};

/// HTTP/2 PING interval on idle and busy connections alike, so a dead peer
/// (or a middlebox that silently dropped the connection) is noticed.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(60);
/// How long a keep-alive PING may go unanswered before the connection is closed.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// The server name used in every handshake. Peers are identified by key, so
/// the name is a placeholder from a reserved TLD, and SNI is not sent.
const SERVER_NAME: &str = "comity.invalid";

/// A TLS 1.3 client configuration presenting `identity` and accepting only a
/// server whose certificate carries exactly `server_key` (any name).
///
/// Make one per peer. ALPN is `h2`; SNI and session resumption are off, so
/// every connection checks the server's certificate.
pub fn client_config(
    identity: &TlsIdentity,
    server_key: PublicKey,
) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier =
        PinnedServerVerifier::new(server_key, provider.signature_verification_algorithms);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.enable_sni = false;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

/// As [`client_config`], but accepting whatever key the server presents,
/// provisionally: for a partner whose pinned key may have been rotated
/// while this node could not see it. Nothing learnt on such a connection
/// may be trusted until the server has proven, from the pinned key, that
/// its key is the one it rotated to (the rotations its `Hello` carries);
/// then connect again with [`client_config`] and that key.
pub fn client_config_provisional(identity: &TlsIdentity) -> Result<Arc<ClientConfig>, TlsError> {
    let provider = provider();
    let verifier = PinnedServerVerifier::provisional(provider.signature_verification_algorithms);
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(TlsError::Config)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![identity.certificate().clone()], identity.private_key())
        .map_err(TlsError::Config)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    config.enable_sni = false;
    config.resumption = rustls::client::Resumption::disabled();
    Ok(Arc::new(config))
}

impl TlsError {
    /// The key the server presented, when the connection failed because it
    /// was not the key expected (a partner that rotated its key, perhaps).
    pub fn presented_other_key(&self) -> Option<PublicKey> {
        crate::verify::presented_other_key(self)
    }
}

/// Where to dial, parsed from `https://host:port` or `host:port`.
#[derive(Debug, Clone)]
struct Target {
    /// For the TCP connect (IPv6 literals without brackets).
    host: String,
    port: u16,
    /// `host:port` as written in a URI (IPv6 literals in brackets).
    authority: String,
}

impl Target {
    fn parse(endpoint: &str) -> Result<Self, TlsError> {
        let invalid = |reason: &str| TlsError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason: reason.to_owned(),
        };
        let trimmed = endpoint.trim();
        let uri: http::Uri = if trimmed.contains("://") {
            trimmed.parse()
        } else {
            format!("https://{trimmed}").parse()
        }
        .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;

        if uri.scheme_str() != Some("https") {
            return Err(invalid(
                "the scheme must be https: node-to-node traffic is always mutual TLS",
            ));
        }
        let authority = uri.authority().ok_or_else(|| invalid("there is no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid("user information is not allowed"));
        }
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(invalid("a peer endpoint has no path or query"));
        }
        let uri_host = authority.host();
        let host = uri_host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(invalid("there is no host"));
        }
        let port = authority.port_u16().unwrap_or(443);
        Ok(Self {
            host: host.to_owned(),
            port,
            authority: format!("{uri_host}:{port}"),
        })
    }
}

/// TCP connect (with TCP_NODELAY) and TLS handshake, within `timeout`.
async fn dial(
    target: &Target,
    tls: &TlsConnector,
    timeout: Duration,
) -> Result<TlsStream<TcpStream>, TlsError> {
    let endpoint = || target.authority.clone();
    let attempt = async {
        let tcp = TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|source| TlsError::Connect {
                endpoint: endpoint(),
                source,
            })?;
        tcp.set_nodelay(true).map_err(|source| TlsError::Connect {
            endpoint: endpoint(),
            source,
        })?;
        tls.connect(server_name(), tcp)
            .await
            .map_err(|source| TlsError::Handshake {
                endpoint: endpoint(),
                source,
            })
    };
    tokio::time::timeout(timeout, attempt)
        .await
        .map_err(|_| TlsError::ConnectTimeout {
            endpoint: endpoint(),
            after: timeout,
        })?
}

fn server_name() -> ServerName<'static> {
    // The literal is a valid DNS name (a unit test checks it); the fallback
    // only avoids a panic path, and would work too since names are ignored.
    ServerName::try_from(SERVER_NAME).unwrap_or(ServerName::IpAddress(
        std::net::Ipv4Addr::UNSPECIFIED.into(),
    ))
}

/// Connects to the peer at `endpoint` (`https://host:port` or `host:port`) with
/// mutual TLS per `config`, and returns a gRPC channel.
///
/// The first connection is made now, so an unreachable peer or a server with
/// the wrong key is reported here. Note that a server which refuses *our* key
/// is only noticed on the first RPC (in TLS 1.3 the client finishes its side of
/// the handshake before the server checks the client certificate).
///
/// Later reconnections dial again, each TCP connect plus handshake bounded by
/// `connect_timeout`. HTTP/2 keep-alive pings every [`KEEPALIVE_INTERVAL`],
/// also while idle, and drops the connection after [`KEEPALIVE_TIMEOUT`]
/// without an answer.
pub async fn connect(
    endpoint: &str,
    config: Arc<ClientConfig>,
    connect_timeout: Duration,
) -> Result<Channel, TlsError> {
    let target = Target::parse(endpoint)?;
    let tls = TlsConnector::from(config);
    let first = dial(&target, &tls, connect_timeout).await?;

    // tonic dials through the connector; its first call gets the connection
    // made above, so the errors of that first dial keep their precise type.
    let ready = Arc::new(Mutex::new(Some(first)));
    let connector = {
        let target = target.clone();
        tower::service_fn(move |_: http::Uri| {
            let established = ready.lock().unwrap_or_else(PoisonError::into_inner).take();
            let target = target.clone();
            let tls = tls.clone();
            async move {
                let stream = match established {
                    Some(stream) => stream,
                    None => dial(&target, &tls, connect_timeout).await?,
                };
                Ok::<_, TlsError>(TokioIo::new(stream))
            }
        })
    };

    let uri = format!("http://{}", target.authority);
    let endpoint_error = |source| TlsError::Channel {
        endpoint: target.authority.clone(),
        source,
    };
    let channel = Endpoint::from_shared(uri)
        .map_err(endpoint_error)?
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .tcp_nodelay(true);
    tokio::time::timeout(connect_timeout, channel.connect_with_connector(connector))
        .await
        .map_err(|_| TlsError::ConnectTimeout {
            endpoint: target.authority.clone(),
            after: connect_timeout,
        })?
        .map_err(endpoint_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<(String, u16, String), TlsError> {
        Target::parse(s).map(|t| (t.host, t.port, t.authority))
    }

    #[test]
    fn endpoints_with_and_without_scheme() {
        let expect = |h: &str, p, a: &str| Ok::<_, ()>((h.to_owned(), p, a.to_owned()));
        assert_eq!(
            parse("https://node.ietf.org:7443").map_err(drop),
            expect("node.ietf.org", 7443, "node.ietf.org:7443")
        );
        assert_eq!(
            parse("127.0.0.1:9000").map_err(drop),
            expect("127.0.0.1", 9000, "127.0.0.1:9000")
        );
        assert_eq!(
            parse("https://node.ietf.org/").map_err(drop),
            expect("node.ietf.org", 443, "node.ietf.org:443")
        );
        assert_eq!(
            parse("[::1]:9000").map_err(drop),
            expect("::1", 9000, "[::1]:9000")
        );
    }

    #[test]
    fn bad_endpoints_are_explained() {
        for bad in [
            "http://node.ietf.org:7443",
            "https://node.ietf.org:7443/path",
            "https://user@node.ietf.org:7443",
            "",
            "https://",
            "node ietf",
        ] {
            let err = parse(bad).unwrap_err();
            assert!(
                matches!(err, TlsError::InvalidEndpoint { .. }),
                "{bad:?}: {err}"
            );
        }
        let err = parse("http://node.ietf.org:7443").unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }

    #[test]
    fn the_placeholder_server_name_is_a_dns_name() {
        assert!(matches!(server_name(), ServerName::DnsName(n) if n.as_ref() == SERVER_NAME));
    }
}

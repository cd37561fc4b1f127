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

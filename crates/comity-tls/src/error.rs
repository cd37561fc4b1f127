//! One error type for the crate, one variant per failure.

use std::time::Duration;

use comity_core::{KeyError, OrgId, PublicKey};

/// Everything that can go wrong in `comity-tls`.
///
/// Keys are boxed to keep the error small (a `PublicKey` is a few hundred bytes).
///
/// The verifier variants ([`TlsError::NotPinned`], [`TlsError::UnexpectedServerKey`],
/// [`TlsError::ChainNotAllowed`], [`TlsError::NotSelfSigned`], ...) also travel
/// inside rustls errors, so a failed handshake (`TlsError::Handshake`) or a
/// server log line says why the peer was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The identity key could not be written as PKCS#8 for the TLS libraries.
    #[error("cannot encode the identity key as PKCS#8 for TLS: {0}")]
    KeyEncoding(#[source] KeyError),

    /// rcgen refused to build or sign the node's certificate.
    #[error("cannot create the self-signed TLS certificate for {org}: {source}")]
    CertificateGeneration {
        org: OrgId,
        #[source]
        source: rcgen::Error,
    },

    /// A certificate given to [`crate::TlsIdentity::from_certificate`] is for another key.
    #[error(
        "the certificate is for key {certificate}, but the identity key is {identity}: \
         use the certificate made for this identity key, or create a new one"
    )]
    CertificateKeyMismatch {
        certificate: Box<PublicKey>,
        identity: Box<PublicKey>,
    },

    /// The bytes are not one DER-encoded X.509 certificate.
    #[error("cannot parse the certificate as X.509 DER: {0}")]
    CertificateParse(String),

    /// The certificate's key is not Ed25519 (Comity identities are Ed25519 keys).
    #[error(
        "the certificate's key uses algorithm {algorithm}, but Comity peers must use \
         their Ed25519 identity key (OID 1.3.101.112) in their certificate"
    )]
    NotEd25519 { algorithm: String },

    /// The certificate's Ed25519 key bytes are malformed.
    #[error("the certificate's Ed25519 key is invalid: {0}")]
    InvalidPublicKey(#[source] KeyError),

    /// The peer sent a chain instead of one self-signed certificate.
    #[error(
        "the peer sent {count} certificate(s) after its own: Comity peers present exactly \
         one self-signed certificate and no chain (there is no CA)"
    )]
    ChainNotAllowed { count: usize },

    /// The certificate is not signed by its own key (e.g. issued by another party).
    #[error(
        "the certificate for key {key} is not self-signed by that key: Comity peers use a \
         certificate self-signed with their identity key, never one issued by someone else"
    )]
    NotSelfSigned { key: Box<PublicKey> },

    /// Server side: a client presented a key that no pinned peer has.
    #[error(
        "the client's key {key} is not pinned on this node: if you trust this organisation, \
         add it as a peer with this key"
    )]
    NotPinned { key: Box<PublicKey> },

    /// Client side: the server is not the peer we pinned (impersonation, or a rotated key).
    #[error(
        "the server presented key {presented}, but this peer is pinned to {expected}: \
         check the endpoint, or update the pinned key if the peer really rotated it"
    )]
    UnexpectedServerKey {
        expected: Box<PublicKey>,
        presented: Box<PublicKey>,
    },

    /// The peer tried to sign with a TLS 1.2 handshake; only TLS 1.3 is spoken.
    #[error("the peer attempted TLS 1.2: Comity nodes speak TLS 1.3 only; upgrade the peer")]
    Tls12Refused,

    /// The identity key could not be loaded as a TLS signing key for its certificate.
    #[error("cannot use the identity key to sign TLS handshakes with its certificate: {0}")]
    SigningKey(#[source] rustls::Error),

    /// rustls refused the configuration (e.g. the key does not match the certificate).
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[source] rustls::Error),

    /// The endpoint string is not `https://host:port` or `host:port`.
    #[error("invalid peer endpoint {endpoint:?}: {reason} (write it as https://host:port)")]
    InvalidEndpoint { endpoint: String, reason: String },

    /// The TCP connection could not be opened.
    #[error(
        "cannot open a TCP connection to {endpoint}: {source} (is the peer's node running and reachable?)"
    )]
    Connect {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },

    /// The TLS handshake failed; the source says why (e.g. an unexpected server key).
    #[error("TLS handshake with {endpoint} failed: {source}")]
    Handshake {
        endpoint: String,
        #[source]
        source: std::io::Error,
    },

    /// Connecting (TCP, TLS, HTTP/2) took longer than allowed.
    #[error(
        "connecting to {endpoint} took longer than {after:?}: the peer or the network is slow or down"
    )]
    ConnectTimeout { endpoint: String, after: Duration },

    /// The HTTP/2 channel could not be set up over an established TLS stream.
    #[error("cannot set up the gRPC channel to {endpoint}: {source}")]
    Channel {
        endpoint: String,
        #[source]
        source: tonic::transport::Error,
    },
}

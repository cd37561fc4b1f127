//! # comity-tls
//!
//! Node-to-node transport security for Comity: mutual TLS 1.3 for tonic, with
//! pinned Ed25519 keys and no certificate authority.
//!
//! Each organisation's identity is its Ed25519 key (`comity_core::IdentityKey`);
//! its node presents a certificate self-signed with that key
//! ([`TlsIdentity`]). Peers pin the *public key*, not a certificate or a name:
//!
//! - [`server_config`] presents the node's current identity from a
//!   [`SharedIdentity`] (so a rotated key is shown to new connections without a
//!   restart) and requires a client certificate whose key a [`PinnedKeys`]
//!   knows, asked on every handshake so peers added at runtime count at once; [`incoming`] feeds handshaken connections to
//!   `tonic::transport::Server::serve_with_incoming[_shutdown]`, under
//!   [`ServerLimits`] (handshakes in progress, connections per peer), and
//!   [`caller_key`] tells a service who is calling.
//! - [`client_config`] accepts only a server certificate with exactly the
//!   expected key; [`connect`] returns a tonic `Channel` over it. Build one per
//!   connection from [`SharedIdentity::current`], so a rotated key is used.
//!
//! ## Why this crate owns TLS, rather than tonic's TLS options
//!
//! tonic's `client_ca_root` / `ca_certificate` would make every pinned peer
//! certificate a trust anchor, and trust anchors are not checked for CA
//! status: any pinned peer could then issue a certificate naming another
//! organisation and have it accepted. So this crate installs its own rustls
//! verifiers, which accept exactly one certificate, with no chain, that is
//! self-signed by its own Ed25519 key, inside its validity window, and whose
//! key is pinned; names in the certificate are ignored, and the TLS 1.3
//! handshake signature is still verified. It also does its own accept loop
//! (handshakes in their own tasks, failures logged and dropped, never passed
//! to tonic, whose accept loop would stop) and its own dialling.
//!
//! ## Choices
//!
//! - rustls with the *ring* provider only, passed explicitly
//!   (`builder_with_provider`): with two providers compiled in, rustls's
//!   default builders panic.
//! - TLS 1.3 only; ALPN `h2`; Ed25519 handshake signatures only.
//! - No session resumption, so every connection shows its certificate and
//!   meets the pins as they are at that moment.
//! - Callers are identified by key only ([`caller_key`]), never by a name.

mod client;
mod error;
mod identity;
mod server;
mod verify;

use std::sync::Arc;

pub use client::{
    KEEPALIVE_INTERVAL, KEEPALIVE_TIMEOUT, client_config, client_config_provisional, connect,
};
pub use error::TlsError;
pub use identity::{SharedIdentity, TlsIdentity, key_of_certificate};
pub use server::{
    PeerConnection, ServerLimits, caller_key, incoming, incoming_with, server_config,
};
pub use verify::PinnedKeys;

/// The one crypto provider this crate uses.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

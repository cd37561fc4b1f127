//! What two nodes agree on before anything else: the protocol version and
//! capabilities they announce in `Hello`, where a partner is dialled (an
//! [`Endpoint`], as the configuration and the CLI take it), and the client
//! every call to a partner goes through.

use comity_core::proto::federation_client::FederationClient;
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use tonic::transport::Channel;

pub use comity_proto::PROTOCOL_VERSION;

/// The capability of taking a dial-out node's log over `Offer`.
pub const OFFER: &str = "offer";

/// The capability of gossiping signed checkpoints and proving consistency
/// between them (`Checkpoints`, `Consistency`; `crate::checkpoints`).
pub const CHECKPOINTS: &str = "checkpoints";

/// Capabilities this build announces in `Hello`.
pub const CAPABILITIES: &[&str] = &["subscribe", "heartbeat", "redaction", OFFER, CHECKPOINTS];

/// Whether a peer's `Hello` lists `capability`: a node never asks a peer
/// for what it does not announce.
pub fn has_capability(announced: &[String], capability: &str) -> bool {
    announced.iter().any(|c| c == capability)
}

/// A peer speaks another protocol version than this build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "protocol version mismatch: this node speaks comity protocol version {ours}, the peer \
     speaks version {theirs}; upgrade the older of the two"
)]
pub struct VersionMismatch {
    pub ours: u32,
    pub theirs: u32,
}

/// Checks a peer's protocol version against this build's.
pub fn check_version(theirs: u32) -> Result<(), VersionMismatch> {
    if theirs == PROTOCOL_VERSION {
        Ok(())
    } else {
        Err(VersionMismatch {
            ours: PROTOCOL_VERSION,
            theirs,
        })
    }
}

/// The capabilities, as `Hello` carries them.
pub fn capabilities() -> Vec<String> {
    CAPABILITIES.iter().map(|c| c.to_string()).collect()
}

/// Where partners dial a node: `https://host:port`, as an operator writes it
/// (in `comity.toml`, `comity init --endpoint`, `comity peer add --endpoint`).
/// Checked when it is read, so a typo is refused where it is made.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Endpoint(String);

/// An endpoint that is not `https://host:port`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("endpoint {0:?} must look like https://host:port")]
pub struct EndpointError(pub String);

impl Endpoint {
    /// The default endpoint of a node listening on `listen`.
    pub fn for_listener(listen: std::net::SocketAddr) -> Self {
        Self(format!("https://{listen}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || EndpointError(text.to_string());
        let rest = text.strip_prefix("https://").ok_or_else(bad)?;
        match rest.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0) => {
                Ok(Self(text.to_string()))
            }
            _ => Err(bad()),
        }
    }
}

impl TryFrom<String> for Endpoint {
    type Error = EndpointError;

    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Endpoint> for String {
    fn from(endpoint: Endpoint) -> Self {
        endpoint.0
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client of a partner's `Federation` service over `channel`, with this
/// node's message size limit both ways.
pub fn federation_client(channel: Channel, max_message_bytes: usize) -> FederationClient<Channel> {
    FederationClient::new(channel)
        .max_decoding_message_size(max_message_bytes)
        .max_encoding_message_size(max_message_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_other_than_ours_are_refused_naming_both() {
        assert!(check_version(PROTOCOL_VERSION).is_ok());
        let err = check_version(PROTOCOL_VERSION + 1).unwrap_err().to_string();
        assert!(
            err.contains(&format!("version {PROTOCOL_VERSION}"))
                && err.contains(&format!("version {}", PROTOCOL_VERSION + 1)),
            "{err}"
        );
    }

    #[test]
    fn endpoints_are_https_host_port() {
        for good in ["https://127.0.0.1:7400", "https://comity.example.org:1"] {
            assert_eq!(good.parse::<Endpoint>().unwrap().as_str(), good);
        }
        for bad in [
            "http://127.0.0.1:7400",
            "https://:7400",
            "https://host",
            "https://host:0",
            "https://host:99999",
            "ftp://x",
        ] {
            let err = bad.parse::<Endpoint>().unwrap_err();
            assert!(err.to_string().contains("https://host:port"), "{err}");
        }
    }
}

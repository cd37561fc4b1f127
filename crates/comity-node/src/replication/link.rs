//! The link task of one peer with an endpoint: it keeps a mutual-TLS
//! channel open (reconnecting with capped exponential backoff and jitter,
//! reset on success), checks that the key pinned for an organisation
//! answers as that organisation, and polls the peer's `Heads` while some
//! followed origin is out of direct reach. Every link also offers this
//! node's own log ([`super::offer`]) to a peer that announces the
//! capability: the node may be behind NAT whether it listens or not.

use super::{
    backoff::{backoff, pause},
    offer,
};
use crate::{node::Node, protocol, rotations};
use comity_core::{OrgId, PublicKey, proto};
use proto::{HeadsRequest, HelloRequest};
use std::{sync::Arc, time::Duration};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// A link's `Heads` polls that bring nothing new back off up to this many
/// poll periods.
const MAX_POLL_BACKOFF: u32 = 8;

/// Why a connection to a peer did not come up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// No TCP or TLS connection (refused, timed out, the wrong key).
    #[error(transparent)]
    Tls(#[from] comity_tls::TlsError),
    #[error("no answer to Hello")]
    HelloTimeout,
    /// The peer answered `Hello` with an error (`permission_denied` when it
    /// no longer pins this node).
    #[error("refused: {}", .0.message())]
    Refused(tonic::Status),
    #[error("the key pinned for {org} answered as {answered:?}")]
    WrongOrg { org: OrgId, answered: String },
    #[error(transparent)]
    Version(#[from] protocol::VersionMismatch),
    /// The certificate shows another key, and the rotations do not prove it.
    #[error(transparent)]
    Rotation(#[from] crate::rotations::RotationError),
}

/// Connects to `org` at `endpoint`, expecting `key`, and says `Hello`.
/// When the certificate shows another key (the partner rotated while this
/// node could not see it), connects provisionally, has the partner's
/// rotations verified from `key` (`crate::rotations`), and connects again,
/// strictly, to the key they prove.
pub(crate) async fn connect(
    node: &Node,
    org: &OrgId,
    endpoint: &str,
    key: PublicKey,
) -> Result<(Channel, proto::HelloResponse), ConnectError> {
    let timeout = Duration::from_secs(node.config().limits.connect_timeout_secs.max(1));
    let config = comity_tls::client_config(&node.tls_identity(), key)?;
    let error = match comity_tls::connect(endpoint, config, timeout).await {
        Ok(channel) => return hello(node, org, channel, false, timeout).await,
        Err(error) => error,
    };
    let Some(presented) = error.presented_other_key() else {
        return Err(error.into());
    };
    // Provisional: nothing on this connection is trusted but the rotations,
    // and those only once they verify from the pinned key.
    let config = comity_tls::client_config_provisional(&node.tls_identity())?;
    let channel = comity_tls::connect(endpoint, config, timeout).await?;
    let (_, answer) = hello(node, org, channel, true, timeout).await?;
    let proven = rotations::proven_key(org, key, presented, &answer.rotations)?;
    tracing::info!(pinned = %key, %proven, "the peer rotated its key; its rotations verify from the pinned key");
    let config = comity_tls::client_config(&node.tls_identity(), proven)?;
    let channel = comity_tls::connect(endpoint, config, timeout).await?;
    hello(node, org, channel, false, timeout).await
}

/// Says `Hello` on `channel` and checks the answer: the organisation pinned,
/// our protocol version.
async fn hello(
    node: &Node,
    org: &OrgId,
    channel: Channel,
    want_rotations: bool,
    timeout: Duration,
) -> Result<(Channel, proto::HelloResponse), ConnectError> {
    // A provisional server is not known yet: tell it nothing it could use.
    let follows = match want_rotations {
        true => Vec::new(),
        false => node.follows().iter().map(ToString::to_string).collect(),
    };
    let hello = HelloRequest {
        protocol_version: protocol::PROTOCOL_VERSION,
        capabilities: protocol::capabilities(),
        follows,
        want_rotations,
    };
    let mut client =
        protocol::federation_client(channel.clone(), node.config().limits.max_message_bytes);
    let response = tokio::time::timeout(timeout, client.hello(hello))
        .await
        .map_err(|_| ConnectError::HelloTimeout)?
        .map_err(|status| {
            if status.code() == tonic::Code::PermissionDenied {
                node.peer_table().note_refused_us(org);
            }
            ConnectError::Refused(status)
        })?
        .into_inner();
    if response.org != org.as_str() {
        return Err(ConnectError::WrongOrg {
            org: org.clone(),
            answered: response.org,
        });
    }
    protocol::check_version(response.protocol_version)?;
    Ok((channel, response))
}

/// Keeps a channel to one peer and polls its heads. With several
/// endpoints (replicas of the peer's node), a failed connect or a
/// connection that ends moves it to the next one: it fails over.
pub(super) async fn link(
    node: Arc<Node>,
    org: OrgId,
    endpoints: Vec<String>,
    key: PublicKey,
    cancel: CancellationToken,
    reconnect: Arc<Notify>,
) {
    let mut delays = backoff(node.config().replication.backoff_max());
    let poll = node.config().replication.heads_poll();
    let deadline = node.config().replication.call_deadline();
    let dial_out = node.config().dial_out_only();
    let mut at = 0usize;
    while !cancel.is_cancelled() {
        let Some(endpoint) = endpoints.get(at % endpoints.len().max(1)).cloned() else {
            return;
        };
        // The next attempt, after this one fails or its connection ends,
        // dials the next endpoint.
        at = at.wrapping_add(1);
        // Read the pin on every attempt: the peer may have rotated its key.
        let key = node.pins().key_of(&org).unwrap_or(key);
        match connect(&node, &org, &endpoint, key).await {
            Ok((channel, hello)) => {
                tracing::info!(%endpoint, "connected");
                node.peer_table()
                    .set_connected(&org, channel.clone(), &hello);
                // Every link this node opened carries its own log, to a
                // peer that takes offers: listening or not, this node may be
                // behind NAT, and then this connection is the only way its
                // partner reaches it directly. The partner takes the log
                // from the offer and does not also pull it while it lasts.
                let offers = protocol::has_capability(&hello.capabilities, protocol::OFFER);
                if dial_out && !offers {
                    tracing::warn!(
                        "the peer does not take offers (an older build): our log reaches it \
                         only through relays"
                    );
                }
                // An offering link counts as up only once it has held a
                // while: a peer that refuses the offer at once must not be
                // asked again at the shortest delay for ever.
                let connected_at = tokio::time::Instant::now();
                if !offers {
                    delays = backoff(node.config().replication.backoff_max());
                }
                let mut offering =
                    offers.then(|| Box::pin(offer::offer(&node, &org, channel.clone(), &cancel)));
                // Checkpoint gossip rides on this connection, and ends with
                // it; only with a peer that announces the capability.
                let connection = cancel.child_token();
                let _gossip = connection.clone().drop_guard();
                if protocol::has_capability(&hello.capabilities, protocol::CHECKPOINTS) {
                    tokio::spawn(tracing::Instrument::in_current_span(super::gossip::gossip(
                        node.clone(),
                        org.clone(),
                        channel.clone(),
                        connection,
                    )));
                }
                let mut client =
                    protocol::federation_client(channel, node.config().limits.max_message_bytes);
                // Polls only while some followed origin is out of direct
                // reach, asks only about those, and backs off while the
                // answers bring nothing new: in a mesh of N nodes every one
                // of the N links of every node polls.
                let mut every = poll;
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => return,
                        _ = reconnect.notified() => break,
                        ended = async {
                            match offering.as_mut() {
                                Some(offer) => offer.await,
                                None => std::future::pending().await,
                            }
                        }, if offering.is_some() => {
                            offering = None;
                            match ended {
                                Ok(()) => return,
                                Err(error) => {
                                    tracing::info!(%error, "offer ended");
                                    node.peer_table().mark_failed(&org, error.to_string());
                                    break;
                                }
                            }
                        }
                        _ = tokio::time::sleep(every) => {}
                    }
                    let out_of_reach = node.peer_table().out_of_reach();
                    if out_of_reach.is_empty() {
                        // Every origin is reachable itself: what others hold
                        // of it does not matter (its heartbeats carry its head).
                        every = poll;
                        continue;
                    }
                    let request = HeadsRequest {
                        origins: out_of_reach.iter().map(ToString::to_string).collect(),
                    };
                    // A peer that never answers is a dead link, not a wait.
                    let answer = tokio::time::timeout(deadline, client.heads(request))
                        .await
                        .unwrap_or_else(|_| {
                            Err(tonic::Status::deadline_exceeded(format!(
                                "no answer in {}s",
                                deadline.as_secs()
                            )))
                        });
                    match answer {
                        Ok(heads) => {
                            let heads = heads.into_inner();
                            let news = node.peer_table().record_heads(&org, &heads.heads);
                            if !heads.checkpoints.is_empty()
                                && let Err(error) = node.absorb_notes(&org, heads.checkpoints).await
                            {
                                tracing::warn!(%error, "checking checkpoints in heads failed");
                            }
                            every = if news {
                                poll
                            } else {
                                every
                                    .saturating_mul(2)
                                    .min(poll.saturating_mul(MAX_POLL_BACKOFF))
                            };
                        }
                        Err(status) => {
                            node.peer_table()
                                .mark_failed(&org, format!("heads: {}", status.message()));
                            break;
                        }
                    }
                }
                if connected_at.elapsed() >= deadline {
                    delays = backoff(node.config().replication.backoff_max());
                }
            }
            Err(error) => {
                tracing::debug!(%endpoint, %error, "connect failed");
                node.peer_table().mark_failed(&org, error.to_string());
            }
        }
        let delay = delays.next().unwrap_or(Duration::from_secs(1));
        if !pause(&cancel, delay).await {
            return;
        }
    }
}

//! Starting and stopping a node: the federation server (mutual TLS), the
//! local API (Unix socket, and optionally loopback TCP behind API tokens),
//! all with gRPC health and reflection (v1 and v1alpha), and the peer tasks.
//! One cancellation token stops them all, in order.

use crate::{
    error::NodeError, federation::FederationService, local_api::LocalApi, node::Node,
    replication::Replicator,
};
use comity_proto::v1::{federation_server::FederationServer, node_server::NodeServer};
use std::{
    net::SocketAddr,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::{sync::CancellationToken, task::TaskTracker};
use tonic::transport::Server;

/// How long shutdown waits for servers and peer tasks before giving up on them.
const GRACE: Duration = Duration::from_secs(10);

/// Largest request on the local API: attachments travel inline, so room for
/// a few of the largest this node accepts. Only the node's owner can connect.
const LOCAL_API_MAX_MESSAGE: usize = 256 * 1024 * 1024;

type ServerTask = JoinHandle<Result<(), tonic::transport::Error>>;

/// A started node. Dropping it without [`RunningNode::shutdown`] leaves its
/// tasks to the runtime; call `shutdown` for a clean stop.
pub struct RunningNode {
    node: Arc<Node>,
    /// None for a node that only dials out (`[network] listen = "off"`).
    federation_addr: Option<SocketAddr>,
    socket: Option<PathBuf>,
    /// The local API's loopback TCP listener (`[local_api] tcp`), if any.
    local_api_tcp: Option<SocketAddr>,
    servers: Vec<ServerTask>,
    /// The streams the servers answer with.
    streams: TaskTracker,
    replicator: Replicator,
    /// The search indexer (`crate::search`); none when search is off.
    indexer: Option<JoinHandle<()>>,
    shutdown: CancellationToken,
}

/// A layer that counts every gRPC request into the node's counters.
type GrpcRequest = http::Request<tonic::body::Body>;
fn count_requests(
    node: Arc<Node>,
) -> tower::util::MapRequestLayer<impl FnMut(GrpcRequest) -> GrpcRequest + Clone> {
    tower::util::MapRequestLayer::new(move |request: GrpcRequest| {
        node.counters()
            .grpc_requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        request
    })
}

/// Reflection v1, which grpcurl and current tools speak.
fn reflection() -> Result<
    tonic_reflection::server::v1::ServerReflectionServer<
        impl tonic_reflection::server::v1::ServerReflection,
    >,
    NodeError,
> {
    reflection_builder()
        .build_v1()
        .map_err(|e| NodeError::Internal(format!("reflection: {e}")))
}

/// Reflection v1alpha, the only one Python's `grpcio-reflection` client and
/// many older tools speak.
fn reflection_v1alpha() -> Result<
    tonic_reflection::server::v1alpha::ServerReflectionServer<
        impl tonic_reflection::server::v1alpha::ServerReflection,
    >,
    NodeError,
> {
    reflection_builder()
        .build_v1alpha()
        .map_err(|e| NodeError::Internal(format!("reflection: {e}")))
}

fn reflection_builder() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(comity_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
}

/// The services of the local API, on the socket and on loopback TCP alike.
async fn local_services(
    node: &Arc<Node>,
    streams: &TaskTracker,
) -> Result<
    (
        tonic_health::pb::health_server::HealthServer<impl tonic_health::pb::health_server::Health>,
        tonic_reflection::server::v1::ServerReflectionServer<
            impl tonic_reflection::server::v1::ServerReflection,
        >,
        tonic_reflection::server::v1alpha::ServerReflectionServer<
            impl tonic_reflection::server::v1alpha::ServerReflection,
        >,
        NodeServer<LocalApi>,
    ),
    NodeError,
> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<NodeServer<LocalApi>>().await;
    Ok((
        health_service,
        reflection()?,
        reflection_v1alpha()?,
        NodeServer::new(LocalApi::new(node.clone(), streams.clone()))
            .max_decoding_message_size(LOCAL_API_MAX_MESSAGE),
    ))
}

/// Binds the local API socket, replacing a stale one, readable by the owner only.
fn bind_socket(path: &Path) -> Result<tokio::net::UnixListener, NodeError> {
    let io = |e: std::io::Error| NodeError::Internal(format!("{}: {e}", path.display()));
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(NodeError::InvalidArgument(format!(
                "a node is already running on {}",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(io)?;
    }
    let listener = tokio::net::UnixListener::bind(path).map_err(io)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    Ok(listener)
}

impl RunningNode {
    /// Starts serving on `federation` (already bound, so tests can use port 0)
    /// and, when given, the local API on `socket`.
    pub async fn start(
        node: Arc<Node>,
        federation: TcpListener,
        socket: Option<PathBuf>,
    ) -> Result<Self, NodeError> {
        Self::start_with(node, Some(federation), socket).await
    }

    /// As [`Self::start`]; with no `federation` listener the node opens no
    /// listening socket at all and only dials out (`[network] listen =
    /// "off"`), offering its own log to the partners it dials.
    pub async fn start_with(
        node: Arc<Node>,
        federation: Option<TcpListener>,
        socket: Option<PathBuf>,
    ) -> Result<Self, NodeError> {
        Self::start_all(node, federation, socket, None).await
    }

    /// As [`Self::start_with`], and serves the local API on `local_tcp` too
    /// (already bound to a loopback address, `[local_api] tcp`), to clients
    /// with an API token ([`crate::api_auth`]).
    pub async fn start_all(
        node: Arc<Node>,
        federation: Option<TcpListener>,
        socket: Option<PathBuf>,
        local_tcp: Option<TcpListener>,
    ) -> Result<Self, NodeError> {
        let federation_addr = federation
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
            .map_err(|e| NodeError::Internal(format!("listener: {e}")))?;
        // A node that must first recover its own log publishes its profile
        // only after that (`crate::recovery`).
        let recovering = node.begin_recovery();
        if !recovering {
            node.publish_profile_if_changed().await?;
        }
        let shutdown = CancellationToken::new();
        // The index opens before anything is served, so searches answer at once.
        let indexer = node.start_search(shutdown.child_token()).await?;
        let streams = TaskTracker::new();
        let mut servers = Vec::new();
        if let Some(federation) = federation {
            servers.push(Self::serve_federation(&node, federation, &streams, &shutdown).await?);
        }

        if let Some(path) = &socket {
            let listener = bind_socket(path)?;
            let incoming = tokio_stream::wrappers::UnixListenerStream::new(listener);
            let (health, reflection, reflection_v1alpha, api) =
                local_services(&node, &streams).await?;
            let stop = shutdown.clone();
            let router = Server::builder()
                .layer(count_requests(node.clone()))
                .add_service(health)
                .add_service(reflection)
                .add_service(reflection_v1alpha)
                .add_service(api);
            servers.push(tokio::spawn(async move {
                router
                    .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                    .await
            }));
        }
        let local_api_tcp = match local_tcp {
            Some(listener) => {
                let addr = listener
                    .local_addr()
                    .map_err(|e| NodeError::Internal(format!("local API listener: {e}")))?;
                let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
                let (health, reflection, reflection_v1alpha, api) =
                    local_services(&node, &streams).await?;
                let stop = shutdown.clone();
                let router = Server::builder()
                    .layer(count_requests(node.clone()))
                    .layer(crate::api_auth::TokenLayer::new(node.api_tokens().cloned()))
                    .add_service(health)
                    .add_service(reflection)
                    .add_service(reflection_v1alpha)
                    .add_service(api);
                servers.push(tokio::spawn(async move {
                    router
                        .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                        .await
                }));
                tracing::info!(%addr, "local API serving on loopback TCP (API tokens)");
                Some(addr)
            }
            None => None,
        };

        let replicator = Replicator::start(node.clone(), shutdown.child_token());
        if recovering {
            replicator.spawn(crate::recovery::recover(
                node.clone(),
                shutdown.child_token(),
            ));
        }
        tracing::info!(
            org = %node.org(),
            listen = %federation_addr.map_or("off (dial-out only)".to_string(), |a| a.to_string()),
            endpoint = %node.config().endpoint(),
            peers = node.follows().len(),
            "node started"
        );
        Ok(Self {
            node,
            federation_addr,
            socket,
            local_api_tcp,
            servers,
            streams,
            replicator,
            indexer,
            shutdown,
        })
    }

    /// Serves the federation service (mutual TLS) on `federation`.
    async fn serve_federation(
        node: &Arc<Node>,
        federation: TcpListener,
        streams: &TaskTracker,
        shutdown: &CancellationToken,
    ) -> Result<ServerTask, NodeError> {
        let tls = comity_tls::server_config(node.shared_tls_identity(), node.pins())
            .map_err(|e| NodeError::Internal(format!("TLS: {e}")))?;
        let limits = &node.config().limits;
        let handshake = Duration::from_secs(limits.handshake_timeout_secs.max(1));
        let incoming = comity_tls::incoming_with(
            federation,
            tls,
            comity_tls::ServerLimits {
                handshake_timeout: handshake,
                max_pending_handshakes: limits.max_pending_handshakes,
                max_connections_per_peer: limits.max_connections_per_peer,
            },
        );
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_serving::<FederationServer<FederationService>>()
            .await;
        let federation_service = FederationServer::new(FederationService::new(
            node.clone(),
            streams.clone(),
            shutdown.clone(),
        ))
        .max_decoding_message_size(limits.max_message_bytes)
        .max_encoding_message_size(limits.max_message_bytes);
        let stop = shutdown.clone();
        let router = Server::builder()
            .layer(count_requests(node.clone()))
            .http2_keepalive_interval(Some(comity_tls::KEEPALIVE_INTERVAL))
            .http2_keepalive_timeout(Some(comity_tls::KEEPALIVE_TIMEOUT))
            .max_concurrent_streams(Some(limits.max_streams_per_connection))
            .add_service(health_service)
            .add_service(reflection()?)
            .add_service(reflection_v1alpha()?)
            .add_service(federation_service);
        Ok(tokio::spawn(async move {
            router
                .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
                .await
        }))
    }

    pub fn node(&self) -> &Arc<Node> {
        &self.node
    }

    /// Where the federation service listens; None for a dial-out-only node.
    pub fn federation_addr(&self) -> Option<SocketAddr> {
        self.federation_addr
    }

    /// Where the local API listens on loopback TCP, when it does.
    pub fn local_api_tcp_addr(&self) -> Option<SocketAddr> {
        self.local_api_tcp
    }

    /// Cancelled when the node shuts down: other servers (the dashboard) stop with it.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops servers, then peer tasks, then flushes the store, within a grace period.
    pub async fn shutdown(self) -> Result<(), NodeError> {
        self.shutdown.cancel();
        self.streams.close();
        let servers = futures::future::join_all(self.servers);
        if tokio::time::timeout(GRACE, servers).await.is_err() {
            tracing::warn!("servers did not stop within {GRACE:?}");
        }
        let streams = tokio::time::timeout(GRACE, self.streams.wait());
        let (streams, replication) = tokio::join!(streams, self.replicator.stop(GRACE));
        if streams.is_err() || !replication {
            tracing::warn!("peer tasks did not stop within {GRACE:?}");
        }
        if let Some(indexer) = self.indexer
            && tokio::time::timeout(GRACE, indexer).await.is_err()
        {
            tracing::warn!("the search indexer did not stop within {GRACE:?}");
        }
        self.node.close_search();
        if let Some(path) = &self.socket {
            let _ = std::fs::remove_file(path);
        }
        self.node.store().flush()?;
        tracing::info!(org = %self.node.org(), "node stopped");
        Ok(())
    }
}

//! # comity-daemon
//!
//! What `comity serve`, `comity demo` and the tests all run: one node with
//! its federation server and local API ([`RunningNode`]), the dashboard,
//! feeds, JSON API and metrics ([`comity_web::serve`]) and the notifier
//! ([`comity_notify::Notifier`]), under one cancellation token. It is a
//! crate of its own because it is the one place that knows all three; the
//! node knows neither HTML nor webhooks.
//!
//! The shape is mini-redis's server: bind every address first
//! ([`Listeners::bind`]: a taken port is one clear error and nothing is
//! left half-started), then run until a shutdown future resolves
//! ([`Daemon::start`], then [`Daemon::run`]), then drain: the token is cancelled, the dashboard and
//! the notifier get a grace period to finish what they are doing, and the
//! node stops last (its servers, then its peer tasks, then a store flush).

use comity_node::{Config, Node, NodeError, RunningNode};
use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};
use tokio::{net::TcpListener, task::JoinHandle};
use tokio_util::sync::CancellationToken;

/// How long the dashboard and the notifier get to finish after shutdown
/// before the node stops under them.
pub const GRACE: Duration = Duration::from_secs(10);

/// Why the daemon could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("cannot listen on {addr}: {source}")]
    Federation {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(
        "cannot listen on {addr} for the dashboard: {source} (set [http] listen in comity.toml, or enabled = false)"
    )]
    Dashboard {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error(transparent)]
    Notify(#[from] comity_notify::NotifyError),
    #[error(transparent)]
    Web(#[from] comity_web::WebError),
}

/// Everything the daemon listens on, bound before anything starts.
pub struct Listeners {
    /// The federation port (mutual TLS); none for a node that only dials
    /// out (`[network] listen = "off"`).
    pub federation: Option<TcpListener>,
    /// The dashboard's port; none when the dashboard is off.
    pub http: Option<TcpListener>,
    /// The local API's Unix socket; none for a node without one.
    pub socket: Option<PathBuf>,
}

impl Listeners {
    /// Binds the addresses of `config`: `listen` unless the node only dials
    /// out, and `[http] listen` when the dashboard is enabled.
    pub async fn bind(config: &Config, socket: Option<PathBuf>) -> Result<Self, DaemonError> {
        let federation = match config.dial_out_only() {
            true => None,
            false => Some(TcpListener::bind(config.listen).await.map_err(|source| {
                DaemonError::Federation {
                    addr: config.listen,
                    source,
                }
            })?),
        };
        let http = match config.http.enabled {
            true => Some(
                TcpListener::bind(config.http.listen)
                    .await
                    .map_err(|source| DaemonError::Dashboard {
                        addr: config.http.listen,
                        source,
                    })?,
            ),
            false => None,
        };
        Ok(Self {
            federation,
            http,
            socket,
        })
    }
}

/// A started daemon.
pub struct Daemon {
    running: RunningNode,
    http_addr: Option<SocketAddr>,
    web: Option<JoinHandle<Result<(), comity_web::WebError>>>,
    notifier: JoinHandle<()>,
}

impl Daemon {
    /// Starts the node on `listeners`, then the dashboard (when it has a
    /// listener) and the notifier beside it.
    pub async fn start(node: Arc<Node>, listeners: Listeners) -> Result<Self, DaemonError> {
        // The notifier is made first: a bad [notify] section is refused
        // before anything listens.
        let notifier = comity_notify::Notifier::new(node.clone())?;
        let running = RunningNode::start_with(node, listeners.federation, listeners.socket).await?;
        let stop = running.shutdown_token();
        let http_addr = match &listeners.http {
            Some(listener) => {
                Some(
                    listener
                        .local_addr()
                        .map_err(|source| DaemonError::Dashboard {
                            addr: running.node().config().http.listen,
                            source,
                        })?,
                )
            }
            None => None,
        };
        let web = listeners.http.map(|listener| {
            tokio::spawn(comity_web::serve(
                running.node().clone(),
                listener,
                stop.clone().cancelled_owned(),
            ))
        });
        let notifier = notifier.start(stop.cancelled_owned());
        Ok(Self {
            running,
            http_addr,
            web,
            notifier,
        })
    }

    /// Runs until `shutdown` resolves (or the token is cancelled), then
    /// drains ([`Self::shutdown`]).
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
        let token = self.shutdown_token();
        tokio::select! {
            () = shutdown => {}
            () = token.cancelled() => {}
        }
        self.shutdown().await
    }

    pub fn node(&self) -> &Arc<Node> {
        self.running.node()
    }

    /// Where the federation server listens; none for a dial-out-only node.
    pub fn federation_addr(&self) -> Option<SocketAddr> {
        self.running.federation_addr()
    }

    /// Where the dashboard listens, when it runs.
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http_addr
    }

    /// The one token: cancelling it stops everything.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.running.shutdown_token()
    }

    /// Cancels the token, gives the dashboard and the notifier [`GRACE`] to
    /// let go of the node, then stops the node.
    pub async fn shutdown(self) -> Result<(), DaemonError> {
        self.running.shutdown_token().cancel();
        let mut result = Ok(());
        if let Some(web) = self.web {
            match tokio::time::timeout(GRACE, web).await {
                Ok(Ok(Err(e))) => {
                    tracing::warn!(error = %e, "dashboard stopped with an error");
                    result = Err(e.into());
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "dashboard task failed"),
                Err(_) => tracing::warn!("dashboard did not stop within {GRACE:?}"),
                Ok(Ok(Ok(()))) => {}
            }
        }
        if tokio::time::timeout(GRACE, self.notifier).await.is_err() {
            tracing::warn!("notifier did not stop within {GRACE:?}");
        }
        self.running.shutdown().await?;
        result
    }
}

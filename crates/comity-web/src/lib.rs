//! # comity-web
//!
//! The HTTP side of a Comity node. Most people who use Comity never touch the
//! CLI: a secretariat or liaison officer opens a web page, sees what partners
//! opened for comment and what waits for their own organisation, and answers
//! from there. Feed readers, calendars and monitoring pick the same
//! information up from the feeds, the JSON API and the metrics.
//!
//! It is a crate of its own, over [`comity_node::Node`], so that the daemon
//! stays free of HTML, and so that `comity serve`, `comity demo` and the tests
//! all start the same server with [`serve`] (or drive [`router`] directly).
//!
//! ## Layout
//!
//! - [`router`] merges the dashboard with [`feeds`], [`api`] and [`metrics`],
//!   and counts every HTTP request into `node.counters().http_requests`;
//! - `pages`: the dashboard's read-only pages (federation, consultations,
//!   liaisons, attachments);
//! - `actions`: the write actions behind a login (publish, revise, respond,
//!   draft, approve, post, reply, acknowledge), every one checked for a CSRF
//!   token and for the account's role;
//! - `auth`: sessions, CSRF tokens and the login rate limit;
//! - `model`: who reads a page (`Ctx`) and the rows the pages hand the
//!   templates; it imports neither, so pages -> model <- templates;
//! - `edge`: the one NodeError -> HTTP status mapping, and the one way
//!   handlers run store work off the async workers;
//! - `templates`: the pages' HTML, checked at compile time by maud, with the
//!   stable element ids browser tests drive;
//! - `times`: "3 minutes ago" and dates in each language;
//! - `i18n`: the interface in the six UN languages, from Fluent catalogues in
//!   `locales/<lang>/`.
//!
//! ## Choices
//!
//! - Pages are rendered on the server and need no JavaScript; each is well
//!   under 100 KB with its one small stylesheet, for phones and slow links.
//!   Times are written in the reader's language and relative to now
//!   (`times`); one small script, where it runs, shows their exact instant
//!   in the reader's own time zone. Lists come in pages (`?page=`, `?per=`).
//! - Sessions are kept in the node's store too (see `auth`), under the hash
//!   of their id, so a restart logs nobody out; they are never replicated.
//! - `public_pages = true` shows public entries read-only to anyone;
//!   otherwise every dashboard page but the login page and the stylesheet
//!   redirects to `/login`. The feeds, API and metrics routers decide their
//!   own access.

pub mod api;
pub mod feeds;
pub mod metrics;

mod actions;
mod auth;
mod ctx;
mod edge;
mod i18n;
mod model;
mod pages;
mod templates;
mod times;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use comity_node::Node;
use std::{future::Future, sync::Arc, sync::atomic::Ordering};

pub use i18n::Lang;

/// What can stop the HTTP server.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("HTTP server: {0}")]
    Io(#[from] std::io::Error),
}

/// Everything a handler needs: the node, and the dashboard's own state.
#[derive(Clone)]
pub(crate) struct AppState {
    pub node: Arc<Node>,
    pub sessions: Arc<auth::Sessions>,
    pub limiter: Arc<auth::RateLimiter>,
}

/// The whole HTTP side: dashboard, feeds, API and metrics, with the request
/// counter. Tests drive it with `tower::ServiceExt::oneshot`.
pub fn router(node: Arc<Node>) -> Router {
    let state = AppState {
        node: node.clone(),
        sessions: Arc::new(auth::Sessions::stored(
            node.store().clone(),
            node.now().unix_timestamp(),
        )),
        limiter: Arc::new(auth::RateLimiter::default()),
    };
    let api = api::router(node.clone())
        .route_layer(middleware::from_fn_with_state(state.clone(), ctx::api_gate));
    Router::new()
        .merge(pages::router(state))
        .merge(feeds::router(node.clone()))
        .merge(api)
        .merge(api::openapi_router(node.clone()))
        .merge(
            metrics::router(node.clone()).route_layer(middleware::from_fn_with_state(
                node.clone(),
                ctx::metrics_gate,
            )),
        )
        .layer(middleware::from_fn_with_state(node, count_requests))
}

async fn count_requests(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    node.counters()
        .http_requests
        .fetch_add(1, Ordering::Relaxed);
    next.run(request).await
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish. Client addresses are kept for the login rate
/// limit.
///
/// HTTP/1.1 only (browsers and reverse proxies speak it; neither uses
/// cleartext HTTP/2). A client has `http.header_read_timeout_secs` to send a
/// request's headers, whole, and an idle connection is closed after as long,
/// so silent or slow clients hold nothing for long. At most
/// `http.max_connections` are served at once; a connection past that is
/// closed as soon as it is accepted (counted in
/// `comity_http_connections_refused_total`) rather than left to wait.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let addr = listener.local_addr()?;
    let http = node.config().http.clone();
    tracing::info!(org = %node.org(), %addr, "dashboard serving");
    let app = router(node.clone());
    let max = http.max_connections.clamp(1, MAX_CONNECTIONS);
    let permits = Arc::new(tokio::sync::Semaphore::new(max));
    let (closing, _) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    let mut warned: Option<std::time::Instant> = None;
    loop {
        let (stream, remote) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::ConnectionRefused
                ) => continue,
                Err(e) => {
                    // Out of descriptors, most likely: wait for some to close.
                    tracing::warn!(error = %e, "dashboard cannot accept connections");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            node.counters()
                .http_connections_refused
                .fetch_add(1, Ordering::Relaxed);
            if warned.is_none_or(|at| at.elapsed() >= std::time::Duration::from_secs(60)) {
                warned = Some(std::time::Instant::now());
                tracing::warn!(%remote, max, "dashboard connection limit reached: refusing connections");
            }
            drop(stream);
            continue;
        };
        let open = OpenConnection::new(node.clone(), permit);
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |mut request: hyper::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(remote));
                    request
                },
            ));
        let mut closing = closing.subscribe();
        let header_read_timeout = http.header_read_timeout();
        tokio::spawn(async move {
            let _open = open;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let conn = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                result = conn.as_mut() => result,
                // Only ever set once, to true, when the server stops.
                _ = closing.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%remote, error = %e, "dashboard connection ended");
            }
        });
    }
    drop(listener);
    closing.send_replace(true);
    // Every connection holds a permit until it ends.
    let _all = permits
        .acquire_many(u32::try_from(max).unwrap_or(u32::MAX))
        .await;
    Ok(())
}

/// Connections served at once, at most, whatever the configuration says.
const MAX_CONNECTIONS: usize = 1_000_000;

/// A connection being served: counted in `http_connections`, and holding
/// its place under the connection limit, until it ends.
struct OpenConnection {
    node: Arc<Node>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl OpenConnection {
    fn new(node: Arc<Node>, permit: tokio::sync::OwnedSemaphorePermit) -> Self {
        node.counters()
            .http_connections
            .fetch_add(1, Ordering::Relaxed);
        Self {
            node,
            _permit: permit,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.node
            .counters()
            .http_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

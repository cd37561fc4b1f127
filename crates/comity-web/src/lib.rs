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
//!   and counts every HTTP request into `node.counters.http_requests`;
//! - `pages`: the dashboard's read-only pages (federation, consultations,
//!   liaisons, attachments);
//! - `actions`: the write actions behind a login (publish, revise, respond,
//!   draft, approve, post, reply, acknowledge), every one checked for a CSRF
//!   token and for the account's role;
//! - `auth`: sessions, CSRF tokens and the login rate limit;
//! - `templates`: the pages' HTML, checked at compile time by maud, with the
//!   stable element ids browser tests drive;
//! - `i18n`: the interface in the six UN languages, from Fluent catalogues in
//!   `locales/<lang>/`.
//!
//! ## Choices
//!
//! - Pages are rendered on the server and need no JavaScript; each is well
//!   under 100 KB with its one small stylesheet, for phones and slow links.
//! - Sessions live in memory (see `auth`): a restart logs people out, and no
//!   session secret is ever written to disk or replicated.
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
mod i18n;
mod pages;
mod templates;

use axum::{
    Router,
    extract::{Request, State},
    middleware::{self, Next},
    response::Response,
};
use comity_node::Node;
use std::{future::Future, net::SocketAddr, sync::Arc};

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
        sessions: Arc::new(auth::Sessions::default()),
        limiter: Arc::new(auth::RateLimiter::default()),
    };
    let api = api::router(node.clone())
        .route_layer(middleware::from_fn_with_state(state.clone(), ctx::api_gate));
    Router::new()
        .merge(pages::router(state))
        .merge(feeds::router(node.clone()))
        .merge(api)
        .merge(metrics::router(node.clone()))
        .layer(middleware::from_fn_with_state(node, count_requests))
}

async fn count_requests(State(node): State<Arc<Node>>, request: Request, next: Next) -> Response {
    node.counters
        .http_requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    next.run(request).await
}

/// Serves [`router`] on `listener` until `shutdown` resolves, then lets the
/// requests in flight finish. Client addresses are kept for the login rate
/// limit.
pub async fn serve(
    node: Arc<Node>,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let addr = listener.local_addr()?;
    tracing::info!(org = %node.org(), %addr, "dashboard serving");
    axum::serve(
        listener,
        router(node).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await?;
    Ok(())
}

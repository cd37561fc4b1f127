//! `GET /metrics`: the node's state in the Prometheus text exposition format
//! (version 0.0.4), every metric prefixed `comity_`, each with `# HELP` and
//! `# TYPE`.
//!
//! | metric | type | labels |
//! | --- | --- | --- |
//! | `comity_info` | gauge (1) | `org`, `version` |
//! | `comity_entries_held` | gauge | `origin` |
//! | `comity_origin_frozen` | gauge (0/1) | `origin` |
//! | `comity_entries_published_total` | counter | |
//! | `comity_entries_ingested_total` | counter | |
//! | `comity_batches_rejected_total` | counter | |
//! | `comity_peers` | gauge | |
//! | `comity_peer_connected` | gauge (0/1) | `peer` |
//! | `comity_peer_reciprocal` | gauge (0/1) | `peer` |
//! | `comity_peer_failures` | gauge | `peer` |
//! | `comity_peer_remote_seq` | gauge | `peer`, `origin` |
//! | `comity_replication_lag_entries` | gauge | `peer`, `origin` |
//! | `comity_http_requests_total` | counter | |
//! | `comity_http_connections` | gauge | |
//! | `comity_http_connections_refused_total` | counter | |
//! | `comity_grpc_requests_total` | counter | |
//! | `comity_equivocations` | gauge | |
//!
//! The lag is what a peer holds of an origin's log that this node does not
//! yet hold: `remote_seq - local_seq`, never below 0. Counters start at 0
//! when the node starts. Each value is read on its own as the page is
//! written, so one scrape is no snapshot across metrics: a log's head can
//! show an entry a moment before `comity_entries_ingested_total` counts it.
//! The text is written by hand: label values escaped (`\\`, `\"`, `\n`),
//! one sample per line.

use axum::{
    Router,
    extract::State,
    http::{StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use comity_core::OrgId;
use comity_node::{Node, NodeError};
use std::{
    collections::HashMap,
    fmt::Write as _,
    sync::{Arc, atomic::Ordering},
};

/// The content type of the text format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `/metrics` route, with the node as state.
pub fn router(node: Arc<Node>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(node)
}

async fn metrics(State(node): State<Arc<Node>>) -> Response {
    let rendered = crate::edge::blocking(&node, render).await;
    match rendered {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("metrics unavailable: {e}\n"),
            )
                .into_response()
        }
    }
}

/// The text format, written one metric family at a time.
#[derive(Default)]
struct Exposition {
    out: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        // Writing to a String cannot fail.
        let _ = writeln!(self.out, "# HELP {name} {help}");
        let _ = writeln!(self.out, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (key, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{key}=\"{}\"", escape_label(value));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }

    /// A family with one unlabelled sample.
    fn single(&mut self, name: &str, kind: &str, help: &str, value: impl std::fmt::Display) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

fn flag(b: bool) -> u8 {
    u8::from(b)
}

/// Renders every metric from the node's state now.
pub fn render(node: &Node) -> Result<String, NodeError> {
    let store = node.store();
    let heads = node.heads()?;
    let ours: HashMap<OrgId, u64> = heads.iter().map(|(o, h)| (o.clone(), h.seq)).collect();
    let mut m = Exposition::default();

    m.family(
        "comity_info",
        "gauge",
        "This node's organisation and software version (always 1).",
    );
    m.sample(
        "comity_info",
        &[
            ("org", node.org().as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ],
        1,
    );

    m.family(
        "comity_entries_held",
        "gauge",
        "Entries held per origin log (the seq of its head).",
    );
    for (origin, head) in &heads {
        m.sample(
            "comity_entries_held",
            &[("origin", origin.as_str())],
            head.seq,
        );
    }
    m.family(
        "comity_origin_frozen",
        "gauge",
        "1 when the origin equivocated and its log is frozen here.",
    );
    for (origin, _) in &heads {
        let frozen = store.is_frozen(origin)?;
        m.sample(
            "comity_origin_frozen",
            &[("origin", origin.as_str())],
            flag(frozen),
        );
    }

    let counters = &node.counters();
    m.single(
        "comity_entries_published_total",
        "counter",
        "Entries appended to this node's own log since it started.",
        counters.published.load(Ordering::Relaxed),
    );
    m.single(
        "comity_entries_ingested_total",
        "counter",
        "Entries of followed logs verified and stored since the node started.",
        counters.ingested.load(Ordering::Relaxed),
    );
    m.single(
        "comity_batches_rejected_total",
        "counter",
        "Batches refused from peers (bad signature, gap, equivocation...) since the node started.",
        counters.rejected.load(Ordering::Relaxed),
    );

    let views = node.peer_table().views();
    m.single(
        "comity_peers",
        "gauge",
        "Peers pinned on this node.",
        views.len(),
    );
    m.family(
        "comity_peer_connected",
        "gauge",
        "1 when the link to the peer is up.",
    );
    for view in &views {
        m.sample(
            "comity_peer_connected",
            &[("peer", view.record.org.as_str())],
            flag(view.connected),
        );
    }
    m.family(
        "comity_peer_reciprocal",
        "gauge",
        "1 when the peer follows this node's log too.",
    );
    for view in &views {
        m.sample(
            "comity_peer_reciprocal",
            &[("peer", view.record.org.as_str())],
            flag(view.reciprocal),
        );
    }
    m.family(
        "comity_peer_failures",
        "gauge",
        "Consecutive failures talking to the peer (0 after a success).",
    );
    for view in &views {
        m.sample(
            "comity_peer_failures",
            &[("peer", view.record.org.as_str())],
            view.failures,
        );
    }
    let lags: Vec<_> = views
        .iter()
        .flat_map(|view| {
            view.lag(&ours)
                .into_iter()
                .map(move |(origin, local, remote)| {
                    (view.record.org.as_str(), origin, local, remote)
                })
        })
        .collect();
    m.family(
        "comity_peer_remote_seq",
        "gauge",
        "The head of each origin's log as the peer last reported it.",
    );
    for (peer, origin, _, remote) in &lags {
        m.sample(
            "comity_peer_remote_seq",
            &[("peer", peer), ("origin", origin.as_str())],
            remote,
        );
    }
    m.family(
        "comity_replication_lag_entries",
        "gauge",
        "Entries of an origin the peer holds and this node does not yet (remote_seq - local_seq, at least 0).",
    );
    for (peer, origin, local, remote) in &lags {
        m.sample(
            "comity_replication_lag_entries",
            &[("peer", peer), ("origin", origin.as_str())],
            remote.saturating_sub(*local),
        );
    }

    m.single(
        "comity_http_requests_total",
        "counter",
        "HTTP requests served (dashboard, feeds, API, metrics) since the node started.",
        counters.http_requests.load(Ordering::Relaxed),
    );
    m.single(
        "comity_http_connections",
        "gauge",
        "HTTP connections open now.",
        counters.http_connections.load(Ordering::Relaxed),
    );
    m.single(
        "comity_http_connections_refused_total",
        "counter",
        "HTTP connections closed at once because http.max_connections were open.",
        counters.http_connections_refused.load(Ordering::Relaxed),
    );
    m.single(
        "comity_grpc_requests_total",
        "counter",
        "gRPC requests served (federation and local API) since the node started.",
        counters.grpc_requests.load(Ordering::Relaxed),
    );
    m.single(
        "comity_equivocations",
        "gauge",
        "Equivocations recorded: an origin signed two different entries at one seq.",
        store.equivocations()?.len(),
    );
    Ok(m.out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        let mut m = Exposition::default();
        m.sample("x", &[("a", "1"), ("b", "q\"")], 2);
        assert_eq!(m.out, "x{a=\"1\",b=\"q\\\"\"} 2\n");
    }
}

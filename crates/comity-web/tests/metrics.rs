//! `/metrics`: the Prometheus text format, parsed line by line, and counters
//! that move with what the node does.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use comity_core::{IdentityKey, OrgId, proto};
use comity_node::{Config, Node};
use http_body_util::BodyExt;
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, atomic::Ordering},
};
use tower::ServiceExt;

fn node(org: &str) -> Arc<Node> {
    let config = Config::new(
        OrgId::new(org).unwrap(),
        format!("The {} organisation", org.to_uppercase()),
        "127.0.0.1:7400".parse().unwrap(),
    );
    Node::new(
        config,
        IdentityKey::generate(),
        Arc::new(comity_store::MemStore::new()),
    )
    .unwrap()
}

async fn replicate(from: &Node, to: &Node) {
    let have = to.store().head(from.org()).unwrap().map_or(0, |h| h.seq);
    let entries = from
        .store()
        .entries_after(from.org(), have, usize::MAX)
        .unwrap();
    let wire = entries.iter().map(|e| e.for_reader(to.org())).collect();
    to.ingest(from.org(), from.org(), wire).await.unwrap();
}

/// One sample: metric name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Parses the text exposition format strictly: every line is a `# HELP`, a
/// `# TYPE` or a sample `name{labels} value`; every sample's metric has HELP
/// and TYPE before it; names carry the `comity_` prefix.
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.ends_with('\n'));
    let mut help = HashSet::new();
    let mut types: HashMap<String, String> = HashMap::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap();
            assert!(!doc.is_empty(), "{line}");
            assert!(help.insert(name.to_string()), "HELP twice: {line}");
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert!(
                ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                "{line}"
            );
            assert!(help.contains(name), "TYPE before HELP: {line}");
            assert!(types.insert(name.to_string(), kind.to_string()).is_none());
            continue;
        }
        assert!(!line.starts_with('#') && !line.is_empty(), "{line:?}");
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series, BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("{line}"));
                (name, parse_labels(body, line))
            }
        };
        assert!(
            name.starts_with("comity_")
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        assert!(types.contains_key(name), "sample without TYPE: {line}");
        if types[name] == "counter" {
            assert!(name.ends_with("_total"), "{line}");
            assert!(value >= 0.0);
        }
        samples.push((name.to_string(), labels, value));
    }
    for name in types.keys() {
        assert!(help.contains(name));
    }
    samples
}

fn parse_labels(body: &str, line: &str) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::new();
    let mut chars = body.chars().peekable();
    while chars.peek().is_some() {
        let key: String = chars.by_ref().take_while(|&c| c != '=').collect();
        assert!(
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{line}"
        );
        assert_eq!(chars.next(), Some('"'), "{line}");
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => match chars.next() {
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some('n') => value.push('\n'),
                    other => panic!("bad escape {other:?} in {line}"),
                },
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated label in {line}"),
            }
        }
        assert!(labels.insert(key, value).is_none(), "{line}");
        match chars.next() {
            None | Some(',') => {}
            other => panic!("unexpected {other:?} in {line}"),
        }
    }
    labels
}

async fn scrape(node: &Arc<Node>) -> Vec<Sample> {
    let response = comity_web::metrics::router(node.clone())
        .oneshot(Request::get("/metrics").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let body = response.into_body().collect().await.unwrap().to_bytes();
    parse(std::str::from_utf8(&body).unwrap())
}

/// Scrapes `node` until every expectation `expect` names holds in one
/// scrape, and returns that scrape; after 30 s, fails naming those that do
/// not. Each metric is read on its own, so a scrape is no snapshot across
/// metrics: a log's head can show before the counter of the entries that
/// made it. A test waits for each value it asserts, never for one value and
/// then reads another.
async fn scrape_until(
    node: &Arc<Node>,
    expect: impl Fn(&[Sample]) -> Vec<(&'static str, bool)>,
) -> Vec<Sample> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let samples = scrape(node).await;
        let unmet: Vec<&str> = expect(&samples)
            .into_iter()
            .filter_map(|(what, holds)| (!holds).then_some(what))
            .collect();
        if unmet.is_empty() {
            return samples;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "after 30 s, still not: {unmet:?}; last scrape: {samples:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let wanted: BTreeMap<String, String> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    samples
        .iter()
        .find(|(n, l, _)| n == name && l == &wanted)
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn metrics_parse_and_move_with_publishing_and_ingest() {
    let itu = node("itu");
    let ietf = node("ietf");
    itu.add_peer(ietf.org().clone(), ietf.public_key(), None)
        .unwrap();
    ietf.add_peer(itu.org().clone(), itu.public_key(), None)
        .unwrap();

    let before = scrape(&itu).await;
    assert_eq!(
        value(
            &before,
            "comity_info",
            &[("org", "itu"), ("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(&before, "comity_entries_published_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "comity_entries_ingested_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "comity_batches_rejected_total", &[]),
        Some(0.0)
    );
    assert_eq!(
        value(&before, "comity_entries_held", &[("origin", "itu")]),
        None
    );
    assert_eq!(value(&before, "comity_peers", &[]), Some(1.0));
    assert_eq!(
        value(&before, "comity_peer_connected", &[("peer", "ietf")]),
        Some(0.0)
    );
    assert_eq!(value(&before, "comity_equivocations", &[]), Some(0.0));
    assert_eq!(value(&before, "comity_http_requests_total", &[]), Some(0.0));
    assert_eq!(value(&before, "comity_grpc_requests_total", &[]), Some(0.0));

    itu.publish_profile_if_changed().await.unwrap();
    itu.publish_consultation(proto::PublishConsultationRequest {
        title: "Developmental aspects of the Internet".into(),
        closes: "2099-01-04".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let after = scrape(&itu).await;
    assert_eq!(
        value(&after, "comity_entries_published_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&after, "comity_entries_held", &[("origin", "itu")]),
        Some(2.0)
    );
    assert_eq!(
        value(&after, "comity_origin_frozen", &[("origin", "itu")]),
        Some(0.0)
    );

    replicate(&itu, &ietf).await;
    let on_ietf = scrape(&ietf).await;
    assert_eq!(
        value(&on_ietf, "comity_entries_ingested_total", &[]),
        Some(2.0)
    );
    assert_eq!(
        value(&on_ietf, "comity_entries_held", &[("origin", "itu")]),
        Some(2.0)
    );
    assert_eq!(
        value(&on_ietf, "comity_entries_published_total", &[]),
        Some(0.0)
    );

    // The request counters are kept by the servers (the merged HTTP router
    // and the gRPC services); /metrics reports what they count.
    itu.counters().http_requests.fetch_add(3, Ordering::Relaxed);
    itu.counters().grpc_requests.fetch_add(5, Ordering::Relaxed);
    itu.counters()
        .http_connections
        .fetch_add(7, Ordering::Relaxed);
    itu.counters()
        .http_connections_refused
        .fetch_add(11, Ordering::Relaxed);
    let counted = scrape(&itu).await;
    assert_eq!(value(&counted, "comity_http_connections", &[]), Some(7.0));
    assert_eq!(
        value(&counted, "comity_http_connections_refused_total", &[]),
        Some(11.0)
    );
    assert_eq!(
        value(&counted, "comity_http_requests_total", &[]),
        Some(3.0)
    );
    assert_eq!(
        value(&counted, "comity_grpc_requests_total", &[]),
        Some(5.0)
    );
}

#[tokio::test]
async fn a_rejected_batch_is_counted() {
    let itu = node("itu");
    let ietf = node("ietf");
    ietf.add_peer(itu.org().clone(), itu.public_key(), None)
        .unwrap();
    itu.publish_profile_if_changed().await.unwrap();
    let mut wire: Vec<_> = itu
        .store()
        .entries_after(itu.org(), 0, usize::MAX)
        .unwrap()
        .iter()
        .map(|e| e.for_reader(ietf.org()))
        .collect();
    wire[0].signature[0] ^= 0xff;
    assert!(ietf.ingest(itu.org(), itu.org(), wire).await.is_err());
    let samples = scrape(&ietf).await;
    assert_eq!(
        value(&samples, "comity_batches_rejected_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&samples, "comity_entries_ingested_total", &[]),
        Some(0.0)
    );
}

/// Two nodes serving on loopback: the link comes up, the remote heads are
/// reported per peer and origin, and the lag is what the peer holds that we
/// do not. Heads are kept only for origins this node follows, so the lag
/// shown for ICANN is of a log ITU follows but cannot take: it pins a key
/// ICANN never used.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_state_and_lag_per_peer_and_origin() {
    async fn serving(org: &str) -> (Arc<Node>, tokio::net::TcpListener) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut config = Config::new(
            OrgId::new(org).unwrap(),
            org.to_uppercase(),
            listener.local_addr().unwrap(),
        );
        config.replication.heads_poll_secs = 1;
        let node = Node::new(
            config,
            IdentityKey::generate(),
            Arc::new(comity_store::MemStore::new()),
        )
        .unwrap();
        (node, listener)
    }
    let (itu, itu_listener) = serving("itu").await;
    let (ietf, ietf_listener) = serving("ietf").await;
    // ICANN never serves; IETF holds its log.
    let icann = node("icann");
    icann.publish_profile_if_changed().await.unwrap();
    icann
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Public comment".into(),
            closes: "2099-01-04".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    ietf.add_peer(icann.org().clone(), icann.public_key(), None)
        .unwrap();
    replicate(&icann, &ietf).await;
    itu.add_peer(
        ietf.org().clone(),
        ietf.public_key(),
        Some(ietf.config().endpoint()),
    )
    .unwrap();
    ietf.add_peer(
        itu.org().clone(),
        itu.public_key(),
        Some(itu.config().endpoint()),
    )
    .unwrap();
    let itu_running = comity_node::RunningNode::start(itu.clone(), itu_listener, None)
        .await
        .unwrap();
    let ietf_running = comity_node::RunningNode::start(ietf.clone(), ietf_listener, None)
        .await
        .unwrap();

    // Both recover their own logs first (each pins the other), and only
    // then publish their profiles.
    for node in [&itu, &ietf] {
        let start = std::time::Instant::now();
        while matches!(
            node.recovery(),
            comity_node::recovery::Recovery::Recovering { .. }
        ) {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(30),
                "never recovered"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let start = std::time::Instant::now();
    while ietf.store().head(ietf.org()).unwrap().is_none() {
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no profile published"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let ietf_head = ietf.store().head(ietf.org()).unwrap().unwrap().seq as f64;
    scrape_until(&itu, |s| {
        vec![
            (
                "IETF connected",
                value(s, "comity_peer_connected", &[("peer", "ietf")]) == Some(1.0),
            ),
            (
                "IETF's log held up to its head",
                value(s, "comity_entries_held", &[("origin", "ietf")]) == Some(ietf_head),
            ),
        ]
    })
    .await;
    // Now ITU follows ICANN, by a key ICANN never used: it refuses what
    // IETF relays of ICANN's log, so IETF stays ahead.
    itu.add_peer(icann.org().clone(), IdentityKey::generate().public(), None)
        .unwrap();
    scrape_until(&itu, |s| {
        let lag = |origin| {
            value(
                s,
                "comity_replication_lag_entries",
                &[("peer", "ietf"), ("origin", origin)],
            )
        };
        vec![
            (
                "IETF connected",
                value(s, "comity_peer_connected", &[("peer", "ietf")]) == Some(1.0),
            ),
            (
                "IETF's log held up to its head",
                value(s, "comity_entries_held", &[("origin", "ietf")]) == Some(ietf_head),
            ),
            (
                "ICANN's log, relayed under a key it never used, refused",
                value(s, "comity_batches_rejected_total", &[]).is_some_and(|n| n >= 1.0),
            ),
            (
                "IETF reported holding ICANN's log up to 2",
                value(
                    s,
                    "comity_peer_remote_seq",
                    &[("peer", "ietf"), ("origin", "icann")],
                ) == Some(2.0),
            ),
            (
                "no lag behind IETF for its own log",
                lag("ietf") == Some(0.0),
            ),
            (
                "a lag of 2 behind IETF for ICANN's log",
                lag("icann") == Some(2.0),
            ),
            (
                "IETF's entries counted as ingested",
                value(s, "comity_entries_ingested_total", &[]) == Some(ietf_head),
            ),
            (
                "gRPC requests counted",
                value(s, "comity_grpc_requests_total", &[]).is_some_and(|n| n > 0.0),
            ),
        ]
    })
    .await;

    ietf_running.shutdown().await.unwrap();
    itu_running.shutdown().await.unwrap();
}

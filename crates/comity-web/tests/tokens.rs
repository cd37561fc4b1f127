//! API tokens on the HTTP side: the JSON API takes `Authorization: Bearer`
//! beside the session cookie, with the local API's read-only rule, and
//! `/metrics` asks for a token when `[http] metrics_require_token` is set.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use axum::{
    body::Body,
    http::{Method, Request, StatusCode, header},
};
use comity_core::{IdentityKey, OrgId};
use comity_node::{Config, Node, node::NodeOptions, tokens::ApiTokens};
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

/// A node whose tokens live in `dir`.
fn node(dir: &std::path::Path, configure: impl FnOnce(&mut Config)) -> Arc<Node> {
    let mut config = Config::new(
        OrgId::new("itu").unwrap(),
        "ITU",
        "127.0.0.1:7400".parse().unwrap(),
    );
    configure(&mut config);
    Node::with_options(
        config,
        IdentityKey::generate(),
        Arc::new(comity_store::MemStore::new()),
        NodeOptions {
            api_tokens: Some(ApiTokens::in_data_dir(dir)),
            ..Default::default()
        },
    )
    .unwrap()
}

async fn send(
    node: &Arc<Node>,
    method: Method,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, String) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let response = comity_web::router(node.clone())
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn head(node: &Node) -> u64 {
    node.store().head(node.org()).unwrap().map_or(0, |h| h.seq)
}

#[tokio::test]
async fn the_json_api_takes_bearer_tokens_with_the_read_only_rule() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path(), |_| {});
    let tokens = ApiTokens::in_data_dir(dir.path());
    let now = time::OffsetDateTime::now_utc();
    let (_, full) = tokens.create("script", false, now).unwrap();
    let (_, read_only) = tokens.create("bot", true, now).unwrap();
    let (_, revoked) = tokens.create("old", false, now).unwrap();
    tokens.revoke("old").unwrap();
    let before = head(&node);

    // Without a session or a token, and with a wrong or revoked token: 401.
    for token in [None, Some("comity_nope"), Some(revoked.as_str())] {
        for method in [Method::GET, Method::POST] {
            let (status, body) = send(&node, method.clone(), "/api/v1/status", token).await;
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "{token:?} {method}: {body}"
            );
            assert!(body.contains("\"error\""), "{body}");
        }
    }

    // Both tokens read.
    for token in [&full, &read_only] {
        let (status, body) = send(&node, Method::GET, "/api/v1/status", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let status: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(status["org"], "itu");
    }

    // A read-only token is refused anything but GET before any handler
    // runs; a read-write one reaches the routes (which take no writes).
    for method in [Method::POST, Method::PUT, Method::DELETE] {
        let (status, body) = send(
            &node,
            method.clone(),
            "/api/v1/consultations",
            Some(&read_only),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method}: {body}");
        assert!(body.contains("read-only"), "{body}");
        let (status, _) = send(&node, method, "/api/v1/consultations", Some(&full)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }
    assert_eq!(head(&node), before);
}

#[tokio::test]
async fn metrics_ask_for_a_token_only_when_told_to() {
    let dir = tempfile::tempdir().unwrap();
    let (_, read_only) = ApiTokens::in_data_dir(dir.path())
        .create("prometheus", true, time::OffsetDateTime::now_utc())
        .unwrap();

    let open = node(dir.path(), |_| {});
    let (status, body) = send(&open, Method::GET, "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("comity_info"), "{body}");

    let closed = node(dir.path(), |c| c.http.metrics_require_token = true);
    for token in [None, Some("comity_nope")] {
        let (status, body) = send(&closed, Method::GET, "/metrics", token).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}: {body}");
        assert!(!body.contains("comity_info"), "{body}");
    }
    let (status, body) = send(&closed, Method::GET, "/metrics", Some(&read_only)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("comity_info"), "{body}");
}

//! Search in the dashboard (a box on every page, `/search` with marked
//! snippets) and in the JSON API (`/api/v1/search`), through the router,
//! with the node's real indexer over a memory store.
#![allow(clippy::unwrap_used)]

use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode, header},
};
use comity_core::{IdentityKey, OrgId, entry::Audience, proto};
use comity_node::{Config, Node, accounts};
use comity_store::MemStore;
use http_body_util::BodyExt;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn consultation(lang: &str, title: &str, body: &str) -> proto::document::Body {
    let text = |value: &str| {
        vec![proto::Text {
            lang: lang.into(),
            value: value.into(),
        }]
    };
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: text(title),
        body: text(body),
        closes_at: Some(prost_types::Timestamp {
            seconds: 4_000_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

/// A node with public pages, one public and one restricted consultation,
/// indexed and committed.
async fn node(stop: &CancellationToken) -> Arc<Node> {
    let mut config = Config::new(org("ietf"), "IETF (test)", "127.0.0.1:0".parse().unwrap());
    config.http.public_pages = true;
    let node = Node::new(config, IdentityKey::generate(), Arc::new(MemStore::new())).unwrap();
    accounts::add_user(&**node.store(), "vera", accounts::Role::Viewer, PASSWORD, 0).unwrap();
    node.publish(consultation(
        "en",
        "Quasar naming rules",
        "Names such as <script>alert(1)</script> and quasar labels are reviewed.",
    ))
    .await
    .unwrap();
    node.publish_to(
        consultation(
            "en",
            "Secret quasar budget",
            "Only ITU may read of the hidden quasar budget.",
        ),
        Audience::Restricted(vec![org("itu")]),
    )
    .await
    .unwrap();
    node.publish(consultation(
        "zh-Hans",
        "网络安全国际合作",
        "关于网络安全的意见。",
    ))
    .await
    .unwrap();
    node.start_search(stop.clone()).await.unwrap();
    node.index_now().await.unwrap();
    node
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

async fn get(app: &Router, path: &str, cookie: &str) -> Response<Body> {
    app.clone()
        .oneshot(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap()
}

/// Logs in through the form; returns the session cookie.
async fn login(app: &Router) -> String {
    let page = get(app, "/login", "").await;
    let login_cookie = page
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("comity_login_"))
        .unwrap();
    let token = login_cookie.split_once('=').unwrap().1.to_string();
    let form = serde_urlencoded::to_string([
        ("username", "vera"),
        ("password", PASSWORD),
        ("csrf", &token),
        ("next", "/consultations"),
    ])
    .unwrap();
    let response = app
        .clone()
        .oneshot(
            Request::post("/login")
                .header(header::COOKIE, &login_cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .find(|c| c.starts_with("comity_session_"))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_search_page_marks_words_escapes_text_and_hides_what_the_reader_may_not_read() {
    let stop = CancellationToken::new();
    let node = node(&stop).await;
    let app = comity_web::router(node.clone());

    // The box is on every page, in every language.
    for path in ["/consultations", "/liaisons", "/federation", "/search"] {
        let html = text(get(&app, path, "").await).await;
        assert!(html.contains("id=\"search-form\""), "{path}");
        assert!(html.contains("action=\"/search\""), "{path}");
    }
    for (lang, submit) in [
        ("ar", "بحث"),
        ("zh", "搜索"),
        ("fr", "Rechercher"),
        ("ru", "Найти"),
        ("es", "Buscar"),
        ("en", "Search"),
    ] {
        let html = text(get(&app, &format!("/search?q=quasar&lang={lang}"), "").await).await;
        assert!(html.contains(&format!(">{submit}</button>")), "{lang}");
        assert!(html.contains("id=\"search-count\""), "{lang}");
    }

    // Anonymous: the public document only, marked and escaped.
    let html = text(get(&app, "/search?q=quasar", "").await).await;
    assert!(html.contains("<mark>quasar</mark>"), "{html}");
    assert!(html.contains("&lt;script&gt;"), "{html}");
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("Quasar naming rules"));
    assert!(
        !html.contains("Secret quasar budget") && !html.contains("hidden"),
        "{html}"
    );
    assert_eq!(html.matches("class=\"search-hit\"").count(), 1);
    // The words searched for stay in the box.
    assert!(html.contains("value=\"quasar\""));

    // Logged in: what the node holds, the restricted document too.
    let cookie = login(&app).await;
    let html = text(get(&app, "/search?q=quasar", &cookie).await).await;
    assert_eq!(html.matches("class=\"search-hit\"").count(), 2, "{html}");
    assert!(html.contains("Secret quasar budget"));

    // Chinese, by a two-character word; nothing found says so.
    let html = text(get(&app, "/search?q=%E5%AE%89%E5%85%A8&lang=zh", "").await).await;
    assert!(html.contains("<mark>安全</mark>"), "{html}");
    let html = text(get(&app, "/search?q=nebula", "").await).await;
    assert!(html.contains("id=\"search-none\""));
    stop.cancel();
}

async fn api(node: &Arc<Node>, uri: &str) -> (StatusCode, serde_json::Value) {
    let response = comity_web::api::router(node.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_searches_as_the_node_and_refuses_bad_parameters() {
    let stop = CancellationToken::new();
    let node = node(&stop).await;
    let (status, value) = api(&node, "/api/v1/search?q=quasar&kind=consultation&limit=5").await;
    assert_eq!(status, StatusCode::OK, "{value}");
    assert_eq!(value["total"], 2, "{value}");
    assert_eq!(value["limit"], 5);
    let hit = &value["hits"][0];
    assert_eq!(hit["origin"], "ietf");
    assert_eq!(hit["kind"], "consultation");
    assert!(hit["snippet"]["html"].as_str().unwrap().contains("<mark>"));
    assert!(hit["snippet"]["highlights"][0]["start"].is_u64());
    let (_, value) = api(&node, "/api/v1/search?q=quasar&origin=itu").await;
    assert_eq!(value["total"], 0, "{value}");

    for (uri, says) in [
        ("/api/v1/search", "give words"),
        ("/api/v1/search?q=quasar&kind=receipt", "not one of"),
        ("/api/v1/search?q=quasar&limit=1000", "limit"),
        ("/api/v1/search?q=quasar&lang=not%20a%20tag", "BCP 47"),
        (
            "/api/v1/search?q=quasar&sort=date",
            "unknown query parameter",
        ),
        ("/api/v1/search?q=quasar&origin=Not%20An%20Org", "origin"),
    ] {
        let (status, value) = api(&node, uri).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {value}");
        let message = value["error"].as_str().unwrap();
        assert!(message.contains(says), "{uri}: {message}");
    }

    // Behind the dashboard's login, as the rest of the API.
    let response = comity_web::router(node.clone())
        .oneshot(
            Request::get("/api/v1/search?q=quasar")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    stop.cancel();
}

/// A response has no page of its own: its hit leads to its row on the page
/// of the consultation it answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_found_links_to_its_row_on_the_consultation_page() {
    let stop = CancellationToken::new();
    let node = node(&stop).await;
    let consultation = node
        .publish(consultation(
            "en",
            "Zonal registries",
            "On zonal registries.",
        ))
        .await
        .unwrap();
    let Ok(proto::document::Body::Consultation(c)) =
        comity_core::document::decode_for(&consultation)
    else {
        panic!("not a consultation");
    };
    let response = node
        .respond(proto::RespondRequest {
            consultation: Some(proto::DocumentRef {
                origin: "ietf".into(),
                uuid: c.uuid.clone(),
            }),
            text: "Zephyr registries should stay open.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let Ok(proto::document::Body::Response(r)) = comity_core::document::decode_for(&response)
    else {
        panic!("not a response");
    };
    node.index_now().await.unwrap();
    let app = comity_web::router(node.clone());

    let html = text(get(&app, "/search?q=zephyr", "").await).await;
    assert_eq!(html.matches("class=\"search-hit\"").count(), 1, "{html}");
    let href = format!("/consultations/ietf/{}#response-{}", c.uuid, r.uuid);
    assert!(
        html.contains(&format!("href=\"{href}\"")),
        "no link to {href}: {html}"
    );
    // The row is there to land on.
    let page = text(get(&app, &format!("/consultations/ietf/{}", c.uuid), "").await).await;
    assert!(
        page.contains(&format!("id=\"response-{}\"", r.uuid)),
        "{page}"
    );
    stop.cancel();
}

//! The dashboard through its router (as a browser would use it, form by
//! form), and once through a real server on 127.0.0.1 port 0.
#![allow(clippy::unwrap_used)]

use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode, header},
};
use comity_core::{IdentityKey, OrgId, proto};
use comity_node::{Config, Node, accounts};
use comity_store::MemStore;
use http_body_util::BodyExt;
use std::sync::Arc;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
const KB_100: usize = 100 * 1024;

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

/// A node over a memory store, not serving federation (the dashboard needs
/// none), with one account per role.
async fn node(id: &str, public_pages: bool) -> Arc<Node> {
    node_with(id, |config| config.http.public_pages = public_pages).await
}

/// [`node`], with its configuration adjusted by `configure` first.
async fn node_with(id: &str, configure: impl FnOnce(&mut Config)) -> Arc<Node> {
    let mut config = Config::new(
        org(id),
        format!("{} (test)", id.to_uppercase()),
        "127.0.0.1:0".parse().unwrap(),
    );
    configure(&mut config);
    config.profile.stakeholder_group = Some("technical-academic".parse().unwrap());
    config.profile.region = Some("Europe".into());
    config.profile.groups = vec![format!("{id}/liaisons")];
    let node = Node::new(config, IdentityKey::generate(), Arc::new(MemStore::new())).unwrap();
    node.publish_profile_if_changed().await.unwrap();
    for (name, role) in [
        ("vera", accounts::Role::Viewer),
        ("eddie", accounts::Role::Editor),
        ("anna", accounts::Role::Approver),
    ] {
        accounts::add_user(&**node.store(), name, role, PASSWORD, 0).unwrap();
    }
    node
}

async fn send(app: &Router, request: Request<Body>) -> Response<Body> {
    app.clone().oneshot(request).await.unwrap()
}

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

fn post(path: &str, cookie: &str, form: &[(&str, &str)]) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(serde_urlencoded::to_string(form).unwrap()))
        .unwrap()
}

fn set_cookies(response: &Response<Body>) -> Vec<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect()
}

/// The `name_<org>=value` pair of a cookie set by the response (cookie names
/// carry the organisation, so dashboards on one host keep apart).
fn cookie(set_cookies: &[String], name: &str) -> Option<String> {
    set_cookies
        .iter()
        .find(|c| c.starts_with(&format!("{name}_")))
        .map(|c| c.split(';').next().unwrap().to_string())
}

/// The first hidden CSRF token on a page.
fn csrf_in(html: &str) -> String {
    let start = html
        .find(r#"name="csrf" value=""#)
        .expect("a form with a CSRF token")
        + 19;
    html[start..].split('"').next().unwrap().to_string()
}

/// Attempts a login; returns the response.
async fn try_login(app: &Router, user: &str, password: &str) -> Response<Body> {
    try_login_to(app, user, password, "/liaisons").await
}

/// Attempts a login that asks to go to `next` after; returns the response.
async fn try_login_to(app: &Router, user: &str, password: &str, next: &str) -> Response<Body> {
    let page = send(app, get("/login", "")).await;
    assert_eq!(page.status(), StatusCode::OK);
    let login_cookie = cookie(&set_cookies(&page), "comity_login").unwrap();
    let token = login_cookie.split_once('=').unwrap().1.to_string();
    let html = text(page).await;
    assert_eq!(csrf_in(&html), token);
    send(
        app,
        post(
            "/login",
            &login_cookie,
            &[
                ("username", user),
                ("password", password),
                ("csrf", &token),
                ("next", next),
            ],
        ),
    )
    .await
}

/// Logs in; returns the session cookie header and the session's CSRF token.
async fn login(app: &Router, user: &str) -> (String, String) {
    let response = try_login(app, user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = cookie(&set_cookies(&response), "comity_session").unwrap();
    let html = text(send(app, get("/consultations", &cookie)).await).await;
    (cookie.clone(), csrf_in(&html))
}

async fn publish_via_form(app: &Router, cookie: &str, csrf: &str, title: &str) -> Response<Body> {
    send(
        app,
        post(
            "/consultations",
            cookie,
            &[
                ("csrf", csrf),
                ("title", title),
                ("summary", "What should the next review cover?"),
                ("lang", "en"),
                ("closes", "2099-12-31"),
                ("topics", "internet-governance, ipv6"),
                ("questions", "First question?\nSecond question?"),
            ],
        ),
    )
    .await
}

#[tokio::test]
async fn login_sets_a_strict_http_only_session_cookie() {
    let node = node("ietf", false).await;
    let app = comity_web::router(node);
    let response = try_login(&app, "eddie", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/liaisons");
    let cookies = set_cookies(&response);
    let session = cookies
        .iter()
        .find(|c| c.starts_with("comity_session_ietf="))
        .unwrap();
    assert!(session.contains("HttpOnly"), "{session}");
    assert!(session.contains("SameSite=Strict"), "{session}");
    assert!(session.contains("Path=/"), "{session}");
    assert!(!session.contains("Secure"), "{session}");

    let response = try_login(&app, "eddie", "wrong password").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(cookie(&set_cookies(&response), "comity_session").is_none());
    assert!(text(response).await.contains("login-error"));
    let response = try_login(&app, "nobody", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // The Secure flag follows the configuration.
    let mut config = Config::new(org("itu"), "ITU", "127.0.0.1:0".parse().unwrap());
    config.http.secure_cookies = true;
    let node = Node::new(config, IdentityKey::generate(), Arc::new(MemStore::new())).unwrap();
    accounts::add_user(
        &**node.store(),
        "eddie",
        accounts::Role::Editor,
        PASSWORD,
        0,
    )
    .unwrap();
    let app = comity_web::router(node);
    let response = try_login(&app, "eddie", PASSWORD).await;
    let cookies = set_cookies(&response);
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("comity_session_itu=") && c.contains("Secure"))
    );

    // Logging out ends the session on the server.
    let (cookie, csrf) = login(&app, "eddie").await;
    let response = send(&app, post("/logout", &cookie, &[("csrf", &csrf)])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = send(&app, get("/consultations", &cookie)).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_login_without_its_token_is_refused() {
    let app = comity_web::router(node("ietf", false).await);
    let response = send(
        &app,
        post(
            "/login",
            "",
            &[("username", "eddie"), ("password", PASSWORD)],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn forms_without_the_session_csrf_token_are_refused() {
    let node = node("ietf", false).await;
    let app = comity_web::router(node.clone());
    let (cookie, csrf) = login(&app, "eddie").await;
    let form = [("title", "Sneaky"), ("closes", "2099-12-31")];
    let response = send(&app, post("/consultations", &cookie, &form)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let wrong = [
        ("csrf", "0".repeat(64).leak() as &str),
        ("title", "Sneaky"),
        ("closes", "2099-12-31"),
    ];
    let response = send(&app, post("/consultations", &cookie, &wrong)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // Another session's token does not do either.
    let (_, other_csrf) = login(&app, "anna").await;
    assert_ne!(other_csrf, csrf);
    let response = publish_via_form(&app, &cookie, &other_csrf, "Sneaky").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        node.list_consultations(&proto::ListConsultationsRequest::default())
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let app = comity_web::router(node("ietf", false).await);
    for _ in 0..5 {
        let response = try_login(&app, "eddie", "wrong password").await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    // Now even the right password is not checked for this account.
    let response = try_login(&app, "eddie", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    let html = text(response).await;
    assert!(html.contains("Too many failed attempts"), "{html}");
    // The same client address is limited for other accounts too.
    let response = try_login(&app, "anna", PASSWORD).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A login form's POST from `ip`, with a double-submit token of its own.
fn login_from(ip: std::net::IpAddr, user: &str, password: &str) -> Request<Body> {
    let token = "a".repeat(64);
    let mut request = post(
        "/login",
        &format!("comity_login_ietf={token}"),
        &[
            ("username", user),
            ("password", password),
            ("csrf", &token),
            ("next", "/liaisons"),
        ],
    );
    request
        .extensions_mut()
        .insert(axum::extract::ConnectInfo(std::net::SocketAddr::new(
            ip, 40000,
        )));
    request
}

/// Issue 10, item 6: the rate limit is taken before the password is checked,
/// so concurrent attempts cannot all slip past it; and argon2 runs at most
/// `MAX_CONCURRENT_CHECKS` at once, whatever the number of clients.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_wrong_passwords_are_limited_and_hashing_is_bounded() {
    let node = node("ietf", false).await;
    let app = comity_web::router(node.clone());
    let checks = node.password_checks().clone();
    let attack = |requests: Vec<Request<Body>>| {
        let mut set = tokio::task::JoinSet::new();
        for request in requests {
            let app = app.clone();
            set.spawn(async move { app.oneshot(request).await.unwrap().status() });
        }
        set.join_all()
    };

    // 50 wrong passwords at once from one address.
    let one = std::net::IpAddr::from([127, 0, 0, 1]);
    let statuses = attack(
        (0..50)
            .map(|_| login_from(one, "eddie", "wrong password"))
            .collect(),
    )
    .await;
    let refused = statuses
        .iter()
        .filter(|s| **s == StatusCode::UNAUTHORIZED)
        .count();
    let limited = statuses
        .iter()
        .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    assert_eq!(refused + limited, 50, "{statuses:?}");
    assert_eq!(
        checks.started(),
        refused as u64,
        "every attempt that was not limited had its password checked"
    );
    assert!(
        (1..=5).contains(&refused),
        "{refused} of 50 concurrent attempts reached the password check"
    );
    // And the limit holds afterwards, even for the right password.
    let response = app
        .clone()
        .oneshot(login_from(one, "eddie", PASSWORD))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(checks.peak() <= accounts::MAX_CONCURRENT_CHECKS);

    // 30 attempts from 30 addresses, each for its own name: every one is
    // checked, never more than the bound at once.
    let before = checks.started();
    let statuses = attack(
        (0..30u8)
            .map(|i| {
                let ip = std::net::IpAddr::from([127, 0, 1, i + 1]);
                login_from(ip, &format!("nobody{i}"), "wrong password")
            })
            .collect(),
    )
    .await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED),
        "{statuses:?}"
    );
    assert_eq!(checks.started() - before, 30);
    assert!(
        checks.peak() <= accounts::MAX_CONCURRENT_CHECKS,
        "{} password checks ran at once; the bound is {}",
        checks.peak(),
        accounts::MAX_CONCURRENT_CHECKS
    );
}

/// Issue 10, item 9: browsers drop tabs and newlines from a URL, so
/// `/\t/evil.example` becomes `//evil.example`, another site. Control
/// characters and backslashes in `next` never leave the dashboard.
#[tokio::test]
async fn login_never_redirects_off_site() {
    let app = comity_web::router(node("ietf", false).await);
    let hostile = [
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        "/\u{0}/evil.example",
        "/\u{7f}/evil.example",
        "/\u{85}/evil.example",
        "/\\/evil.example",
        "\\/evil.example",
        "//evil.example",
        "https://evil.example",
    ];
    for next in hostile {
        let response = try_login_to(&app, "eddie", PASSWORD, next).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(
            response.headers()[header::LOCATION],
            "/consultations",
            "after a login with next={next:?}"
        );
        let session = cookie(&set_cookies(&response), "comity_session").unwrap();
        // Already logged in: the login page redirects at once.
        let query = serde_urlencoded::to_string([("next", next)]).unwrap();
        let response = send(&app, get(&format!("/login?{query}"), &session)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{next:?}");
        assert_eq!(
            response.headers()[header::LOCATION],
            "/consultations",
            "from /login?{query} when logged in"
        );
    }
    // A local path with a query is still followed.
    let response = try_login_to(&app, "eddie", PASSWORD, "/liaisons?box=inbox").await;
    assert_eq!(response.headers()[header::LOCATION], "/liaisons?box=inbox");
}

#[tokio::test]
async fn a_viewer_cannot_post_forms() {
    let node = node("ietf", false).await;
    let app = comity_web::router(node.clone());
    let (cookie, csrf) = login(&app, "vera").await;
    let response = publish_via_form(&app, &cookie, &csrf, "From a viewer").await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let html = text(send(&app, get("/consultations", &cookie)).await).await;
    assert!(!html.contains("new-consultation-link"));
    let response = send(&app, get("/consultations/new", &cookie)).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // An editor drafts, but only an approver posts.
    let (cookie, csrf) = login(&app, "eddie").await;
    let response = send(
        &app,
        post(
            "/liaisons/drafts",
            &cookie,
            &[
                ("csrf", &csrf),
                ("title", "Our new work item"),
                ("to", "ietf"),
                ("purpose", "information"),
                ("body", "For your information."),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let draft = node.store().drafts().unwrap().pop().unwrap();
    let path = format!("/liaisons/drafts/{}/post", draft.id);
    let response = send(&app, post(&path, &cookie, &[("csrf", &csrf)])).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let (cookie, csrf) = login(&app, "anna").await;
    let html = text(send(&app, get("/liaisons?box=drafts", &cookie)).await).await;
    assert!(
        html.contains(&format!("id=\"post-{}\"", draft.id)),
        "{html}"
    );
    let response = send(&app, post(&path, &cookie, &[("csrf", &csrf)])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        response.headers()[header::LOCATION]
            .to_str()
            .unwrap()
            .starts_with("/liaisons/ietf/")
    );
}

/// Issue 15: a liaison manager of ietf/ccamp sees the approve and post
/// buttons for a ccamp draft only; it approves and posts that one, and is
/// refused (403, the message naming the group) for an opsawg draft, which
/// stays as it was, nothing posted.
#[tokio::test]
async fn a_liaison_manager_approves_and_posts_for_its_groups_only() {
    let node = node("ietf", false).await;
    accounts::add_account(
        &**node.store(),
        "mona",
        accounts::Role::LiaisonManager,
        &["ietf/ccamp".to_string()],
        PASSWORD,
        0,
    )
    .unwrap();
    let draft = |group: &str| {
        node.draft_liaison(proto::DraftLiaisonRequest {
            from: vec![group.into()],
            to: vec![proto::Recipient {
                to: "ietf".into(),
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Information as i32,
            title: format!("{group} progress"),
            body: "For your information.".into(),
            ..Default::default()
        })
        .unwrap()
        .id
    };
    let (ccamp, opsawg) = (draft("ietf/ccamp"), draft("ietf/opsawg"));
    let held = || {
        node.store()
            .entries_after(node.org(), 0, usize::MAX)
            .unwrap()
            .len()
    };
    let app = comity_web::router(node.clone());
    let (cookie, csrf) = login(&app, "mona").await;
    let html = text(send(&app, get("/liaisons?box=drafts", &cookie)).await).await;
    assert!(html.contains(&format!("id=\"post-{ccamp}\"")), "{html}");
    assert!(!html.contains(&format!("id=\"post-{opsawg}\"")), "{html}");

    let before = held();
    let refused = send(
        &app,
        post(
            &format!("/liaisons/drafts/{opsawg}/approve"),
            &cookie,
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    let page = text(refused).await;
    assert!(page.contains("not for ietf/opsawg"), "{page}");
    let refused = send(
        &app,
        post(
            &format!("/liaisons/drafts/{opsawg}/post"),
            &cookie,
            &[("csrf", &csrf)],
        ),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(held(), before, "nothing posted");
    let stored = node.store().draft(&opsawg).unwrap().unwrap();
    assert_eq!((stored.approved_by, stored.posted_seq), (None, None));

    for verb in ["approve", "post"] {
        let response = send(
            &app,
            post(
                &format!("/liaisons/drafts/{ccamp}/{verb}"),
                &cookie,
                &[("csrf", &csrf)],
            ),
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{verb}");
    }
    assert_eq!(held(), before + 1, "the ccamp statement is posted");
    let stored = node.store().draft(&ccamp).unwrap().unwrap();
    assert_eq!(stored.approved_by.as_deref(), Some("mona"));
    assert!(stored.posted_seq.is_some());
}

#[tokio::test]
async fn a_consultation_published_through_the_form_is_listed() {
    let node = node("ietf", false).await;
    let app = comity_web::router(node.clone());
    let (cookie, csrf) = login(&app, "eddie").await;
    let form = text(send(&app, get("/consultations/new", &cookie)).await).await;
    for id in ["publish-form", "consultation-title", "consultation-closes"] {
        assert!(form.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let response = publish_via_form(&app, &cookie, &csrf, "Review of RFC 2026").await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(location.starts_with("/consultations/ietf/"), "{location}");

    let list = text(send(&app, get("/consultations", &cookie)).await).await;
    assert!(list.contains("id=\"consultations-table\""));
    assert!(list.contains("Review of RFC 2026"), "{list}");
    // Filters narrow it down.
    let list = text(send(&app, get("/consultations?topic=ipv6&org=ietf", &cookie)).await).await;
    assert!(list.contains("Review of RFC 2026"));
    let list = text(send(&app, get("/consultations?topic=dns", &cookie)).await).await;
    assert!(!list.contains("Review of RFC 2026"));
    let list = text(send(&app, get("/consultations?status=closed", &cookie)).await).await;
    assert!(!list.contains("Review of RFC 2026"));

    // Its page; then respond and revise through the forms.
    let page = text(send(&app, get(&location, &cookie)).await).await;
    assert!(page.contains("First question?"));
    assert!(page.contains("id=\"revise-form\""));
    let response = send(
        &app,
        post(
            &format!("{location}/respond"),
            &cookie,
            &[
                ("csrf", &csrf),
                ("text", "We support the review."),
                ("lang", "en"),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let response = send(
        &app,
        post(
            &format!("{location}/revise"),
            &cookie,
            &[("csrf", &csrf), ("closes", "2100-01-31")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = text(send(&app, get(&location, &cookie)).await).await;
    assert!(page.contains("We support the review."));
    assert!(
        page.contains("31 January 2100 (AoE)"),
        "the extension shows"
    );
    assert!(page.contains("id=\"participation-group\""));
    assert!(page.contains("Technical and academic community"));

    // A bad date is a readable 400, not a crash.
    let response = send(
        &app,
        post(
            "/consultations",
            &cookie,
            &[("csrf", &csrf), ("title", "Bad"), ("closes", "next week")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

/// Node `itu` posts a statement for action to `ietf`; `ietf` ingests it.
async fn liaison_between(ietf: &Arc<Node>) -> (Arc<Node>, String) {
    let itu = node("itu", false).await;
    itu.add_peer(org("ietf"), ietf.public_key(), None).unwrap();
    ietf.add_peer(org("itu"), itu.public_key(), None).unwrap();
    let draft = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "ietf".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2099-06-30".into(),
            title: "Request for review of Y.3000".into(),
            body: "Please review the attached draft.".into(),
            lang: "fr".into(),
            attachments: vec![proto::AttachmentUpload {
                name: "Y.3000-draft.pdf".into(),
                media_type: "application/pdf".into(),
                content: b"%PDF-1.4 draft".to_vec(),
            }],
            ..Default::default()
        })
        .unwrap();
    let entry = itu.post_liaison(&draft.id).await.unwrap();
    let uuid = comity_core::document::decode_for(&entry)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap();
    let batch = itu
        .store()
        .entries_after(itu.org(), 0, usize::MAX)
        .unwrap()
        .into_iter()
        .map(|e| e.into_wire())
        .collect();
    ietf.ingest(itu.org(), itu.org(), batch).await.unwrap();
    // As the peer task would have fetched it.
    ietf.store().put_blob(b"%PDF-1.4 draft").unwrap();
    (itu, uuid)
}

#[tokio::test]
async fn a_liaison_is_acknowledged_through_the_form() {
    let ietf = node("ietf", false).await;
    let (_itu, uuid) = liaison_between(&ietf).await;
    let app = comity_web::router(ietf.clone());
    let (cookie, csrf) = login(&app, "eddie").await;

    let inbox = text(send(&app, get("/liaisons?box=awaiting", &cookie)).await).await;
    assert!(inbox.contains("Request for review of Y.3000"), "{inbox}");
    let path = format!("/liaisons/itu/{uuid}");
    let page = text(send(&app, get(&path, &cookie)).await).await;
    for id in ["ack-form", "ack-status", "recipients-table", "reply-form"] {
        assert!(page.contains(&format!("id=\"{id}\"")), "{id}");
    }
    // The body is in French; an English reader is told so.
    assert!(page.contains("fallback-note"));
    let response = send(
        &app,
        post(
            &format!("{path}/ack"),
            &cookie,
            &[
                ("csrf", &csrf),
                ("status", "action_taken"),
                ("note", "Reviewed in CCAMP."),
            ],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = text(send(&app, get(&path, &cookie)).await).await;
    assert!(page.contains("Action taken"), "{page}");
    assert!(page.contains("Reviewed in CCAMP."));
    let awaiting = text(send(&app, get("/liaisons?box=awaiting", &cookie)).await).await;
    assert!(!awaiting.contains("Request for review of Y.3000"));

    // A reply becomes a draft addressed back to the sender.
    let response = send(
        &app,
        post(
            &format!("{path}/reply"),
            &cookie,
            &[("csrf", &csrf), ("body", "Our comments are attached.")],
        ),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let drafts = text(send(&app, get("/liaisons?box=drafts", &cookie)).await).await;
    assert!(
        drafts.contains("Re: Request for review of Y.3000"),
        "{drafts}"
    );
}

#[tokio::test]
async fn attachments_download_with_their_name_and_bytes() {
    let ietf = node("ietf", false).await;
    let (_itu, uuid) = liaison_between(&ietf).await;
    let app = comity_web::router(ietf.clone());
    let (cookie, _) = login(&app, "vera").await;
    let page = text(send(&app, get(&format!("/liaisons/itu/{uuid}"), &cookie)).await).await;
    let start = page.find("href=\"/attachments/").unwrap() + 6;
    let href = page[start..]
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let response = send(&app, get(&href, &cookie)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let disposition = response.headers()[header::CONTENT_DISPOSITION]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains("Y.3000-draft.pdf"), "{disposition}");
    assert_eq!(response.headers()[header::CONTENT_TYPE], "application/pdf");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&bytes[..], b"%PDF-1.4 draft");
    let hash = blake3::hash(&bytes).to_hex().to_string();
    assert!(href.starts_with(&format!("/attachments/{hash}?")), "{href}");

    let missing = format!("/attachments/{}", "ab".repeat(32));
    assert_eq!(
        send(&app, get(&missing, &cookie)).await.status(),
        StatusCode::NOT_FOUND
    );
    let bad = send(&app, get("/attachments/not-a-hash", &cookie)).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn arabic_pages_are_right_to_left_and_the_choice_sticks() {
    let node = node("ietf", true).await;
    node.publish_consultation(proto::PublishConsultationRequest {
        title: "Consultation publique".into(),
        lang: "fr".into(),
        closes: "2099-12-31".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let app = comity_web::router(node);
    let response = send(&app, get("/consultations?lang=ar", "")).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        set_cookies(&response)
            .iter()
            .find_map(|c| c.strip_prefix("lang=")?.split(';').next())
            .map(str::to_string)
            .as_deref(),
        Some("ar")
    );
    let html = text(response).await;
    assert!(html.contains(r#"<html lang="ar" dir="rtl">"#), "{html}");
    assert!(html.contains("المشاورات"));
    let html = text(send(&app, get("/federation", "lang=ar")).await).await;
    assert!(html.contains(r#"dir="rtl""#));
    // The language menu keeps the page's filters.
    let html = text(send(&app, get("/consultations?topic=dns&lang=ar", "")).await).await;
    assert!(
        html.contains(r#"href="/consultations?topic=dns&amp;lang=fr""#),
        "{html}"
    );
    // Accept-Language, when no choice was made.
    let request = Request::get("/consultations")
        .header(header::ACCEPT_LANGUAGE, "de-DE, zh-CN;q=0.9, en;q=0.5")
        .body(Body::empty())
        .unwrap();
    let html = text(send(&app, request).await).await;
    assert!(html.contains(r#"<html lang="zh" dir="ltr">"#));
    assert!(html.contains("磋商"));
    // The French title shows as it is to a Spanish reader, with a note; a French reader gets no note.
    let uuid_start = html.find("/consultations/ietf/").unwrap();
    let path = html[uuid_start..].split('"').next().unwrap().to_string();
    let page = text(send(&app, get(&format!("{path}?lang=es"), "")).await).await;
    assert!(page.contains("No disponible en su idioma"), "{page}");
    assert!(page.contains("Consultation publique"));
    let page = text(send(&app, get(&format!("{path}?lang=fr"), "")).await).await;
    assert!(!page.contains("fallback-note"));
    // Every language has its menu entry on every page.
    for code in ["ar", "zh", "en", "fr", "ru", "es"] {
        assert!(page.contains(&format!("id=\"lang-{code}\"")));
    }
}

#[tokio::test]
async fn public_pages_decide_what_anonymous_readers_see() {
    // Off: everything but the login page and the stylesheet sends to /login.
    let app = comity_web::router(node("ietf", false).await);
    for path in [
        "/",
        "/consultations",
        "/federation",
        "/liaisons",
        "/consultations/new",
    ] {
        let response = send(&app, get(path, "")).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{path}");
        let location = response.headers()[header::LOCATION].to_str().unwrap();
        assert!(location.starts_with("/login"), "{path}: {location}");
    }
    assert_eq!(send(&app, get("/login", "")).await.status(), StatusCode::OK);
    assert_eq!(
        send(&app, get("/static/style.css", "")).await.status(),
        StatusCode::OK
    );
    let response = send(&app, post("/consultations", "", &[("title", "x")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);

    // On: pages are readable without a login, but read-only.
    let node = node("ietf", true).await;
    let (_itu, uuid) = liaison_between(&node).await;
    let app = comity_web::router(node.clone());
    for path in ["/consultations", "/federation", "/liaisons"] {
        let response = send(&app, get(path, "")).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let html = text(response).await;
        assert!(!html.contains("name=\"csrf\""), "{path} has no forms");
        assert!(html.contains("id=\"login-link\""));
    }
    let page = text(send(&app, get(&format!("/liaisons/itu/{uuid}"), "")).await).await;
    assert!(!page.contains("id=\"ack-form\""));
    assert_eq!(
        send(&app, get("/liaisons?box=drafts", "")).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        send(&app, get("/consultations/new", "")).await.status(),
        StatusCode::FORBIDDEN
    );
    let response = send(&app, post("/consultations", "", &[("title", "x")])).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert!(
        node.list_consultations(&proto::ListConsultationsRequest::default())
            .unwrap()
            .is_empty()
    );
    let federation = text(send(&app, get("/federation", "")).await).await;
    assert!(federation.contains("data-org=\"itu\""));
}

#[tokio::test]
async fn every_main_page_is_under_100_kb() {
    let ietf = node("ietf", false).await;
    let (_itu, uuid) = liaison_between(&ietf).await;
    let entry = ietf
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Review of the IANA transition".into(),
            summary: "A summary. ".repeat(50),
            body: "The body of the consultation. ".repeat(200),
            closes: "2099-12-31".into(),
            questions: (1..=10).map(|i| format!("Question {i}?")).collect(),
            ..Default::default()
        })
        .await
        .unwrap();
    let consultation = comity_core::document::decode_for(&entry)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap();
    let app = comity_web::router(ietf);
    let (cookie, _) = login(&app, "anna").await;
    let css = text(send(&app, get("/static/style.css", "")).await).await;
    for lang in ["en", "ar", "zh"] {
        for path in [
            "/login".to_string(),
            "/federation".to_string(),
            "/consultations".to_string(),
            "/consultations/new".to_string(),
            format!("/consultations/ietf/{consultation}"),
            "/liaisons".to_string(),
            "/liaisons?box=drafts".to_string(),
            "/liaisons/new".to_string(),
            format!("/liaisons/itu/{uuid}"),
        ] {
            let sep = if path.contains('?') { '&' } else { '?' };
            let who = if path == "/login" {
                ""
            } else {
                cookie.as_str()
            };
            let response = send(&app, get(&format!("{path}{sep}lang={lang}"), who)).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let html = text(response).await;
            assert!(html.contains("name=\"viewport\""));
            assert!(
                html.len() + css.len() < KB_100,
                "{path} in {lang}: {} bytes",
                html.len() + css.len()
            );
        }
    }
}

/// A whole HTTP/1.1 exchange over a fresh connection.
async fn raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    response
}

#[tokio::test]
async fn a_real_server_serves_counts_and_stops() {
    let node = node("ietf", false).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(comity_web::serve(node.clone(), listener, async {
        let _ = stopped.await;
    }));
    let before = node
        .counters()
        .http_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    let response = raw_get(addr, "/login?lang=ru").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("Вход"));
    assert!(
        response
            .to_ascii_lowercase()
            .contains("x-frame-options: deny")
    );
    let response = raw_get(addr, "/consultations").await;
    assert!(response.starts_with("HTTP/1.1 303"), "{response}");
    let after = node
        .counters()
        .http_requests
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(after - before, 2);
    stop.send(()).unwrap();
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// A GET over a fresh connection: the whole response, or what came before
/// the server closed it (nothing, when it refused the connection).
async fn try_raw_get(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let _ = stream.write_all(request.as_bytes()).await;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response).await;
    String::from_utf8_lossy(&response).into_owned()
}

/// A dashboard served on 127.0.0.1 port 0; stops when the sender is dropped.
async fn serve_dashboard(
    node: &Arc<Node>,
) -> (
    std::net::SocketAddr,
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), comity_web::WebError>>,
) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(comity_web::serve(node.clone(), listener, async {
        let _ = stopped.await;
    }));
    (addr, stop, server)
}

/// Waits up to `limit` for `condition`.
async fn wait_until(limit: std::time::Duration, what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Issue 10, item 10: 1,000 connections that send half a request, or
/// nothing, are closed after the header-read timeout (3 s here; 20 s by
/// default, see `the_dashboard_closes_a_silent_connection_within_30s_by_default`
/// in comity-node's config), and a normal request is served meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_half_sent_requests_are_closed_and_the_dashboard_keeps_serving() {
    use std::sync::atomic::Ordering;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const IDLE: usize = 1000;
    const TIMEOUT_SECS: u64 = 3;
    // Both ends of every connection are in this process.
    rlimit::increase_nofile_limit(4 * IDLE as u64 + 1024).unwrap();
    let node = node_with("ietf", |c| c.http.header_read_timeout_secs = TIMEOUT_SECS).await;
    let (addr, stop, server) = serve_dashboard(&node).await;

    let mut idle = tokio::task::JoinSet::new();
    let opened = tokio::time::Instant::now();
    for i in 0..IDLE {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            // Half the headers, never the blank line that ends them.
            let half = format!("GET /consultations HTTP/1.1\r\nHost: {addr}\r\nAccept: ");
            stream.write_all(half.as_bytes()).await.unwrap();
        }
        idle.spawn(async move {
            // Whatever the server answers (a 408), then the close.
            let mut answer = Vec::new();
            let _ = stream.read_to_end(&mut answer).await;
        });
    }
    // The node keeps serving while they are held.
    let response = try_raw_get(addr, "/login").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");

    let bound = std::time::Duration::from_secs(30);
    let all_closed = tokio::time::timeout(bound.saturating_sub(opened.elapsed()), async {
        while idle.join_next().await.is_some() {}
    })
    .await;
    assert!(
        all_closed.is_ok(),
        "{} of {IDLE} idle or half-sent connections still open {bound:?} after they were opened",
        idle.len()
    );
    wait_until(
        std::time::Duration::from_secs(10),
        "the server counts no open connection",
        || node.counters().http_connections.load(Ordering::Relaxed) == 0,
    )
    .await;
    let response = try_raw_get(addr, "/login").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    drop(stop);
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

/// Issue 10, item 10: past `http.max_connections`, connections are closed as
/// soon as accepted, and counted; once the held ones go, all is served again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_limit_are_refused_and_the_dashboard_recovers() {
    use std::sync::atomic::Ordering;
    const LIMIT: usize = 16;
    const OPENED: usize = 40;
    let node = node_with("ietf", |c| {
        c.http.max_connections = LIMIT;
        c.http.header_read_timeout_secs = 600;
    })
    .await;
    let (addr, stop, server) = serve_dashboard(&node).await;
    let counters = &node.counters();
    let mut held = Vec::new();
    for _ in 0..OPENED {
        held.push(tokio::net::TcpStream::connect(addr).await.unwrap());
    }
    wait_until(
        std::time::Duration::from_secs(10),
        "the connections past the limit are refused",
        || counters.http_connections_refused.load(Ordering::Relaxed) == (OPENED - LIMIT) as u64,
    )
    .await;
    assert_eq!(
        counters.http_connections.load(Ordering::Relaxed),
        LIMIT as u64
    );
    // Full: a request is refused, not queued.
    assert_eq!(try_raw_get(addr, "/login").await, "");
    assert_eq!(
        counters.http_connections_refused.load(Ordering::Relaxed),
        (OPENED - LIMIT + 1) as u64
    );
    drop(held);
    wait_until(
        std::time::Duration::from_secs(10),
        "the held connections are gone",
        || counters.http_connections.load(Ordering::Relaxed) == 0,
    )
    .await;
    let response = try_raw_get(addr, "/login").await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response:?}");
    drop(stop);
    tokio::time::timeout(std::time::Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn the_json_api_needs_a_session_even_with_public_pages() {
    let app = comity_web::router(node("itu", true).await);
    let refused = send(&app, get("/api/v1/status", "")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(text(refused).await.contains("log in"));
    let (cookie, _) = login(&app, "vera").await;
    let status = send(&app, get("/api/v1/status", &cookie)).await;
    assert_eq!(status.status(), StatusCode::OK);
    assert!(text(status).await.contains("\"org\""));
    // Feeds stay public: feed readers carry no session.
    let feed = send(&app, get("/feeds/consultations.atom", "")).await;
    assert_eq!(feed.status(), StatusCode::OK);
}

/// The federation page shows, per organisation, the latest checkpoint kept
/// of its log and who cosigned it when (issue 13).
#[tokio::test]
async fn the_federation_page_shows_checkpoints_and_their_cosigners() {
    let itu = node("itu", true).await;
    let ietf = org("ietf");
    let ietf_key = IdentityKey::generate();
    itu.add_peer(ietf.clone(), ietf_key.public(), None).unwrap();
    let app = comity_web::router(itu.clone());
    let before = text(send(&app, get("/federation", "")).await).await;
    assert!(!before.contains("data-cosigner"));
    let signed = itu
        .sign_own_checkpoint()
        .await
        .unwrap()
        .expect("a checkpoint");
    let size = signed.checkpoint.size;
    // ietf's cosignature comes back, as gossip brings it.
    let mut cosigned = signed.clone();
    cosigned.add_cosignature(
        &comity_core::checkpoint::Cosignature::sign(
            &signed.note.text,
            &ietf,
            &ietf_key,
            1_800_000_000,
        )
        .unwrap(),
    );
    itu.absorb_notes(&ietf, vec![cosigned.to_text().into_bytes()])
        .await
        .unwrap();
    let page = text(send(&app, get("/federation", "")).await).await;
    assert!(page.contains(&format!("size {size}")), "{page}");
    assert!(page.contains("data-cosigner=\"ietf\""), "{page}");
    assert!(page.contains("2027-01-15T08:00:00Z"), "{page}");
}

/// Issue 12: the federation page says whether this node can be dialled,
/// and, per peer, who dialled the link.
#[tokio::test]
async fn the_federation_page_shows_reach_and_who_dialled() {
    for (listen, shown, text_en) in [
        // Listening, but no partner has dialled in: not claimed reachable.
        (
            comity_node::config::Listen::On,
            "unconfirmed",
            "no partner has dialled in yet",
        ),
        (
            comity_node::config::Listen::Off,
            "dial-out-only",
            "dial-out only",
        ),
    ] {
        let node = node_with("kenya-igf", |c| {
            c.http.public_pages = true;
            c.network.listen = listen;
        })
        .await;
        node.add_peer(org("itu"), IdentityKey::generate().public(), None)
            .unwrap();
        let app = comity_web::router(node.clone());
        let html = text(send(&app, get("/federation", "")).await).await;
        assert!(
            html.contains(&format!("data-dialled=\"{shown}\"")),
            "{shown}: {html}"
        );
        assert!(html.contains(text_en), "{text_en}");
        // The peer, never connected either way.
        assert!(html.contains("data-dialled=\"none\""), "{html}");
    }
}

/// Issue 15: sessions are stored with the node's data, so a restart of the
/// dashboard logs nobody out; logout and expiry end them for good.
#[tokio::test]
async fn sessions_survive_a_restart_until_logout_or_expiry() {
    let clock = Arc::new(comity_node::clock::ManualClock::new(
        time::OffsetDateTime::now_utc(),
    ));
    let itu = Node::with_options(
        Config::new(org("itu"), "ITU (test)", "127.0.0.1:0".parse().unwrap()),
        IdentityKey::generate(),
        Arc::new(MemStore::new()),
        comity_node::node::NodeOptions {
            clock: clock.clone(),
            key_files: None,
            api_tokens: None,
            search_dir: None,
        },
    )
    .unwrap();
    accounts::add_user(&**itu.store(), "eddie", accounts::Role::Editor, PASSWORD, 0).unwrap();
    let signed_in = |response: Response<Body>| {
        assert_eq!(response.status(), StatusCode::OK, "not sent to /login");
    };
    let app = comity_web::router(itu.clone());
    let (cookie, csrf) = login(&app, "eddie").await;

    // A restart: a new dashboard over the same store knows the session,
    // and its CSRF token.
    let restarted = comity_web::router(itu.clone());
    signed_in(send(&restarted, get("/liaisons", &cookie)).await);
    let html = text(send(&restarted, get("/consultations", &cookie)).await).await;
    assert_eq!(csrf_in(&html), csrf);

    // Used within the 12 hours, it lives on; 12 hours unused, it is gone,
    // after another restart too.
    clock.advance(time::Duration::hours(11));
    signed_in(send(&comity_web::router(itu.clone()), get("/liaisons", &cookie)).await);
    clock.advance(time::Duration::hours(12));
    let expired = send(&comity_web::router(itu.clone()), get("/liaisons", &cookie)).await;
    assert_eq!(expired.status(), StatusCode::SEE_OTHER);
    assert!(itu.store().records("web-sessions", b"").unwrap().is_empty());

    // Logout ends a session for every later restart.
    let (cookie, csrf) = login(&app, "eddie").await;
    assert_eq!(itu.store().records("web-sessions", b"").unwrap().len(), 1);
    let out = send(&restarted, post("/logout", &cookie, &[("csrf", &csrf)])).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert!(itu.store().records("web-sessions", b"").unwrap().is_empty());
    let after = send(&comity_web::router(itu.clone()), get("/liaisons", &cookie)).await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

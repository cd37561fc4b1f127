//! Restricted entries on the HTTP side: with `public_pages` on, a reader who
//! is not logged in sees public entries only, on every page that lists or
//! links documents, and may download only attachments that a public entry
//! names. Nodes are built in-process and fed each other's logs by hand, as
//! each may receive them.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::{pair, replicate};

use axum::{
    Router,
    body::Body,
    http::{Request, Response, StatusCode, header},
};
use comity_core::{Hash, OrgId, SignedEntry, document, entry::Audience, proto};
use comity_node::{Node, accounts, clock::ManualClock};
use http_body_util::BodyExt;
use proto::document::Body as Doc;
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

const PASSWORD: &str = "correct horse battery";
/// Every restricted text in the world below starts with this.
const SECRET: &str = "SECRET";

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn node(id: &str, clock: &Arc<ManualClock>) -> Arc<Node> {
    let node = common::node(id, clock, |config| config.http.public_pages = true);
    accounts::add_user(&**node.store(), "vera", accounts::Role::Viewer, PASSWORD, 0).unwrap();
    node
}

fn uuid_of(entry: &SignedEntry) -> String {
    document::uuid_of(&document::decode_for(entry).unwrap()).unwrap()
}

fn doc_ref(origin: &str, uuid: &str) -> Option<proto::DocumentRef> {
    Some(proto::DocumentRef {
        origin: origin.into(),
        uuid: uuid.into(),
    })
}

fn en(value: &str) -> Vec<proto::Text> {
    vec![proto::Text {
        lang: "en".into(),
        value: value.into(),
    }]
}

fn attachment(name: &str, content: &[u8]) -> proto::AttachmentRef {
    proto::AttachmentRef {
        hash: Hash::of(content).0.to_vec(),
        size: content.len() as u64,
        media_type: "application/pdf".into(),
        name: name.into(),
    }
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

async fn text(response: Response<Body>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Logs `vera` in; returns the session cookie.
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
        ("csrf", token.as_str()),
        ("next", "/"),
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

/// Every kind of restricted entry next to public ones, between ITU and the
/// IETF; ICANN, outside every audience, holds stubs of the restricted ones.
struct World {
    itu: Arc<Node>,
    ietf: Arc<Node>,
    icann: Arc<Node>,
    /// Every page that lists or links documents, on any of the three nodes.
    pages: Vec<String>,
    /// A public consultation's attachment, and a restricted response's.
    public_blob: Vec<u8>,
    secret_blob: Vec<u8>,
    public_consultation: String,
    public_statement: String,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-04 09:00 UTC)));
    let (itu, ietf, icann) = (
        node("itu", &clock),
        node("ietf", &clock),
        node("icann", &clock),
    );
    pair(&itu, &ietf);
    pair(&itu, &icann);
    pair(&ietf, &icann);
    for n in [&itu, &ietf, &icann] {
        n.publish_profile_if_changed().await.unwrap();
    }
    let public_blob = b"%PDF-1.4 public background paper".to_vec();
    let secret_blob = b"%PDF-1.4 SECRET annex".to_vec();

    // A public consultation, with a public response and a restricted one.
    let consultation = itu
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Public consultation on IPv6".into(),
            closes: "2027-03-31".into(),
            attachments: vec![proto::AttachmentUpload {
                name: "background.pdf".into(),
                media_type: "application/pdf".into(),
                content: public_blob.clone(),
            }],
            ..Default::default()
        })
        .await
        .unwrap();
    let public_consultation = uuid_of(&consultation);
    replicate(&itu, &ietf).await;
    ietf.respond(proto::RespondRequest {
        consultation: doc_ref("itu", &public_consultation),
        text: "Public comments of the IETF".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    ietf.store().put_blob(&secret_blob).unwrap();
    ietf.publish_to(
        Doc::Response(proto::ConsultationResponse {
            uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
            consultation: doc_ref("itu", &public_consultation),
            text: en("SECRET-RESPONSE for ITU only"),
            attachments: vec![attachment("annex.pdf", &secret_blob)],
            ..Default::default()
        }),
        Audience::Restricted(vec![org("itu")]),
    )
    .await
    .unwrap();

    // A restricted consultation, and a public one revised in restricted.
    let consultation_body = |uuid: &str, revision: u32, title: &str| {
        Doc::Consultation(proto::Consultation {
            uuid: uuid.into(),
            revision,
            title: en(title),
            closes_at: Some(prost_types::Timestamp {
                seconds: 1_806_000_000,
                nanos: 0,
            }),
            status: proto::ConsultationStatus::Open as i32,
            ..Default::default()
        })
    };
    let restricted_consultation = document::new_uuid(time::OffsetDateTime::now_utc());
    itu.publish_to(
        consultation_body(&restricted_consultation, 1, "SECRET-CONSULTATION"),
        Audience::Restricted(vec![org("ietf")]),
    )
    .await
    .unwrap();
    let revised = document::new_uuid(time::OffsetDateTime::now_utc());
    itu.publish(consultation_body(&revised, 1, "Public first revision"))
        .await
        .unwrap();
    itu.publish_to(
        consultation_body(&revised, 2, "SECRET-REVISION"),
        Audience::Restricted(vec![org("ietf")]),
    )
    .await
    .unwrap();

    // A public statement, with a restricted reply and a restricted receipt.
    let draft = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "ietf".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2027-02-28".into(),
            title: "Public statement on routing security".into(),
            body: "Please review.".into(),
            ..Default::default()
        })
        .unwrap();
    let statement = itu.post_liaison(&draft.id).await.unwrap();
    let public_statement = uuid_of(&statement);
    // A restricted statement, answered in public.
    let draft = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "ietf".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Comment as i32,
            deadline: "2027-02-20".into(),
            title: "SECRET-PARENT coordination".into(),
            body: "For the IETF only.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let parent = uuid_of(&itu.post_liaison(&draft.id).await.unwrap());
    replicate(&itu, &ietf).await;

    let reply = ietf
        .reply_liaison(proto::ReplyLiaisonRequest {
            original: doc_ref("itu", &public_statement),
            title: "SECRET-REPLY to the statement".into(),
            body: "Our confidential view.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let reply = uuid_of(&ietf.post_liaison(&reply.id).await.unwrap());
    ietf.publish_to(
        Doc::Receipt(proto::Receipt {
            entry: Some(proto::EntryRef {
                origin: "itu".into(),
                seq: statement.seq(),
                id: statement.id().0.to_vec(),
            }),
            liaison: doc_ref("itu", &public_statement),
            status: proto::ReceiptStatus::Received as i32,
            note: "SECRET-NOTE on the receipt".into(),
            reply: None,
        }),
        Audience::Restricted(vec![org("itu")]),
    )
    .await
    .unwrap();
    let answer = ietf
        .reply_liaison(proto::ReplyLiaisonRequest {
            original: doc_ref("itu", &parent),
            title: "Public answer".into(),
            body: "Our public view.".into(),
            ..Default::default()
        })
        .unwrap();
    let answer = uuid_of(&ietf.post_liaison(&answer.id).await.unwrap());
    for (from, to) in [(&ietf, &itu), (&itu, &icann), (&ietf, &icann)] {
        replicate(from, to).await;
    }
    // As the fetch tasks would have.
    itu.store().put_blob(&secret_blob).unwrap();
    for n in [&ietf, &icann] {
        n.store().put_blob(&public_blob).unwrap();
    }

    let mut pages: Vec<String> = [
        "/consultations",
        "/consultations?status=all",
        "/liaisons?box=inbox",
        "/liaisons?box=outbox",
        "/liaisons?box=awaiting",
        "/liaisons?box=overdue",
        "/federation",
        "/feeds/consultations.atom",
        "/feeds/liaisons.atom",
        "/calendar/deadlines.ics",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    for uuid in [&public_consultation, &restricted_consultation, &revised] {
        pages.push(format!("/consultations/itu/{uuid}"));
    }
    for (origin, uuid) in [
        ("itu", &public_statement),
        ("itu", &parent),
        ("ietf", &reply),
        ("ietf", &answer),
    ] {
        pages.push(format!("/liaisons/{origin}/{uuid}"));
    }
    World {
        itu,
        ietf,
        icann,
        pages,
        public_blob,
        secret_blob,
        public_consultation,
        public_statement,
    }
}

#[tokio::test]
async fn anonymous_readers_never_see_restricted_titles() {
    let w = world().await;
    let mut leaks = Vec::new();
    for node in [&w.itu, &w.ietf, &w.icann] {
        let app = comity_web::router(node.clone());
        for path in &w.pages {
            let response = get(&app, path, "").await;
            let status = response.status();
            assert!(
                status == StatusCode::OK || status == StatusCode::NOT_FOUND,
                "{} {path}: {status}",
                node.org()
            );
            let page = text(response).await;
            for (at, _) in page.match_indices(SECRET) {
                let end = (at + 40).min(page.len());
                let snippet = String::from_utf8_lossy(&page.as_bytes()[at..end]);
                leaks.push(format!("{} {path}: {snippet}", node.org()));
            }
        }
    }
    assert!(
        leaks.is_empty(),
        "restricted texts shown to an anonymous reader:\n{}",
        leaks.join("\n")
    );

    // What is public is still shown to them…
    let app = comity_web::router(w.itu.clone());
    let page = text(
        get(
            &app,
            &format!("/consultations/itu/{}", w.public_consultation),
            "",
        )
        .await,
    )
    .await;
    assert!(page.contains("Public comments of the IETF"), "{page}");
    assert!(page.contains("Public first revision") || page.contains("Public consultation"));
    let list = text(get(&app, "/consultations?status=all", "").await).await;
    assert!(list.contains("Public first revision"), "{list}");
    let page = text(get(&app, &format!("/liaisons/itu/{}", w.public_statement), "").await).await;
    assert!(page.contains("Public statement on routing security"));
    // …and what is restricted is shown to the node's own readers.
    let cookie = login(&app).await;
    let page = text(
        get(
            &app,
            &format!("/liaisons/itu/{}", w.public_statement),
            &cookie,
        )
        .await,
    )
    .await;
    assert!(page.contains("SECRET-REPLY"), "{page}");
    assert!(page.contains("SECRET-NOTE"), "{page}");
    let page = text(
        get(
            &app,
            &format!("/consultations/itu/{}", w.public_consultation),
            &cookie,
        )
        .await,
    )
    .await;
    assert!(page.contains("SECRET-RESPONSE"), "{page}");
}

#[tokio::test]
async fn restricted_attachments_are_downloaded_only_by_readers_of_their_entry() {
    let w = world().await;
    let secret = format!("/attachments/{}", Hash::of(&w.secret_blob).to_hex());
    let public = format!("/attachments/{}", Hash::of(&w.public_blob).to_hex());
    for node in [&w.itu, &w.ietf] {
        let app = comity_web::router(node.clone());
        // Held here, and named by a restricted response only.
        assert!(
            node.store()
                .blob(&Hash::of(&w.secret_blob))
                .unwrap()
                .is_some()
        );
        let anonymous = get(&app, &secret, "").await;
        assert_eq!(
            anonymous.status(),
            StatusCode::NOT_FOUND,
            "{} serves a restricted attachment to an anonymous reader",
            node.org()
        );
        assert!(!text(anonymous).await.contains(SECRET));
        let response = get(&app, &public, "").await;
        assert_eq!(response.status(), StatusCode::OK, "{}", node.org());
        assert_eq!(text(response).await.as_bytes(), w.public_blob);
        // The node's own readers may read the response, so the annex too.
        let cookie = login(&app).await;
        let response = get(&app, &secret, &cookie).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", node.org());
        assert_eq!(text(response).await.as_bytes(), w.secret_blob);
    }
    // ICANN, outside the audience, holds only the stub: its own readers get
    // nothing, even once the blob is somehow here.
    let app = comity_web::router(w.icann.clone());
    let cookie = login(&app).await;
    assert_eq!(
        get(&app, &secret, &cookie).await.status(),
        StatusCode::NOT_FOUND
    );
    w.icann.store().put_blob(&w.secret_blob).unwrap();
    assert_eq!(
        get(&app, &secret, &cookie).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(get(&app, &secret, "").await.status(), StatusCode::NOT_FOUND);
    assert_eq!(get(&app, &public, &cookie).await.status(), StatusCode::OK);
}

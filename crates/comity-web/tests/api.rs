//! The JSON read API: every route's shape, filters and error statuses, on
//! nodes built in-process and fed each other's logs by hand.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::{pair, replicate};

use axum::{
    body::Body,
    http::{Request, StatusCode, header},
};
use comity_core::{document, proto};
use comity_node::{Node, clock::ManualClock};
use http_body_util::BodyExt;
use serde_json::Value;
use std::sync::Arc;
use time::{Duration, macros::datetime};
use tower::ServiceExt;

fn node(org: &str, clock: &Arc<ManualClock>, group: &str) -> Arc<Node> {
    common::node(org, clock, |config| {
        config.http.base_url = Some(format!("https://{org}.example.org"));
        config.profile.stakeholder_group = Some(group.parse().unwrap());
        config.profile.region = Some("global".into());
    })
}

async fn call(node: &Arc<Node>, uri: &str) -> (StatusCode, Value) {
    let response = comity_web::api::router(node.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string());
    let body = response.into_body().collect().await.unwrap().to_bytes();
    if status == StatusCode::METHOD_NOT_ALLOWED {
        return (status, Value::Null);
    }
    assert_eq!(content_type.as_deref(), Some("application/json"), "{uri}");
    let value: Value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{uri}: not JSON ({e}): {}", String::from_utf8_lossy(&body)));
    (status, value)
}

async fn ok(node: &Arc<Node>, uri: &str) -> Value {
    let (status, value) = call(node, uri).await;
    assert_eq!(status, StatusCode::OK, "{uri}: {value}");
    value
}

/// Asserts the status and that the body is `{"error": "..."}`; returns the message.
async fn error(node: &Arc<Node>, uri: &str, expected: StatusCode) -> String {
    let (status, value) = call(node, uri).await;
    assert_eq!(status, expected, "{uri}: {value}");
    let object = value.as_object().unwrap();
    assert_eq!(object.len(), 1, "{value}");
    let message = object["error"].as_str().unwrap().to_string();
    assert!(!message.is_empty());
    message
}

fn uuid_of(entry: &comity_core::SignedEntry) -> String {
    document::uuid_of(&document::decode_for(entry).unwrap()).unwrap()
}

struct World {
    clock: Arc<ManualClock>,
    itu: Arc<Node>,
    ietf: Arc<Node>,
    icann: Arc<Node>,
    consultation: String,
    public_liaison: String,
    restricted_liaison: String,
}

async fn world() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-04 09:00 UTC)));
    let itu = node("itu", &clock, "intergovernmental");
    let ietf = node("ietf", &clock, "technical-academic");
    let icann = node("icann", &clock, "technical-academic");
    pair(&itu, &ietf);
    pair(&itu, &icann);
    pair(&ietf, &icann);
    for n in [&itu, &ietf, &icann] {
        n.publish_profile_if_changed().await.unwrap();
    }
    let consultation = itu
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Developmental aspects of the Internet".into(),
            titles: vec![proto::Text {
                lang: "fr".into(),
                value: "Aspects de l'Internet liés au développement".into(),
            }],
            summary: "Online consultation.".into(),
            closes: "2027-03-31".into(),
            topics: vec!["development".into()],
            questions: vec!["How can developing countries take part?".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    let consultation = uuid_of(&consultation);
    replicate(&itu, &ietf).await;
    clock.advance(Duration::hours(1));
    ietf.respond(proto::RespondRequest {
        consultation: Some(proto::DocumentRef {
            origin: "itu".into(),
            uuid: consultation.clone(),
        }),
        text: "Comments of the IETF".into(),
        lang: "en".into(),
        ..Default::default()
    })
    .await
    .unwrap();
    let public = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            cc: vec![proto::Recipient {
                to: "icann".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2027-02-28".into(),
            title: "Review of the YANG models".into(),
            body: "Please review.".into(),
            ..Default::default()
        })
        .unwrap();
    let public_liaison = uuid_of(&ietf.post_liaison(&public.id).await.unwrap());
    let restricted = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Comment as i32,
            deadline: "2027-02-20".into(),
            title: "Confidential coordination".into(),
            body: "For ITU only.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let restricted_liaison = uuid_of(&ietf.post_liaison(&restricted.id).await.unwrap());
    for (from, to) in [(&itu, &icann), (&ietf, &itu), (&ietf, &icann)] {
        replicate(from, to).await;
    }
    World {
        clock,
        itu,
        ietf,
        icann,
        consultation,
        public_liaison,
        restricted_liaison,
    }
}

fn is_rfc3339(value: &Value) -> bool {
    value.as_str().is_some_and(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
    })
}

fn is_hex(value: &Value, len: usize) -> bool {
    value
        .as_str()
        .is_some_and(|s| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[tokio::test]
async fn status_and_peers_mirror_the_cli() {
    let w = world().await;
    let status = ok(&w.itu, "/api/v1/status").await;
    assert_eq!(status["org"], "itu");
    assert!(status["key"].as_str().unwrap().starts_with("ed25519:"));
    assert_eq!(status["endpoint"], "https://127.0.0.1:7400");
    assert_eq!(status["http"], "https://itu.example.org");
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    let heads = status["heads"].as_array().unwrap();
    let origins: Vec<&str> = heads
        .iter()
        .map(|h| h["origin"].as_str().unwrap())
        .collect();
    assert_eq!(origins, ["ietf", "itu"]);
    for head in heads {
        assert!(is_hex(&head["hash"], 64), "{head}");
        assert_eq!(head["frozen"], false);
    }
    let ietf_head = heads.iter().find(|h| h["origin"] == "ietf").unwrap();
    assert_eq!(
        ietf_head["seq"],
        w.ietf.store().head(w.ietf.org()).unwrap().unwrap().seq
    );
    assert_eq!(status["equivocations"], Value::Array(vec![]));
    assert_eq!(status["peers"].as_array().unwrap().len(), 2);

    let peers = ok(&w.itu, "/api/v1/peers").await;
    let peers = peers["peers"].as_array().unwrap();
    let ietf = peers.iter().find(|p| p["org"] == "ietf").unwrap();
    assert_eq!(ietf["key"], w.ietf.public_key().to_string());
    assert_eq!(ietf["connected"], false);
    assert_eq!(ietf["reciprocal"], false);
    assert_eq!(ietf["endpoint"], Value::Null);
    assert_eq!(ietf["failures"], 0);
    assert!(ietf["lag"].is_array() && ietf["serving"].is_array());

    error(&w.itu, "/api/v1/status?verbose=1", StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn the_log_lists_entries_and_redacts_what_it_cannot_read() {
    let w = world().await;
    let all = ok(&w.icann, "/api/v1/log").await;
    let entries = all["entries"].as_array().unwrap();
    let held: u64 = w.icann.heads().unwrap().iter().map(|(_, h)| h.seq).sum();
    assert_eq!(entries.len() as u64, held);
    for e in entries {
        assert!(is_hex(&e["id"], 64), "{e}");
        assert!(is_rfc3339(&e["created_at"]), "{e}");
    }

    let ietf = ok(&w.icann, "/api/v1/log?origin=ietf").await;
    let ietf = ietf["entries"].as_array().unwrap();
    assert!(ietf.iter().all(|e| e["origin"] == "ietf"));
    let kinds: Vec<&str> = ietf.iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["profile", "response", "liaison", "liaison"]);
    let last = ietf.last().unwrap();
    assert_eq!(last["redacted"], true);
    assert_eq!(last["summary"], "(restricted)");
    assert_eq!(ietf[2]["summary"], "Review of the YANG models");
    // ITU, an addressee, reads it.
    let on_itu = ok(&w.itu, "/api/v1/log?origin=ietf&after_seq=3").await;
    let on_itu = on_itu["entries"].as_array().unwrap();
    assert_eq!(on_itu.len(), 1);
    assert_eq!(on_itu[0]["redacted"], false);
    assert_eq!(on_itu[0]["summary"], "Confidential coordination");

    let one = ok(&w.icann, "/api/v1/log?origin=ietf&limit=1").await;
    assert_eq!(one["entries"].as_array().unwrap().len(), 1);

    error(
        &w.icann,
        "/api/v1/log?origin=Not%20an%20org",
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(&w.icann, "/api/v1/log?limit=lots", StatusCode::BAD_REQUEST).await;
    error(
        &w.icann,
        "/api/v1/log?after_seq=-1",
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        &w.icann,
        "/api/v1/log?origin=itu&origin=ietf",
        StatusCode::BAD_REQUEST,
    )
    .await;
}

#[tokio::test]
async fn consultations_are_listed_with_filters_and_shown_whole() {
    let w = world().await;
    let list = ok(&w.ietf, "/api/v1/consultations").await;
    let list = list["consultations"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    let summary = &list[0];
    assert_eq!(summary["origin"], "itu");
    assert_eq!(summary["uuid"], w.consultation);
    assert_eq!(summary["revision"], 1);
    assert_eq!(summary["status"], "open");
    assert_eq!(summary["responses"], 1);
    assert_eq!(summary["closes_at"], "2027-04-01T11:59:59Z");
    assert_eq!(summary["opens_at"], Value::Null);
    assert_eq!(summary["topics"], serde_json::json!(["development"]));
    assert_eq!(
        summary["title"],
        serde_json::json!([
            {"lang": "en", "value": "Developmental aspects of the Internet"},
            {"lang": "fr", "value": "Aspects de l'Internet liés au développement"},
        ])
    );

    for (query, expected) in [
        ("?open=true", 1),
        ("?open", 1),
        ("?open=false", 1),
        ("?origin=itu", 1),
        ("?origin=ietf", 0),
        ("?topic=development", 1),
        ("?topic=security", 0),
        ("?lang=fr", 1),
        ("?lang=ar", 0),
        ("?status=open", 1),
        ("?status=closed", 0),
        (
            "?origin=itu&topic=development&lang=en&status=open&open=1",
            1,
        ),
    ] {
        let list = ok(&w.ietf, &format!("/api/v1/consultations{query}")).await;
        assert_eq!(
            list["consultations"].as_array().unwrap().len(),
            expected,
            "{query}"
        );
    }
    w.clock.advance(Duration::days(120));
    let open = ok(&w.ietf, "/api/v1/consultations?open=true").await;
    assert!(open["consultations"].as_array().unwrap().is_empty());
    let closed = ok(&w.ietf, "/api/v1/consultations?status=closed").await;
    assert_eq!(closed["consultations"].as_array().unwrap().len(), 1);

    let view = ok(
        &w.ietf,
        &format!("/api/v1/consultations/itu/{}", w.consultation),
    )
    .await;
    assert_eq!(view["summary"]["uuid"], w.consultation);
    let current = &view["current"];
    assert_eq!(current["status"], "open");
    assert_eq!(current["summary"][0]["value"], "Online consultation.");
    assert_eq!(current["questions"][0]["number"], 1);
    assert_eq!(current["report"], Value::Null);
    let revisions = view["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 1);
    assert!(is_hex(&revisions[0]["id"], 64));
    let responses = view["responses"].as_array().unwrap();
    assert_eq!(responses.len(), 1);
    assert_eq!(responses[0]["origin"], "ietf");
    assert_eq!(responses[0]["text"][0]["value"], "Comments of the IETF");
    assert_eq!(responses[0]["late"], false);
    assert_eq!(responses[0]["stakeholder_group"], "technical-academic");
    assert_eq!(
        view["by_stakeholder_group"],
        serde_json::json!([{"key": "technical-academic", "responses": 1}])
    );
    assert_eq!(
        view["by_region"],
        serde_json::json!([{"key": "global", "responses": 1}])
    );

    for bad in [
        "/api/v1/consultations?status=maybe",
        "/api/v1/consultations?open=perhaps",
        "/api/v1/consultations?lang=not_a_language",
        "/api/v1/consultations?origin=ITU!",
        "/api/v1/consultations?orgin=itu",
        "/api/v1/consultations/itu/not-a-uuid",
        "/api/v1/consultations/IT%20U/0190a5b2-0000-7000-8000-000000000000",
    ] {
        error(&w.ietf, bad, StatusCode::BAD_REQUEST).await;
    }
    let missing = error(
        &w.ietf,
        "/api/v1/consultations/itu/0190a5b2-0000-7000-8000-000000000000",
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(missing.contains("no consultation"), "{missing}");
}

#[tokio::test]
async fn liaison_boxes_mirror_the_cli() {
    let w = world().await;
    let inbox = ok(&w.itu, "/api/v1/liaisons?box=inbox").await;
    let inbox = inbox["liaisons"].as_array().unwrap();
    assert_eq!(inbox.len(), 2);
    let public = inbox
        .iter()
        .find(|l| l["uuid"] == w.public_liaison)
        .unwrap();
    assert_eq!(public["origin"], "ietf");
    assert_eq!(public["title"], "Review of the YANG models");
    assert_eq!(public["purpose"], "action");
    assert_eq!(public["to"], serde_json::json!(["itu"]));
    assert_eq!(public["cc"], serde_json::json!(["icann"]));
    assert_eq!(public["deadline"], "2027-02-28 (AoE)");
    assert_eq!(public["overdue"], false);
    assert_eq!(public["action_state"], "awaiting");
    assert_eq!(public["restricted"], false);
    assert_eq!(public["redacted"], false);
    assert!(is_rfc3339(&public["created_at"]));
    let restricted = inbox
        .iter()
        .find(|l| l["uuid"] == w.restricted_liaison)
        .unwrap();
    assert_eq!(restricted["restricted"], true);
    assert_eq!(restricted["redacted"], false);

    // ICANN is copied on the public statement only.
    let icann = ok(&w.icann, "/api/v1/liaisons?box=inbox").await;
    let icann = icann["liaisons"].as_array().unwrap();
    assert_eq!(icann.len(), 1);
    assert_eq!(icann[0]["uuid"], w.public_liaison);

    let outbox = ok(&w.ietf, "/api/v1/liaisons?box=outbox").await;
    assert_eq!(outbox["liaisons"].as_array().unwrap().len(), 2);
    let awaiting = ok(&w.itu, "/api/v1/liaisons?box=awaiting_action").await;
    let awaiting = awaiting["liaisons"].as_array().unwrap();
    assert_eq!(awaiting.len(), 1);
    assert_eq!(awaiting[0]["uuid"], w.public_liaison);
    let overdue = ok(&w.itu, "/api/v1/liaisons?box=overdue").await;
    assert!(overdue["liaisons"].as_array().unwrap().is_empty());

    // Past both deadlines (AoE), with no action taken, both are overdue.
    w.clock.set(datetime!(2027-03-02 00:00 UTC));
    let overdue = ok(&w.itu, "/api/v1/liaisons?box=overdue").await;
    assert_eq!(overdue["liaisons"].as_array().unwrap().len(), 2);
    let overdue = ok(&w.ietf, "/api/v1/liaisons?box=awaiting-action").await;
    assert!(overdue["liaisons"].as_array().unwrap().is_empty());

    error(&w.itu, "/api/v1/liaisons", StatusCode::BAD_REQUEST).await;
    error(&w.itu, "/api/v1/liaisons?box=spam", StatusCode::BAD_REQUEST).await;
}

#[tokio::test]
async fn a_liaison_is_shown_with_recipients_and_receipts() {
    let w = world().await;
    w.itu
        .acknowledge(proto::AcknowledgeRequest {
            liaison: Some(proto::DocumentRef {
                origin: "ietf".into(),
                uuid: w.public_liaison.clone(),
            }),
            status: proto::ReceiptStatus::AcceptedForAction as i32,
            note: "Forwarded to SG15.".into(),
        })
        .await
        .unwrap();
    replicate(&w.itu, &w.ietf).await;

    let view = ok(
        &w.ietf,
        &format!("/api/v1/liaisons/ietf/{}", w.public_liaison),
    )
    .await;
    assert_eq!(view["summary"]["uuid"], w.public_liaison);
    assert_eq!(view["summary"]["action_state"], "accepted_for_action");
    let statement = &view["statement"];
    assert_eq!(statement["title"], "Review of the YANG models");
    assert_eq!(statement["purpose"], "action");
    assert_eq!(statement["state"], "posted");
    assert_eq!(
        statement["deadline"],
        serde_json::json!({"date": "2027-02-28", "zone": null})
    );
    assert_eq!(
        statement["to"],
        serde_json::json!([{"org": "itu", "group": null, "purpose": null, "deadline": null}])
    );
    assert_eq!(statement["body"]["value"], "Please review.");
    let recipients = view["recipients"].as_array().unwrap();
    assert_eq!(recipients.len(), 2);
    let itu = recipients.iter().find(|r| r["org"] == "itu").unwrap();
    assert_eq!(itu["cc"], false);
    assert_eq!(itu["purpose"], "action");
    assert_eq!(itu["action_state"], "accepted_for_action");
    let receipt = &itu["receipts"][0];
    assert_eq!(receipt["origin"], "itu");
    assert_eq!(receipt["status"], "accepted_for_action");
    assert_eq!(receipt["note"], "Forwarded to SG15.");
    assert!(is_hex(&receipt["id"], 64));
    let icann = recipients.iter().find(|r| r["org"] == "icann").unwrap();
    assert_eq!(icann["cc"], true);
    assert_eq!(icann["action_state"], "awaiting");
    assert_eq!(view["in_reply_to"], Value::Null);
    assert_eq!(view["revisions"].as_array().unwrap().len(), 1);

    // The addressee reads the restricted statement whole; a node outside
    // its audience holds only a stub, which is no document here.
    let on_itu = ok(
        &w.itu,
        &format!("/api/v1/liaisons/ietf/{}", w.restricted_liaison),
    )
    .await;
    assert_eq!(on_itu["summary"]["restricted"], true);
    assert_eq!(on_itu["statement"]["body"]["value"], "For ITU only.");
    let on_icann = error(
        &w.icann,
        &format!("/api/v1/liaisons/ietf/{}", w.restricted_liaison),
        StatusCode::NOT_FOUND,
    )
    .await;
    assert!(!on_icann.contains("Confidential"));

    error(
        &w.ietf,
        "/api/v1/liaisons/ietf/nope",
        StatusCode::BAD_REQUEST,
    )
    .await;
    error(
        &w.ietf,
        "/api/v1/liaisons/ietf/0190a5b2-0000-7000-8000-000000000000",
        StatusCode::NOT_FOUND,
    )
    .await;
}

#[tokio::test]
async fn unknown_routes_answer_json_404() {
    let w = world().await;
    for uri in [
        "/api/v1",
        "/api/v1/",
        "/api/v1/nothing",
        "/api/v1/consultations/itu",
        "/api/v1/liaisons/a/b/c",
    ] {
        error(&w.itu, uri, StatusCode::NOT_FOUND).await;
    }
    let response = comity_web::api::router(w.itu.clone())
        .oneshot(Request::post("/api/v1/status").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_openapi_description_lists_every_route_and_its_parameters_without_a_login() {
    let clock = Arc::new(ManualClock::starting_now());
    let itu = node("itu", &clock, "intergovernmental");
    let response = comity_web::router(itu.clone())
        .oneshot(
            Request::get("/api/v1/openapi.json")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let spec: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    let paths = spec["paths"].as_object().unwrap();
    for route in [
        "/api/v1/status",
        "/api/v1/peers",
        "/api/v1/log",
        "/api/v1/consultations",
        "/api/v1/consultations/{origin}/{uuid}",
        "/api/v1/liaisons",
        "/api/v1/liaisons/{origin}/{uuid}",
        "/api/v1/search",
    ] {
        assert!(
            paths.contains_key(route),
            "{route} missing: {:?}",
            paths.keys()
        );
    }
    let names = |route: &str| -> Vec<String> {
        paths[route]["get"]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| p["name"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(names("/api/v1/log"), ["origin", "after_seq", "limit"]);
    assert_eq!(names("/api/v1/liaisons"), ["box", "offset", "limit"]);
    assert_eq!(
        names("/api/v1/search"),
        [
            "q",
            "origin",
            "kind",
            "lang",
            "prefer_lang",
            "offset",
            "limit"
        ]
    );
    assert_eq!(names("/api/v1/status"), Vec::<String>::new());
    // The parameters it describes are the ones the route takes.
    let (status, _) = call(&itu, "/api/v1/liaisons?box=inbox").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = call(&itu, "/api/v1/log?origin=itu&after_seq=0&limit=1").await;
    assert_eq!(status, StatusCode::OK);
    // Both ways in are described.
    let schemes = spec["components"]["securitySchemes"].as_object().unwrap();
    assert_eq!(schemes["token"]["scheme"], "bearer");
    assert_eq!(schemes["session"]["name"], "comity_session_itu");
    assert!(spec["components"]["schemas"]["StatusBody"]["properties"]["heads"].is_object());
}

#[tokio::test]
async fn lists_come_in_pages_that_say_where_the_next_begins() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-04 09:00 UTC)));
    let itu = node("itu", &clock, "intergovernmental");
    let mut published = Vec::new();
    for i in 0..5 {
        let entry = itu
            .publish_consultation(proto::PublishConsultationRequest {
                title: format!("Consultation {i}"),
                closes: "2027-03-31".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        published.push(uuid_of(&entry));
        clock.advance(Duration::minutes(1));
    }
    let all = ok(&itu, "/api/v1/consultations").await;
    assert_eq!(all["total"], 5);
    assert_eq!(all["offset"], 0);
    assert_eq!(all["limit"], 100);
    assert!(all.get("next_offset").is_none(), "{all}");
    let order: Vec<String> = all["consultations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["uuid"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order.len(), 5);
    published.sort();
    let mut sorted = order.clone();
    sorted.sort();
    assert_eq!(sorted, published);

    // Pages of two, followed by next_offset, give the whole list in its order.
    let mut paged = Vec::new();
    let mut offset = Some(0);
    while let Some(o) = offset {
        let page = ok(&itu, &format!("/api/v1/consultations?limit=2&offset={o}")).await;
        assert_eq!(page["total"], 5);
        assert_eq!(page["limit"], 2);
        let items = page["consultations"].as_array().unwrap();
        assert!(items.len() <= 2);
        paged.extend(
            items
                .iter()
                .map(|c| c["uuid"].as_str().unwrap().to_string()),
        );
        offset = page.get("next_offset").map(|n| n.as_u64().unwrap());
    }
    assert_eq!(paged, order);
    // Past the end: an empty page, no next.
    let past = ok(&itu, "/api/v1/consultations?offset=9").await;
    assert!(past["consultations"].as_array().unwrap().is_empty());
    assert!(past.get("next_offset").is_none());
    // Liaison boxes page the same way.
    let inbox = ok(&itu, "/api/v1/liaisons?box=inbox&limit=1").await;
    assert_eq!(inbox["total"], 0);
    assert_eq!(inbox["limit"], 1);

    for bad in [
        "limit=0",
        "limit=1001",
        "limit=-1",
        "limit=two",
        "offset=-3",
    ] {
        let message = error(
            &itu,
            &format!("/api/v1/consultations?{bad}"),
            StatusCode::BAD_REQUEST,
        )
        .await;
        let key = bad.split('=').next().unwrap();
        assert!(message.contains(key), "{bad}: {message}");
    }
}

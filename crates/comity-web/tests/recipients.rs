//! Issue 15, part 3: one statement "for action" to one body by its own
//! date and "for information" to another (the ITU template), drafted
//! through the dashboard's form: each inbox shows what it is asked, by
//! when, and the statement's page each recipient's deadline.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[allow(dead_code)] // this test uses only `common::node`, `pair` and `replicate`
mod common;

use axum::{body::Body, http::Request};
use comity_core::proto;
use comity_node::{NodeError, clock::ManualClock};
use common::{pair, replicate};
use http_body_util::BodyExt;
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

async fn page(node: &Arc<comity_node::Node>, uri: &str) -> String {
    let response = comity_web::router(node.clone())
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{uri}: {}",
        response.status()
    );
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// The inbox row of `uuid`.
fn row<'a>(html: &'a str, uuid: &str) -> &'a str {
    let start = html.find(&format!("data-uuid=\"{uuid}\"")).unwrap();
    let end = html[start..].find("</tr>").unwrap();
    &html[start..start + end]
}

#[tokio::test]
async fn each_recipient_sees_its_own_purpose_and_deadline() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-03-01 12:00 UTC)));
    let [itu, ietf, icann] =
        ["itu", "ietf", "icann"].map(|id| common::node(id, &clock, |c| c.http.public_pages = true));
    pair(&itu, &ietf);
    pair(&itu, &icann);
    let recipients = ["ietf=action:2027-03-10", "icann=information"]
        .map(|r| comity_node::words::parse_recipient(r).unwrap())
        .to_vec();
    let draft = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: recipients.clone(),
            purpose: proto::LiaisonPurpose::Action as i32,
            title: "Numbering for IoT".into(),
            body: "The IETF is asked to act; ICANN is informed.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    let posted = itu.post_liaison(&draft.id).await.unwrap();
    let uuid = comity_core::document::uuid_of(&comity_core::document::decode_for(&posted).unwrap())
        .unwrap();
    replicate(&itu, &ietf).await;
    replicate(&itu, &icann).await;

    let at_ietf = page(&ietf, "/liaisons?box=inbox&lang=en").await;
    let ietf_row = row(&at_ietf, &uuid);
    assert!(ietf_row.contains("For action"), "{ietf_row}");
    assert!(
        ietf_row.contains(">10 March 2027 (AoE)</time>"),
        "{ietf_row}"
    );
    assert!(ietf_row.contains("(in 10 days)"), "{ietf_row}");
    let at_icann = page(&icann, "/liaisons?box=inbox&lang=en").await;
    let icann_row = row(&at_icann, &uuid);
    // Informed only: no deadline.
    assert!(
        icann_row.contains("<td>For information</td><td>—</td>"),
        "{icann_row}"
    );

    // The statement's page: each recipient's deadline.
    let shown = page(&itu, &format!("/liaisons/itu/{uuid}?lang=fr")).await;
    let cell = |org: &str| {
        let start = shown
            .find(&format!("<tr class=\"\" data-org=\"{org}\""))
            .unwrap();
        let row = &shown[start..start + shown[start..].find("</tr>").unwrap()];
        let cell = row.find("<td class=\"deadline\">").unwrap();
        row[cell..cell + row[cell..].find("</td>").unwrap()].to_string()
    };
    assert!(cell("ietf").contains("10 mars 2027 (AoE)"), "{shown}");
    assert!(cell("icann").contains('—'), "{shown}");

    // The JSON API says the same.
    let response = comity_web::api::router(itu.clone())
        .oneshot(
            Request::get(format!("/api/v1/liaisons/itu/{uuid}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let api: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    let deadlines: Vec<_> = api["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["org"].clone(), r["deadline"].clone()))
        .collect();
    assert_eq!(
        deadlines,
        [
            ("ietf".into(), "2027-03-10 (AoE)".into()),
            ("icann".into(), serde_json::Value::Null)
        ],
        "{api}"
    );

    // The deadlines calendar has the statement, due on the IETF's day
    // (the statement itself names none).
    let calendar = page(&itu, "/calendar/deadlines.ics").await;
    assert!(calendar.contains("Numbering for IoT"), "{calendar}");
    assert!(calendar.contains("Deadline 2027-03-10 (AoE)"), "{calendar}");
    assert!(calendar.contains("DTSTART:20270311T120000Z"), "{calendar}");

    // An impossible date is refused, naming the recipient; nothing is drafted.
    let drafts = itu.store().drafts().unwrap().len();
    let err = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![comity_node::words::parse_recipient("ietf=action:2027-02-30").unwrap()],
            purpose: proto::LiaisonPurpose::Action as i32,
            title: "Bad date".into(),
            body: "x".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        matches!(&err, NodeError::InvalidArgument(m) if m.starts_with("recipient ietf: deadline: invalid date")),
        "{err}"
    );
    // A deadline for a recipient only informed is refused too.
    let err = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![comity_node::words::parse_recipient("icann=information:2027-03-10").unwrap()],
            purpose: proto::LiaisonPurpose::Information as i32,
            title: "Informed with a date".into(),
            body: "x".into(),
            ..Default::default()
        })
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("icann has a deadline of its own but is not asked"),
        "{err}"
    );
    assert_eq!(itu.store().drafts().unwrap().len(), drafts);
}

//! Issue 15, part 3: posting a reply to a statement addressed to us marks
//! our receipt "action taken" by itself, with the reply linked: in the
//! node's view, the JSON API and the dashboard, here and, once replicated,
//! at the sender. A node the statement was not addressed to sends nothing.
#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;

use axum::{body::Body, http::Request};
use comity_core::{EntryKind, document, entry::Audience, proto};
use comity_node::{Node, clock::ManualClock};
use common::{pair, replicate};
use http_body_util::BodyExt;
use std::sync::Arc;
use time::macros::datetime;
use tower::ServiceExt;

fn uuid_of(entry: &comity_core::SignedEntry) -> String {
    document::uuid_of(&document::decode_for(entry).unwrap()).unwrap()
}

fn doc_ref(origin: &str, uuid: &str) -> Option<proto::DocumentRef> {
    Some(proto::DocumentRef {
        origin: origin.into(),
        uuid: uuid.into(),
    })
}

async fn get(app: axum::Router, uri: &str) -> String {
    let response = app
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

/// Receipts in `node`'s own log.
fn own_receipts(node: &Node) -> Vec<comity_core::SignedEntry> {
    node.store()
        .entries_after(node.org(), 0, usize::MAX)
        .unwrap()
        .into_iter()
        .filter(|e| e.kind() == EntryKind::Receipt)
        .collect()
}

fn itu_state(node: &Node, uuid: &str) -> proto::RecipientState {
    let view = node.show_liaison(&"ietf".parse().unwrap(), uuid).unwrap();
    view.recipients
        .into_iter()
        .find(|r| r.org == "itu")
        .unwrap()
}

#[tokio::test]
async fn posting_a_reply_marks_action_taken_with_the_reply_linked() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-15 12:00 UTC)));
    let ietf = common::node("ietf", &clock, |c| c.http.public_pages = true);
    let itu = common::node("itu", &clock, |c| c.http.public_pages = true);
    let w3c = common::node("w3c", &clock, |_| {});
    pair(&ietf, &itu);
    pair(&ietf, &w3c);
    let draft = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2027-03-31".into(),
            title: "IPv6 address planning".into(),
            body: "Please review and tell us what you did.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    let uuid = uuid_of(&ietf.post_liaison(&draft.id).await.unwrap());
    replicate(&ietf, &itu).await;
    replicate(&ietf, &w3c).await;
    let before = itu_state(&itu, &uuid);
    assert_eq!(before.action_state(), proto::ActionState::Awaiting);
    assert!(before.receipts.is_empty());

    // ITU replies: drafting sends nothing, posting does.
    let reply = itu
        .reply_liaison(proto::ReplyLiaisonRequest {
            original: doc_ref("ietf", &uuid),
            body: "Done: see the revised plan.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    assert!(own_receipts(&itu).is_empty(), "a draft is not an action");
    let reply_uuid = uuid_of(&itu.post_liaison(&reply.id).await.unwrap());

    let state = itu_state(&itu, &uuid);
    assert_eq!(state.action_state(), proto::ActionState::ActionTaken);
    assert_eq!(state.receipts.len(), 1, "{state:?}");
    assert_eq!(
        state.receipts[0].status(),
        proto::ReceiptStatus::ActionTaken
    );
    assert_eq!(state.receipts[0].reply, doc_ref("itu", &reply_uuid));
    let awaiting = itu
        .list_liaisons(proto::list_liaisons_request::Box::AwaitingAction)
        .unwrap();
    assert!(
        awaiting.iter().all(|l| l.uuid != uuid),
        "still awaiting action"
    );

    // The JSON API and the dashboard show the reply linked.
    let api = get(
        comity_web::api::router(itu.clone()),
        &format!("/api/v1/liaisons/ietf/{uuid}"),
    )
    .await;
    let api: serde_json::Value = serde_json::from_str(&api).unwrap();
    let itu_row = api["recipients"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["org"] == "itu")
        .unwrap();
    assert_eq!(itu_row["action_state"], "action_taken", "{api}");
    assert_eq!(
        itu_row["receipts"][0]["reply"],
        serde_json::json!({"origin": "itu", "uuid": reply_uuid}),
        "{api}"
    );
    let page = get(
        comity_web::router(itu.clone()),
        &format!("/liaisons/ietf/{uuid}"),
    )
    .await;
    let link = format!(
        "<a class=\"receipt-reply\" href=\"/liaisons/itu/{reply_uuid}\" data-uuid=\"{reply_uuid}\">Re: IPv6 address planning</a>"
    );
    assert!(page.contains(&link), "no {link} in {page}");

    // The sender sees the same once ITU's log reaches it.
    replicate(&itu, &ietf).await;
    let at_sender = itu_state(&ietf, &uuid);
    assert_eq!(at_sender.action_state(), proto::ActionState::ActionTaken);
    assert_eq!(at_sender.receipts[0].reply, doc_ref("itu", &reply_uuid));

    // W3C holds the statement but is not addressed: its reply sends no receipt.
    let w3c_reply = w3c
        .reply_liaison(proto::ReplyLiaisonRequest {
            original: doc_ref("ietf", &uuid),
            body: "We have views too.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    w3c.post_liaison(&w3c_reply.id).await.unwrap();
    assert!(own_receipts(&w3c).is_empty());
}

/// A receipt names only a reply of its own sender's: one naming another
/// organisation's statement is shown without the link.
#[tokio::test]
async fn a_receipt_names_only_its_own_senders_reply() {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-15 12:00 UTC)));
    let ietf = common::node("ietf", &clock, |_| {});
    let itu = common::node("itu", &clock, |_| {});
    pair(&ietf, &itu);
    let draft = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2027-03-31".into(),
            title: "Statement".into(),
            body: "Act.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    let posted = ietf.post_liaison(&draft.id).await.unwrap();
    let uuid = uuid_of(&posted);
    replicate(&ietf, &itu).await;
    itu.publish_to(
        proto::document::Body::Receipt(proto::Receipt {
            entry: Some(proto::EntryRef {
                origin: "ietf".into(),
                seq: posted.seq(),
                id: posted.id().0.to_vec(),
            }),
            liaison: doc_ref("ietf", &uuid),
            status: proto::ReceiptStatus::ActionTaken as i32,
            note: String::new(),
            // IETF's own statement, not a reply of ITU's.
            reply: doc_ref("ietf", &uuid),
        }),
        Audience::Public,
    )
    .await
    .unwrap();
    let state = itu_state(&itu, &uuid);
    assert_eq!(state.action_state(), proto::ActionState::ActionTaken);
    assert_eq!(state.receipts[0].reply, None);
}

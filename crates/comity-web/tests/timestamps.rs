//! Issue 10, item 3: timestamps and deadline zones are written by other
//! organisations, signed, and may be anything a `Timestamp` or a zone can
//! hold. Over that whole range, each value is either refused by validation
//! with a named error, or every page, feed, calendar, JSON API answer, CLI
//! view and notifier pass over it completes without a panic.
//!
//! One case: three remote organisations sign a consultation (with its report),
//! a response to it and a liaison statement for action, with the drawn
//! `created_at`s, instants and deadline; this node ingests them, and posts a
//! statement and a consultation of its own with the same deadline. Then
//! everything that shows them runs.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

#[allow(dead_code)] // this test uses only `common::node`
mod common;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode},
};
use comity_core::{
    EntryKind, Hash, IdentityKey, OrgId, SignedEntry, dates, document,
    proto::{self, document::Body as Doc, node_server::Node as _},
};
use comity_node::{
    clock::ManualClock,
    json::{self, Dialect},
    local_api::LocalApi,
};
use http_body_util::BodyExt;
use proptest::prelude::*;
use prost::Message;
use std::sync::Arc;
use time::{OffsetDateTime, macros::datetime};
use tower::ServiceExt;

/// The seconds `time` can represent: years -9999 to 9999.
const MIN_SECONDS: i64 = -377_705_116_800;
const MAX_SECONDS: i64 = 253_402_300_799;
const DAY: i64 = 86_400;
const NOW: OffsetDateTime = datetime!(2027-01-15 12:00 UTC);

/// Anywhere in the representable range, weighted to its two ends, to this
/// node's present (so that deadlines come due), and past both ends.
fn seconds() -> impl Strategy<Value = i64> {
    let now = NOW.unix_timestamp();
    prop_oneof![
        3 => MIN_SECONDS..=MAX_SECONDS,
        3 => MIN_SECONDS..=MIN_SECONDS + 90 * DAY,
        3 => MAX_SECONDS - 90 * DAY..=MAX_SECONDS,
        3 => now - 60 * DAY..=now + 60 * DAY,
        1 => MIN_SECONDS - 10 * DAY..MIN_SECONDS,
        1 => MAX_SECONDS + 1..=MAX_SECONDS + 10 * DAY,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
    ]
}

fn timestamp() -> impl Strategy<Value = prost_types::Timestamp> {
    let nanos = prop_oneof![8 => 0..1_000_000_000i32, 1 => Just(999_999_999), 1 => any::<i32>()];
    (seconds(), nanos).prop_map(|(seconds, nanos)| prost_types::Timestamp { seconds, nanos })
}

/// A deadline as a statement carries it: any year the calendar can name,
/// and Anywhere-on-Earth, `Z`, or any `±HH:MM` a zone parser might take.
fn deadline() -> impl Strategy<Value = proto::Deadline> {
    let year = prop_oneof![
        -9999..=9999i32,
        -9999..=-9990i32,
        9990..=9999i32,
        2026..=2028i32
    ];
    let date = (year, 1..=12u8, 1..=31u8).prop_map(|(y, m, d)| {
        if y < 0 {
            format!("-{:04}-{m:02}-{d:02}", -y)
        } else {
            format!("{y:04}-{m:02}-{d:02}")
        }
    });
    let zone = prop_oneof![
        Just(String::new()),
        Just("Z".to_string()),
        (any::<bool>(), 0..=25u8, 0..=59u8)
            .prop_map(|(west, h, m)| format!("{}{h:02}:{m:02}", if west { '-' } else { '+' })),
        Just("-25:59".to_string()),
        Just("+25:59".to_string()),
    ];
    (date, zone).prop_map(|(date, zone)| proto::Deadline { date, zone })
}

#[derive(Debug, Clone)]
struct Case {
    /// `created_at` of the consultation's, the statement's and the response's origins.
    created: [prost_types::Timestamp; 3],
    /// Opening, closing and reply closing, in that order.
    period: [prost_types::Timestamp; 3],
    published: prost_types::Timestamp,
    deadline: proto::Deadline,
}

fn case() -> impl Strategy<Value = Case> {
    (
        [timestamp(), timestamp(), timestamp()],
        [timestamp(), timestamp(), timestamp()],
        timestamp(),
        deadline(),
    )
        .prop_map(|(created, mut period, published, deadline)| {
            // In order, so that the period itself is not what is refused.
            period.sort_by_key(|t| (t.seconds, t.nanos));
            Case {
                created,
                period,
                published,
                deadline,
            }
        })
        .prop_filter("a period of three distinct instants", |c| {
            let key = |t: &prost_types::Timestamp| (t.seconds, t.nanos);
            key(&c.period[0]) < key(&c.period[1]) && key(&c.period[1]) < key(&c.period[2])
        })
}

fn en(value: &str) -> Vec<proto::Text> {
    vec![proto::Text {
        lang: "en".into(),
        value: value.into(),
    }]
}

/// A remote organisation, signing its own log by hand, with any `created_at`.
struct Remote {
    org: OrgId,
    key: IdentityKey,
    log: Vec<SignedEntry>,
}

impl Remote {
    fn new(org: &str) -> Self {
        Self {
            org: OrgId::new(org).unwrap(),
            key: IdentityKey::generate(),
            log: Vec::new(),
        }
    }

    fn sign(&mut self, created_at: &prost_types::Timestamp, body: Doc) -> String {
        let uuid = document::uuid_of(&body).unwrap_or_default();
        let (kind, payload): (EntryKind, Vec<u8>) = document::encode(body);
        let prev = self.log.last().map(|e| e.id());
        let header = proto::EntryHeader {
            format: 1,
            origin: self.org.to_string(),
            seq: self.log.len() as u64 + 1,
            prev: prev.map(|h: Hash| h.0.to_vec()).unwrap_or_default(),
            created_at: Some(*created_at),
            kind: kind.to_proto() as i32,
            payload_hash: Hash::of(&payload).0.to_vec(),
            payload_size: payload.len() as u64,
            audience: Some(proto::Audience {
                scope: proto::audience::Scope::Public as i32,
                orgs: Vec::new(),
            }),
        }
        .encode_to_vec();
        let signature = self.key.sign(&SignedEntry::signed_message(&header));
        let entry = SignedEntry::decode(proto::Entry {
            header,
            signature: signature.to_vec(),
            payload,
        });
        match entry {
            Ok(entry) => self.log.push(entry),
            // Refused at decoding already: what the node must say too.
            Err(e) => assert!(e.to_string().contains("out of range"), "{e}"),
        }
        uuid
    }

    fn profile(&self) -> Doc {
        Doc::Profile(proto::OrgProfile {
            id: self.org.to_string(),
            names: en(&format!("The {} organisation", self.org)),
            ..Default::default()
        })
    }
}

/// Refusals must be the named errors for out-of-range values (or a deadline
/// that is not a date at all); anything else is a bug in the case.
fn assert_named_refusal(what: &str, error: &dyn std::fmt::Display) {
    let text = error.to_string();
    assert!(
        [
            "out of range",
            "invalid deadline",
            "invalid date",
            "deadline:"
        ]
        .iter()
        .any(|named| text.contains(named)),
        "{what} refused with an unexpected error: {text}"
    );
}

async fn get(app: &Router, uri: &str) {
    let response = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert!(
        !status.is_server_error() && status != StatusCode::BAD_REQUEST,
        "{uri}: {status}: {}",
        String::from_utf8_lossy(&body)
    );
}

async fn run(case: Case) {
    let clock = Arc::new(ManualClock::new(NOW));
    let node = common::node("ietf", &clock, |config| {
        config.http.public_pages = true;
        config.http.base_url = Some("https://ietf.example.org".into());
    });
    node.publish_profile_if_changed().await.unwrap();

    // A consultation with its report, a response to it, a statement for action.
    let mut itu = Remote::new("itu");
    let mut apnic = Remote::new("apnic");
    let mut icann = Remote::new("icann");
    let [opens, closes, reply_closes] = case.period;
    itu.sign(&case.created[0], itu.profile());
    let consultation = itu.sign(
        &case.created[0],
        Doc::Consultation(proto::Consultation {
            uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
            revision: 1,
            title: en("Timestamps at the ends of time"),
            opens_at: Some(opens),
            closes_at: Some(closes),
            reply_closes_at: Some(reply_closes),
            status: proto::ConsultationStatus::Open as i32,
            report: Some(proto::ConsultationReport {
                summary: en("What was said"),
                attachments: Vec::new(),
                published_at: Some(case.published),
            }),
            ..Default::default()
        }),
    );
    apnic.sign(&case.created[2], apnic.profile());
    apnic.sign(
        &case.created[2],
        Doc::Response(proto::ConsultationResponse {
            uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
            consultation: Some(proto::DocumentRef {
                origin: "itu".into(),
                uuid: consultation.clone(),
            }),
            text: en("Our answer"),
            ..Default::default()
        }),
    );
    icann.sign(&case.created[1], icann.profile());
    let statement = icann.sign(
        &case.created[1],
        Doc::Liaison(proto::LiaisonStatement {
            uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
            revision: 1,
            title: "Please act before the deadline".into(),
            to: vec![proto::Addressee {
                org: "ietf".into(),
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: Some(case.deadline.clone()),
            body: en("Act").pop(),
            state: proto::LiaisonState::Posted as i32,
            ..Default::default()
        }),
    );
    // Within the range validation accepts, nothing is refused.
    let in_range = |t: &[&prost_types::Timestamp]| t.iter().all(|t| dates::in_range(t));
    let acceptable = [
        in_range(&[
            &case.created[0],
            &opens,
            &closes,
            &reply_closes,
            &case.published,
        ]),
        in_range(&[&case.created[2]]),
        in_range(&[&case.created[1]]) && dates::Deadline::from_proto(&case.deadline).is_ok(),
    ];
    for (remote, acceptable) in [&itu, &apnic, &icann].into_iter().zip(acceptable) {
        node.add_peer(remote.org.clone(), remote.key.public(), None)
            .unwrap();
        let wire = remote.log.iter().map(|e| e.wire().clone()).collect();
        match node.ingest(&remote.org, &remote.org, wire).await {
            Ok(_) => {}
            Err(e) if !acceptable => assert_named_refusal(&format!("{}'s log", remote.org), &e),
            Err(e) => panic!("{}'s log, within range, refused: {e}", remote.org),
        }
    }

    // This node's own statement and consultation, with the same deadline.
    let written = format!("{} {}", case.deadline.date, case.deadline.zone);
    let mut own = Vec::new();
    match node.draft_liaison(proto::DraftLiaisonRequest {
        to: vec![proto::Recipient {
            to: "icann".into(),
            purpose: 0,
            ..Default::default()
        }],
        purpose: proto::LiaisonPurpose::Action as i32,
        deadline: written.trim().to_string(),
        title: "Our request".into(),
        body: "Please".into(),
        ..Default::default()
    }) {
        Ok(draft) => {
            let entry = node.post_liaison(&draft.id).await.unwrap();
            own.push((
                "liaisons",
                document::uuid_of(&document::decode_for(&entry).unwrap()),
            ));
        }
        Err(e) => assert_named_refusal("our statement's deadline", &e),
    }
    match node
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Our consultation".into(),
            closes: case.deadline.date.clone(),
            ..Default::default()
        })
        .await
    {
        Ok(entry) => own.push((
            "consultations",
            document::uuid_of(&document::decode_for(&entry).unwrap()),
        )),
        Err(e) => assert_named_refusal("our consultation's closing date", &e),
    }

    // Every page, feed, calendar and API answer.
    let mut pages: Vec<String> = [
        "/federation",
        "/consultations",
        "/consultations?status=all",
        "/consultations?status=closed",
        "/liaisons?box=inbox",
        "/liaisons?box=outbox",
        "/liaisons?box=awaiting",
        "/liaisons?box=overdue",
        "/feeds/consultations.atom",
        "/feeds/liaisons.atom",
        "/calendar/deadlines.ics",
        "/metrics",
        "/api/v1/status",
        "/api/v1/peers",
        "/api/v1/log",
        "/api/v1/consultations",
        "/api/v1/consultations?open=true",
        "/api/v1/liaisons?box=inbox",
        "/api/v1/liaisons?box=outbox",
        "/api/v1/liaisons?box=awaiting_action",
        "/api/v1/liaisons?box=overdue",
    ]
    .map(String::from)
    .to_vec();
    let documents = [
        ("consultations", "itu", Some(consultation.clone())),
        ("liaisons", "icann", Some(statement.clone())),
    ]
    .into_iter()
    .chain(
        own.iter()
            .map(|(which, uuid)| (*which, "ietf", uuid.clone())),
    );
    let mut shown = Vec::new();
    for (which, origin, uuid) in documents {
        let Some(uuid) = uuid else { continue };
        pages.push(format!("/{which}/{origin}/{uuid}"));
        pages.push(format!("/api/v1/{which}/{origin}/{uuid}"));
        let kind = if which == "consultations" {
            EntryKind::Consultation
        } else {
            EntryKind::Liaison
        };
        let held = node
            .load_document(kind, &OrgId::new(origin).unwrap(), &uuid)
            .unwrap()
            .is_some();
        if held {
            shown.push((which, origin, uuid));
        }
    }
    let dashboard = comity_web::router(node.clone());
    let api = comity_web::api::router(node.clone());
    for page in &pages {
        let app = if page.starts_with("/api/") {
            &api
        } else {
            &dashboard
        };
        get(app, page).await;
    }

    // What the CLI shows: the local API's answers, rendered as `--json` does,
    // and every instant as the text output writes it.
    let local = LocalApi::new(node.clone(), tokio_util::task::TaskTracker::new());
    let entries = local
        .list_entries(tonic::Request::new(proto::ListEntriesRequest::default()))
        .await
        .unwrap()
        .into_inner();
    for e in &entries.entries {
        json::entry_json(e, Dialect::Cli);
    }
    local
        .status(tonic::Request::new(proto::StatusRequest::default()))
        .await
        .unwrap();
    for open in [false, true] {
        let list = local
            .list_consultations(tonic::Request::new(proto::ListConsultationsRequest {
                open,
                ..Default::default()
            }))
            .await
            .unwrap()
            .into_inner();
        for s in &list.consultations {
            json::consultation_summary_json(s);
        }
    }
    for which in [
        proto::list_liaisons_request::Box::Inbox,
        proto::list_liaisons_request::Box::Outbox,
        proto::list_liaisons_request::Box::AwaitingAction,
        proto::list_liaisons_request::Box::Overdue,
    ] {
        let list = local
            .list_liaisons(tonic::Request::new(proto::ListLiaisonsRequest {
                r#box: which as i32,
            }))
            .await
            .unwrap()
            .into_inner();
        for s in &list.liaisons {
            json::liaison_summary_json(s, Dialect::Cli);
        }
    }
    for (which, origin, uuid) in &shown {
        let reference = proto::DocumentRef {
            origin: origin.to_string(),
            uuid: uuid.clone(),
        };
        if *which == "consultations" {
            let view = local
                .show_consultation(tonic::Request::new(reference))
                .await
                .unwrap()
                .into_inner();
            json::consultation_view_json(&view, Dialect::Cli);
        } else {
            let view = local
                .show_liaison(tonic::Request::new(reference))
                .await
                .unwrap()
                .into_inner();
            json::liaison_view_json(&view, Dialect::Cli);
        }
    }
    for t in case
        .created
        .iter()
        .chain(&case.period)
        .chain([&case.published])
    {
        dates::format_timestamp(t);
        dates::format_day_or_time(t);
    }

    // A notifier pass, and what it would send.
    for event in comity_notify::events::detect(&node, NOW).unwrap() {
        comity_notify::deliver::subject(&event);
        comity_notify::deliver::body(&event);
        serde_json::to_vec(&event).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn no_signed_timestamp_or_zone_panics_a_view(case in case()) {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run(case));
    }
}

/// The examples the issue names, each on its own.
#[tokio::test]
async fn the_examples_of_the_issue_do_not_panic() {
    let ts = |seconds| prost_types::Timestamp { seconds, nanos: 0 };
    let now = NOW.unix_timestamp();
    let ordinary = [ts(now - 30 * DAY), ts(now + 30 * DAY), ts(now + 60 * DAY)];
    let deadline = |date: &str, zone: &str| proto::Deadline {
        date: date.into(),
        zone: zone.into(),
    };
    // `t + FRESH` in the notifier near year 9999.
    run(Case {
        created: [ts(MAX_SECONDS - DAY); 3],
        period: ordinary,
        published: ts(now),
        deadline: deadline("2027-01-20", ""),
    })
    .await;
    // `to_offset(AOE)` near year -9999.
    run(Case {
        created: [ts(now); 3],
        period: [ts(MIN_SECONDS), ts(MIN_SECONDS + 1), ts(MIN_SECONDS + 2)],
        published: ts(MIN_SECONDS),
        deadline: deadline("2027-01-20", ""),
    })
    .await;
    // `to_offset(UTC)` for a deadline of 9999-12-30 in zone -25:59.
    run(Case {
        created: [ts(now); 3],
        period: ordinary,
        published: ts(now),
        deadline: deadline("9999-12-30", "-25:59"),
    })
    .await;
}

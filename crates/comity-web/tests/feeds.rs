//! The Atom feeds and the deadline calendar, read back with parsers that did
//! not write them: `feed-rs` for Atom (written by `atom_syndication`) and
//! `ical` for iCalendar (written by hand).

#![allow(clippy::unwrap_used)] // tests fail loudly by design

mod common;
use common::{pair, replicate};

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use comity_core::{dates, document, proto};
use comity_node::{Node, clock::ManualClock};
use http_body_util::BodyExt;
use std::sync::Arc;
use time::{Duration, macros::datetime};
use tower::ServiceExt;

// ------------------------------------------------------------------ setup

fn node(org: &str, clock: &Arc<ManualClock>) -> Arc<Node> {
    common::node(org, clock, |config| {
        config.http.base_url = Some(format!("https://{org}.example.org/"));
    })
}

async fn get(node: &Arc<Node>, uri: &str) -> (StatusCode, String, String) {
    let router: Router = comity_web::feeds::router(node.clone());
    let response = router
        .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

fn uuid_of(entry: &comity_core::SignedEntry) -> String {
    document::uuid_of(&document::decode_for(entry).unwrap()).unwrap()
}

const LONG_TITLE: &str = "Aspects de l'Internet liés au développement; rôles, responsabilités et coopération renforcée — consultation ouverte";

struct World {
    clock: Arc<ManualClock>,
    itu: Arc<Node>,
    ietf: Arc<Node>,
    icann: Arc<Node>,
    itu_consultation: String,
    ietf_consultation: String,
    public_liaison: String,
    restricted_liaison: String,
}

/// ITU and IETF each open a consultation; IETF sends ITU one public
/// statement for action and one restricted to ITU. ICANN follows both.
async fn world() -> World {
    let clock = Arc::new(ManualClock::new(datetime!(2027-01-04 09:00 UTC)));
    let itu = node("itu", &clock);
    let ietf = node("ietf", &clock);
    let icann = node("icann", &clock);
    pair(&itu, &ietf);
    pair(&itu, &icann);
    pair(&ietf, &icann);
    for n in [&itu, &ietf, &icann] {
        n.publish_profile_if_changed().await.unwrap();
    }
    let itu_consultation = itu
        .publish_consultation(proto::PublishConsultationRequest {
            title: "Internet governance; roles, responsibilities".into(),
            titles: vec![proto::Text {
                lang: "fr".into(),
                value: LONG_TITLE.into(),
            }],
            summary: "Online consultation before the CWG-Internet meeting.".into(),
            closes: "2027-03-31".into(),
            reply_closes: "2027-04-30".into(),
            topics: vec!["internet-governance".into()],
            ..Default::default()
        })
        .await
        .unwrap();
    clock.advance(Duration::hours(1));
    let ietf_consultation = ietf
        .publish_consultation(proto::PublishConsultationRequest {
            title: LONG_TITLE.into(),
            lang: "fr".into(),
            summary: "Appel à commentaires.".into(),
            closes: "2027-02-15".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    clock.advance(Duration::hours(1));
    let public = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2027-02-28".into(),
            title: "Review of the YANG models for optical transport".into(),
            body: "Please review the attached models.".into(),
            ..Default::default()
        })
        .unwrap();
    let public_liaison = ietf.post_liaison(&public.id).await.unwrap();
    let restricted = ietf
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Comment as i32,
            deadline: "2027-02-20 +02:00".into(),
            title: "Confidential: coordination on numbering resources".into(),
            body: "For ITU's eyes only.".into(),
            restricted: true,
            ..Default::default()
        })
        .unwrap();
    let restricted_liaison = ietf.post_liaison(&restricted.id).await.unwrap();
    for (from, to) in [
        (&itu, &ietf),
        (&itu, &icann),
        (&ietf, &itu),
        (&ietf, &icann),
    ] {
        replicate(from, to).await;
    }
    World {
        itu_consultation: uuid_of(&itu_consultation),
        ietf_consultation: uuid_of(&ietf_consultation),
        public_liaison: uuid_of(&public_liaison),
        restricted_liaison: uuid_of(&restricted_liaison),
        clock,
        itu,
        ietf,
        icann,
    }
}

// ------------------------------------------------------------------- Atom

fn parse_atom(xml: &str) -> feed_rs::model::Feed {
    assert!(
        xml.contains("xmlns=\"http://www.w3.org/2005/Atom\""),
        "not in the Atom namespace: {xml}"
    );
    let feed = feed_rs::parser::parse(xml.as_bytes()).unwrap();
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    // RFC 4287 §4.1.1: id, title, updated; an author (here on the feed and
    // on every entry); a self link.
    assert!(feed.id.starts_with("urn:comity:"), "{}", feed.id);
    assert!(!feed.title.as_ref().unwrap().content.is_empty());
    assert!(feed.updated.is_some());
    assert!(!feed.authors.is_empty());
    assert!(
        feed.links
            .iter()
            .any(|l| l.rel.as_deref() == Some("self") && l.href.starts_with("https://")),
        "{:?}",
        feed.links
    );
    for entry in &feed.entries {
        assert!(entry.id.starts_with("urn:comity:"), "{}", entry.id);
        assert!(!entry.title.as_ref().unwrap().content.is_empty());
        assert!(entry.updated.is_some() && entry.published.is_some());
        assert!(entry.summary.is_some());
        assert!(!entry.authors.is_empty());
        assert!(
            entry
                .links
                .iter()
                .any(|l| l.rel.as_deref() == Some("alternate"))
        );
    }
    feed
}

fn entry<'a>(feed: &'a feed_rs::model::Feed, id: &str) -> &'a feed_rs::model::Entry {
    feed.entries
        .iter()
        .find(|e| e.id == id)
        .unwrap_or_else(|| panic!("no entry {id} in {:?}", feed.entries))
}

fn alternate(entry: &feed_rs::model::Entry) -> &str {
    &entry
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("alternate"))
        .unwrap()
        .href
}

#[tokio::test]
async fn the_consultations_feed_is_atom_with_every_public_consultation() {
    let w = world().await;
    let (status, content_type, xml) = get(&w.icann, "/feeds/consultations.atom").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("application/atom+xml"),
        "{content_type}"
    );
    let feed = parse_atom(&xml);
    assert_eq!(feed.id, "urn:comity:icann:feed:consultations");
    assert_eq!(feed.entries.len(), 2);

    let itu = entry(&feed, &format!("urn:comity:itu:{}", w.itu_consultation));
    assert_eq!(
        itu.title.as_ref().unwrap().content,
        "Internet governance; roles, responsibilities"
    );
    assert_eq!(
        alternate(itu),
        format!(
            "https://icann.example.org/consultations/itu/{}",
            w.itu_consultation
        )
    );
    assert_eq!(itu.authors[0].name, "The ITU organisation");
    assert_eq!(
        itu.summary.as_ref().unwrap().content,
        "Online consultation before the CWG-Internet meeting."
    );
    let content = itu.content.as_ref().unwrap().body.as_deref().unwrap();
    assert!(content.contains("Closes: 2027-03-31 (AoE)"), "{content}");
    assert!(
        content.contains("Reply period closes: 2027-04-30 (AoE)"),
        "{content}"
    );
    assert_eq!(itu.categories[0].term, "internet-governance");
    assert_eq!(
        itu.published.unwrap().to_rfc3339(),
        "2027-01-04T09:00:00+00:00"
    );

    let ietf = entry(&feed, &format!("urn:comity:ietf:{}", w.ietf_consultation));
    assert_eq!(ietf.title.as_ref().unwrap().content, LONG_TITLE);
    // Newest first.
    assert_eq!(feed.entries[0].id, ietf.id);
}

#[tokio::test]
async fn a_revision_updates_the_same_atom_entry() {
    let w = world().await;
    w.clock.advance(Duration::days(3));
    w.itu
        .revise_consultation(proto::ReviseConsultationRequest {
            uuid: w.itu_consultation.clone(),
            closes: "2027-05-31".into(),
            reply_closes: "2027-06-30".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, _, xml) = get(&w.itu, "/feeds/consultations.atom").await;
    let feed = parse_atom(&xml);
    let id = format!("urn:comity:itu:{}", w.itu_consultation);
    assert_eq!(feed.entries.iter().filter(|e| e.id == id).count(), 1);
    let revised = entry(&feed, &id);
    assert_eq!(
        revised.published.unwrap().to_rfc3339(),
        "2027-01-04T09:00:00+00:00"
    );
    assert_eq!(
        revised.updated.unwrap().to_rfc3339(),
        "2027-01-07T11:00:00+00:00"
    );
    let content = revised.content.as_ref().unwrap().body.as_deref().unwrap();
    assert!(content.contains("Closes: 2027-05-31 (AoE)"), "{content}");
    assert_eq!(feed.updated, revised.updated);
}

#[tokio::test]
async fn the_origin_filter_keeps_one_organisation() {
    let w = world().await;
    let (status, _, xml) = get(&w.icann, "/feeds/consultations.atom?origin=ietf").await;
    assert_eq!(status, StatusCode::OK);
    let feed = parse_atom(&xml);
    assert_eq!(feed.id, "urn:comity:icann:feed:consultations:origin:ietf");
    assert_eq!(feed.entries.len(), 1);
    assert_eq!(
        feed.entries[0].id,
        format!("urn:comity:ietf:{}", w.ietf_consultation)
    );
    let self_link = feed
        .links
        .iter()
        .find(|l| l.rel.as_deref() == Some("self"))
        .unwrap();
    assert_eq!(
        self_link.href,
        "https://icann.example.org/feeds/consultations.atom?origin=ietf"
    );

    let (_, _, xml) = get(&w.icann, "/feeds/consultations.atom?origin=apnic").await;
    assert!(parse_atom(&xml).entries.is_empty());

    let (status, _, body) = get(&w.icann, "/feeds/liaisons.atom?origin=NOT%20AN%20ORG").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_liaisons_feed_never_shows_a_restricted_statement() {
    let w = world().await;
    // ITU may read the restricted statement, IETF wrote it, ICANN holds only
    // its redacted stub: none of them puts it in a feed.
    for node in [&w.itu, &w.ietf, &w.icann] {
        let (status, content_type, xml) = get(node, "/feeds/liaisons.atom").await;
        assert_eq!(status, StatusCode::OK);
        assert!(content_type.starts_with("application/atom+xml"));
        let feed = parse_atom(&xml);
        assert_eq!(feed.entries.len(), 1, "{}: {xml}", node.org());
        let public = entry(&feed, &format!("urn:comity:ietf:{}", w.public_liaison));
        assert_eq!(
            public.title.as_ref().unwrap().content,
            "Review of the YANG models for optical transport"
        );
        assert_eq!(
            alternate(public),
            format!(
                "https://{}.example.org/liaisons/ietf/{}",
                node.org(),
                w.public_liaison
            )
        );
        let summary = &public.summary.as_ref().unwrap().content;
        assert!(summary.contains("For action"), "{summary}");
        assert!(summary.contains("2027-02-28 (AoE)"), "{summary}");
        assert_eq!(
            public.content.as_ref().unwrap().body.as_deref(),
            Some("Please review the attached models.")
        );
        assert!(!xml.contains(&w.restricted_liaison));
        assert!(!xml.contains("Confidential"));
    }
    let (_, _, xml) = get(&w.itu, "/feeds/liaisons.atom?origin=itu").await;
    assert!(parse_atom(&xml).entries.is_empty());
}

// -------------------------------------------------------------- iCalendar

fn parse_ics(text: &str) -> ical::parser::ical::component::IcalCalendar {
    // RFC 5545 §3.1: CRLF line ends, lines of at most 75 octets.
    assert!(text.ends_with("\r\n"));
    for line in text.split("\r\n") {
        assert!(
            !line.contains('\n') && !line.contains('\r'),
            "bare line end in {line:?}"
        );
        assert!(line.len() <= 75, "{} octets: {line:?}", line.len());
    }
    let mut calendars: Vec<_> = ical::IcalParser::new(std::io::BufReader::new(text.as_bytes()))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(calendars.len(), 1);
    let calendar = calendars.remove(0);
    let prop = |name: &str| {
        calendar
            .properties
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.value.clone())
    };
    assert_eq!(prop("VERSION").as_deref(), Some("2.0"));
    assert!(prop("PRODID").is_some());
    for event in &calendar.events {
        for required in ["UID", "DTSTAMP", "DTSTART", "SEQUENCE", "SUMMARY", "URL"] {
            assert!(
                event.properties.iter().any(|p| p.name == required),
                "event without {required}: {event:?}"
            );
        }
    }
    calendar
}

fn event_prop(event: &ical::parser::ical::component::IcalEvent, name: &str) -> String {
    event
        .properties
        .iter()
        .find(|p| p.name == name)
        .and_then(|p| p.value.clone())
        .unwrap_or_else(|| panic!("no {name} in {event:?}"))
}

fn event<'a>(
    calendar: &'a ical::parser::ical::component::IcalCalendar,
    uid: &str,
) -> &'a ical::parser::ical::component::IcalEvent {
    calendar
        .events
        .iter()
        .find(|e| event_prop(e, "UID") == uid)
        .unwrap_or_else(|| panic!("no event {uid} in {:?}", calendar.events))
}

/// The logical lines of an iCalendar text, unfolded as RFC 5545 says.
fn unfolded(text: &str) -> Vec<String> {
    text.replace("\r\n ", "")
        .split("\r\n")
        .map(str::to_string)
        .collect()
}

#[tokio::test]
async fn the_calendar_has_closing_dates_and_liaison_deadlines() {
    let w = world().await;
    let (status, content_type, text) = get(&w.itu, "/calendar/deadlines.ics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/calendar"), "{content_type}");
    let calendar = parse_ics(&text);
    // ITU: close and reply close; IETF: close; the public statement's deadline.
    assert_eq!(calendar.events.len(), 4, "{text}");

    let closes = event(
        &calendar,
        &format!("urn:comity:itu:{}:closes", w.itu_consultation),
    );
    // 31 March, Anywhere-on-Earth, ends at 1 April 12:00 UTC.
    assert_eq!(event_prop(closes, "DTSTART"), "20270401T115959Z");
    assert_eq!(event_prop(closes, "SEQUENCE"), "1");
    assert_eq!(event_prop(closes, "DTSTAMP"), "20270104T090000Z");
    assert_eq!(
        event_prop(closes, "URL"),
        format!(
            "https://itu.example.org/consultations/itu/{}",
            w.itu_consultation
        )
    );
    let reply = event(
        &calendar,
        &format!("urn:comity:itu:{}:reply-closes", w.itu_consultation),
    );
    assert_eq!(event_prop(reply, "DTSTART"), "20270501T115959Z");

    let ietf = event(
        &calendar,
        &format!("urn:comity:ietf:{}:closes", w.ietf_consultation),
    );
    assert_eq!(event_prop(ietf, "DTSTART"), "20270216T115959Z");

    let deadline = event(
        &calendar,
        &format!("urn:comity:ietf:{}:deadline", w.public_liaison),
    );
    let ends = dates::Deadline::parse("2027-02-28", "").unwrap().ends_at();
    assert_eq!(ends, datetime!(2027-03-01 12:00 UTC));
    assert_eq!(event_prop(deadline, "DTSTART"), "20270301T120000Z");
    assert!(event_prop(deadline, "SUMMARY").contains("action"));
    assert_eq!(
        event_prop(deadline, "URL"),
        format!("https://itu.example.org/liaisons/ietf/{}", w.public_liaison)
    );

    // Text is escaped and long lines folded; unfolding restores them.
    let lines = unfolded(&text);
    assert!(
        lines.iter().any(|l| l
            == "SUMMARY:Consultation closes: Internet governance\\; roles\\, responsibilities (itu)"),
        "{lines:#?}"
    );
    let long = format!(
        "SUMMARY:Consultation closes: {} (ietf)",
        LONG_TITLE.replace(';', "\\;").replace(',', "\\,")
    );
    assert!(long.len() > 75);
    assert!(lines.contains(&long), "{lines:#?}");

    // The restricted statement stays out, even on a node that may read it.
    assert!(!text.contains(&w.restricted_liaison));
    assert!(!text.contains("Confidential"));
}

#[tokio::test]
async fn an_extension_moves_the_event_and_bumps_its_sequence() {
    let w = world().await;
    let uid = format!("urn:comity:itu:{}:closes", w.itu_consultation);
    let (_, _, before) = get(&w.icann, "/calendar/deadlines.ics").await;
    let before = parse_ics(&before);
    let old = event(&before, &uid);
    assert_eq!(event_prop(old, "DTSTART"), "20270401T115959Z");
    assert_eq!(event_prop(old, "SEQUENCE"), "1");

    w.clock.advance(Duration::days(10));
    w.itu
        .revise_consultation(proto::ReviseConsultationRequest {
            uuid: w.itu_consultation.clone(),
            closes: "2027-05-31".into(),
            reply_closes: "2027-06-30".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    replicate(&w.itu, &w.icann).await;

    let (_, _, after) = get(&w.icann, "/calendar/deadlines.ics").await;
    let after = parse_ics(&after);
    assert_eq!(after.events.len(), before.events.len());
    let new = event(&after, &uid);
    assert_eq!(event_prop(new, "DTSTART"), "20270601T115959Z");
    assert_eq!(event_prop(new, "SEQUENCE"), "2");
    assert_eq!(event_prop(new, "DTSTAMP"), "20270114T110000Z");
    let reply = event(
        &after,
        &format!("urn:comity:itu:{}:reply-closes", w.itu_consultation),
    );
    assert_eq!(event_prop(reply, "DTSTART"), "20270701T115959Z");
    assert_eq!(event_prop(reply, "SEQUENCE"), "2");
    assert_eq!(
        after
            .events
            .iter()
            .filter(|e| event_prop(e, "UID") == uid)
            .count(),
        1
    );
}

#[tokio::test]
async fn the_calendar_filters_by_origin_and_cancels_withdrawn_consultations() {
    let w = world().await;
    let (status, _, text) = get(&w.ietf, "/calendar/deadlines.ics?origin=itu").await;
    assert_eq!(status, StatusCode::OK);
    let calendar = parse_ics(&text);
    assert_eq!(calendar.events.len(), 2);
    assert!(
        calendar
            .events
            .iter()
            .all(|e| event_prop(e, "UID").starts_with("urn:comity:itu:"))
    );

    w.itu
        .revise_consultation(proto::ReviseConsultationRequest {
            uuid: w.itu_consultation.clone(),
            status: proto::ConsultationStatus::Withdrawn as i32,
            ..Default::default()
        })
        .await
        .unwrap();
    let (_, _, text) = get(&w.itu, "/calendar/deadlines.ics?origin=itu").await;
    let calendar = parse_ics(&text);
    for e in &calendar.events {
        assert_eq!(event_prop(e, "STATUS"), "CANCELLED");
        assert_eq!(event_prop(e, "SEQUENCE"), "2");
    }

    let (status, _, _) = get(&w.itu, "/calendar/deadlines.ics?origin=-bad-").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

//! Issue 15, part 3: readable times and lists in pages. Times are shown
//! relative to the node's clock ("il y a 3 minutes") with the exact instant,
//! in the reader's language, on hover; dates in each language's own format;
//! no raw RFC 3339 text. Lists are cut into pages with links between them.
#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // this test uses only `common::node` and `pair`
mod common;

use axum::{
    Router,
    body::Body,
    http::{Request, StatusCode, header},
};
use comity_core::proto;
use comity_node::{Node, clock::ManualClock};
use http_body_util::BodyExt;
use std::sync::Arc;
use time::{Duration, OffsetDateTime, macros::datetime};
use tower::ServiceExt;

const START: OffsetDateTime = datetime!(2026-12-07 05:00 UTC);

async fn get(app: &Router, path: &str) -> (StatusCode, String) {
    let response = app
        .clone()
        .oneshot(Request::get(path).body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

/// The text a person reads: the page without its tags (attribute values,
/// such as `datetime`, are for machines).
fn visible(html: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' => {
                in_tag = false;
                out.push(' ');
            }
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `text` holds something like `2026-12-07T05:00:00`.
fn has_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(19).any(|w| {
        let digits = |r: std::ops::Range<usize>| w[r].iter().all(u8::is_ascii_digit);
        digits(0..4)
            && w[4] == b'-'
            && digits(5..7)
            && w[7] == b'-'
            && digits(8..10)
            && w[10] == b'T'
            && digits(11..13)
            && w[13] == b':'
    })
}

fn public_node(org: &str, clock: &Arc<ManualClock>) -> Arc<Node> {
    common::node(org, clock, |c| c.http.public_pages = true)
}

fn consultation(title: &str) -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(START),
        revision: 1,
        title: vec![proto::Text {
            lang: "en".into(),
            value: title.into(),
        }],
        // The last second of 30 June 2099, Anywhere-on-Earth.
        closes_at: Some(comity_core::dates::to_timestamp(
            comity_core::dates::parse_end("2099-06-30").unwrap(),
        )),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

#[tokio::test]
async fn times_are_relative_and_dates_in_the_readers_language() {
    let clock = Arc::new(ManualClock::new(START));
    let itu = public_node("itu", &clock);
    let entry = itu
        .publish(consultation("Review of the ITRs"))
        .await
        .unwrap();
    let uuid = comity_core::document::decode_for(&entry)
        .ok()
        .and_then(|b| comity_core::document::uuid_of(&b))
        .unwrap();
    let app = comity_web::router(itu.clone());
    let page = format!("/consultations/itu/{uuid}");
    clock.advance(Duration::minutes(3));

    let cases = [
        (
            "en",
            "3 minutes ago",
            "7 December 2026, 05:00:00 UTC",
            "30 June 2099 (AoE)",
        ),
        (
            "fr",
            "il y a 3 minutes",
            "7 décembre 2026 à 05:00:00 UTC",
            "30 juin 2099 (AoE)",
        ),
        (
            "es",
            "hace 3 minutos",
            "7 de diciembre de 2026, 05:00:00 UTC",
            "30 de junio de 2099 (AoE)",
        ),
        (
            "ru",
            "3 минуты назад",
            "7 декабря 2026 г., 05:00:00 UTC",
            "30 июня 2099 г. (AoE)",
        ),
        (
            "zh",
            "3分钟前",
            "2026年12月7日 05:00:00 UTC",
            "2099年6月30日 (AoE)",
        ),
        (
            "ar",
            "منذ 3 دقائق",
            "7 ديسمبر 2026، 05:00:00 UTC",
            "30 يونيو 2099 (AoE)",
        ),
    ];
    for (lang, ago, exact, closes) in cases {
        let (status, html) = get(&app, &format!("{page}?lang={lang}")).await;
        assert_eq!(status, StatusCode::OK);
        // The revision's time: relative, its exact instant on hover, and
        // the machine-readable instant in `datetime`.
        let time_el =
            format!("<time datetime=\"2026-12-07T05:00:00Z\" title=\"{exact}\">{ago}</time>");
        assert!(html.contains(&time_el), "{lang}: no {time_el} in {html}");
        assert!(
            html.contains(closes),
            "{lang}: closing day {closes:?} in {html}"
        );
        assert!(
            !has_rfc3339(&visible(&html)),
            "{lang}: raw RFC 3339 shown: {html}"
        );
    }

    // Time moves on; so do the words. And the list shows the same.
    clock.advance(Duration::days(2));
    let (_, html) = get(&app, &format!("{page}?lang=en")).await;
    assert!(html.contains(">2 days ago</time>"), "{html}");
    let (_, list) = get(&app, "/consultations?lang=en").await;
    assert!(list.contains(">30 June 2099 (AoE)</time>"), "{list}");
    assert!(list.contains("(in 72 years)"), "{list}");
    assert!(!has_rfc3339(&visible(&list)), "{list}");
}

#[tokio::test]
async fn a_liaison_deadline_is_a_day_in_the_readers_words_with_the_time_left() {
    let clock = Arc::new(ManualClock::new(START));
    let itu = public_node("itu", &clock);
    let draft = itu
        .draft_liaison(proto::DraftLiaisonRequest {
            to: vec![proto::Recipient {
                to: "itu".into(),
                purpose: 0,
                ..Default::default()
            }],
            purpose: proto::LiaisonPurpose::Action as i32,
            deadline: "2026-12-10".into(),
            title: "Deadline in three days".into(),
            body: "Please act.".into(),
            lang: "en".into(),
            ..Default::default()
        })
        .unwrap();
    itu.post_liaison(&draft.id).await.unwrap();
    let app = comity_web::router(itu);
    let (_, html) = get(&app, "/liaisons?box=outbox&lang=fr").await;
    // Ends at midnight after 10 December, UTC-12: 2026-12-11T12:00Z.
    assert!(
        html.contains("<time datetime=\"2026-12-11T12:00:00Z\" title=\"11 décembre 2026 à 12:00:00 UTC\">10 décembre 2026 (AoE)</time>"),
        "{html}"
    );
    assert!(html.contains("(dans 4 jours)"), "{html}");
}

#[tokio::test]
async fn the_federation_page_shows_no_raw_timestamps() {
    let clock = Arc::new(ManualClock::new(START));
    let itu = public_node("itu", &clock);
    let ietf = public_node("ietf", &clock);
    common::pair(&itu, &ietf);
    itu.publish_profile_if_changed().await.unwrap();
    let signed = itu.sign_own_checkpoint().await.unwrap().unwrap();
    let mut cosigned = signed.clone();
    cosigned.add_cosignature(
        &comity_core::checkpoint::Cosignature::sign(
            &signed.note.text,
            ietf.org(),
            &ietf.identity(),
            u64::try_from((START - Duration::hours(5)).unix_timestamp()).unwrap(),
        )
        .unwrap(),
    );
    itu.absorb_notes(ietf.org(), vec![cosigned.to_text().into_bytes()])
        .await
        .unwrap();
    let app = comity_web::router(itu);
    let (_, html) = get(&app, "/federation?lang=en").await;
    assert!(html.contains("data-cosigner=\"ietf\""), "{html}");
    assert!(
        html.contains("<time datetime=\"2026-12-07T00:00:00Z\" title=\"7 December 2026, 00:00:00 UTC\">5 hours ago</time>"),
        "{html}"
    );
    assert!(!has_rfc3339(&visible(&html)), "{html}");
}

#[tokio::test]
async fn lists_come_in_pages() {
    let clock = Arc::new(ManualClock::new(START));
    let itu = public_node("itu", &clock);
    for n in 0..5 {
        itu.publish(consultation(&format!("Consultation {n}")))
            .await
            .unwrap();
    }
    let app = comity_web::router(itu.clone());
    let rows = |html: &str| html.matches("data-origin=\"itu\" data-uuid=").count();

    let (_, first) = get(&app, "/consultations?per=2").await;
    assert_eq!(rows(&first), 2, "{first}");
    assert!(first.contains("Page 1 of 3 (5 in all)"), "{first}");
    assert!(!first.contains("id=\"page-prev\""));
    assert!(
        first.contains("href=\"/consultations?per=2&amp;page=2\""),
        "{first}"
    );
    let (_, last) = get(&app, "/consultations?per=2&page=3&lang=fr").await;
    assert_eq!(rows(&last), 1, "{last}");
    assert!(last.contains("Page 3 sur 3 (5 au total)"), "{last}");
    assert!(
        last.contains("href=\"/consultations?per=2&amp;page=2\""),
        "{last}"
    );
    assert!(!last.contains("id=\"page-next\""));
    // Every consultation is on exactly one page.
    let mut seen = Vec::new();
    for page in 1..=3 {
        let (_, html) = get(&app, &format!("/consultations?per=2&page={page}")).await;
        for n in 0..5 {
            if html.contains(&format!(">Consultation {n}<")) {
                seen.push(n);
            }
        }
    }
    seen.sort_unstable();
    assert_eq!(seen, vec![0, 1, 2, 3, 4]);
    // Past the end is the last page; nonsense is the first; one page needs no links.
    let (_, past) = get(&app, "/consultations?per=2&page=99").await;
    assert!(past.contains("Page 3 of 3"), "{past}");
    let (status, odd) = get(&app, "/consultations?per=two&page=x").await;
    assert_eq!(status, StatusCode::OK);
    assert!(!odd.contains("id=\"pager\""), "{odd}");

    // The outbox and the federation table are cut the same way.
    for n in 0..3 {
        let draft = itu
            .draft_liaison(proto::DraftLiaisonRequest {
                to: vec![proto::Recipient {
                    to: "itu".into(),
                    purpose: 0,
                    ..Default::default()
                }],
                purpose: proto::LiaisonPurpose::Information as i32,
                title: format!("Statement {n}"),
                body: "For information.".into(),
                lang: "en".into(),
                ..Default::default()
            })
            .unwrap();
        itu.post_liaison(&draft.id).await.unwrap();
    }
    let (_, outbox) = get(&app, "/liaisons?box=outbox&per=2&page=2").await;
    assert_eq!(rows(&outbox), 1, "{outbox}");
    assert!(outbox.contains("Page 2 of 2 (3 in all)"), "{outbox}");
    assert!(
        outbox.contains("href=\"/liaisons?box=outbox&amp;per=2&amp;page=1\""),
        "{outbox}"
    );
    for peer in ["ietf", "icann", "w3c"] {
        let other = public_node(peer, &clock);
        common::pair(&itu, &other);
    }
    let (_, federation) = get(&app, "/federation?per=3").await;
    assert_eq!(
        federation.matches("<tr data-org=").count(),
        3,
        "{federation}"
    );
    assert!(
        federation.contains("Page 1 of 2 (4 in all)"),
        "{federation}"
    );
}

#[tokio::test]
async fn the_times_script_is_served_and_allowed() {
    let clock = Arc::new(ManualClock::new(START));
    let itu = public_node("itu", &clock);
    let app = comity_web::router(itu);
    let response = app
        .clone()
        .oneshot(Request::get("/consultations").body(Body::empty()).unwrap())
        .await
        .unwrap();
    let csp = response.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let (status, js) = get(&app, "/static/times.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(js.contains("Intl.DateTimeFormat"));
    let (_, html) = get(&app, "/consultations").await;
    assert!(html.contains("<script src=\"/static/times.js\" defer></script>"));
}

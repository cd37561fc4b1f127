//! Arbitrary bytes -> `Document` -> the rules for every entry kind, and the
//! helpers that later read a validated document (summaries, deadlines, reply
//! templates, date display). First byte odd: the rest is a deadline instead,
//! `date|zone`, for `Deadline::parse` and the dates helpers.
#![no_main]

mod common;

use comity_core::{
    SignedEntry, dates, document,
    entry::Audience,
    key_rotation, liaison, proto,
    proto::document::Body,
    verify,
};
use libfuzzer_sys::fuzz_target;
use prost::Message;
use time::OffsetDateTime;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_800_000_000).expect("in range")
}

fn deadline_text(text: &str) {
    let (date, zone) = text.split_once('|').unwrap_or((text, ""));
    if let Ok(d) = dates::Deadline::parse(date, zone) {
        // What notify, web and the node do with a statement's deadline.
        let _ = d.ends_at();
        let _ = d.is_overdue(now());
        let _ = d.days_left(now());
        let _ = d.to_string();
        let again = dates::Deadline::from_proto(&d.to_proto()).expect("a parsed deadline round-trips");
        assert_eq!(again, d);
    }
    if let Ok(t) = dates::parse_start(text) {
        let _ = dates::format_day_or_time(&dates::to_timestamp(t));
    }
    if let Ok(t) = dates::parse_end(text) {
        let _ = dates::format_day_or_time(&dates::to_timestamp(t));
    }
}

fn timestamp(t: &Option<prost_types::Timestamp>) {
    if let Some(t) = t {
        let _ = dates::from_timestamp(t);
        let _ = dates::format_timestamp(t);
        let _ = dates::format_day_or_time(t);
    }
}

fn document_bytes(bytes: &[u8]) {
    // Through an entry of every kind and audience, as ingest does.
    let audiences = [Audience::Public, Audience::Restricted(vec![common::other_org()])];
    for kind in common::KINDS {
        for audience in &audiences {
            let wire = common::unsigned_wire(kind, audience, bytes);
            let entry = SignedEntry::decode(wire).expect("fixture header decodes");
            let _ = document::decode_for(&entry);
            let _ = verify::verify_payload(&entry);
        }
    }

    let Ok(doc) = proto::Document::decode(bytes) else {
        return;
    };
    let Some(body) = doc.body else {
        return;
    };
    let origin = common::origin();
    let valid = document::validate(&body, &origin).is_ok();
    let _ = document::validate(&body, &common::other_org());
    let _ = document::summary(&body);
    let _ = document::attachments_of(&body);
    match &body {
        Body::Liaison(l) => {
            assert_eq!(liaison::validate(l).is_ok(), valid);
            let _ = liaison::needs_deadline(l);
            let _ = liaison::is_addressed_to(l, &common::other_org());
            for a in l.to.iter().chain(&l.cc) {
                let _ = liaison::effective_purpose(l, a);
                let _ = liaison::display_addressee(a);
            }
            if let Some(d) = liaison::deadline(l) {
                let _ = d.ends_at();
                let _ = d.is_overdue(now());
                let _ = d.days_left(now());
                let _ = d.to_string();
            }
            if let Some(d) = &l.deadline {
                deadline_text(&format!("{}|{}", d.date, d.zone));
            }
            let reply = liaison::reply_template(&origin, l, &common::other_org(), now());
            let _ = document::summary(&Body::Liaison(reply));
        }
        Body::KeyRotation(k) => {
            let _ = key_rotation::validate_shape(k);
            let _ = key_rotation::verify(&origin, &common::key().public(), k);
        }
        Body::Consultation(c) => {
            timestamp(&c.opens_at);
            timestamp(&c.closes_at);
            timestamp(&c.reply_closes_at);
        }
        _ => {}
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 1 {
        deadline_text(&String::from_utf8_lossy(rest));
    } else {
        document_bytes(rest);
    }
});

//! The measured workload, shared by every benchmark and the load harness so
//! that their figures describe the same thing: a consultation whose signed
//! entry is about 2 KiB on the wire (the size the targets assume).
//!
//! Behind the `fixtures` feature: not part of a node.

use crate::{proto, rules};
use time::OffsetDateTime;

/// Summary length that brings the signed entry to about 2 KiB.
const SUMMARY_BYTES: usize = 1900;

/// The `i`-th benchmark consultation: a fresh uuid made at `now`, an English
/// title that names `i`, a 1,900-byte summary, open until 2030-03-17.
pub fn consultation(i: usize, now: OffsetDateTime) -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: rules::new_uuid(now),
        revision: 1,
        title: vec![proto::Text {
            lang: "en".into(),
            value: format!("Consultation {i}"),
        }],
        summary: vec![proto::Text {
            lang: "en".into(),
            value: "x".repeat(SUMMARY_BYTES),
        }],
        closes_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

/// The same consultation as the local API takes it.
pub fn consultation_request(i: usize) -> proto::PublishConsultationRequest {
    proto::PublishConsultationRequest {
        title: format!("Consultation {i}"),
        summary: "x".repeat(SUMMARY_BYTES),
        lang: "en".into(),
        closes: "2031-12-31".into(),
        ..Default::default()
    }
}

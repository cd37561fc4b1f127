//! What tests are made of: org ids, a valid document, temporary
//! directories, chain checks and the fault suite's sizes.

use comity_core::{OrgId, PublicKey, SignedEntry, proto, verify};

pub fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

/// A valid consultation document.
pub fn consultation(title: &str) -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: comity_core::document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: vec![proto::Text {
            lang: "en".into(),
            value: title.into(),
        }],
        closes_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

/// Asserts that `entries` are exactly seq 1..=n of one origin, chained and signed.
pub fn assert_chain(entries: &[SignedEntry], key: &PublicKey, n: u64) {
    let seqs: Vec<u64> = entries.iter().map(SignedEntry::seq).collect();
    assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "gaps or duplicates");
    let head = verify::verify_chain(entries, key).unwrap().unwrap();
    assert_eq!(head.seq, n);
}

/// A directory that outlives nothing: removed when the test ends.
pub fn temp_root() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("comity-test-")
        .tempdir()
        .unwrap()
}

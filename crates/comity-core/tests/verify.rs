//! Ingest verification: each failure is named, and authentic entries chain.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use comity_core::{
    Hash, IdentityKey, Ingest, OrgId, SignedEntry, UnsignedEntry, VerifyError,
    document::{self, DocumentError},
    entry::{Audience, DecodeError, EntryKind},
    key_rotation, proto,
    verify::{verify_chain, verify_for_ingest, verify_signatures},
};
use proptest::prelude::*;
use prost::Message;

fn org(id: &str) -> OrgId {
    OrgId::new(id).unwrap()
}

fn consultation(title: &str) -> Vec<u8> {
    document::encode(proto::document::Body::Consultation(proto::Consultation {
        uuid: uuid::Uuid::now_v7().to_string(),
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
    }))
    .1
}

fn chain(key: &IdentityKey, origin: &str, n: usize) -> Vec<SignedEntry> {
    let mut head = None;
    (0..n)
        .map(|i| {
            let e = UnsignedEntry::new(
                org(origin),
                EntryKind::Consultation,
                consultation(&format!("c{i}")),
                time::OffsetDateTime::now_utc(),
            )
            .sign(key, head);
            head = Some(e.head());
            e
        })
        .collect()
}

#[test]
fn an_authentic_chain_verifies() {
    let key = IdentityKey::generate();
    let entries = chain(&key, "itu", 5);
    let head = verify_chain(&entries, &key.public()).unwrap().unwrap();
    assert_eq!(head.seq, 5);
    assert_eq!(head.hash, entries[4].id());
}

#[test]
fn unknown_origin_is_named() {
    let key = IdentityKey::generate();
    let e = &chain(&key, "itu", 1)[0];
    let err = verify_for_ingest(e, None, None, |_| None).unwrap_err();
    assert_eq!(err, VerifyError::UnknownOrigin(org("itu")));
}

#[test]
fn a_forged_signature_is_named() {
    let key = IdentityKey::generate();
    let e = &chain(&key, "itu", 1)[0];
    let other = IdentityKey::generate().public();
    let err = verify_for_ingest(e, Some(&other), None, |_| None).unwrap_err();
    assert!(
        matches!(err, VerifyError::BadSignature { seq: 1, .. }),
        "{err}"
    );
}

#[test]
fn a_gap_is_named() {
    let key = IdentityKey::generate();
    let entries = chain(&key, "itu", 3);
    let err = verify_for_ingest(
        &entries[2],
        Some(&key.public()),
        Some(entries[0].head()),
        |_| None,
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::SeqNotNext {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_wrong_prev_is_named() {
    let key = IdentityKey::generate();
    let entries = chain(&key, "itu", 2);
    let fake_head = comity_core::Head {
        seq: 1,
        hash: Hash::of(b"something else"),
    };
    let err =
        verify_for_ingest(&entries[1], Some(&key.public()), Some(fake_head), |_| None).unwrap_err();
    assert!(
        matches!(err, VerifyError::PrevMismatch { seq: 2, .. }),
        "{err}"
    );
}

#[test]
fn a_swapped_payload_is_named() {
    let key = IdentityKey::generate();
    let e = &chain(&key, "itu", 1)[0];
    let mut wire = e.wire().clone();
    wire.payload = consultation("another");
    let tampered = SignedEntry::decode(wire).unwrap();
    let err = verify_for_ingest(&tampered, Some(&key.public()), None, |_| None).unwrap_err();
    assert!(
        matches!(err, VerifyError::PayloadHashMismatch { .. }),
        "{err}"
    );
}

#[test]
fn an_invalid_payload_is_named() {
    let key = IdentityKey::generate();
    // A profile whose id is not its origin.
    let (kind, payload) = document::encode(proto::document::Body::Profile(proto::OrgProfile {
        id: "icann".into(),
        names: vec![proto::Text {
            lang: "en".into(),
            value: "ICANN".into(),
        }],
        ..Default::default()
    }));
    let e = UnsignedEntry::new(org("itu"), kind, payload, time::OffsetDateTime::now_utc())
        .sign(&key, None);
    let err = verify_for_ingest(&e, Some(&key.public()), None, |_| None).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InvalidPayload {
                reason: DocumentError::ProfileIdMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
    // A payload of the wrong kind.
    let e = UnsignedEntry::new(
        org("itu"),
        EntryKind::Profile,
        consultation("x"),
        time::OffsetDateTime::now_utc(),
    )
    .sign(&key, None);
    let err = verify_for_ingest(&e, Some(&key.public()), None, |_| None).unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::InvalidPayload {
                reason: DocumentError::KindMismatch { .. },
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn undecodable_bytes_are_named() {
    let err = SignedEntry::decode_bytes(&[0xff, 0xff, 0xff]).unwrap_err();
    assert!(err.to_string().contains("not a valid protobuf"), "{err}");
}

/// Issue 10, item 3: a creation time past the calendar's last years, or
/// malformed, is refused when the entry is decoded, by name.
#[test]
fn a_creation_time_out_of_range_is_named() {
    let key = IdentityKey::generate();
    let latest = comity_core::dates::LATEST.unix_timestamp();
    for (seconds, nanos) in [(latest + 1, 0), (i64::MIN, 0), (0, -1), (0, 1_000_000_000)] {
        let mut entry = chain(&key, "itu", 1).remove(0).into_wire();
        let mut header = proto::EntryHeader::decode(entry.header.as_slice()).unwrap();
        header.created_at = Some(prost_types::Timestamp { seconds, nanos });
        entry.header = header.encode_to_vec();
        entry.signature = key
            .sign(&SignedEntry::signed_message(&entry.header))
            .to_vec();
        let err = SignedEntry::decode(entry).unwrap_err();
        assert_eq!(err, DecodeError::CreatedAtOutOfRange, "{seconds} {nanos}");
        assert!(err.to_string().contains("out of range"), "{err}");
    }
}

#[test]
fn duplicates_and_equivocation_are_told_apart() {
    let key = IdentityKey::generate();
    let entries = chain(&key, "itu", 2);
    let fork = chain(&key, "itu", 2);
    let held = |seq: u64| Some(entries[seq as usize - 1].id());
    let head = Some(entries[1].head());
    assert_eq!(
        verify_for_ingest(&entries[1], Some(&key.public()), head, held).unwrap(),
        Ingest::Duplicate
    );
    assert_eq!(
        verify_for_ingest(&fork[0], Some(&key.public()), head, held).unwrap(),
        Ingest::Equivocation {
            held: entries[0].id()
        }
    );
}

#[test]
fn a_restricted_stub_still_chains() {
    let key = IdentityKey::generate();
    let mut draft = UnsignedEntry::new(
        org("ietf"),
        EntryKind::Consultation,
        consultation("private"),
        time::OffsetDateTime::now_utc(),
    );
    draft.audience = Audience::Restricted(vec![org("itu")]);
    let full = draft.sign(&key, None);
    let stub = SignedEntry::decode(full.for_reader(&org("icann"))).unwrap();
    assert!(stub.is_redacted());
    assert!(stub.payload().is_empty());
    assert_eq!(stub.id(), full.id());
    assert_eq!(full.for_reader(&org("itu")).payload, full.payload());
    verify_for_ingest(&stub, Some(&key.public()), None, |_| None).unwrap();
}

#[test]
fn batched_signatures_name_the_first_forged_entry() {
    let key = IdentityKey::generate();
    let mut entries = chain(&key, "itu", 100);
    assert_eq!(verify_signatures(&entries, &key.public()).0, 100);
    let forger = IdentityKey::generate();
    for i in [61, 80] {
        let forged = UnsignedEntry::new(
            org("itu"),
            EntryKind::Consultation,
            consultation("x"),
            time::OffsetDateTime::now_utc(),
        )
        .sign(&forger, Some(entries[i - 1].head()));
        entries[i] = forged;
    }
    let (good, _, err) = verify_signatures(&entries, &key.public());
    assert_eq!(good, 61);
    assert!(
        matches!(err, Some(VerifyError::BadSignature { seq: 62, .. })),
        "{err:?}"
    );
}

#[test]
fn batched_signatures_follow_a_key_rotation() {
    let old = IdentityKey::generate();
    let new = IdentityKey::generate();
    let mut entries = chain(&old, "itu", 10);
    let rotation = document::encode(proto::document::Body::KeyRotation(key_rotation::new(
        &org("itu"),
        &old.public(),
        &new,
    )))
    .1;
    let rotated = UnsignedEntry::new(
        org("itu"),
        EntryKind::KeyRotation,
        rotation,
        time::OffsetDateTime::now_utc(),
    )
    .sign(&old, Some(entries[9].head()));
    entries.push(rotated);
    for i in 0..5 {
        let e = UnsignedEntry::new(
            org("itu"),
            EntryKind::Consultation,
            consultation(&format!("n{i}")),
            time::OffsetDateTime::now_utc(),
        )
        .sign(&new, Some(entries.last().unwrap().head()));
        entries.push(e);
    }
    let (good, key, err) = verify_signatures(&entries, &old.public());
    assert_eq!((good, err), (16, None));
    assert_eq!(key, new.public());
    // Signed by the old key after the rotation: refused.
    let stale = UnsignedEntry::new(
        org("itu"),
        EntryKind::Consultation,
        consultation("late"),
        time::OffsetDateTime::now_utc(),
    )
    .sign(&old, Some(entries[15].head()));
    entries.push(stale);
    let (good, _, err) = verify_signatures(&entries, &old.public());
    assert_eq!(good, 16);
    assert!(
        matches!(err, Some(VerifyError::BadSignature { seq: 17, .. })),
        "{err:?}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single-bit change to a signed entry is rejected, never accepted as is.
    #[test]
    fn any_bit_flip_is_rejected(bit in 0usize..8 * 1024) {
        let key = IdentityKey::generate();
        let e = &chain(&key, "itu", 1)[0];
        let mut bytes = e.wire().encode_to_vec();
        let bit = bit % (bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        let accepted = SignedEntry::decode_bytes(&bytes)
            .ok()
            .and_then(|t| verify_for_ingest(&t, Some(&key.public()), None, |_| None).ok().map(|_| t));
        if let Some(t) = accepted {
            // Protobuf may decode a flipped tag as an unknown field of the outer Entry:
            // then header, signature and payload must be exactly the original.
            prop_assert_eq!(t.header_bytes(), e.header_bytes());
            prop_assert_eq!(t.signature(), e.signature());
            prop_assert_eq!(t.payload(), e.payload());
        }
    }

    /// Verification never panics, whatever the bytes.
    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let key = IdentityKey::generate();
        if let Ok(e) = SignedEntry::decode_bytes(&bytes) {
            let _ = verify_for_ingest(&e, Some(&key.public()), None, |_| None);
        }
    }
}

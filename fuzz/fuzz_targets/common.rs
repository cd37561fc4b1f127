//! Fixtures shared by the fuzz targets: a fixed key and origin, and a few
//! valid signed entries (made deterministically, so runs are reproducible).
#![allow(dead_code)]

use comity_core::{
    EntryKind, Head, IdentityKey, OrgId, SignedEntry, UnsignedEntry,
    document,
    entry::Audience,
    key_rotation, proto,
};
use std::sync::OnceLock;

pub fn key() -> &'static IdentityKey {
    static KEY: OnceLock<IdentityKey> = OnceLock::new();
    KEY.get_or_init(|| IdentityKey::from_secret_bytes(&[7; 32]).expect("32 bytes"))
}

pub fn new_key() -> &'static IdentityKey {
    static KEY: OnceLock<IdentityKey> = OnceLock::new();
    KEY.get_or_init(|| IdentityKey::from_secret_bytes(&[9; 32]).expect("32 bytes"))
}

pub fn origin() -> OrgId {
    OrgId::new("itu").expect("valid org id")
}

pub fn other_org() -> OrgId {
    OrgId::new("ietf").expect("valid org id")
}

const UUID: &str = "01900000-0000-7000-8000-000000000001";
const UUID2: &str = "01900000-0000-7000-8000-000000000002";

pub fn consultation() -> proto::document::Body {
    proto::document::Body::Consultation(proto::Consultation {
        uuid: UUID.into(),
        revision: 1,
        title: vec![proto::Text {
            lang: "en".into(),
            value: "Consultation".into(),
        }],
        closes_at: Some(prost_types::Timestamp {
            seconds: 1_900_000_000,
            nanos: 0,
        }),
        status: proto::ConsultationStatus::Open as i32,
        ..Default::default()
    })
}

pub fn liaison() -> proto::document::Body {
    proto::document::Body::Liaison(proto::LiaisonStatement {
        uuid: UUID2.into(),
        revision: 1,
        title: "LS on fuzzing".into(),
        from_groups: vec!["itu-t/sg17".into()],
        to: vec![proto::Addressee {
            org: "ietf".into(),
            group: "sec".into(),
            ..Default::default()
        }],
        purpose: proto::LiaisonPurpose::Action as i32,
        deadline: Some(proto::Deadline {
            date: "2027-03-31".into(),
            zone: String::new(),
        }),
        body: Some(proto::Text {
            lang: "en".into(),
            value: "Please comment.".into(),
        }),
        state: proto::LiaisonState::Posted as i32,
        ..Default::default()
    })
}

pub fn rotation() -> proto::document::Body {
    proto::document::Body::KeyRotation(key_rotation::new(&origin(), &key().public(), new_key()))
}

pub fn at(secs: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::UNIX_EPOCH + time::Duration::seconds(secs)
}

pub fn sign(body: proto::document::Body, audience: Audience, head: Option<Head>) -> SignedEntry {
    let (kind, payload) = document::encode(body);
    UnsignedEntry {
        origin: origin(),
        kind,
        audience,
        payload,
        created_at: at(1_800_000_000),
    }
    .sign(key(), head)
}

/// A valid signed entry, and the log it is verified against.
pub struct Base {
    pub entry: SignedEntry,
    /// The held head it is the successor of (`None`: it is seq 1).
    pub head: Option<Head>,
    /// The entry held at seq 1 when `head` is set.
    pub held: Option<SignedEntry>,
}

pub fn bases() -> &'static [Base] {
    static BASES: OnceLock<Vec<Base>> = OnceLock::new();
    BASES.get_or_init(|| {
        let first = sign(consultation(), Audience::Public, None);
        let second = sign(liaison(), Audience::Public, Some(first.head()));
        let restricted = sign(
            liaison(),
            Audience::Restricted(vec![other_org()]),
            None,
        );
        let rotation = sign(rotation(), Audience::Public, None);
        vec![
            Base { entry: first.clone(), head: None, held: None },
            Base { entry: second, head: Some(first.head()), held: Some(first) },
            Base { entry: restricted, head: None, held: None },
            Base { entry: rotation, head: None, held: None },
        ]
    })
}

pub const KINDS: [EntryKind; 6] = [
    EntryKind::Profile,
    EntryKind::Consultation,
    EntryKind::Response,
    EntryKind::Liaison,
    EntryKind::Receipt,
    EntryKind::KeyRotation,
];

/// An entry of `kind` carrying `payload` (hash and size matching), with a
/// dummy signature: enough for `document::decode_for` and
/// `verify::verify_payload`, which do not look at the signature.
pub fn unsigned_wire(kind: EntryKind, audience: &Audience, payload: &[u8]) -> proto::Entry {
    use prost::Message;
    let audience = match audience {
        Audience::Public => proto::Audience {
            scope: proto::audience::Scope::Public as i32,
            orgs: Vec::new(),
        },
        Audience::Restricted(orgs) => proto::Audience {
            scope: proto::audience::Scope::Restricted as i32,
            orgs: orgs.iter().map(|o| o.to_string()).collect(),
        },
    };
    let header = proto::EntryHeader {
        format: comity_core::entry::ENTRY_FORMAT,
        origin: origin().to_string(),
        seq: 1,
        prev: Vec::new(),
        created_at: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
        kind: kind.to_proto() as i32,
        payload_hash: comity_core::Hash::of(payload).0.to_vec(),
        payload_size: payload.len() as u64,
        audience: Some(audience),
    };
    proto::Entry {
        header: header.encode_to_vec(),
        signature: vec![0; 64],
        payload: payload.to_vec(),
    }
}

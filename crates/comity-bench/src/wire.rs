//! Bytes on the wire per typical liaison statement.

use anyhow::Result;
use base64::Engine;
use comity_core::{IdentityKey, OrgId, UnsignedEntry, document, proto};
use flate2::{Compression, write::GzEncoder};
use prost::Message;
use serde::Serialize;
use std::io::Write;

#[derive(Debug, Clone, Serialize)]
pub struct WireSize {
    /// The signed entry as one protobuf `Entry` (header, signature, payload).
    pub entry_protobuf: usize,
    /// The same as a gRPC frame body compressed with gzip (what
    /// `send_compressed(Gzip)` would put on the wire, less the 5-byte prefix).
    pub entry_protobuf_gzip: usize,
    /// The same statement and envelope as JSON.
    pub entry_json: usize,
    /// The JSON, gzip-compressed.
    pub entry_json_gzip: usize,
    /// The statement's body text alone, for scale.
    pub body_text: usize,
}

const BODY: &str = "The ITU-T Study Group 15 thanks IETF CCAMP for its liaison statement on \
the YANG data models for optical transport networks. SG15 has reviewed the drafts and offers \
the following comments for consideration at your next meeting. First, the models for the OTN \
tunnel and the client signal should align with the terminology of Recommendation G.709 and \
G.798, in particular for the ODUflex resizing procedures and the multiplexing hierarchy. \
Second, SG15 Question 14 is progressing a management information model for the transport \
network that covers the same resources; we propose that both groups keep each other informed \
of changes through the liaison managers, so that the data models and the information model do \
not diverge. Third, we note that the draft on layer 0 impairments references a superseded \
version of G.698.2; the current version adds application codes for 400G operation. SG15 \
invites CCAMP to consider these comments and to inform SG15 of any action taken before its \
next plenary meeting. Contributions from CCAMP participants to Q6/15 and Q14/15 interim \
meetings are welcome; the schedule is on the SG15 web pages. SG15 looks forward to continued \
cooperation on these topics.";

fn statement() -> proto::LiaisonStatement {
    proto::LiaisonStatement {
        uuid: document::new_uuid(time::OffsetDateTime::now_utc()),
        revision: 1,
        title: "LS on YANG data models for optical transport networks".into(),
        from_groups: vec!["itu-t/sg15".into()],
        to: vec![proto::Addressee {
            org: "ietf".into(),
            group: "ccamp".into(),
            purpose: proto::LiaisonPurpose::Unspecified as i32,
            ..Default::default()
        }],
        cc: vec![proto::Addressee {
            org: "ieee".into(),
            group: "802.3".into(),
            purpose: proto::LiaisonPurpose::Information as i32,
            ..Default::default()
        }],
        purpose: proto::LiaisonPurpose::Action as i32,
        deadline: Some(proto::Deadline {
            date: "2026-09-30".into(),
            zone: String::new(),
        }),
        body: Some(proto::Text {
            lang: "en".into(),
            value: BODY.into(),
        }),
        attachments: Vec::new(),
        in_reply_to: None,
        contacts: vec![
            proto::Contact {
                name: "SG15 Chair".into(),
                email: "tsbsg15@itu.int".into(),
                role: "from".into(),
            },
            proto::Contact {
                name: "Q14/15 Rapporteur".into(),
                email: "q14-15@itu.int".into(),
                role: "technical".into(),
            },
        ],
        other_identifiers: vec!["SG15-LS123".into()],
        state: proto::LiaisonState::Posted as i32,
    }
}

#[derive(Serialize)]
struct JsonAddressee<'a> {
    org: &'a str,
    group: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    purpose: Option<&'a str>,
}

fn addressee(a: &proto::Addressee) -> JsonAddressee<'_> {
    JsonAddressee {
        org: &a.org,
        group: &a.group,
        purpose: (a.purpose != 0).then_some("information"),
    }
}

#[derive(Serialize)]
struct JsonContact<'a> {
    name: &'a str,
    email: &'a str,
    role: &'a str,
}

#[derive(Serialize)]
struct JsonStatement<'a> {
    uuid: &'a str,
    revision: u32,
    title: &'a str,
    from_groups: &'a [String],
    to: Vec<JsonAddressee<'a>>,
    cc: Vec<JsonAddressee<'a>>,
    purpose: &'a str,
    deadline: &'a str,
    body: serde_json::Value,
    contacts: Vec<JsonContact<'a>>,
    other_identifiers: &'a [String],
    state: &'a str,
}

#[derive(Serialize)]
struct JsonEntry<'a> {
    format: u32,
    origin: &'a str,
    seq: u64,
    prev: String,
    created_at: String,
    kind: &'a str,
    payload_hash: String,
    payload_size: u64,
    audience: &'a str,
    signature: String,
    statement: JsonStatement<'a>,
}

fn gzip(bytes: &[u8]) -> Result<usize> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes)?;
    Ok(encoder.finish()?.len())
}

pub fn measure() -> Result<WireSize> {
    let org = OrgId::new("itu")?;
    let key = IdentityKey::generate();
    let statement = statement();
    let (kind, payload) = document::encode(proto::document::Body::Liaison(statement.clone()));
    // Seq 42 with a prev hash, as a statement in the middle of a log would be.
    let earlier = UnsignedEntry::new(
        org.clone(),
        kind,
        payload.clone(),
        time::OffsetDateTime::now_utc(),
    )
    .sign(&key, None);
    let mut head = earlier.head();
    head.seq = 41;
    let entry = UnsignedEntry::new(org.clone(), kind, payload, time::OffsetDateTime::now_utc())
        .sign(&key, Some(head));
    let wire = entry.wire().encode_to_vec();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let header = entry.header();
    let created_at = header
        .created_at
        .as_ref()
        .and_then(|t| time::OffsetDateTime::from_unix_timestamp(t.seconds).ok())
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let json = JsonEntry {
        format: header.format,
        origin: org.as_str(),
        seq: header.seq,
        prev: hex(&header.prev),
        created_at,
        kind: "liaison",
        payload_hash: hex(&header.payload_hash),
        payload_size: header.payload_size,
        audience: "public",
        signature: base64::engine::general_purpose::STANDARD.encode(entry.signature()),
        statement: JsonStatement {
            uuid: &statement.uuid,
            revision: statement.revision,
            title: &statement.title,
            from_groups: &statement.from_groups,
            to: statement.to.iter().map(addressee).collect(),
            cc: statement.cc.iter().map(addressee).collect(),
            purpose: "action",
            deadline: "2026-09-30",
            body: serde_json::json!({ "lang": "en", "value": BODY }),
            contacts: statement
                .contacts
                .iter()
                .map(|c| JsonContact {
                    name: &c.name,
                    email: &c.email,
                    role: &c.role,
                })
                .collect(),
            other_identifiers: &statement.other_identifiers,
            state: "posted",
        },
    };
    let json = serde_json::to_vec(&json)?;
    Ok(WireSize {
        entry_protobuf: wire.len(),
        entry_protobuf_gzip: gzip(&wire)?,
        entry_json: json.len(),
        entry_json_gzip: gzip(&json)?,
        body_text: BODY.len(),
    })
}

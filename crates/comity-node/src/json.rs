//! The JSON shape of the proto views: the one rendering shared by the CLI's
//! `--json` output and the dashboard's read API under `/api/v1`.
//!
//! Field names are the proto messages' (snake_case); timestamps are RFC 3339
//! in UTC, or null when absent; hashes are lower-case hex; enums are their
//! value names without prefix, lower case (`"open"`, `"in_response"`); empty
//! optional strings are null.
//!
//! The two callers agree field for field except in the few places listed
//! under [`Dialect`], kept as each has always written them.

use crate::{Node, NodeError, words};
use comity_core::{dates, proto};
use serde_json::{Value, json};

/// Which caller is rendering. The shapes differ only here:
///
/// | field | [`Dialect::Cli`] | [`Dialect::Api`] |
/// | --- | --- | --- |
/// | `status` of a revision (consultation or liaison), when empty | `""` | null |
/// | `closes_at` of a liaison's revision | left out | present (RFC 3339 or null) |
/// | `purpose` of a liaison summary, when empty | `""` | null |
/// | `created_at` of a log entry, when absent | `""` | null |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `comity … --json`.
    Cli,
    /// `/api/v1`.
    Api,
}

// ---------------------------------------------------------------- helpers

/// A timestamp: RFC 3339 in UTC, or null when absent.
pub fn time_json(t: Option<&prost_types::Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(dates::format_timestamp(t)))
}

/// An empty string as null, for optional string fields.
pub fn opt_str(s: &str) -> Value {
    if s.is_empty() {
        Value::Null
    } else {
        Value::String(s.to_string())
    }
}

/// An absent or empty string as null.
pub fn opt_string(s: Option<String>) -> Value {
    s.filter(|s| !s.is_empty())
        .map_or(Value::Null, Value::String)
}

/// A proto enum's value name without its prefix, lower case:
/// `LIAISON_PURPOSE_IN_RESPONSE` → `in_response`.
pub fn enum_name(name: &str, prefix: &str) -> String {
    name.strip_prefix(prefix)
        .unwrap_or(name)
        .to_ascii_lowercase()
}

/// Lower-case hex of a hash (of any length, though only 32 bytes are valid).
pub fn hash_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Texts by language, as in the proto: `[{"lang": "en", "value": "…"}]`.
pub fn texts_json(texts: &[proto::Text]) -> Value {
    Value::Array(
        texts
            .iter()
            .map(|t| json!({"lang": t.lang, "value": t.value}))
            .collect(),
    )
}

pub fn attachment_json(a: &proto::AttachmentRef) -> Value {
    json!({
        "hash": hash_hex(&a.hash),
        "size": a.size,
        "media_type": a.media_type,
        "name": a.name,
    })
}

pub fn attachments_json(attachments: &[proto::AttachmentRef]) -> Value {
    Value::Array(attachments.iter().map(attachment_json).collect())
}

/// A document reference, or null when absent or empty.
pub fn ref_json(r: Option<&proto::DocumentRef>) -> Value {
    match r {
        Some(r) if !r.origin.is_empty() || !r.uuid.is_empty() => {
            json!({"origin": r.origin, "uuid": r.uuid})
        }
        _ => Value::Null,
    }
}

pub fn contact_json(c: &proto::Contact) -> Value {
    json!({"name": c.name, "email": c.email, "role": c.role})
}

/// A revision of a consultation or liaison statement.
fn revision_json(r: &proto::RevisionView, dialect: Dialect, closes_at: bool) -> Value {
    let mut v = json!({
        "revision": r.revision,
        "seq": r.seq,
        "id": r.id,
        "created_at": time_json(r.created_at.as_ref()),
        "status": match dialect {
            Dialect::Cli => Value::String(words::phase(r.phase()).to_string()),
            Dialect::Api => opt_str(words::phase(r.phase())),
        },
    });
    if closes_at {
        v["closes_at"] = time_json(r.closes_at.as_ref());
    }
    v
}

// ------------------------------------------------------------ the log, peers

/// One entry of a log (`comity log`, `/api/v1/log`).
pub fn entry_json(e: &proto::EntrySummary, dialect: Dialect) -> Value {
    json!({
        "origin": e.origin,
        "seq": e.seq,
        "kind": words::entry_kind(e.kind()),
        "id": e.id,
        "created_at": match (dialect, e.created_at.as_ref()) {
            (Dialect::Cli, None) => Value::String(String::new()),
            (_, t) => time_json(t),
        },
        "payload_size": e.payload_size,
        "redacted": e.redacted,
        "summary": e.summary,
    })
}

/// A peer and how far behind it we are, origin by origin.
pub fn peer_json(p: &proto::PeerStatus) -> Value {
    json!({
        "org": p.org,
        "key": p.key,
        "endpoint": opt_str(&p.endpoint),
        "connected": p.connected,
        "reciprocal": p.reciprocal,
        "last_error": opt_str(&p.last_error),
        "last_contact": time_json(p.last_contact.as_ref()),
        "failures": p.failures,
        "dialled": p.dialled,
        "we_offer": p.we_offer,
        "serving": p.serving,
        "lag": p.lag.iter().map(|l| json!({
            "origin": l.origin,
            "local_seq": l.local_seq,
            "remote_seq": l.remote_seq,
            "behind": l.remote_seq.saturating_sub(l.local_seq),
        })).collect::<Vec<_>>(),
    })
}

/// The node's peers, as the local API reports them (`PeerStatus`), rendered.
pub fn peers_json(node: &Node) -> Result<Vec<Value>, NodeError> {
    Ok(node.peer_statuses()?.iter().map(peer_json).collect())
}

// ------------------------------------------------------------ consultations

fn consultation_status_name(status: i32) -> String {
    proto::ConsultationStatus::try_from(status).map_or_else(
        |_| status.to_string(),
        |s| enum_name(s.as_str_name(), "CONSULTATION_STATUS_"),
    )
}

pub fn consultation_summary_json(s: &proto::ConsultationSummary) -> Value {
    json!({
        "origin": s.origin,
        "uuid": s.uuid,
        "revision": s.revision,
        "title": texts_json(&s.title),
        "opens_at": time_json(s.opens_at.as_ref()),
        "closes_at": time_json(s.closes_at.as_ref()),
        "status": words::phase(s.phase()),
        "topics": s.topics,
        "responses": s.responses,
        "seq": s.seq,
    })
}

pub fn consultation_json(c: &proto::Consultation) -> Value {
    json!({
        "uuid": c.uuid,
        "revision": c.revision,
        "title": texts_json(&c.title),
        "summary": texts_json(&c.summary),
        "opens_at": time_json(c.opens_at.as_ref()),
        "closes_at": time_json(c.closes_at.as_ref()),
        "status": consultation_status_name(c.status),
        "topics": c.topics,
        "body": texts_json(&c.body),
        "link": opt_str(&c.link),
        "questions": c.questions.iter().map(|q| json!({
            "number": q.number,
            "text": texts_json(&q.text),
        })).collect::<Vec<_>>(),
        "reply_closes_at": time_json(c.reply_closes_at.as_ref()),
        "eligibility": c.eligibility.as_ref().map(|e| json!({
            "scope": proto::eligibility::Scope::try_from(e.scope).map_or_else(
                |_| e.scope.to_string(),
                |s| enum_name(s.as_str_name(), "SCOPE_"),
            ),
            "orgs": e.orgs,
        })),
        "attachments": attachments_json(&c.attachments),
        "contact": c.contact.as_ref().map(contact_json),
        "report": c.report.as_ref().map(|r| json!({
            "summary": texts_json(&r.summary),
            "attachments": attachments_json(&r.attachments),
            "published_at": time_json(r.published_at.as_ref()),
        })),
    })
}

pub fn response_json(r: &proto::ResponseView) -> Value {
    json!({
        "origin": r.origin,
        "seq": r.seq,
        "id": r.id,
        "uuid": r.uuid,
        "text": texts_json(&r.text),
        "on_behalf_of": opt_str(&r.on_behalf_of),
        "replies_to": ref_json(r.replies_to.as_ref()),
        "late": r.late,
        "created_at": time_json(r.created_at.as_ref()),
        "stakeholder_group": opt_str(words::stakeholder_group(r.stakeholder_group())),
        "region": opt_str(&r.region),
        "attachments": attachments_json(&r.attachments),
    })
}

fn rows_json(rows: &[proto::ParticipationRow]) -> Value {
    Value::Array(
        rows.iter()
            .map(|r| json!({"key": r.key, "responses": r.responses}))
            .collect(),
    )
}

/// A consultation with its revisions, responses and participation counts.
pub fn consultation_view_json(v: &proto::ConsultationView, dialect: Dialect) -> Value {
    json!({
        "summary": v.summary.as_ref().map(consultation_summary_json),
        "current": v.current.as_ref().map(consultation_json),
        "revisions": v.revisions.iter().map(|r| revision_json(r, dialect, true)).collect::<Vec<_>>(),
        "responses": v.responses.iter().map(response_json).collect::<Vec<_>>(),
        "by_stakeholder_group": rows_json(&v.by_stakeholder_group),
        "by_region": rows_json(&v.by_region),
    })
}

// ------------------------------------------------------------------ liaisons

/// A liaison purpose by name: `in_response`.
pub fn purpose_name(purpose: i32) -> String {
    proto::LiaisonPurpose::try_from(purpose).map_or_else(
        |_| purpose.to_string(),
        |p| enum_name(p.as_str_name(), "LIAISON_PURPOSE_"),
    )
}

fn addressee_json(a: &proto::Addressee) -> Value {
    json!({
        "org": a.org,
        "group": opt_str(&a.group),
        "purpose": if a.purpose == 0 { Value::Null } else { Value::String(purpose_name(a.purpose)) },
        "deadline": a.deadline.as_ref().map(|d| json!({"date": d.date, "zone": opt_str(&d.zone)})),
    })
}

pub fn statement_json(s: &proto::LiaisonStatement) -> Value {
    json!({
        "uuid": s.uuid,
        "revision": s.revision,
        "title": s.title,
        "from_groups": s.from_groups,
        "to": s.to.iter().map(addressee_json).collect::<Vec<_>>(),
        "cc": s.cc.iter().map(addressee_json).collect::<Vec<_>>(),
        "purpose": purpose_name(s.purpose),
        "deadline": s.deadline.as_ref().map(|d| json!({"date": d.date, "zone": opt_str(&d.zone)})),
        "body": s.body.as_ref().map(|b| json!({"lang": b.lang, "value": b.value})),
        "attachments": attachments_json(&s.attachments),
        "in_reply_to": ref_json(s.in_reply_to.as_ref()),
        "contacts": s.contacts.iter().map(contact_json).collect::<Vec<_>>(),
        "other_identifiers": s.other_identifiers,
        "state": proto::LiaisonState::try_from(s.state).map_or_else(
            |_| s.state.to_string(),
            |st| enum_name(st.as_str_name(), "LIAISON_STATE_"),
        ),
    })
}

pub fn liaison_summary_json(s: &proto::LiaisonSummary, dialect: Dialect) -> Value {
    json!({
        "origin": s.origin,
        "uuid": s.uuid,
        "seq": s.seq,
        "title": s.title,
        "purpose": match dialect {
            Dialect::Cli => Value::String(words::purpose(s.purpose()).to_string()),
            Dialect::Api => opt_str(words::purpose(s.purpose())),
        },
        "from": s.from,
        "to": s.to,
        "cc": s.cc,
        "deadline": opt_str(&s.deadline),
        "overdue": s.overdue,
        "action_state": opt_str(words::action_state(s.action_state())),
        "restricted": s.restricted,
        "redacted": s.redacted,
        "created_at": time_json(s.created_at.as_ref()),
    })
}

fn receipt_json(r: &proto::ReceiptView) -> Value {
    json!({
        "origin": r.origin,
        "seq": r.seq,
        "id": r.id,
        "status": words::receipt(r.status()),
        "note": opt_str(&r.note),
        "created_at": time_json(r.created_at.as_ref()),
        "reply": r.reply.as_ref().map_or(Value::Null, |d| json!({"origin": d.origin, "uuid": d.uuid})),
    })
}

fn recipient_json(r: &proto::RecipientState) -> Value {
    json!({
        "org": r.org,
        "group": opt_str(&r.group),
        "purpose": words::purpose(r.purpose()),
        "cc": r.cc,
        "action_state": words::action_state(r.action_state()),
        "overdue": r.overdue,
        "deadline": opt_str(&r.deadline),
        "receipts": r.receipts.iter().map(receipt_json).collect::<Vec<_>>(),
    })
}

/// A liaison statement with its recipients' receipts, replies and revisions.
pub fn liaison_view_json(v: &proto::LiaisonView, dialect: Dialect) -> Value {
    let summary = |s| liaison_summary_json(s, dialect);
    json!({
        "summary": v.summary.as_ref().map(summary),
        "statement": v.statement.as_ref().map(statement_json),
        "recipients": v.recipients.iter().map(recipient_json).collect::<Vec<_>>(),
        "replies": v.replies.iter().map(summary).collect::<Vec<_>>(),
        "in_reply_to": v.in_reply_to.as_ref().map(summary),
        "revisions": v.revisions.iter()
            .map(|r| revision_json(r, dialect, dialect == Dialect::Api))
            .collect::<Vec<_>>(),
    })
}
